from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from scanner.datasets import read_labelled
from scanner.errors import DataError


def test_csv_jsonl_xlsx_parquet_and_folder(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"id": ["a", "b"], "text": ["one text", "two text"], "label": [" Legitimate ", "PSEUDO_INNOVATION"]}
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    frame.to_excel(tmp_path / "d.xlsx", index=False)
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    folder = tmp_path / "docs"
    (folder / "illegal_fundraising").mkdir(parents=True)
    (folder / "illegal_fundraising" / "x.txt").write_text("earn 2% daily", encoding="utf-8")
    for name in ("d.csv", "d.jsonl", "d.xlsx", "d.parquet"):
        data = read_labelled(tmp_path / name)
        assert data.labels == ["legitimate", "pseudo_innovation"], name
        assert data.ids == ["a", "b"]
    data = read_labelled(folder)
    assert data.labels == ["illegal_fundraising"] and data.texts == ["earn 2% daily"]


def test_path_column_relative_to_data_file(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "f.txt").write_text("a filing", encoding="utf-8")
    (tmp_path / "l.csv").write_text("path,label\ndocs/f.txt,legitimate\n", encoding="utf-8")
    assert read_labelled(tmp_path / "l.csv").texts == ["a filing"]


def test_scan_output_with_labels_is_labelled_data(tmp_path: Path) -> None:
    doc = tmp_path / "f.txt"
    doc.write_text("a filing", encoding="utf-8")
    rows = [
        {"id": str(doc), "sha256": "x", "risk_score": 50.0, "label": "illegal_fundraising"},
        {"id": str(doc) + "2", "sha256": "y", "risk_score": 10.0, "label": ""},
    ]
    (tmp_path / "scored.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    data = read_labelled(tmp_path / "scored.jsonl")
    assert data.texts == ["a filing"] and data.skipped_blank == 1


def test_all_problems_reported_together(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text(
        "text,label\nfine,legitimate\n,legitimate\nx,maybe\nsame text,legitimate\nsame  text,pseudo_innovation\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as info:
        read_labelled([tmp_path / "bad.csv", tmp_path / "missing.csv"])
    message = str(info.value)
    assert "bad.csv line 3: empty text" in message
    assert "bad.csv line 4: label 'maybe' is not one of legitimate, illegal_fundraising, pseudo_innovation" in message
    assert "bad.csv line 6: the same text as" in message
    assert "missing.csv: no such file" in message
    assert message.startswith("4 problem(s)")


def test_missing_columns(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("text\nhello\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("body,label\nhello,legitimate\n", encoding="utf-8")
    with pytest.raises(DataError, match="no 'label' column"):
        read_labelled(tmp_path / "a.csv")
    with pytest.raises(DataError, match="needs a 'text' column or a 'path' column"):
        read_labelled(tmp_path / "b.csv")


def test_groups_from_source_column(tmp_path: Path) -> None:
    (tmp_path / "g.csv").write_text("text,label,source\nx,legitimate,wild\ny,legitimate,\n", encoding="utf-8")
    assert read_labelled(tmp_path / "g.csv").groups == ["wild", None]
