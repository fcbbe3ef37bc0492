from __future__ import annotations

from pathlib import Path

from scanner.batch import Job, iter_jobs, score_job


def test_iter_jobs_expands_folders_tables_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "b.txt").write_text("x", encoding="utf-8")
    (tmp_path / "d" / "e" / "a.html").write_text("<p>x</p>", encoding="utf-8")
    (tmp_path / "t.csv").write_text("text,k\nhello,1\n", encoding="utf-8")
    jobs = list(iter_jobs([str(tmp_path / "d"), str(tmp_path / "t.csv"), "-"]))
    assert [Path(j.id).name for j in jobs[:2]] == ["b.txt", "a.html"]
    assert jobs[2].text == "hello" and jobs[2].extra == {"k": "1"} and jobs[2].id == "t.csv:1"
    assert jobs[3].id == "-"


def test_score_job_turns_failures_into_rows(default_model, tmp_path: Path) -> None:
    missing = score_job(Job(id="m.txt", path=tmp_path / "m.txt"), default_model)
    assert missing.error and "m.txt" in missing.error and missing.risk_score is None
    empty = score_job(Job(id="row1", text="   "), default_model)
    assert empty.error == "empty text"
    ok = score_job(Job(id="row2", text="A hardware wallet with a secure element."), default_model)
    assert ok.error is None and ok.risk_level is not None
