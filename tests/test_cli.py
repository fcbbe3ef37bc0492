from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.cli import app, scan_app
from tests.test_scoring import FILINGS

runner = CliRunner()
RISKY = FILINGS[("en", "illegal_fundraising")]
SAFE = FILINGS[("en", "legitimate")]


@pytest.fixture()
def filings(tmp_path: Path) -> Path:
    folder = tmp_path / "filings"
    (folder / "sub").mkdir(parents=True)
    (folder / "risky.txt").write_text(RISKY, encoding="utf-8")
    (folder / "sub" / "safe.md").write_text(SAFE, encoding="utf-8")
    (folder / "sub" / "zh.txt").write_bytes(FILINGS[("zh", "illegal_fundraising")].encode("gb18030"))
    (folder / "notes.bin").write_bytes(b"\x00\x01")  # unsupported suffix: skipped in folders
    return folder


def test_scan_single_file_prints_a_card(filings: Path) -> None:
    result = runner.invoke(scan_app, [str(filings / "risky.txt")])
    assert result.exit_code == 0, result.output
    assert "Risk score" in result.stdout and "Red flags" in result.stdout
    assert "illegal fundraising" in result.stdout


def test_scan_json_formats(filings: Path) -> None:
    out = runner.invoke(scan_app, [str(filings / "risky.txt"), "--format", "json"])
    records = json.loads(out.stdout)
    assert isinstance(records, list) and records[0]["risk_level"] in ("medium", "high")
    out = runner.invoke(scan_app, [str(filings), "--format", "jsonl"])
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(r["id"]).name for r in lines] == ["risky.txt", "safe.md", "zh.txt"]
    assert all(r["error"] is None for r in lines)


def test_scan_csv_flattens_lists(filings: Path) -> None:
    out = runner.invoke(scan_app, [str(filings / "risky.txt"), "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 1
    assert "; " in rows[0]["red_flags"] or rows[0]["red_flags"]
    assert rows[0]["category_scores"].startswith("illegal_fundraising=")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json", ".xlsx", ".parquet"])
def test_scan_out_file_format_from_extension(filings: Path, tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"results{suffix}"
    result = runner.invoke(scan_app, [str(filings), "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    import pandas as pd

    frame = {
        ".csv": pd.read_csv,
        ".jsonl": lambda p: pd.read_json(p, lines=True),
        ".json": pd.read_json,
        ".xlsx": pd.read_excel,
        ".parquet": pd.read_parquet,
    }[suffix](target)
    assert len(frame) == 3 and "risk_score" in frame.columns


def test_fail_on_exit_code(filings: Path) -> None:
    assert runner.invoke(scan_app, [str(filings / "risky.txt"), "--fail-on", "medium", "-q"]).exit_code == 3
    assert runner.invoke(scan_app, [str(filings / "sub" / "safe.md"), "--fail-on", "medium", "-q"]).exit_code == 0


def test_unreadable_single_document_is_exit_1_with_message(tmp_path: Path) -> None:
    result = runner.invoke(scan_app, [str(tmp_path / "missing.txt")])
    assert result.exit_code == 1
    assert "missing.txt" in result.stderr and result.stdout == ""


def test_bad_file_in_batch_is_an_error_row(filings: Path) -> None:
    (filings / "empty.txt").write_bytes(b"")
    result = runner.invoke(scan_app, [str(filings), "--format", "jsonl"])
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    errors = [r for r in rows if r["error"]]
    assert len(rows) == 4 and len(errors) == 1 and "empty" in errors[0]["error"]
    strict = runner.invoke(scan_app, [str(filings), "--format", "jsonl", "--strict"])
    assert strict.exit_code == 1


def test_bad_usage_is_exit_2(filings: Path) -> None:
    assert runner.invoke(scan_app, [str(filings), "--format", "yaml"]).exit_code == 2
    assert runner.invoke(scan_app, [str(filings), "--fail-on", "severe"]).exit_code == 2
    assert runner.invoke(scan_app, [str(filings), "--out", "x.yaml"]).exit_code == 1


def test_table_rows_keep_their_columns(tmp_path: Path) -> None:
    table = tmp_path / "filings.csv"
    table.write_text(f'filing_id,description,region\nA1,"{RISKY}",north\nB2,"{SAFE}",south\n', encoding="utf-8")
    result = runner.invoke(
        scan_app, [str(table), "--text-column", "description", "--id-column", "filing_id", "--format", "jsonl"]
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["A1", "B2"]
    assert rows[0]["region"] == "north"
    assert rows[0]["risk_score"] > rows[1]["risk_score"]


def test_stdin(tmp_path: Path) -> None:
    result = runner.invoke(scan_app, ["-", "--format", "json"], input=RISKY)
    assert json.loads(result.stdout)[0]["id"] == "-"


def test_model_option_and_env(filings: Path, small_model, monkeypatch: pytest.MonkeyPatch) -> None:
    out = runner.invoke(scan_app, [str(filings / "risky.txt"), "--format", "json", "--model", str(small_model.path)])
    assert json.loads(out.stdout)[0]["model"] == "small@0.1.0"
    monkeypatch.setenv("SCANNER_MODEL", str(small_model.path))
    out = runner.invoke(scan_app, [str(filings / "risky.txt"), "--format", "json"])
    assert json.loads(out.stdout)[0]["model"] == "small@0.1.0"


def test_missing_model_is_exit_1(filings: Path, tmp_path: Path) -> None:
    result = runner.invoke(scan_app, [str(filings / "risky.txt"), "--model", str(tmp_path / "none")])
    assert result.exit_code == 1 and "scanner train" in result.stderr


def test_scanner_score_is_scan(filings: Path) -> None:
    a = runner.invoke(app, ["score", str(filings / "risky.txt"), "--format", "json"]).stdout
    b = runner.invoke(scan_app, [str(filings / "risky.txt"), "--format", "json"]).stdout
    assert a == b


def test_indicators_command() -> None:
    result = runner.invoke(app, ["indicators"])
    assert result.exit_code == 0 and "FIXED_RETURN" in result.stdout
    rows = json.loads(runner.invoke(app, ["indicators", "--json"]).stdout)
    assert len(rows) >= 25 and all(r["title_zh"] for r in rows)


def test_train_and_evaluate(small_corpus: Path, tmp_path: Path) -> None:
    target = tmp_path / "trained"
    result = runner.invoke(app, ["train", str(small_corpus), "--out", str(target), "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["roc_auc"] > 0.8
    result = runner.invoke(app, ["evaluate", str(small_corpus), "--model", str(target), "--json"])
    metrics = json.loads(result.stdout)
    for key in ("n", "roc_auc", "pr_auc", "precision", "recall", "f1", "fpr", "category_accuracy", "thresholds"):
        assert key in metrics


def test_train_bad_labels_is_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nsome text,maybe\n", encoding="utf-8")
    result = runner.invoke(app, ["train", str(bad), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert (
        "bad.csv line 2: label 'maybe' is not one of legitimate, illegal_fundraising, pseudo_innovation"
        in result.stderr
    )
    assert not (tmp_path / "m").exists()


def test_installed_scan_smoke(filings: Path) -> None:
    exe = shutil.which("scan", path=str(Path(sys.executable).parent))
    assert exe, "the scan console script is installed"
    proc = subprocess.run([exe, str(filings / "risky.txt"), "--format", "jsonl"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["risk_level"] in ("medium", "high")


def test_out_html_and_report_command(filings: Path, tmp_path: Path) -> None:
    page = tmp_path / "direct.html"
    assert runner.invoke(scan_app, [str(filings), "--out", str(page), "-q"]).exit_code == 0
    results = tmp_path / "results.jsonl"
    assert runner.invoke(scan_app, [str(filings), "--out", str(results), "-q"]).exit_code == 0
    report = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(results), "--out", str(report)])
    assert result.exit_code == 0, result.output
    for html in (page.read_text(encoding="utf-8"), report.read_text(encoding="utf-8")):
        assert html.count('<tr class="result') == 3
        assert "risky.txt" in html and "http://" not in html.split("<body", 1)[1].lower()


def test_report_of_bad_input_is_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    result = runner.invoke(app, ["report", str(bad), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "bad.jsonl" in result.stderr


def test_resume_needs_out(filings: Path) -> None:
    result = runner.invoke(scan_app, [str(filings), "--resume"])
    assert result.exit_code == 2


def test_batch_summary_on_stderr(filings: Path) -> None:
    result = runner.invoke(scan_app, [str(filings), "--format", "jsonl"])
    assert "3 documents:" in result.stderr and "documents/s" in result.stderr
    assert len(result.stdout.splitlines()) == 3


def test_evaluate_report_has_rendered_plots(small_corpus: Path, tmp_path: Path) -> None:
    import base64
    import re

    page = tmp_path / "eval.html"
    result = runner.invoke(app, ["evaluate", str(small_corpus), "--report", str(page), "--json"])
    assert result.exit_code == 0, result.output
    assert "roc_auc" in json.loads(result.stdout)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page.read_text(encoding="utf-8"))
    assert len(images) >= 4
    for data in images:
        png = base64.b64decode(data)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
