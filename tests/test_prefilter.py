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
    # Windows from a few hits (lists) and from many (arrays) are the same windows.
    pattern_set = PatternSet(patterns)
    for length in (5, 20, 200, 4000):
        piece = " ".join(rng.choice(words) for _ in range(length)).lower()
        found = pattern_set._automaton.find_matches_as_indexes(piece, overlapping=True)
        if found:
            listed = pattern_set._few_windows(found, 0, len(piece), len(piece))
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr("scanner.prefilter.SMALL_HITS", 0)
                assert pattern_set._windows(piece) == listed, length
                # Searched in slices (literals straddling a cut included), the windows are the same.
                for slice_size in (1, 7, 100):
                    patch.setattr("scanner.prefilter.SEARCH_SLICE", slice_size)
                    assert pattern_set._windows(piece) == listed, (length, slice_size)


def test_the_shipped_analysis_cache_is_current() -> None:
    """scanner/_prefilter_cache.json holds the analysis of every shipped pattern (regenerate it if this fails)."""
    import importlib.util
    from pathlib import Path

    from scanner.prefilter import CACHE_FILE

    path = Path(__file__).with_name("_gen_prefilter_cache.py")
    spec = importlib.util.spec_from_file_location("_gen_prefilter_cache", path)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    shipped = Path(__file__).resolve().parent.parent / "scanner" / CACHE_FILE
    assert shipped.read_text(encoding="utf-8") == generator.cache_text(), "run: python tests/_gen_prefilter_cache.py"


def test_cached_and_computed_analyses_agree() -> None:
    from scanner.prefilter import LazyPattern, _analysis_cache, _analyze

    cache = _analysis_cache()
    assert len(cache) > 500
    for source in list(cache)[:: max(1, len(cache) // 80)]:
        assert analyze(LazyPattern(source)) == _analyze(source, re.UNICODE)


def test_an_unknown_pattern_is_analysed_on_the_fly() -> None:
    from scanner.prefilter import LazyPattern

    assert analyze(LazyPattern(r"(?:zebra|yak) farm")) == (frozenset({"zebra farm", "yak farm"}), 10)
    # An inline IGNORECASE flag switches the prefilter off (the literals could come in any case).
    assert analyze(LazyPattern(r"(?i)zebra"))[0] is None


def test_lazy_pattern_compiles_on_first_use_and_pickles() -> None:
    import pickle

    from scanner.prefilter import LazyPattern

    lazy = LazyPattern(r"guaranteed (\d+)%")
    assert lazy._compiled is None and lazy.flags == re.UNICODE
    assert lazy.search("a guaranteed 30% return").group(1) == "30"
    assert lazy.groups == 1 and lazy._compiled is not None
    copy = pickle.loads(pickle.dumps(lazy))
    assert copy == lazy and hash(copy) == hash(lazy) and copy.finditer("guaranteed 5%")
