from __future__ import annotations

from scanner.datasets import read_labelled
from scanner.evaluation import evaluate_model


def test_evaluate_reports_contract_metrics(small_model, small_corpus) -> None:
    data = read_labelled(small_corpus)
    report = evaluate_model(small_model, data)
    m = report.metrics
    assert m["n"] == len(data) == 150
    assert m["roc_auc"] > 0.95  # in-sample: the model saw these documents
    assert 0.0 <= m["fpr"] <= 1.0 and m["category_accuracy"] > 0.8
    assert m["thresholds"] == small_model.thresholds
    assert sum(m["levels"].values()) == 150
