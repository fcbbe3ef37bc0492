"""Properties of the public functions that must hold for any input a filer could send."""

from __future__ import annotations

import codecs
import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner import find_red_flags, normalize, normalize_text, score_text
from scanner.documents import Document, read_bytes
from scanner.errors import DocumentError

# The autouse SCANNER_HOME fixture is function-scoped but only sets an environment variable,
# which every example may share.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_CASES = tomllib.loads((Path(__file__).parent / "indicator_cases.toml").read_text(encoding="utf-8"))["case"]
PHRASES = sorted({case["text"] for case in _CASES})

# Unicode the filings bring: controls, CJK, full-width forms, look-alike letters, invisible characters.
_ALPHABETS = st.one_of(
    st.characters(codec="utf-8"),  # any code point but surrogates
    st.characters(min_codepoint=0, max_codepoint=0x9F),  # ASCII and C0/C1 controls
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK ideographs
    st.characters(min_codepoint=0xFF00, max_codepoint=0xFFEF),  # full-width and half-width forms
    st.characters(min_codepoint=0x0370, max_codepoint=0x04FF),  # Greek and Cyrillic look-alikes
    st.sampled_from("\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e\u3000\u00a0０１２％"),
)
ANY_TEXT = st.text(_ALPHABETS, max_size=300)


@st.composite
def _disguised(draw: st.DrawFn) -> str:
    """An indicator case's sentence with characters inserted, replaced or spaced out, as evasion does."""
    text = draw(st.sampled_from(PHRASES))
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(text)))
        edit, char = draw(st.sampled_from(["insert", "replace", "space"])), draw(_ALPHABETS)
        if edit == "insert":
            text = text[:at] + char + text[at:]
        elif edit == "replace":
            text = text[:at] + char + text[at + 1 :]
        else:
            text = text[:at] + " " + text[at:]
    return text


# Random text alone seldom fires an indicator: mix in the indicator cases' sentences, plain and
# disguised, so that evidence offsets are checked on hits, amid whatever characters surround them.
FILING_TEXT = st.lists(st.one_of(st.sampled_from(PHRASES), _disguised(), ANY_TEXT), max_size=6).map(" ".join)


@pytest.fixture(scope="module")
def model(default_model):
    return default_model


@PROPERTY
@given(text=st.one_of(ANY_TEXT, FILING_TEXT))
def test_score_text_gives_a_score_from_0_to_100_and_the_same_result_twice(text: str, model) -> None:
    first = score_text(text, model)
    assert first.error is None
    assert first.risk_score is not None and math.isfinite(first.risk_score)
    assert 0 <= first.risk_score <= 100
    assert first.risk_level in ("low", "medium", "high")
    assert score_text(text, model) == first


@PROPERTY
@given(text=FILING_TEXT)
def test_red_flag_evidence_is_the_text_at_its_offsets(text: str, model) -> None:
    for flags in (find_red_flags(text), list(score_text(text, model).red_flags)):
        for flag in flags:
            assert 0 <= flag.start <= flag.end <= len(text)
            assert text[flag.start : flag.end] == flag.evidence, flag


def test_red_flag_property_sees_hits() -> None:
    """The offset property would be empty if its texts never fired an indicator."""
    assert sum(bool(find_red_flags(phrase)) for phrase in PHRASES) > len(PHRASES) // 3


_BYTES = st.one_of(
    st.binary(max_size=2000),
    st.tuples(st.sampled_from([b"%PDF-1.4\n", b"PK\x03\x04", b"<!DOCTYPE html>", b"<html>"]), st.binary()).map(
        b"".join
    ),
    st.tuples(st.sampled_from([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF32_BE]), st.binary()).map(b"".join),
    st.tuples(ANY_TEXT, st.sampled_from(["utf-8", "utf-16-le", "utf-16-be", "gb18030", "big5", "cp1252"])).map(
        lambda pair: pair[0].encode(pair[1], errors="replace")
    ),
)


@PROPERTY
@given(data=_BYTES, suffix=st.sampled_from([".txt", ".html", "", ".md", ".pdf", ".docx"]))
def test_read_bytes_gives_a_document_or_a_document_error(data: bytes, suffix: str) -> None:
    try:
        document = read_bytes(data, name="filing", suffix=suffix)
    except DocumentError as exc:
        assert str(exc).startswith("filing")
    else:
        assert isinstance(document, Document)
        assert document.text.strip()
        assert document.id == "filing"


@PROPERTY
@given(text=st.one_of(ANY_TEXT, FILING_TEXT))
def test_normalize_text_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


@PROPERTY
@given(text=st.one_of(ANY_TEXT, FILING_TEXT))
def test_normalize_offsets_map_each_character_back_into_the_text(text: str) -> None:
    normalized = normalize(text)
    if normalized.offsets is None:  # the identity mapping
        assert len(normalized.text) == len(text)
        return
    offsets = [int(offset) for offset in normalized.offsets]
    assert len(offsets) == len(normalized.text) + 1
    assert offsets[-1] == len(text)
    assert all(0 <= offset < len(text) for offset in offsets[:-1])
    assert offsets == sorted(offsets)
