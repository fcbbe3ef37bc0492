"""The Dask engine gives the local engine's results, and survives a worker's death."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from scanner.batch import plan_jobs, run_batch  # noqa: E402
from scanner.dask_engine import DaskEngine, EngineError, model_payload, score_bag, score_dataframe  # noqa: E402
from tests.conftest import CORPUS  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    import csv

    with open(CORPUS, encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][:60]
    root = tmp_path_factory.mktemp("dask") / "filings"
    (root / "sub").mkdir(parents=True)
    for i, text in enumerate(texts):
        (root / ("sub" if i % 2 else ".") / f"f{i:03d}.txt").write_text(text, encoding="utf-8")
    (root / "copy.txt").write_text(texts[0], encoding="utf-8")  # an exact duplicate
    (root / "empty.txt").write_bytes(b"")  # an error row
    return root


def _rows(jobs, model, **kw):
    rows = []
    run_batch(jobs, model, lambda record, result: rows.append(record), **kw)
    return rows


@pytest.fixture(scope="module")
def engine():
    with DaskEngine(workers=2) as dask_engine:
        yield dask_engine


def test_dask_engine_equals_local_engine_row_for_row(default_model, folder: Path, engine) -> None:
    jobs = plan_jobs([str(folder)])
    local = _rows(jobs, default_model, workers=1)
    remote = _rows(jobs, default_model, engine=engine)
    assert remote == local
    assert any(r["error"] for r in remote) and any(r["duplicate_of"] for r in remote)


def test_a_killed_worker_loses_nothing(default_model, folder: Path, engine) -> None:
    jobs = plan_jobs([str(folder)]) * 1  # the same jobs, scored again while a worker dies
    pids = list(engine.client.run(os.getpid).values())
    rows: list[dict] = []
    killed = threading.Event()

    def write(record, result):
        rows.append(record)
        if len(rows) == 8 and not killed.is_set():
            os.kill(pids[0], signal.SIGKILL)
            killed.set()

    run_batch(jobs, default_model, write, engine=engine)
    assert killed.is_set()
    assert [r["id"] for r in rows] == [job.id for job in jobs]  # nothing missing, nothing doubled
    assert rows == _rows(jobs, default_model, workers=1)


def test_model_is_shipped_as_verified_bytes(default_model) -> None:
    payload = model_payload(default_model)
    assert set(payload["files"]) == {"manifest.json", "features.npz", "classifier.npz", "indicators.toml"}


def test_bag_and_dataframe_entry_points(default_model, engine) -> None:
    import dask.bag as db
    import dask.dataframe as dd
    import pandas as pd

    texts = ["Deposit and earn a guaranteed 3% daily return.", "A hardware wallet with a secure element."]
    records = score_bag(db.from_sequence(list(enumerate(texts)), npartitions=2), default_model).compute()
    assert [r["id"] for r in records] == ["0", "1"]
    assert records[0]["risk_score"] > records[1]["risk_score"]
    frame = dd.from_pandas(pd.DataFrame({"fid": ["a", "b"], "text": texts}), npartitions=2)
    scored = score_dataframe(frame, id_column="fid", model=default_model).compute()
    assert list(scored["id"]) == ["a", "b"] and scored["risk_level"].iloc[0] in ("medium", "high")


def test_unreachable_scheduler_is_a_clear_error() -> None:
    with pytest.raises(EngineError, match="Cannot reach the Dask scheduler"):
        DaskEngine(scheduler="tcp://127.0.0.1:1")


def test_cli_dask_engine_and_partitioned_parquet(folder: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    import pandas as pd

    scan = str(Path(sys.executable).parent / "scan")
    out = tmp_path / "dataset"
    proc = subprocess.run(
        [scan, str(folder), "--engine", "dask", "--jobs", "2", "--out", f"{out}/", "-q"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    parts = sorted(out.glob("part-*.parquet"))
    assert parts and not (out / "_scan").exists()
    frame = pd.concat(pd.read_parquet(p) for p in parts)
    local = subprocess.run([scan, str(folder), "--format", "csv", "-q"], capture_output=True, text=True, timeout=300)
    import io

    expected = pd.read_csv(io.StringIO(local.stdout))
    assert list(frame["id"]) == list(expected["id"])
    assert list(frame["risk_score"].astype(float).fillna(-1)) == list(expected["risk_score"].fillna(-1))


def test_cli_scheduler_needs_dask_engine(folder: Path) -> None:
    from typer.testing import CliRunner

    from scanner.cli import scan_app

    result = CliRunner().invoke(scan_app, [str(folder), "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2


def test_without_dask_the_engine_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("No module named 'distributed'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(EngineError, match=r"pip install 'crypto-risk-scanner\[dask\]'"):
        DaskEngine()


def test_resume_works_on_the_dask_engine(default_model, folder: Path, engine, tmp_path: Path) -> None:
    """A run interrupted after some rows, resumed on the Dask engine, equals an uninterrupted run."""
    from scanner.batch import Checkpoint
    from scanner.render import ResultWriter

    jobs = plan_jobs([str(folder)])
    out = tmp_path / "r.jsonl"
    checkpoint = Checkpoint(tmp_path / "r.jsonl.progress")
    checkpoint.open(keep=0)

    class Stop(Exception):
        pass

    with ResultWriter("jsonl", path=out) as writer:

        def write(record, result):
            if writer.count == 10:
                raise Stop
            writer.write(record, result)
            return writer.tell()

        with pytest.raises(Stop):
            run_batch(jobs, default_model, write, engine=engine, checkpoint=checkpoint)
    checkpoint.close(remove=False)
    done = Checkpoint(tmp_path / "r.jsonl.progress").read()
    assert len(done) == 10
    with ResultWriter("jsonl", path=out, append=True) as writer:
        summary = run_batch(
            jobs, default_model, lambda r, res: writer.write(r, res) or writer.tell(), engine=engine, done=done
        )
    assert summary.resumed == 10
    reference = tmp_path / "ref.jsonl"
    with ResultWriter("jsonl", path=reference) as writer:
        run_batch(jobs, default_model, lambda r, res: writer.write(r, res) or writer.tell(), workers=1)
    assert out.read_bytes() == reference.read_bytes()


def test_an_interrupted_run_leaves_no_task_on_the_cluster(default_model, folder: Path, engine) -> None:
    jobs = plan_jobs([str(folder)])
    outcomes = engine.run(jobs, default_model, explain=True, timeout=None, signature=False)
    next(outcomes)
    outcomes.close()  # what a Ctrl-C or a failing writer does to the generator
    import time

    deadline = time.monotonic() + 30
    while (
        engine.client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert engine.client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0
