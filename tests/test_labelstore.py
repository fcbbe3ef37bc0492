from __future__ import annotations

import csv
import datetime as dt
import getpass
import json
from pathlib import Path

import pytest

from scanner.errors import DataError
from scanner.labelstore import (
    import_labels,
    is_holdout,
    labels_dir,
    read_batches,
    read_store,
    set_status,
    text_key,
)

NOW = dt.datetime(2026, 11, 27, 1, 30, tzinfo=dt.UTC)


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


ROWS = [
    {"id": "a", "text": "Deposit USDT and earn a fixed 2% daily return.", "label": "illegal_fundraising"},
    {"id": "b", "text": "A non-custodial wallet for Ethereum with hardware key support.", "label": " Legitimate "},
    {"id": "c", "text": "The first metaverse AI chain that will change everything.", "label": "pseudo_innovation"},
]


def test_import_stores_one_batch_with_provenance(tmp_path: Path) -> None:
    source = _write(tmp_path / "new.csv", ROWS)
    result = import_labels([source], now=NOW)
    assert result.added == 3 and result.duplicates == 0 and result.batch is not None
    (batch,) = read_batches()
    assert batch.status == "pending" and batch.n == 3 and batch.sources == [str(source)]
    assert batch.who == getpass.getuser() and batch.imported_at == "2026-11-27T01:30:00+00:00"
    records = [json.loads(line) for line in (labels_dir() / batch.file).read_text().splitlines()]
    assert [r["label"] for r in records] == ["illegal_fundraising", "legitimate", "pseudo_innovation"]
    assert records[0]["source"] == f"{source} line 2" and records[0]["id"] == "a"
    assert {"id", "key", "text", "label", "source", "imported_at", "who"} <= set(records[0])
    assert [r.text for r in read_store()] == [row["text"] for row in ROWS]
    assert sorted(p.name for p in labels_dir().iterdir()) == sorted([batch.file, "index.json"])  # no temp files


def test_duplicates_are_skipped(tmp_path: Path) -> None:
    import_labels([_write(tmp_path / "one.csv", ROWS[:2])], now=NOW)
    spaced = dict(ROWS[0], text="  Deposit USDT and earn a fixed 2%   daily return.\n")
    again = import_labels([_write(tmp_path / "two.csv", [spaced, ROWS[2]])], now=NOW + dt.timedelta(seconds=1))
    assert again.added == 1 and again.duplicates == 1
    assert len(read_store()) == 3
    nothing = import_labels([_write(tmp_path / "three.csv", ROWS)], now=NOW + dt.timedelta(seconds=2))
    assert nothing.batch is None and nothing.duplicates == 3 and len(read_batches()) == 2


def test_conflicting_label_names_both_and_stores_nothing(tmp_path: Path) -> None:
    first = _write(tmp_path / "one.csv", ROWS[:1])
    import_labels([first], now=NOW)
    flipped = _write(tmp_path / "two.csv", [ROWS[2], dict(ROWS[0], label="legitimate")])
    with pytest.raises(DataError) as caught:
        import_labels([flipped], now=NOW + dt.timedelta(seconds=1))
    message = str(caught.value)
    assert f"{flipped} line 3" in message and "'legitimate'" in message
    assert "'illegal_fundraising'" in message and f"{first} line 2" in message
    assert len(read_batches()) == 1 and len(read_store()) == 1


def test_invalid_files_store_nothing(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.csv", [ROWS[0], dict(ROWS[1], label="maybe")])
    with pytest.raises(DataError, match=r"bad\.csv line 3: label 'maybe'"):
        import_labels([bad, tmp_path / "missing.csv"], now=NOW)
    assert read_batches() == [] and not labels_dir().exists()


def test_rejected_batches_leave_training_and_allow_relabelling(tmp_path: Path) -> None:
    result = import_labels([_write(tmp_path / "one.csv", ROWS)], now=NOW)
    assert result.batch is not None
    set_status([result.batch.id], "rejected")
    assert read_store() == [] and len(read_store(("rejected",))) == 3
    fixed = import_labels([_write(tmp_path / "two.csv", [dict(ROWS[0], label="legitimate")])], now=NOW)
    assert fixed.added == 1 and [r.label for r in read_store()] == ["legitimate"]


def test_batch_file_without_index_entry_is_ignored(tmp_path: Path) -> None:
    import_labels([_write(tmp_path / "one.csv", ROWS[:1])], now=NOW)
    (labels_dir() / "orphan.jsonl").write_text('{"half": ')  # a crash between batch file and index
    assert len(read_store()) == 1


def test_damaged_index_is_a_clear_error() -> None:
    labels_dir().mkdir(parents=True)
    (labels_dir() / "index.json").write_text("{")
    with pytest.raises(DataError, match=r"index\.json is damaged"):
        read_store()


def test_holdout_is_stable_and_about_one_in_five(corpus_rows: list[dict[str, str]]) -> None:
    keys = [text_key(row["text"]) for row in corpus_rows]
    share = sum(map(is_holdout, keys)) / len(keys)
    assert 0.15 < share < 0.25
    assert is_holdout(text_key(" a  b ")) == is_holdout(text_key("a b"))


def test_the_same_batch_again_within_a_second_after_a_rejection_gets_its_own_id(tmp_path: Path) -> None:
    source = _write(tmp_path / "one.csv", ROWS)
    first = import_labels([source], now=NOW)
    assert first.batch is not None
    set_status([first.batch.id], "rejected")
    again = import_labels([source], now=NOW)  # the same rows, the same second
    assert again.batch is not None and again.added == len(ROWS)
    assert again.batch.id != first.batch.id and again.batch.id.startswith(first.batch.id)
    assert [b.status for b in read_batches()] == ["rejected", "pending"]
