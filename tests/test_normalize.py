from __future__ import annotations

import pytest

from scanner.normalize import fold_char, normalize, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("年化３０％", "年化30%", id="full-width-digits-percent"),
        pytest.param("ｇｕａｒａｎｔｅｅｄ", "guaranteed", id="full-width-letters"),
        pytest.param("guar\u200banteed", "guaranteed", id="zero-width-space"),
        pytest.param("daily\u202e return", "daily return", id="bidi-override"),
        pytest.param("\ufeffhello", "hello", id="bom"),
        pytest.param("“quoted” – dash", '"quoted" - dash', id="typographic"),
        pytest.param("a\u3000b", "a b", id="ideographic-space"),
        pytest.param("plain ascii", "plain ascii", id="ascii-unchanged"),
    ],
)
def test_normalize_folds(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_ascii_text_has_identity_offsets() -> None:
    result = normalize("Deposit and earn 2% daily.")
    assert result.offsets is None
    assert result.to_original(3, 7) == (3, 7)


def test_offsets_point_back_to_original() -> None:
    raw = "前言。保证\u200b月收益３０％！"
    result = normalize(raw)
    start = result.text.index("30%")
    orig_start, orig_end = result.to_original(start, start + 3)
    assert raw[orig_start:orig_end] == "３０％"
    zw = result.text.index("保证")
    a, b = result.to_original(zw, zw + 4)
    assert raw[a:b] == "保证\u200b月收"


def test_normalize_is_idempotent() -> None:
    raw = "Ｇｕａｒａｎｔｅｅｄ\u200d ３０％ “APY” ﬁnance"
    once = normalize_text(raw)
    assert normalize_text(once) == once


def test_control_characters_become_spaces() -> None:
    assert normalize_text("a\x00b\x07c") == "a b c"
    assert fold_char("\x1f") == " "


def test_changed_table_matches_fold_char() -> None:
    """scanner/unicode_tables.py lists exactly the characters fold_char changes (regenerate it if this fails)."""
    from scanner.normalize import _CHANGED

    wrong = [
        hex(c)
        for c in range(0x80, 0x30000)
        if not 0xD800 <= c <= 0xDFFF
        and (
            (fold_char(chr(c)) != chr(c)) != bool(_CHANGED.match(chr(c)))  # exact below U+10000
            if c < 0x10000
            else fold_char(chr(c)) != chr(c) and not _CHANGED.match(chr(c))  # a superset above
        )
    ]
    assert wrong == []


def test_normal_chinese_run_keeps_offsets() -> None:
    raw = "保证收益 and 年化"
    result = normalize(raw)
    assert result.text == raw
    assert result.to_original(0, 4) == (0, 4)
