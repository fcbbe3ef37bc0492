from __future__ import annotations

import numpy as np
import pytest

from scanner.datasets import LabelledData, read_labelled
from scanner.errors import DataError
from scanner.model import load_model
from scanner.scoring import score_text
from scanner.training import TARGET_FPR, fit_model, write_model
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def corpus_fit(tmp_path_factory):
    data = read_labelled(CORPUS)
    trained = fit_model(data)
    folder = write_model(trained, data, tmp_path_factory.mktemp("m") / "full", created="2026-01-01T00:00:00+00:00")
    return data, trained, load_model(folder)


def test_numpy_scorer_matches_sklearn_pipeline_on_whole_corpus(corpus_fit) -> None:
    data, trained, model = corpus_fit
    expected = trained.pipeline.predict_proba(data.texts)[:, 1]
    actual = np.array([score_text(text, model, explain=False).probability for text in data.texts])
    assert np.max(np.abs(actual - expected)) < 1e-6


def test_category_head_matches_sklearn(corpus_fit) -> None:
    data, trained, model = corpus_fit
    steps = trained.pipeline.named_steps
    weighted = steps["tfidf"].transform(steps["counts"].transform(data.texts[:60]))
    expected = trained.category.predict_proba(weighted)[:, 1]
    actual = np.array(
        [score_text(t, model, explain=False).category_scores["illegal_fundraising"] for t in data.texts[:60]]
    )
    assert np.max(np.abs(actual - expected)) < 1e-4  # category scores are rounded to 4 places


def test_thresholds_meet_target_fpr_out_of_fold(corpus_fit) -> None:
    data, trained, _ = corpus_fit
    y = np.array([label != "legitimate" for label in data.labels])
    for level, target in TARGET_FPR.items():
        fpr = float((trained.oof_probability[~y] >= trained.thresholds[level]).mean())
        assert fpr <= target
    assert trained.thresholds["medium"] <= trained.thresholds["high"]
    assert trained.metrics["roc_auc"] > 0.9


def test_training_is_deterministic(small_corpus, tmp_path) -> None:
    data = read_labelled(small_corpus)
    digests = []
    for run in range(2):
        folder = write_model(fit_model(data), data, tmp_path / f"run{run}", created="2026-01-01T00:00:00+00:00")
        digests.append((folder / "manifest.json").read_bytes())
    assert digests[0] == digests[1]


def test_too_few_documents_is_a_clear_error() -> None:
    data = LabelledData(["a", "b"], ["one text", "another text"], ["legitimate", "pseudo_innovation"], ["x:1", "x:2"])
    with pytest.raises(DataError, match="at least 5 legitimate"):
        fit_model(data)
