from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.cli import app
from scanner.datasets import LabelledData, read_labelled
from scanner.labelstore import read_batches, read_store
from scanner.registry import BusyError, home_lock, list_models, resolve_model
from scanner.retraining import DEFAULT_TOLERANCE, MAX_CONTRADICTED, MIN_AGREEMENT, compare_on_base, retrain

from .conftest import SHARED_DATA

LABELS = ("legitimate", "illegal_fundraising", "pseudo_innovation")


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "label"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def honest(corpus_rows: list[dict[str, str]], tmp_path: Path) -> Path:
    """20 documents per label that the small corpus does not hold, correctly labelled."""
    rows = [row for label in LABELS for row in [r for r in corpus_rows if r["label"] == label][50:70]]
    return _write(tmp_path / "honest.csv", rows)


@pytest.fixture
def poisoned(corpus_rows: list[dict[str, str]], tmp_path: Path) -> Path:
    """60 fundraising texts labelled legitimate (plus a few true legitimate ones)."""
    fundraising = [r for r in corpus_rows if r["label"] == "illegal_fundraising"][50:110]
    legitimate = [r for r in corpus_rows if r["label"] == "legitimate"][80:90]
    return _write(tmp_path / "poisoned.csv", [dict(r, label="legitimate") for r in fundraising] + legitimate)


def test_honest_labels_are_promoted(small_corpus: Path, honest: Path, _isolated_home: Path) -> None:
    outcome = retrain([honest], base=small_corpus)
    assert outcome.promoted and not outcome.forced and outcome.gate.passed
    assert outcome.label is not None and outcome.label.startswith("retrained@")
    assert resolve_model().label == outcome.label
    manifest = resolve_model().manifest
    assert manifest["training"]["n"] == 150 + 60 - outcome.gate.n_holdout
    assert manifest["training"]["sources"][0] == str(small_corpus)
    assert manifest["training"]["sources"][1].startswith("labels/")
    assert manifest["gate"]["passed"] is True
    assert [b.status for b in read_batches()] == ["accepted"]
    assert [e.label for e in list_models() if e.active] == [outcome.label]


def test_poisoned_labels_are_refused(small_corpus: Path, poisoned: Path, _isolated_home: Path) -> None:
    outcome = retrain([poisoned], base=small_corpus)
    assert not outcome.promoted and outcome.label is None and outcome.gate.failures
    assert outcome.gate.contradicted is not None and outcome.gate.contradicted > MAX_CONTRADICTED
    assert resolve_model().label == "default@1.0.0"
    assert not (_isolated_home / "active.json").exists()
    assert [b.status for b in read_batches()] == ["rejected"] and read_store() == []
    assert not (_isolated_home / "models").exists()  # no model written


def test_poisoned_labels_make_the_base_folds_worse(small_corpus: Path, poisoned: Path, honest: Path) -> None:
    base = read_labelled(small_corpus)
    nothing = LabelledData([], [], [], [])
    candidate, reference = compare_on_base(base, read_labelled(poisoned), nothing)
    assert candidate is not None and reference is not None and candidate < reference - DEFAULT_TOLERANCE
    candidate, reference = compare_on_base(base, read_labelled(honest), nothing)
    assert candidate is not None and reference is not None and candidate >= reference - DEFAULT_TOLERANCE


def test_force_promotes_past_the_gate(corpus_rows: list[dict[str, str]], small_corpus: Path, tmp_path: Path) -> None:
    fundraising = [r for r in corpus_rows if r["label"] == "illegal_fundraising"][50:65]
    poisoned = _write(tmp_path / "few.csv", [dict(r, label="legitimate") for r in fundraising])
    outcome = retrain([poisoned], base=small_corpus, force=True)
    assert outcome.promoted and outcome.forced and not outcome.gate.passed
    assert outcome.gate.base_candidate is not None  # forced: the later checks ran too
    assert resolve_model().label == outcome.label


def test_retrain_waits_for_no_one_while_locked(small_corpus: Path, honest: Path) -> None:
    with home_lock(), pytest.raises(BusyError, match="Another retrain is running"):
        retrain([honest], base=small_corpus)
    assert read_batches() == []


def test_cli_refusal_shows_both_metrics_and_force(small_corpus: Path, poisoned: Path) -> None:
    result = CliRunner().invoke(app, ["retrain", str(poisoned), "--base", str(small_corpus)])
    assert result.exit_code == 1
    assert "candidate" in result.stderr and "active default@1.0.0" in result.stderr
    assert "--force" in result.stderr and not result.stdout


def test_cli_bad_labels_store_nothing(small_corpus: Path, tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.csv", [{"id": "x", "text": "some text", "label": "maybe"}])
    result = CliRunner().invoke(app, ["retrain", str(bad), "--base", str(small_corpus)])
    assert result.exit_code == 1 and "bad.csv line 2: label 'maybe'" in result.stderr
    assert read_batches() == []


def test_round_trip_scan_label_retrain_rollback(
    corpus_rows: list[dict[str, str]], small_corpus: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    folder = tmp_path / "filings"
    truth: dict[str, str] = {}
    for label in LABELS:
        for row in [r for r in corpus_rows if r["label"] == label][50:70]:
            path = folder / f"{row['id']}.txt"
            path.parent.mkdir(exist_ok=True)
            path.write_text(row["text"], encoding="utf-8")
            truth[str(path)] = label
    scanned = runner.invoke(app, ["score", str(folder), "--out", str(tmp_path / "results.csv"), "-j", "1", "-q"])
    assert scanned.exit_code == 0, scanned.output
    with open(tmp_path / "results.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["model"] for row in rows} == {"default@1.0.0"}
    labelled = tmp_path / "labelled.csv"
    with open(labelled, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*rows[0], "label"])
        writer.writeheader()
        writer.writerows(dict(row, label=truth[row["id"]]) for row in rows)

    retrained = runner.invoke(app, ["retrain", str(labelled), "--base", str(small_corpus), "--json"])
    assert retrained.exit_code == 0, retrained.output
    label = json.loads(retrained.stdout)["model"]
    assert label.startswith("retrained@")

    def scan_model() -> set[str]:
        result = runner.invoke(app, ["score", str(folder), "--format", "jsonl", "-j", "1", "-q"])
        assert result.exit_code == 0, result.output
        return {json.loads(line)["model"] for line in result.stdout.splitlines()}

    assert scan_model() == {label}
    assert runner.invoke(app, ["models", "activate", "default"]).exit_code == 0
    assert scan_model() == {"default@1.0.0"}
    assert runner.invoke(app, ["models", "activate", label]).exit_code == 0  # and forward again
    assert scan_model() == {label}


def test_sigkill_mid_training_leaves_the_active_model_and_store(
    small_corpus: Path, honest: Path, tmp_path: Path, _isolated_home: Path
) -> None:
    env = {**os.environ, "SCANNER_HOME": str(_isolated_home)}
    # Training a small corpus takes well under a second, so the kill could come too late: the real
    # fit_model runs, then the process lingers inside it until killed (before any model is written).
    slow_training = (
        "import sys, time, scanner.training as t\n"
        "real = t.fit_model\n"
        "def fit_model(*args, **kwargs):\n"
        "    trained = real(*args, **kwargs)\n"
        "    print('Trained, not written', file=sys.stderr, flush=True)\n"
        "    time.sleep(120)\n"
        "    return trained\n"
        "t.fit_model = fit_model\n"
        "from scanner.cli import main\n"
        "main()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", slow_training, "retrain", str(honest), "--base", str(small_corpus)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        text=True,
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("Trained, not written"):
                break
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    scan_bin = Path(sys.executable).parent / "scan"
    scanned = subprocess.run(
        [str(scan_bin), "-", "--format", "json"],
        input="Deposit USDT and earn a fixed 2% daily return.",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert scanned.returncode == 0, scanned.stderr
    assert json.loads(scanned.stdout)[0]["model"] == "default@1.0.0"
    assert [b.status for b in read_batches()] == ["pending"] and len(read_store()) == 60
    assert [e.label for e in list_models()] == ["default@1.0.0"]
    # The lock died with the process: the same command now completes (the labels are already stored).
    outcome = retrain([honest], base=small_corpus)
    assert outcome.promoted and outcome.imported is not None and outcome.imported.duplicates == 60
    assert [b.status for b in read_batches()] == ["accepted"]


DAPPS = SHARED_DATA / "dapps" / "dev.csv"


@pytest.mark.skipif(not DAPPS.is_file(), reason="../shared/data is absent")
def test_default_model_accepts_real_dapps_and_refuses_them_flipped(tmp_path: Path) -> None:
    """Honest labels from another genre are promoted; the same texts with swapped or whitewashed labels are refused."""
    flip = {"legitimate": "illegal_fundraising", "illegal_fundraising": "legitimate", "pseudo_innovation": "legitimate"}
    with open(DAPPS, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    flipped = _write(tmp_path / "flipped.csv", [dict(r, label=flip[r["label"].strip().lower()]) for r in rows])

    refused = retrain([flipped])
    assert not refused.promoted
    assert refused.gate.agreement is not None and refused.gate.agreement < MIN_AGREEMENT
    assert resolve_model().label == "default@1.0.0"

    # One class only (every risky DApp labelled legitimate): no ranking, but the model contradicts most of it.
    whitewashed = _write(
        tmp_path / "whitewashed.csv",
        [dict(r, label="legitimate") for r in rows if r["label"].strip().lower() != "legitimate"],
    )
    refused = retrain([whitewashed])
    assert not refused.promoted and refused.gate.agreement is None
    assert refused.gate.contradicted is not None and refused.gate.contradicted > MAX_CONTRADICTED
    assert resolve_model().label == "default@1.0.0"

    promoted = retrain([DAPPS])
    assert promoted.promoted, promoted.gate.lines()
    gate = promoted.gate
    assert gate.holdout_candidate is not None and gate.holdout_active is not None
    assert gate.holdout_candidate >= gate.holdout_active
    assert resolve_model().label == promoted.label
