"""Training: hashed tf-idf and red-flag features into calibrated linear heads.

The pipeline (all scikit-learn compatible, so it can be cross-validated and
compared with the numpy scorer):

1. :class:`HashedCounts` turns texts into hashed n-gram counts plus the
   red-flag indicator features (shared code with scoring);
2. :class:`TfidfWeights` keeps buckets seen in at least ``min_df``
   documents, applies sublinear tf, smooth idf and L2 normalisation, and
   appends the scaled indicator features;
3. :class:`CalibratedLinear`: a logistic regression whose decision values are
   calibrated by Platt scaling fitted on out-of-fold decisions (what
   ``CalibratedClassifierCV(method="sigmoid", ensemble=False)`` does).

Level thresholds are chosen on out-of-fold calibrated probabilities for the
target false-positive rates and stored in the model with the validation
metrics. The category head is a second logistic regression fitted on the
risky documents only.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from scanner.datasets import LabelledData
from scanner.errors import DataError
from scanner.features import FeatureConfig, hash_counts, prepare_text
from scanner.indicators import CATEGORIES, Indicator, find_red_flags, indicator_features, parse_indicators
from scanner.metrics import binary_metrics, choose_threshold
from scanner.model import save_model
from scanner.normalize import normalize
from scanner.scoring import detect_language

TARGET_FPR = {"high": 0.02, "medium": 0.10}
THRESHOLD_CONFIDENCE = 0.9  # the target FPR must hold at this one-sided confidence on the held-out folds


def allowed_false_positives(n_legitimate: int, target_fpr: float, confidence: float = THRESHOLD_CONFIDENCE) -> int:
    """The most legitimate documents that may reach a threshold so that the FPR target still holds with confidence.

    Uses the one-sided Clopper-Pearson upper bound: with ``k`` false positives
    among ``n`` legitimate documents, the true rate is below
    ``beta.ppf(confidence, k + 1, n - k)`` with that confidence. On a few hundred
    held-out documents the plain estimate ``k / n`` is noisy, and a threshold
    set on it would miss its target on new filings about half the time.
    """
    from scipy.stats import beta

    allowed = -1
    while allowed + 1 < n_legitimate and beta.ppf(confidence, allowed + 2, n_legitimate - allowed - 1) <= target_fpr:
        allowed += 1
    return max(allowed, 0)


N_FOLDS = 5
SEED = 0


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (recorded in the manifest)."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    min_df: int = 2
    max_df: float = 1.0
    indicator_scale: float = 0.5
    risk_c: float = 4.0
    category_c: float = 4.0
    folds: int = N_FOLDS
    group_folds: bool = True
    seed: int = SEED
    nb_weight: bool = False
    select: bool = False
    risk_loss: str = "logistic"  # or "squared": a ridge classifier (least squares on the labels), see RISK_LOSSES

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``risk_loss`` only when it is not the default, so older manifests still match)."""
        loss = {} if self.risk_loss == "logistic" else {"risk_loss": self.risk_loss}
        return {
            **loss,
            "nb_weight": self.nb_weight,
            "min_df": self.min_df,
            "max_df": self.max_df,
            "indicator_scale": self.indicator_scale,
            "risk_c": self.risk_c,
            "category_c": self.category_c,
            "folds": self.folds,
            "group_folds": self.group_folds,
            "seed": self.seed,
        }


def default_indicator_table() -> str:
    """Return the text of the indicator table shipped in the package."""
    return resources.files("scanner").joinpath("indicators.toml").read_text(encoding="utf-8")


class HashedCounts(TransformerMixin, BaseEstimator):
    """Texts to a sparse matrix: hashed n-gram counts, then indicator features.

    Stateless: the columns are the ``2**hash_bits`` buckets followed by the
    indicator features of :func:`scanner.indicators.indicator_features`.
    """

    def __init__(self, config: FeatureConfig | None = None, indicators: tuple[Indicator, ...] = ()) -> None:
        self.config = config
        self.indicators = indicators

    def fit(self, texts: list[str], y: Any = None) -> HashedCounts:
        """Nothing to learn."""
        return self

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """Featurise ``texts``."""
        config = self.config or FeatureConfig()
        n_extra = len(self.indicators) + len(CATEGORIES)
        indptr = [0]
        indices: list[np.ndarray] = []
        data: list[np.ndarray] = []
        for text in texts:
            normalized = normalize(text)
            flags = find_red_flags(
                text, language=detect_language(normalized.text), indicators=self.indicators, normalized=normalized
            )
            buckets, counts = hash_counts(prepare_text(normalized.text), config)
            extra = np.asarray(indicator_features(flags, self.indicators), dtype=np.float64)
            nonzero = np.flatnonzero(extra)
            indices.append(np.concatenate([buckets, config.n_buckets + nonzero]))
            data.append(np.concatenate([counts, extra[nonzero]]))
            indptr.append(indptr[-1] + len(indices[-1]))
        return sp.csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0),
                np.concatenate(indices) if indices else np.zeros(0, int),
                indptr,
            ),
            shape=(len(texts), config.n_buckets + n_extra),
        )


def _canonical(counts: sp.spmatrix) -> sp.csr_matrix:
    """``counts`` as CSR with sorted, unique entries per row, without changing the caller's matrix."""
    counts = sp.csr_matrix(counts)
    if not counts.has_canonical_format:
        counts = counts.copy()
        counts.sum_duplicates()
    return counts


class TfidfWeights(TransformerMixin, BaseEstimator):
    """Select frequent buckets, weight them by tf-idf and append the indicator features."""

    def __init__(
        self,
        n_buckets: int = 1 << 22,
        min_df: int = 2,
        indicator_scale: float = 0.5,
        max_df: float = 1.0,
        nb_weight: bool = False,
    ) -> None:
        self.n_buckets = n_buckets
        self.min_df = min_df
        self.indicator_scale = indicator_scale
        self.max_df = max_df
        self.nb_weight = nb_weight

    def fit(self, counts: sp.csr_matrix, y: Any = None) -> TfidfWeights:
        """Learn the kept buckets and their idf."""
        counts = _canonical(counts)  # one entry per (document, bucket): the document frequency counts entries
        indices = counts.indices
        df = np.bincount(indices[indices < self.n_buckets], minlength=self.n_buckets)
        n = counts.shape[0]
        self.buckets_ = np.flatnonzero((df >= self.min_df) & (df <= self.max_df * n)).astype(np.int64)
        self.idf_ = np.log((1.0 + n) / (1.0 + df[self.buckets_])) + 1.0
        if self.nb_weight and y is not None:
            # Naive-Bayes weighting (as in NBSVM): scale each n-gram by how strongly its share differs
            # between risky and legitimate documents, |log-count ratio|. Folded into the idf, so the
            # numpy scorer is unchanged.
            y = np.asarray(y)
            tf = counts[:, self.buckets_].tocsr()
            tf.data = 1.0 + np.log(tf.data)
            risky = np.asarray(tf[y == 1].sum(axis=0)).ravel() + 1.0
            legit = np.asarray(tf[y == 0].sum(axis=0)).ravel() + 1.0
            ratio = np.log((risky / risky.sum()) / (legit / legit.sum()))
            self.idf_ = self.idf_ * (np.abs(ratio) + 0.1)
        return self

    def transform(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Weight ``counts`` as the numpy scorer does."""
        counts = _canonical(counts)
        n_rows, n_columns = counts.shape
        n_kept = len(self.buckets_)
        # Old column -> new column: kept buckets first, then the indicator columns; -1 drops a bucket.
        columns = np.full(n_columns, -1, dtype=np.int64)
        columns[self.buckets_] = np.arange(n_kept)
        columns[self.n_buckets :] = n_kept + np.arange(n_columns - self.n_buckets)
        new = columns[counts.indices]
        keep = new >= 0
        rows = np.repeat(np.arange(n_rows), np.diff(counts.indptr))[keep]
        new = new[keep]
        data = counts.data[keep].astype(np.float64)
        text = new < n_kept
        data[text] = (1.0 + np.log(data[text])) * self.idf_[new[text]]
        norms = np.sqrt(np.bincount(rows[text], weights=data[text] ** 2, minlength=n_rows))
        norms[norms == 0] = 1.0
        data[text] /= norms[rows[text]]
        data[~text] *= self.indicator_scale
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        return sp.csr_matrix((data, new, indptr), shape=(n_rows, n_kept + n_columns - self.n_buckets))


RISK_LOSSES = ("logistic", "squared")
# scikit-learn's default stopping tolerance: three times fewer L-BFGS iterations than 1e-6 on large
# sets, with coefficients that rank the development sets the same (README "Speed").
LOGISTIC_TOL = 1e-4
FOLD_THREADS = 2


def risk_linear(c: float, loss: str = "logistic") -> LogisticRegression | RidgeClassifier:
    """The linear risk model: one coefficient vector and an intercept, whatever the loss.

    ``logistic`` is an L2-regularised logistic regression with inverse strength ``c``;
    ``squared`` a ridge classifier (least squares on -1/+1 labels) with ``alpha = 1 / c``,
    which on a few hundred documents and many n-grams often ranks a little better. Both are
    class-balanced, and their decision values are calibrated alike (Platt scaling).
    """
    if loss == "logistic":
        return LogisticRegression(C=c, class_weight="balanced", max_iter=2000, tol=LOGISTIC_TOL, solver="lbfgs")
    if loss == "squared":
        return RidgeClassifier(alpha=1.0 / c, class_weight="balanced")
    raise ValueError(f"risk loss {loss!r} is not one of {', '.join(RISK_LOSSES)}")


class CalibratedLinear(ClassifierMixin, BaseEstimator):
    """A linear model (see :func:`risk_linear`) with Platt scaling fitted on out-of-fold decisions."""

    def __init__(self, c: float = 4.0, folds: int = N_FOLDS, seed: int = SEED, loss: str = "logistic") -> None:
        self.c = c
        self.folds = folds
        self.seed = seed
        self.loss = loss

    def _linear(self) -> LogisticRegression | RidgeClassifier:
        return risk_linear(self.c, self.loss)

    def fit(self, features: sp.csr_matrix, y: np.ndarray) -> CalibratedLinear:
        """Fit the linear model and its calibration."""
        y = np.asarray(y).astype(int)
        self.classes_ = np.array([0, 1])
        oof = np.zeros(len(y))
        splitter = StratifiedKFold(
            n_splits=min(self.folds, int(np.bincount(y).min())), shuffle=True, random_state=self.seed
        )
        for train, test in splitter.split(np.zeros(len(y)), y):
            oof[test] = self._linear().fit(features[train], y[train]).decision_function(features[test])
        self.platt_ = fit_platt(oof, y)
        self.linear_ = self._linear().fit(features, y)
        return self

    def decision_function(self, features: sp.csr_matrix) -> np.ndarray:
        """Uncalibrated decision values."""
        return self.linear_.decision_function(features)

    def predict_proba(self, features: sp.csr_matrix) -> np.ndarray:
        """Calibrated probabilities of [legitimate, risky]."""
        risky = _platt_apply(self.platt_, self.decision_function(features))
        return np.column_stack([1.0 - risky, risky])

    def predict(self, features: sp.csr_matrix) -> np.ndarray:
        """1 for risky, 0 for legitimate."""
        return (self.predict_proba(features)[:, 1] >= 0.5).astype(int)


def fit_platt(decisions: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fit Platt scaling ``p = sigmoid(a * decision + b)``; return ``[a, b]``."""
    platt = LogisticRegression(C=1e6, max_iter=1000, tol=1e-8).fit(decisions.reshape(-1, 1), y)
    return np.array([float(platt.coef_[0, 0]), float(platt.intercept_[0])])


def _platt_apply(platt: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    z = platt[0] * decisions + platt[1]
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class TrainedModel:
    """The fitted pieces, before they are written as a model folder."""

    pipeline: Pipeline
    category: LogisticRegression
    thresholds: dict[str, float]
    metrics: dict[str, Any]
    oof_probability: np.ndarray
    indicator_toml: str
    config: TrainConfig


def featurize(texts: list[str], config: FeatureConfig, indicators: tuple[Indicator, ...]) -> sp.csr_matrix:
    """Hashed counts and indicator features of ``texts`` (see :class:`HashedCounts`)."""
    return HashedCounts(config, indicators).transform(texts)


def _folds(data: LabelledData, y: np.ndarray, config: TrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation folds; grouped by genre (or source) when the data says, else stratified.

    Holding out whole genres makes the out-of-fold probabilities, and so the
    calibration and the level thresholds, reflect documents unlike the ones
    trained on, which is what the scanner meets in the field.
    """
    groups = [g or "" for g in data.groups] if data.groups else []
    if config.group_folds and len(set(groups) - {""}) >= config.folds:
        from sklearn.model_selection import StratifiedGroupKFold

        splitter = StratifiedGroupKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
        return list(splitter.split(np.zeros(len(y)), y, groups))
    plain = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    return list(plain.split(np.zeros(len(y)), y))


def _tfidf(config: TrainConfig) -> TfidfWeights:
    return TfidfWeights(
        config.features.n_buckets, config.min_df, config.indicator_scale, config.max_df, config.nb_weight
    )


# What ``select`` chooses among, by out-of-fold ROC-AUC on the folds the reported figures use: the
# default (strongly regularised plain tf-idf, which generalises to other genres); Naive-Bayes-weighted
# variants that fit one genre's data more closely (better when the data to score is like the training
# data); and, with NB weighting, a ridge (squared-loss) head and word n-grams only (``char_scope="cjk"``
# keeps character n-grams for Chinese alone), which on small English sets often rank better: Latin
# character n-grams are many, so they dominate each document's L2 norm. A ``features`` entry overrides
# fields of the FeatureConfig (the texts are featurised once per distinct one). Every candidate is one
# coefficient vector and an intercept over the hashed features, so the numpy scorer is unchanged. Each
# candidate added makes the best out-of-fold figure a little more optimistic: keep the list short.
CANDIDATES: tuple[dict[str, Any], ...] = (
    {"risk_c": 4.0, "nb_weight": False},
    {"risk_c": 16.0, "nb_weight": True},
    {"risk_c": 256.0, "nb_weight": True},
    {"risk_c": 256.0, "nb_weight": True, "features": {"char_scope": "cjk"}},
    {"risk_c": 10.0, "nb_weight": True, "risk_loss": "squared"},
    {"risk_c": 10.0, "nb_weight": True, "risk_loss": "squared", "features": {"char_scope": "cjk"}},
)


# Above this many documents ``select`` halves: every candidate on the first folds, the best few on all.
HALVING_MIN_DOCUMENTS = 4000
HALVING_FOLDS = 2
HALVING_KEEP = 2


def candidate_config(config: TrainConfig, candidate: dict[str, Any]) -> TrainConfig:
    """``config`` with a candidate's settings (``features``: a dict of FeatureConfig fields to override)."""
    from dataclasses import replace

    settings = dict(candidate)
    features = settings.pop("features", None)
    if features:
        settings["features"] = replace(config.features, **features)
    return replace(config, **settings)


def describe_config(config: TrainConfig) -> str:
    """A short name for a candidate in the selection table, e.g. ``ridge C=10 nb words``."""
    parts = ["ridge" if config.risk_loss == "squared" else "", f"C={config.risk_c:g}", "nb" if config.nb_weight else ""]
    if config.features.char_scope != "all":
        parts.append("words")  # character n-grams for Chinese only
    return " ".join(part for part in parts if part)


def _oof_decisions(
    counts: sp.csr_matrix, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], config: TrainConfig
) -> np.ndarray:
    return _oof_many(counts, y, folds, [config])[0]


def _oof_many(
    counts: sp.csr_matrix, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], configs: list[TrainConfig]
) -> list[np.ndarray]:
    """Out-of-fold decision values of each config (all on the same counts and folds).

    In each fold the tf-idf weighting is fitted once per distinct weighting and shared by the
    configs that differ only in their linear head; only one fold's matrices are held at a time.
    """
    oof = [np.zeros(len(y)) for _ in configs]
    weightings: dict[tuple[Any, ...], list[int]] = {}
    for index, config in enumerate(configs):
        key = (config.features.n_buckets, config.min_df, config.indicator_scale, config.max_df, config.nb_weight)
        weightings.setdefault(key, []).append(index)

    def run(fold: tuple[np.ndarray, np.ndarray]) -> None:
        train, test = fold
        for members in weightings.values():
            tfidf = _tfidf(configs[members[0]]).fit(counts[train], y[train])
            weighted_train, weighted_test = tfidf.transform(counts[train]), tfidf.transform(counts[test])
            for index in members:
                linear = risk_linear(configs[index].risk_c, configs[index].risk_loss).fit(weighted_train, y[train])
                oof[index][test] = linear.decision_function(weighted_test)

    # Folds are independent: two threads overlap their fits (the solvers' numeric kernels release
    # the GIL for part of the time); each fold writes its own rows, so the result does not depend on it.
    with ThreadPoolExecutor(max_workers=min(FOLD_THREADS, len(folds))) as pool:
        list(pool.map(run, folds))
    return oof


def baseline_auc(data: LabelledData, config: TrainConfig | None = None) -> dict[str, Any]:
    """ROC-AUC of a plain scikit-learn baseline on the same folds as :func:`fit_model`.

    The baseline is word 1-2-gram and char_wb 2-5-gram TF-IDF with logistic regression, the usual
    yardstick for text classification; it is printed next to the model's own figures.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    from scanner.metrics import roc_auc

    config = config or TrainConfig()
    y = np.array([label != "legitimate" for label in data.labels], dtype=int)
    texts = np.array(data.texts, dtype=object)
    oof = np.zeros(len(y))
    for train, test in _folds(data, y, config):
        pipeline = Pipeline(
            [
                (
                    "features",
                    FeatureUnion(
                        [
                            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
                            (
                                "char",
                                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
                            ),
                        ]
                    ),
                ),
                ("linear", LogisticRegression(C=10.0, max_iter=2000)),
            ]
        ).fit(list(texts[train]), y[train])
        oof[test] = pipeline.decision_function(list(texts[test]))
    result: dict[str, Any] = {"roc_auc": roc_auc(y, oof)}
    groups = np.array([g or "" for g in data.groups]) if data.groups else np.array([""] * len(y))
    result["by_group"] = {
        group: roc_auc(y[groups == group], oof[groups == group]) for group in sorted(set(groups.tolist()) - {""})
    }
    return result


def _progress(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def fit_model(
    data: LabelledData,
    config: TrainConfig | None = None,
    *,
    indicator_toml: str | None = None,
    counts: sp.csr_matrix | None = None,
    quiet: bool = True,
) -> TrainedModel:
    """Fit the risk and category heads, thresholds and validation metrics.

    Parameters
    ----------
    data : LabelledData
        At least ``folds`` documents of each of legitimate and risky.
    config : TrainConfig, optional
    indicator_toml : str, optional
        Indicator table text; the shipped one by default.
    counts : scipy.sparse.csr_matrix, optional
        Precomputed :func:`featurize` output for ``data.texts`` (saves time
        when the same texts are fitted several times).
    quiet : bool
        No progress lines on stderr.

    Returns
    -------
    TrainedModel

    Raises
    ------
    DataError
        When a class has too few documents to cross-validate.
    """
    import tomllib

    config = config or TrainConfig()
    indicator_toml = indicator_toml or default_indicator_table()
    indicators = parse_indicators(tomllib.loads(indicator_toml))
    y = np.array([label != "legitimate" for label in data.labels], dtype=int)
    n_risky, n_legit = int(y.sum()), int(len(y) - y.sum())
    if min(n_risky, n_legit) < config.folds:
        raise DataError(
            f"Training needs at least {config.folds} legitimate and {config.folds} risky documents; "
            f"got {n_legit} legitimate and {n_risky} risky. Add labelled documents."
        )
    if counts is None:
        _progress(f"Featurising {len(data)} documents…", quiet)
        counts = featurize(data.texts, config.features, indicators)

    # Out-of-fold calibrated probabilities: honest figures for the thresholds
    # and the manifest (the tf-idf vocabulary is refitted inside each fold).
    _progress(f"Cross-validating ({config.folds} folds)…", quiet)
    folds = _folds(data, y, config)
    selection: dict[str, float] = {}
    if config.select:
        from scanner.metrics import roc_auc

        by_features = {config.features: counts}
        trials = [candidate_config(config, candidate) for candidate in CANDIDATES]

        def out_of_fold(indices: list[int], some_folds: list[tuple[np.ndarray, np.ndarray]]) -> dict[int, np.ndarray]:
            found: dict[int, np.ndarray] = {}
            for features in dict.fromkeys(trials[i].features for i in indices):  # in order, once each
                if features not in by_features:
                    by_features[features] = featurize(data.texts, features, indicators)
                members = [i for i in indices if trials[i].features == features]
                decisions = _oof_many(by_features[features], y, some_folds, [trials[i] for i in members])
                found.update(zip(members, decisions, strict=True))
            return found

        everyone = list(range(len(trials)))
        if len(y) >= HALVING_MIN_DOCUMENTS and len(folds) > HALVING_FOLDS:
            # Successive halving: on many documents the first folds already tell the weaker settings
            # apart; only the best few are fitted on the remaining folds (the reported figures and the
            # calibration use the chosen one's decisions on every fold).
            early = out_of_fold(everyone, folds[:HALVING_FOLDS])
            seen = np.concatenate([test for _, test in folds[:HALVING_FOLDS]])
            early_auc = {i: roc_auc(y[seen], early[i][seen]) or 0.0 for i in everyone}
            kept = sorted(sorted(everyone, key=lambda i: -early_auc[i])[:HALVING_KEEP])
            late = out_of_fold(kept, folds[HALVING_FOLDS:])
            decided = {i: early[i] + late[i] for i in kept}  # each is zero outside its folds' rows
            for i in everyone:
                if i not in kept:
                    selection[f"{describe_config(trials[i])} ({HALVING_FOLDS} folds)"] = round(early_auc[i], 4)
        else:
            decided = out_of_fold(everyone, folds)
        best: tuple[float, TrainConfig, np.ndarray] | None = None
        for i, trial in enumerate(trials):
            if i not in decided:
                continue
            decisions = decided[i]
            score = roc_auc(y, decisions) or 0.0
            selection[describe_config(trial)] = round(score, 4)
            if best is None or score > best[0] + 1e-9:
                best = (score, trial, decisions)
        assert best is not None
        _, config, oof = best
        counts = by_features[config.features]
        _progress(f"Chose {describe_config(config)} among {len(CANDIDATES)} candidates: {selection}", quiet)
    else:
        oof = _oof_decisions(counts, y, folds, config)
    platt = fit_platt(oof, y)
    oof_probability = _platt_apply(platt, oof)
    n_legit = int((y == 0).sum())
    thresholds = {
        level: choose_threshold(oof_probability, y, fpr, allowed_false_positives(n_legit, fpr))
        for level, fpr in TARGET_FPR.items()
    }
    if thresholds["medium"] > thresholds["high"]:
        thresholds["medium"] = thresholds["high"]

    _progress("Fitting the final model…", quiet)
    tfidf = _tfidf(config).fit(counts, y)
    weighted = tfidf.transform(counts)
    linear = risk_linear(config.risk_c, config.risk_loss).fit(weighted, y)
    head = CalibratedLinear(config.risk_c, config.folds, config.seed, config.risk_loss)
    head.classes_ = np.array([0, 1])
    head.linear_ = linear
    head.platt_ = platt
    pipeline = Pipeline([("counts", HashedCounts(config.features, indicators)), ("tfidf", tfidf), ("risk", head)])

    risky = np.flatnonzero(y == 1)
    y_category = np.array([data.labels[i] == "illegal_fundraising" for i in risky], dtype=int)
    if len(set(y_category.tolist())) < 2:
        raise DataError("Training needs both illegal_fundraising and pseudo_innovation examples for the category head.")
    category = LogisticRegression(C=config.category_c, class_weight="balanced", max_iter=2000, tol=LOGISTIC_TOL)
    category.fit(weighted[risky], y_category)

    metrics = binary_metrics(y, oof_probability, thresholds)
    metrics["category_accuracy_in_sample"] = float((category.predict(weighted[risky]) == y_category).mean())
    metrics["n"] = len(y)
    if selection:
        metrics["selection"] = selection
    if any(data.groups):
        metrics["by_group"] = {}
        groups = np.array([g or "" for g in data.groups])
        for group in sorted(set(groups.tolist()) - {""}):
            chosen = groups == group
            if 0 < y[chosen].sum() < chosen.sum():
                metrics["by_group"][group] = binary_metrics(y[chosen], oof_probability[chosen], thresholds)
    return TrainedModel(pipeline, category, thresholds, metrics, oof_probability, indicator_toml, config)


def write_model(
    trained: TrainedModel,
    data: LabelledData,
    folder: str | Path,
    *,
    name: str = "model",
    version: str = "1.0.0",
    created: str | None = None,
    sources: list[str] | None = None,
) -> Path:
    """Write a :class:`TrainedModel` as a model folder (see :mod:`scanner.model`).

    Parameters
    ----------
    created : str, optional
        ISO timestamp recorded as the training time; now by default (pass a
        fixed value for byte-identical rebuilds).
    """
    tfidf: TfidfWeights = trained.pipeline.named_steps["tfidf"]
    head: CalibratedLinear = trained.pipeline.named_steps["risk"]
    features = {"buckets": tfidf.buckets_.astype(np.int64), "idf": tfidf.idf_.astype(np.float64)}
    classifier = {
        # reshape: a binary RidgeClassifier keeps a flat coef_, LogisticRegression a (1, n) one
        "risk_coef": np.asarray(head.linear_.coef_, dtype=np.float64).reshape(-1),
        "risk_intercept": np.array(float(np.asarray(head.linear_.intercept_).reshape(-1)[0])),
        "platt": head.platt_.astype(np.float64),
        "category_coef": trained.category.coef_[0].astype(np.float64),
        "category_intercept": np.array(float(trained.category.intercept_[0])),
    }
    manifest = {
        "name": name,
        "version": version,
        "created": created or _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "training": {
            "data_sha256": data.sha256,
            "n": len(data),
            "counts": data.counts(),
            "sources": sources or [],
        },
        "features": trained.config.features.to_dict(),
        "train_config": trained.config.to_dict(),
        "indicator_scale": trained.config.indicator_scale,
        "indicators_sha256": hashlib.sha256(trained.indicator_toml.encode()).hexdigest(),
        "thresholds": trained.thresholds,
        "target_fpr": TARGET_FPR,
        "threshold_confidence": THRESHOLD_CONFIDENCE,
        "metrics": trained.metrics,
    }
    return save_model(folder, manifest, features, classifier, trained.indicator_toml)
