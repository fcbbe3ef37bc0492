"""Quality figures of a risk score, computed with numpy alone.

Risk is the positive class (label 1 = not legitimate). The same functions
give the validation metrics stored in a model manifest and the figures of
``scanner evaluate``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count one half); None when one class is absent."""
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the precision-recall curve (average precision, as scikit-learn)."""
    y = np.asarray(y).astype(bool)
    if y.sum() == 0:
        return None
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="mergesort")
    sorted_scores = np.asarray(score)[order]
    hits = y[order]
    # Evaluate at distinct thresholds only.
    last = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(hits) - 1]
    tp = np.cumsum(hits)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / y.sum()
    recall_step = np.diff(np.r_[0.0, recall])
    return float((recall_step * precision).sum())


def choose_threshold(probability: np.ndarray, y: np.ndarray, target_fpr: float, allowed: int | None = None) -> float:
    """Lowest threshold whose false-positive rate on ``y == 0`` stays within ``target_fpr``.

    Parameters
    ----------
    probability : numpy.ndarray
        Out-of-fold risk probabilities.
    y : numpy.ndarray
        1 for risky, 0 for legitimate.
    target_fpr : float
        E.g. 0.02.
    allowed : int, optional
        How many legitimate documents may reach the threshold; by default
        ``floor(target_fpr * n_legitimate)``. Training passes a smaller number so that
        the target holds with confidence, not just on average.

    Returns
    -------
    float
        A document is flagged when its probability is ``>=`` this value.
    """
    legit = np.sort(np.asarray(probability)[np.asarray(y) == 0])[::-1]
    if len(legit) == 0:
        return 0.5
    if allowed is None:
        allowed = int(np.floor(target_fpr * len(legit) + 1e-9))
    if allowed >= len(legit):
        return float(legit[-1])
    return float(np.nextafter(legit[allowed], 1.0))


def binary_metrics(y: np.ndarray, probability: np.ndarray, thresholds: dict[str, float]) -> dict[str, Any]:
    """ROC-AUC, PR-AUC and precision / recall / F1 / FPR at each level threshold.

    The top-level ``precision``, ``recall``, ``f1`` and ``fpr`` are at the
    medium threshold (a document rated medium or high counts as flagged).
    """
    y = np.asarray(y).astype(int)
    probability = np.asarray(probability, dtype=np.float64)
    result: dict[str, Any] = {
        "n": len(y),
        "n_risky": int(y.sum()),
        "roc_auc": _round(roc_auc(y, probability)),
        "pr_auc": _round(average_precision(y, probability)),
        "thresholds": {k: float(v) for k, v in thresholds.items()},
        "at_level": {},
    }
    for level, threshold in thresholds.items():
        flagged = probability >= threshold
        tp = int((flagged & (y == 1)).sum())
        fp = int((flagged & (y == 0)).sum())
        fn = int((~flagged & (y == 1)).sum())
        tn = int((~flagged & (y == 0)).sum())
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision and recall
            else (0.0 if precision is not None and recall is not None else None)
        )
        result["at_level"][level] = {
            "threshold": float(threshold),
            "precision": _round(precision),
            "recall": _round(recall),
            "f1": _round(f1),
            "fpr": _round(fp / (fp + tn) if fp + tn else None),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": tn,
        }
    if "medium" in result["at_level"]:
        for key in ("precision", "recall", "f1", "fpr"):
            result[key] = result["at_level"]["medium"][key]
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
