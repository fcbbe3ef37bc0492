from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier

from scanner.datasets import LabelledData, read_labelled
from scanner.errors import DataError
from scanner.features import FeatureConfig
from scanner.model import load_model
from scanner.scoring import score_text
from scanner.training import (
    CANDIDATES,
    RISK_LOSSES,
    TARGET_FPR,
    TfidfWeights,
    TrainConfig,
    candidate_config,
    describe_config,
    featurize,
    fit_model,
    risk_linear,
    write_model,
)
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


def test_candidates_are_valid_and_named_apart() -> None:
    names = set()
    for candidate in CANDIDATES:
        config = candidate_config(TrainConfig(select=True), candidate)
        assert config.risk_loss in RISK_LOSSES
        names.add(describe_config(config))
    assert len(names) == len(CANDIDATES)
    words = candidate_config(TrainConfig(), {"risk_c": 10.0, "risk_loss": "squared", "features": {"char_scope": "cjk"}})
    assert words.features == replace(FeatureConfig(), char_scope="cjk") and words.risk_c == 10.0
    assert describe_config(words) == "ridge C=10 words"
    with pytest.raises(ValueError, match="risk loss"):
        risk_linear(1.0, "hinge")


def test_default_manifest_config_has_no_new_keys() -> None:
    # The shipped model is trained with TrainConfig(); its manifest must not change.
    assert "risk_loss" not in TrainConfig().to_dict()
    assert TrainConfig(risk_loss="squared").to_dict()["risk_loss"] == "squared"


def test_selection_refeaturises_per_candidate_and_ridge_model_scores_alike(small_corpus, tmp_path, monkeypatch) -> None:
    import scanner.training as training

    data = read_labelled(small_corpus)
    chosen = {"risk_c": 10.0, "nb_weight": True, "risk_loss": "squared", "features": {"char_scope": "cjk"}}
    monkeypatch.setattr(training, "CANDIDATES", (chosen,))
    trained = fit_model(data, TrainConfig(select=True))
    assert trained.config.risk_loss == "squared" and trained.config.features.char_scope == "cjk"
    assert list(trained.metrics["selection"]) == ["ridge C=10 nb words"]
    steps = trained.pipeline.named_steps
    assert isinstance(steps["risk"].linear_, RidgeClassifier)
    # The final model is fitted on the candidate's own features, not on the ones featurised first.
    y = np.array([label != "legitimate" for label in data.labels], dtype=int)
    words = featurize(data.texts, trained.config.features, steps["counts"].indicators)
    expected = TfidfWeights(trained.config.features.n_buckets, nb_weight=True).fit(words, y)
    np.testing.assert_array_equal(steps["tfidf"].buckets_, expected.buckets_)
    assert trained.metrics["roc_auc"] > 0.9

    folder = write_model(trained, data, tmp_path / "ridge", created="2026-01-01T00:00:00+00:00")
    model = load_model(folder)
    assert model.config.char_scope == "cjk"
    pipeline = trained.pipeline.predict_proba(data.texts)[:, 1]
    numpy = np.array([score_text(text, model, explain=False).probability for text in data.texts])
    assert np.max(np.abs(numpy - pipeline)) < 1e-6
