"""Evaluating a model on labelled data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scanner.datasets import LabelledData
from scanner.metrics import binary_metrics
from scanner.model import Model
from scanner.scoring import Result, score_text


@dataclass(frozen=True)
class Evaluation:
    """Metrics and per-document results of one evaluation."""

    metrics: dict[str, Any]
    results: list[Result]
    labels: list[str]


def evaluate_model(model: Model, data: LabelledData, *, explain: bool = False) -> Evaluation:
    """Score labelled documents and compute the contract's metrics.

    Parameters
    ----------
    model : Model
    data : LabelledData
    explain : bool
        Name top terms in the per-document results.

    Returns
    -------
    Evaluation
        ``metrics`` holds ``n``, ``roc_auc``, ``pr_auc``, ``precision``,
        ``recall``, ``f1``, ``fpr`` (at the medium threshold),
        ``category_accuracy`` (on risky documents with a known category),
        ``thresholds``, the figures at each level and, when the data has a
        ``source`` or ``genre`` column, the same per group.
    """
    results = [
        score_text(text, model, doc_id=ident, explain=explain)
        for ident, text in zip(data.ids, data.texts, strict=False)
    ]
    probability = np.array([r.probability for r in results], dtype=np.float64)
    y = np.array([label != "legitimate" for label in data.labels], dtype=int)
    metrics = binary_metrics(y, probability, model.thresholds)
    risky = [i for i, label in enumerate(data.labels) if label != "legitimate"]
    if risky:
        predicted = [
            max(results[i].category_scores or {"": 0.0}, key=lambda k: (results[i].category_scores or {}).get(k, 0.0))
            for i in risky
        ]
        metrics["category_accuracy"] = round(
            float(np.mean([predicted[j] == data.labels[i] for j, i in enumerate(risky)])), 4
        )
    else:
        metrics["category_accuracy"] = None
    metrics["levels"] = {level: sum(r.risk_level == level for r in results) for level in ("low", "medium", "high")}
    metrics["model"] = model.label
    if any(data.groups):
        groups = np.array([g or "" for g in data.groups])
        metrics["by_group"] = {
            group: binary_metrics(y[groups == group], probability[groups == group], model.thresholds)
            for group in sorted(set(groups.tolist()) - {""})
        }
    return Evaluation(metrics, results, list(data.labels))
