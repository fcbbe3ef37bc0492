"""Retraining with new labels: import, train a candidate, gate it against the active model, promote.

The gate (see README, "Retraining") promotes the candidate only when none of
three checks fails (numbered as in the README; run cheapest first, 3, 1, 2,
and a refusal stops before more fitting):

3. **Agreement with the active model.** The active model must rank the new
   labels better than chance (ROC-AUC >= 0.5 when both classes are there)
   and may confidently contradict (legitimate rated high, risky rated low)
   at most 30% of them. This catches swapped labels in a genre the corpus
   lacks, which check 1 cannot see.
1. **Base corpus, same folds.** The base corpus is split into stratified
   folds (fixed seed). On each fold two models are fitted with the same
   features and solver: the *candidate recipe* (the other folds plus every
   stored training label) and the *active recipe* (the other folds plus the
   stored labels the active model was trained on, none for the shipped
   default). Both score the held-out fold; the candidate's out-of-fold
   ROC-AUC must be at least the active recipe's minus ``tolerance``. The
   active model's own arrays cannot be used here: it was trained on these
   very documents, so it would be scored in-sample.
2. **Held-out stored labels.** One stored text in five, chosen by a hash of
   the text (so the choice is stable across imports), is never trained on.
   The candidate's ROC-AUC on them must be at least the active model's (its
   numpy scorer) minus ``tolerance``, when both classes are present.

A refused candidate is not written; the batches it would have been trained
on that were not yet accepted are marked ``rejected`` in the store and left
out of later retrains.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import scanner
from scanner.datasets import LabelledData, read_labelled
from scanner.labelstore import (
    ImportResult,
    StoredLabel,
    as_labelled,
    import_labels,
    read_batches,
    read_store,
    set_status,
)
from scanner.metrics import roc_auc
from scanner.model import Model, load_model, read_manifest
from scanner.registry import (
    activate_model,
    active_model_path,
    default_model_path,
    home_lock,
    models_dir,
    new_version,
    write_json_atomic,
)

DEFAULT_TOLERANCE = 0.01
MIN_AGREEMENT = 0.5  # below chance: the new labels contradict what the active model learned
MAX_CONTRADICTED = 0.3  # share of new labels the active model confidently contradicts (see _agreement)
GATE_FOLDS = 5
RETRAINED_NAME = "retrained"
LABEL_SOURCE_PREFIX = "labels/"

Progress = Callable[[str], None]


def default_base_corpus() -> Path | None:
    """Return ``data/corpus.csv`` beside the package in a source checkout, or None when not there."""
    candidate = Path(scanner.__file__).resolve().parent.parent / "data" / "corpus.csv"
    return candidate if candidate.is_file() else None


@dataclass(frozen=True)
class GateReport:
    """The two checks of the gate, for the candidate and the active model."""

    active: str
    tolerance: float
    base_candidate: float | None = None
    base_active: float | None = None
    n_base: int = 0
    holdout_candidate: float | None = None
    holdout_active: float | None = None
    n_holdout: int = 0
    agreement: float | None = None
    contradicted: float | None = None
    n_new: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the candidate may be promoted without --force."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (also recorded in the promoted model's manifest)."""
        return {
            "active": self.active,
            "tolerance": self.tolerance,
            "base_cv_roc_auc": {"candidate": self.base_candidate, "active": self.base_active, "n": self.n_base},
            "holdout_roc_auc": {
                "candidate": self.holdout_candidate,
                "active": self.holdout_active,
                "n": self.n_holdout,
            },
            "new_labels_agreement": {
                "roc_auc": self.agreement,
                "minimum_roc_auc": MIN_AGREEMENT,
                "contradicted": self.contradicted,
                "maximum_contradicted": MAX_CONTRADICTED,
                "n": self.n_new,
            },
            "passed": self.passed,
            "failures": self.failures,
        }

    def lines(self) -> list[str]:
        """Both sets of metrics, one line per check, for people."""

        def show(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.4f}"

        return [
            f"base corpus, cross-validated ROC-AUC (n {self.n_base}): candidate {show(self.base_candidate)}, "
            f"active {self.active} {show(self.base_active)}",
            f"held-out stored labels ROC-AUC (n {self.n_holdout}): candidate {show(self.holdout_candidate)}, "
            f"active {self.active} {show(self.holdout_active)}",
            f"new labels vs the active model {self.active} (n {self.n_new}): ROC-AUC {show(self.agreement)} "
            f"(minimum {MIN_AGREEMENT}), confidently contradicted {show(self.contradicted)} "
            f"(maximum {MAX_CONTRADICTED})",
            f"tolerance {self.tolerance}",
        ]


@dataclass(frozen=True)
class RetrainOutcome:
    """What :func:`retrain` did."""

    promoted: bool
    gate: GateReport
    imported: ImportResult | None
    label: str | None = None
    path: Path | None = None
    forced: bool = False
    warnings: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _reference_batches(active: Model) -> set[str]:
    sources = (active.manifest.get("training") or {}).get("sources") or []
    return {s[len(LABEL_SOURCE_PREFIX) :] for s in sources if str(s).startswith(LABEL_SOURCE_PREFIX)}


def compare_on_base(
    base: LabelledData,
    candidate_extra: LabelledData,
    reference_extra: LabelledData,
    *,
    folds: int = GATE_FOLDS,
    seed: int = 0,
) -> tuple[float | None, float | None]:
    """Out-of-fold ROC-AUC on ``base`` of the candidate recipe and the active recipe, on the same folds.

    Parameters
    ----------
    base : LabelledData
        The base corpus; it is split into stratified folds.
    candidate_extra, reference_extra : LabelledData
        Labels added to every training fold of the candidate and of the
        reference (the active model's recipe).

    Returns
    -------
    (candidate, reference) : tuple of float or None
    """
    import tomllib

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from scanner.indicators import parse_indicators
    from scanner.training import TfidfWeights, TrainConfig, default_indicator_table, featurize

    config = TrainConfig()
    indicators = parse_indicators(tomllib.loads(default_indicator_table()))
    texts = base.texts + candidate_extra.texts + reference_extra.texts
    labels = base.labels + candidate_extra.labels + reference_extra.labels
    counts = featurize(texts, config.features, indicators)
    y = np.array([label != "legitimate" for label in labels], dtype=int)
    n_base, n_cand = len(base), len(candidate_extra)
    cand_rows = np.arange(n_base, n_base + n_cand)
    ref_rows = np.arange(n_base + n_cand, len(texts))
    y_base = y[:n_base]
    if min(int(y_base.sum()), int(len(y_base) - y_base.sum())) < folds:
        return None, None
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = {"candidate": np.zeros(n_base), "reference": np.zeros(n_base)}
    for train, test in splitter.split(np.zeros(n_base), y_base):
        for name, extra in (("candidate", cand_rows), ("reference", ref_rows)):
            rows = np.concatenate([train, extra])
            if len(set(y[rows].tolist())) < 2:
                continue
            # liblinear: several times faster than the final model's lbfgs; both sides use it alike.
            tfidf = TfidfWeights(config.features.n_buckets, config.min_df, config.indicator_scale, config.max_df)
            weighted = tfidf.fit(counts[rows]).transform(counts[rows])
            linear = LogisticRegression(C=config.risk_c, class_weight="balanced", solver="liblinear", tol=1e-4)
            linear.fit(weighted, y[rows])
            scores[name][test] = linear.decision_function(tfidf.transform(counts[test]))
    return roc_auc(y_base, scores["candidate"]), roc_auc(y_base, scores["reference"])


def _holdout_auc(model_probability: np.ndarray, labels: list[str]) -> float | None:
    y = np.array([label != "legitimate" for label in labels], dtype=int)
    return roc_auc(y, model_probability) if len(y) else None


def _active_model() -> Model:
    return load_model(active_model_path() or default_model_path())


def _check(failures: list[str], what: str, candidate: float | None, active: float | None, tolerance: float) -> None:
    if candidate is not None and active is not None and candidate < active - tolerance:
        failures.append(f"{what}: candidate {candidate:.4f} < active {active:.4f} - tolerance {tolerance}")


def _write_candidate(trained: Any, data: LabelledData, sources: list[str], gate: GateReport) -> tuple[str, Path]:
    """Write the model under a hidden name, add the gate to its manifest, then rename it into place."""
    from scanner.training import write_model

    version = new_version(RETRAINED_NAME)
    staging = models_dir() / f".staging-{version}"
    write_model(trained, data, staging, name=RETRAINED_NAME, version=version, sources=sources)
    manifest = read_manifest(staging)
    manifest["gate"] = gate.to_dict()
    write_json_atomic(staging / "manifest.json", manifest)
    final = models_dir() / version
    os.replace(staging, final)
    return f"{RETRAINED_NAME}@{version}", final


def _clean_staging() -> None:
    folder = models_dir()
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name.startswith(".") and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)  # left by a killed retrain; we hold the lock


def retrain(
    new_labels: Sequence[str | Path],
    *,
    base: str | Path | None = None,
    use_base: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
    wait: bool = False,
    progress: Progress | None = None,
) -> RetrainOutcome:
    """Import new labels, train a candidate on the base corpus plus every stored label, gate it, promote it.

    Parameters
    ----------
    new_labels : sequence of path
        Labelled files to import first (may be empty: retrain on the store).
    base : path, optional
        The base corpus; ``data/corpus.csv`` of the source checkout by default.
    use_base : bool
        False trains on the stored labels alone (no corpus is looked for).
    tolerance : float
        How much worse than the active model the candidate may be on each check.
    force : bool
        Promote even when the gate refuses.
    wait : bool
        Wait for another retrain to finish instead of failing.
    progress : callable, optional
        Called with progress messages.

    Returns
    -------
    RetrainOutcome
        ``promoted`` is False when the gate refused; the stored batches in the
        candidate that were not yet accepted are then marked rejected.

    Raises
    ------
    DataError
        When the new labels have problems (nothing is stored), or there is too
        little data to train.
    BusyError
        When another retrain holds the lock.
    """
    say = progress or (lambda message: None)
    warnings: list[str] = []
    if os.environ.get("SCANNER_MODEL"):
        warnings.append(
            f"SCANNER_MODEL={os.environ['SCANNER_MODEL']} is set: commands keep using that model, not the active one."
        )
    with home_lock(wait=wait):
        _clean_staging()
        imported = import_labels(new_labels) if new_labels else None
        if imported is not None:
            say(f"Stored {imported.added} new label(s) ({imported.duplicates} already stored).")
        base_path = Path(base) if base else (default_base_corpus() if use_base else None)
        if use_base and base_path is None:
            warnings.append(
                "No base corpus found (data/corpus.csv is only in a source checkout); training on the stored "
                "labels alone. Pass --base DATA to train on a corpus as well."
            )
        base_data = read_labelled(base_path) if base_path else LabelledData([], [], [], [])
        stored = read_store()
        pending = [b.id for b in read_batches() if b.status == "pending"]
        training = [r for r in stored if not r.holdout]
        holdout = [r for r in stored if r.holdout]
        active = _active_model()
        reference = [r for r in training if r.batch in _reference_batches(active)]
        failures: list[str] = []

        # The cheap check first: labels the active model contradicts are refused before any fitting.
        new = [r for r in stored if r.batch in pending]
        agreement, contradicted = _agreement(active, new)
        failures += _agreement_failures(active.label, agreement, contradicted)
        base_candidate = base_active = None
        if len(base_data) and (force or not failures):
            say(f"Comparing on the base corpus ({len(base_data)} documents, {GATE_FOLDS} folds)…")
            base_candidate, base_active = compare_on_base(base_data, as_labelled(training), as_labelled(reference))
            _check(failures, "base corpus cross-validated ROC-AUC", base_candidate, base_active, tolerance)
        gate = GateReport(
            active.label,
            tolerance,
            _round(base_candidate),
            _round(base_active),
            len(base_data),
            agreement=_round(agreement),
            contradicted=_round(contradicted),
            n_new=len(new),
            failures=list(failures),
        )

        if failures and not force:
            return _refuse(gate, failures, pending, imported, warnings)

        say("Training the candidate…")
        data = LabelledData.concat([base_data, as_labelled(training)])
        from scanner.training import fit_model

        trained = fit_model(data, quiet=True)
        holdout_candidate = holdout_active = None
        if holdout:
            texts = [r.text for r in holdout]
            labels = [r.label for r in holdout]
            holdout_candidate = _holdout_auc(trained.pipeline.predict_proba(texts)[:, 1], labels)
            holdout_active = _holdout_auc(_score(active, texts), labels)
            _check(failures, "held-out stored labels ROC-AUC", holdout_candidate, holdout_active, tolerance)
        gate = replace(
            gate,
            holdout_candidate=_round(holdout_candidate),
            holdout_active=_round(holdout_active),
            n_holdout=len(holdout),
            failures=list(failures),
        )
        if failures and not force:
            return _refuse(gate, failures, pending, imported, warnings)

        batches = sorted({r.batch for r in stored})
        sources = ([str(base_path)] if base_path else []) + [LABEL_SOURCE_PREFIX + b for b in batches]
        label, folder = _write_candidate(trained, data, sources, gate)
        activate_model(label, locked=True)  # the pointer is switched last
        set_status(pending, "accepted")
        return RetrainOutcome(True, gate, imported, label, folder, forced=bool(failures), warnings=warnings)


def _agreement_failures(active: str, agreement: float | None, contradicted: float | None) -> list[str]:
    failures = []
    if agreement is not None and agreement < MIN_AGREEMENT:
        failures.append(
            f"the new labels contradict the active model {active}: it ranks them with ROC-AUC "
            f"{agreement:.4f}, below chance ({MIN_AGREEMENT}); are labels swapped?"
        )
    if contradicted is not None and contradicted > MAX_CONTRADICTED:
        failures.append(
            f"the active model {active} confidently contradicts {contradicted:.0%} of the new labels "
            f"(legitimate rated high, or risky rated low; at most {MAX_CONTRADICTED:.0%} allowed)"
        )
    return failures


def _agreement(active: Model, new: Sequence[StoredLabel]) -> tuple[float | None, float | None]:
    """How the new labels agree with the active model: (ROC-AUC, share confidently contradicted).

    The ROC-AUC needs both classes in the new labels. The contradicted share
    works for a batch of one class too: a document labelled legitimate that
    the model rates high (a level meant to reach at most 2% of legitimate
    documents) or one labelled risky that it rates low. On honest real sets
    the default model contradicts 3-16% of the labels; swapped labels, 50%.
    """
    if not new:
        return None, None
    probability = _score(active, [r.text for r in new])
    risky = np.array([r.label != "legitimate" for r in new])
    contradicted = np.where(risky, probability < active.thresholds["medium"], probability >= active.thresholds["high"])
    return _holdout_auc(probability, [r.label for r in new]), float(contradicted.mean())


def _score(model: Model, texts: list[str]) -> np.ndarray:
    from scanner.scoring import score_text

    return np.array([score_text(t, model, explain=False).probability for t in texts], dtype=np.float64)


def _refuse(
    gate: GateReport, failures: list[str], pending: list[str], imported: ImportResult | None, warnings: list[str]
) -> RetrainOutcome:
    gate = GateReport(**{**gate.__dict__, "failures": failures})
    if pending:
        set_status(pending, "rejected")
    return RetrainOutcome(False, gate, imported, warnings=warnings, rejected=list(pending))
