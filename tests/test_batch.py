from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.batch import Checkpoint, Job, iter_jobs, plan_jobs, run_batch, score_job
from scanner.batch import start_pool as _real_start_pool
from tests.conftest import CORPUS


def _scan_exe() -> str:
    return str(Path(sys.executable).parent / "scan")


@pytest.fixture(scope="module")
def corpus_texts() -> list[str]:
    import csv

    with open(CORPUS, encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def _folder(root: Path, texts: list[str], n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sub = root / f"group{i % 3}"
        sub.mkdir(exist_ok=True)
        (sub / f"filing{i:04d}.txt").write_text(texts[i % len(texts)] + f"\n\nFiling number {i}.", encoding="utf-8")
    return root


def test_iter_jobs_expands_folders_tables_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "b.txt").write_text("x", encoding="utf-8")
    (tmp_path / "d" / "e" / "a.html").write_text("<p>x</p>", encoding="utf-8")
    (tmp_path / "t.csv").write_text("text,k\nhello,1\n", encoding="utf-8")
    jobs = list(iter_jobs([str(tmp_path / "d"), str(tmp_path / "t.csv"), "-"]))
    assert [Path(j.id).name for j in jobs[:2]] == ["b.txt", "a.html"]
    assert jobs[2].text == "hello" and jobs[2].extra == {"k": "1"} and jobs[2].id == "t.csv:1"
    assert jobs[3].id == "-"


def test_plan_sorts_by_id(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "c/a.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    ids = [job.id for job in plan_jobs([str(tmp_path)])]
    assert ids == sorted(ids) and len(ids) == 3


def test_score_job_turns_failures_into_rows(default_model, tmp_path: Path) -> None:
    missing = score_job(Job(id="m.txt", path=tmp_path / "m.txt"), default_model).result
    assert missing.error and "m.txt" in missing.error and missing.risk_score is None
    empty = score_job(Job(id="row1", text="   "), default_model).result
    assert empty.error == "empty text"
    ok = score_job(Job(id="row2", text="A hardware wallet with a secure element."), default_model).result
    assert ok.error is None and ok.risk_level is not None


def test_timeout_is_an_error_row(default_model) -> None:
    text = "Deposit and earn 2% daily. " * 200_000  # several MB: cannot finish in a millisecond
    outcome = score_job(Job(id="slow", text=text), default_model, timeout=0.001)
    assert outcome.result.error and "longer than" in outcome.result.error


def _run(jobs, model, **kw):
    rows = []
    summary = run_batch(jobs, model, lambda record, result: rows.append(record), **kw)
    return rows, summary


def test_duplicates_scored_once_and_near_duplicates_found(default_model, tmp_path: Path, corpus_texts) -> None:
    long_text = max(corpus_texts, key=len)
    (tmp_path / "a_original.txt").write_text(long_text, encoding="utf-8")
    (tmp_path / "b_copy.txt").write_text(long_text, encoding="utf-8")
    renamed = long_text.replace("the", "teh", 3) + "\nRebranded by Another Project Ltd."
    (tmp_path / "c_renamed.txt").write_text(renamed, encoding="utf-8")
    (tmp_path / "d_other.txt").write_text(corpus_texts[0], encoding="utf-8")
    rows, summary = _run(plan_jobs([str(tmp_path)]), default_model)
    by_name = {Path(r["id"]).name: r for r in rows}
    assert by_name["b_copy.txt"]["duplicate_of"] == str(tmp_path / "a_original.txt")
    assert by_name["b_copy.txt"]["risk_score"] == by_name["a_original.txt"]["risk_score"]
    assert by_name["c_renamed.txt"]["near_duplicate_of"] == str(tmp_path / "a_original.txt")
    assert by_name["c_renamed.txt"]["near_duplicate_similarity"] >= 0.8
    assert by_name["d_other.txt"]["near_duplicate_of"] is None
    assert summary.duplicates == 1 and summary.near_duplicates == 1 and summary.documents == 4


def test_parallel_output_equals_sequential(
    default_model, tmp_path: Path, corpus_texts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scanner import batch

    folder = _folder(tmp_path / "f", corpus_texts, 24)
    jobs = plan_jobs([str(folder)])
    sequential, _ = _run(jobs, default_model, workers=1)
    started = []
    monkeypatch.setattr(batch, "POOL_WORTH_SECONDS", 0.0)  # a pool even for this small batch
    monkeypatch.setattr(batch, "start_pool", lambda *a, **k: started.append(1) or _real_start_pool(*a, **k))
    parallel, _ = _run(jobs, default_model, workers=2)
    assert started == [1]
    assert sequential == parallel
    assert [r["id"] for r in parallel] == sorted(r["id"] for r in parallel)


def test_a_small_batch_is_scored_without_starting_workers(
    default_model, tmp_path: Path, corpus_texts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scanner import batch

    folder = _folder(tmp_path / "f", corpus_texts, 24)
    jobs = plan_jobs([str(folder)])
    assert not batch._worth_a_pool(jobs)  # 24 short texts: a few milliseconds of work

    def refuse(*args, **kwargs):
        raise AssertionError("a pool was started for a small batch")

    monkeypatch.setattr(batch, "start_pool", refuse)
    rows, summary = _run(jobs, default_model, workers=2)
    assert summary.documents == 24 and all(r["error"] is None for r in rows)
    # A long filing, or many, is worth the workers.
    assert batch._worth_a_pool([Job(id="long", text="x" * 4_000_000)])
    assert batch._worth_a_pool([Job(id=str(i), text="short") for i in range(2000)])


def test_bad_files_are_rows_and_good_files_are_scored(tmp_path: Path, corpus_texts) -> None:
    folder = tmp_path / "mixed"
    _folder(folder, corpus_texts, 6)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 50)
    (folder / "truncated.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (folder / "latin1.txt").write_bytes("Rendement garanti de 2% par jour, café offert.".encode("latin-1"))
    big = folder / "huge.txt"
    with open(big, "wb") as handle:  # sparse: several hundred MB on paper, nothing on disk
        handle.seek(300 * 2**20)
        handle.write(b"x")
    proc = subprocess.run(
        [_scan_exe(), str(folder), "--format", "jsonl", "-q", "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {Path(r["id"]).name: r for r in map(json.loads, proc.stdout.splitlines())}
    assert len(rows) == 11
    for name in ("empty.txt", "binary.txt", "truncated.pdf", "huge.txt"):
        assert rows[name]["error"], name
        assert rows[name]["risk_score"] is None
    assert rows["latin1.txt"]["error"] is None
    assert sum(r["error"] is None for r in rows.values()) == 7
    strict = subprocess.run(
        [_scan_exe(), str(folder), "--format", "jsonl", "-q", "--strict"], capture_output=True, timeout=300
    )
    assert strict.returncode == 1


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".xlsx"])
def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path: Path, corpus_texts, suffix: str) -> None:
    folder = _folder(tmp_path / "filings", [t * 6 for t in corpus_texts], 150)
    reference = tmp_path / f"reference{suffix}"
    subprocess.run([_scan_exe(), str(folder), "--out", str(reference), "-q", "-j", "1"], check=True, timeout=600)

    target = tmp_path / f"interrupted{suffix}"
    progress = target.with_name(target.name + ".progress")
    proc = subprocess.Popen([_scan_exe(), str(folder), "--out", str(target), "-q", "-j", "1"])
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if progress.is_file() and progress.read_text().count("\n") >= 20:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = Checkpoint(progress).read()
    assert 20 <= len(finished) < 150, "the run must really be interrupted midway"

    resumed = subprocess.run(
        [_scan_exe(), str(folder), "--out", str(target), "--resume"], capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "kept from the interrupted run" in resumed.stderr
    assert not progress.exists()
    if suffix == ".xlsx":
        import pandas as pd

        pd.testing.assert_frame_equal(pd.read_excel(target), pd.read_excel(reference))
    else:
        assert target.read_bytes() == reference.read_bytes()


def test_resume_of_a_finished_run_reproduces_it(tmp_path: Path, corpus_texts) -> None:
    folder = _folder(tmp_path / "f", corpus_texts, 5)
    out = tmp_path / "r.jsonl"
    subprocess.run([_scan_exe(), str(folder), "--out", str(out), "-q"], check=True, timeout=300)
    first = out.read_bytes()
    subprocess.run([_scan_exe(), str(folder), "--out", str(out), "-q", "--resume"], check=True, timeout=300)
    assert out.read_bytes() == first


ICOBASE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "icobase"


@pytest.mark.skipif(not ICOBASE.is_dir(), reason="../shared/data/icobase is not here")
def test_real_whitepapers_one_row_per_file(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    proc = subprocess.run([_scan_exe(), str(ICOBASE), "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    import pandas as pd

    frame = pd.read_csv(out)
    files = sorted(str(p) for p in ICOBASE.rglob("*.txt"))
    assert sorted(frame["id"]) == files
    assert frame["error"].isna().sum() >= len(files) - 5  # a handful may be empty extractions


def test_checkpoint_records_a_row_only_once_the_output_holds_it(tmp_path: Path) -> None:
    flushed = {"bytes": 0}
    checkpoint = Checkpoint(tmp_path / "out.jsonl.progress")
    checkpoint.open(keep=0, durable=lambda: flushed["bytes"])
    checkpoint.record("a", 100, None, None)
    checkpoint.record("b", 200, None, None)
    assert Checkpoint(checkpoint.path).read() == []  # nothing flushed yet: a crash now keeps nothing
    flushed["bytes"] = 150
    checkpoint.record("c", 300, None, None)
    assert [e["id"] for e in Checkpoint(checkpoint.path).read()] == ["a"]
    flushed["bytes"] = 300
    checkpoint.close(remove=False)  # an interrupted run records what the output holds
    assert [e["id"] for e in Checkpoint(checkpoint.path).read()] == ["a", "b", "c"]


def test_memory_is_released_after_a_long_document(monkeypatch: pytest.MonkeyPatch, default_model) -> None:
    from scanner import batch

    calls = []
    monkeypatch.setattr(batch, "_release_memory", lambda: calls.append(1))
    score_job(Job(id="short", text="Guaranteed 2% daily."), default_model)
    assert calls == []
    score_job(Job(id="long", text="Guaranteed 2% daily returns. " * 10_000), default_model)
    assert calls == [1]
    monkeypatch.undo()
    batch._release_memory()  # glibc's malloc_trim, or nothing where there is none
