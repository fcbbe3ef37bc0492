from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from scanner.indicators import RedFlag
from scanner.render import RenderError, ResultWriter, flatten, format_for_path, render_card, render_string
from scanner.scoring import Result, Term

RESULT = Result(
    id="filings/acme.txt",
    sha256="ab" * 32,
    risk_score=87.5,
    risk_level="high",
    category="illegal_fundraising",
    category_scores={"illegal_fundraising": 0.91, "pseudo_innovation": 0.09},
    red_flags=(
        RedFlag(
            "FIXED_RETURN",
            "illegal_fundraising",
            "high",
            "Promises a fixed periodic return",
            "Earn 2% daily; forever.",
            10,
            33,
        ),
    ),
    top_terms=(Term("daily return", 0.82), Term("referral", 0.4)),
    language="en",
    model="default@1.0.0",
)


def test_jsonl_is_the_contract_record() -> None:
    record = json.loads(render_string([RESULT], "jsonl"))
    assert record["red_flags"][0]["evidence"] == "Earn 2% daily; forever."
    assert record["top_terms"] == [{"term": "daily return", "weight": 0.82}, {"term": "referral", "weight": 0.4}]


def test_csv_joins_lists_with_semicolons() -> None:
    row = next(csv.DictReader(io.StringIO(render_string([RESULT, RESULT], "csv"))))
    assert row["red_flags"] == "FIXED_RETURN"
    assert row["top_terms"] == "daily return (0.820); referral (0.400)"
    assert row["category_scores"] == "illegal_fundraising=0.91; pseudo_innovation=0.09"
    assert row["evidence"] == "FIXED_RETURN: Earn 2% daily; forever."


def test_card_shows_score_flags_and_evidence() -> None:
    card = render_card(RESULT)
    assert "87.5" in card and "HIGH" in card and "FIXED_RETURN" in card and '"Earn 2% daily; forever."' in card
    assert "not a verdict" in card


def test_flatten_keeps_extra_columns_last() -> None:
    flat = flatten({**RESULT.to_dict(), "region": "north"})
    assert list(flat)[-1] == "region"


def test_format_for_path() -> None:
    assert format_for_path("x.XLSX") == "xlsx"
    with pytest.raises(RenderError, match="Cannot tell the output format"):
        format_for_path("x.yaml")


def test_binary_formats_need_a_file() -> None:
    with pytest.raises(RenderError, match="needs a file"), ResultWriter("xlsx", stream=io.StringIO()) as writer:
        writer.write(RESULT.to_dict(), RESULT)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "card"])
def test_writer_counts_the_bytes_it_writes_and_what_is_flushed(tmp_path: Path, fmt: str) -> None:
    """tell() is the file's size (counted, not asked of the file) and durable() never runs ahead of the disk."""
    from scanner.scoring import score_text

    path = tmp_path / f"out.{fmt}"
    texts = ["保本保息，每日返利3%。", "Guaranteed 2% daily — “risk free”.", "plain"]
    for append in (False, True):  # a second run appends to the first one's file
        with ResultWriter(fmt, path=path, append=append) as writer:
            for i, text in enumerate(texts * 15):
                result = score_text(text, doc_id=f"doc-{i}")
                record = {**result.to_dict(), "note": "ünïcödé"}
                writer.write(record, result)
                on_disk = path.stat().st_size
                assert writer.durable() <= on_disk <= writer.tell()
        assert writer.tell() == path.stat().st_size == writer.durable()
