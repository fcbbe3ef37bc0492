from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from scanner.metrics import average_precision, binary_metrics, choose_threshold, roc_auc


def test_roc_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.random(300) + y * 0.3, 1)  # rounding makes ties
    assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_average_precision_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    score = rng.random(200) + y * 0.5
    assert average_precision(y, score) == pytest.approx(average_precision_score(y, score), abs=1e-12)


def test_roc_auc_none_for_one_class() -> None:
    assert roc_auc(np.ones(5), np.arange(5)) is None


def test_choose_threshold_respects_target_fpr() -> None:
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(500), np.ones(100)].astype(int)
    prob = np.r_[rng.random(500) * 0.8, 0.5 + rng.random(100) * 0.5]
    for target in (0.02, 0.10):
        threshold = choose_threshold(prob, y, target)
        fpr = float((prob[y == 0] >= threshold).mean())
        assert fpr <= target
        # and it is the lowest such threshold: one step lower exceeds the target
        lower = np.sort(prob[y == 0])[::-1][int(target * 500)]
        assert float((prob[y == 0] >= lower).mean()) > target


def test_binary_metrics_at_levels() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    prob = np.array([0.1, 0.2, 0.7, 0.6, 0.8, 0.9])
    metrics = binary_metrics(y, prob, {"medium": 0.5, "high": 0.85})
    assert metrics["at_level"]["medium"]["tp"] == 3
    assert metrics["at_level"]["medium"]["fp"] == 1
    assert metrics["precision"] == 0.75
    assert metrics["recall"] == 1.0
    assert metrics["fpr"] == pytest.approx(0.3333, abs=1e-4)
    assert metrics["at_level"]["high"]["recall"] == pytest.approx(0.3333, abs=1e-4)
