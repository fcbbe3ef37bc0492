from __future__ import annotations

import random
import re

import pytest

from scanner.indicators import load_indicators
from scanner.prefilter import PatternSet, analyze, required_literals


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        pytest.param(r"guaranteed", {"guaranteed"}, id="plain-literal"),
        pytest.param(
            r"(?:daily|weekly) (?:roi|return)",
            {"daily roi", "daily return", "weekly roi", "weekly return"},
            id="product-of-alternations",
        ),
        pytest.param(r"\d+% (?:daily|per day)", {"% daily", "% per day"}, id="after-a-class"),
        pytest.param(r"(?:日|月)(?:息|化)", {"日息", "日化", "月息", "月化"}, id="chinese-pairs"),
        pytest.param(r"\bai\b", None, id="too-short"),
        pytest.param(r"[a-z]+ing", {"ing"}, id="suffix-literal"),
        pytest.param(r"[a-z]+\d+%", None, id="no-literal"),
    ],
)
def test_required_literals(pattern: str, expected: set[str] | None) -> None:
    literals = required_literals(re.compile(pattern))
    assert (set(literals) if literals is not None else None) == expected


def test_width_is_capped_for_unbounded_patterns() -> None:
    assert analyze(re.compile(r"abc"))[1] == 3
    assert analyze(re.compile(r"abc.*"))[1] == 400


def test_pattern_set_finds_exactly_what_a_full_scan_finds() -> None:
    patterns = [p for indicator in load_indicators() for p in indicator.patterns]
    rng = random.Random(7)
    words = [
        "earn",
        "guaranteed",
        "2%",
        "daily",
        "return",
        "referral",
        "bonus",
        "level",
        "2",
        "保本",
        "每日返利",
        "日息",
        "moon",
        "100x",
        "the",
        "and",
        "of",
        "a",
    ]
    text = " ".join(rng.choice(words) for _ in range(4000)).lower()
    fast = sorted((i, m.span()) for i, m in PatternSet(patterns).finditer(text))
    full = sorted((i, m.span()) for i, p in enumerate(patterns) for m in p.finditer(text))
    assert fast == full and fast
