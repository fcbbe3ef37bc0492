"""Tests for the red-flag indicator table (scanner/indicators.toml) and the engine that runs it."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest

from scanner import indicators as indicators_module
from scanner.indicators import (
    CATEGORIES,
    MAX_HITS_PER_INDICATOR,
    SEVERITIES,
    Indicator,
    IndicatorError,
    RedFlag,
    find_red_flags,
    load_indicators,
    parse_indicators,
)
from scanner.prefilter import required_literals

TABLE_PATH = Path(indicators_module.__file__).with_name("indicators.toml")
CASES_PATH = Path(__file__).with_name("indicator_cases.toml")
RAW_TABLE = tomllib.loads(TABLE_PATH.read_text(encoding="utf-8"))
CASES = tomllib.loads(CASES_PATH.read_text(encoding="utf-8"))["case"]
ID_FORMAT = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def table() -> tuple[Indicator, ...]:
    return load_indicators()


def _fired(text: str, table: tuple[Indicator, ...]) -> dict[str, list[RedFlag]]:
    fired: dict[str, list[RedFlag]] = {}
    for flag in find_red_flags(text, indicators=table):
        fired.setdefault(flag.id, []).append(flag)
    return fired


def _starts_with_fixed_text(pattern: str) -> bool:
    """True when the regex begins with a literal character and has no top-level alternation."""
    first = re.match(r"\\[^dDsSwWbBAZ0-9]|[^\\()\[\].^$|?*+{]", pattern)
    if first is None or pattern[first.end() : first.end() + 1] in ("?", "*", "{"):
        return False
    depth = 0
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 2] == "]":
                index += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return False
        index += 1
    return True


# --- The shipped table -------------------------------------------------------


def test_shipped_table_loads_with_enough_indicators(table):
    assert len(table) >= 32
    assert {indicator.category for indicator in table} == set(CATEGORIES)
    assert {indicator.severity for indicator in table} <= set(SEVERITIES)
    assert [i.id for i in table] == [i.id for i in load_indicators(TABLE_PATH)]


def test_ids_are_upper_snake_case(table):
    bad = [indicator.id for indicator in table if not ID_FORMAT.fullmatch(indicator.id)]
    assert not bad, f"ids not in UPPER_SNAKE case: {bad}"


def test_every_indicator_is_bilingual():
    entries = RAW_TABLE["indicator"]
    both = [e["id"] for e in entries if e.get("patterns_en") and e.get("patterns_zh")]
    assert len(both) >= 25, f"only {len(both)} indicators have both English and Chinese patterns"
    for entry in entries:
        assert entry["title_en"].strip() and entry["title_zh"].strip(), entry["id"]
        assert CJK.search(entry["title_zh"]), f"{entry['id']}: title_zh has no Chinese"
        assert len(entry.get("description", "")) >= 40, f"{entry['id']}: description missing or too short"


def test_titles_follow_the_language(table):
    text = "每天收益1%，日化1%。"
    zh = {flag.id: flag.title for flag in find_red_flags(text, language="zh", indicators=table)}
    en = {flag.id: flag.title for flag in find_red_flags(text, language="en", indicators=table)}
    by_id = {indicator.id: indicator for indicator in table}
    assert zh["FIXED_RETURN"] == by_id["FIXED_RETURN"].title_zh
    assert en["FIXED_RETURN"] == by_id["FIXED_RETURN"].title_en


def test_patterns_are_written_in_lower_case():
    # The engine lower-cases the text and uses no IGNORECASE flag: an upper-case letter never matches.
    for entry in RAW_TABLE["indicator"]:
        for pattern in [*entry.get("patterns_en", []), *entry.get("patterns_zh", []), *entry.get("exclude", [])]:
            literal_part = re.sub(r"\\.", "", pattern)
            assert not re.search(r"[A-Z]", literal_part), f"{entry['id']}: {pattern!r} has upper-case letters"


def test_patterns_use_no_capturing_groups(table):
    for indicator in table:
        for pattern in (*indicator.patterns, *indicator.exclude):
            assert pattern.groups == 0, f"{indicator.id}: {pattern.pattern!r} has a capturing group; use (?:...)"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("daily (?:roi|return)", True),
        ("%(?:(?<=\\d%)|(?<=\\d %)) daily", True),
        ("\\$\\d+ per day", True),
        ("保本", True),
        ("(?:daily|weekly) roi", False),
        ("\\d+% daily", False),
        ("[日月]息", False),
        ("daily roi|weekly roi", False),
        ("a?b", False),
        ("(?<=x)y", False),
    ],
)
def test_fixed_text_check(pattern, expected):
    assert _starts_with_fixed_text(pattern) is expected


def test_every_pattern_can_be_found_quickly(table):
    # Speed: the engine looks for each pattern's required literal first and runs the pattern only around
    # it; a pattern without one is run over the whole text, where fixed text at its start lets the regex
    # engine skip ahead (a pattern starting with a choice, a class or \d is about ten times slower).
    for indicator in table:
        for pattern in indicator.patterns:
            fast = required_literals(pattern) is not None or _starts_with_fixed_text(pattern.pattern)
            assert fast, f"{indicator.id}: {pattern.pattern!r} has no required literal and no fixed start"


# --- The cases table ---------------------------------------------------------


def test_cases_table_is_complete(table):
    ids = {indicator.id for indicator in table}
    case_ids = [case["id"] for case in CASES]
    assert len(CASES) >= 120
    assert len(case_ids) == len(set(case_ids)), "case ids must be unique"
    for case in CASES:
        named = {*case["fires"], *case["silent"]}
        assert named, f"case {case['id']} asserts nothing"
        assert named <= ids, f"case {case['id']} names unknown indicators {sorted(named - ids)}"
        assert not set(case["fires"]) & set(case["silent"]), f"case {case['id']} both fires and silences an id"
    assert sum(1 for case in CASES if CJK.search(case["text"])) >= 40
    assert sum(1 for case in CASES if not case["fires"]) >= 40, "too few near misses"


def test_every_indicator_fires_in_some_case_in_each_language(table):
    for indicator in table:
        positives = [case for case in CASES if indicator.id in case["fires"]]
        assert len(positives) >= 2, f"{indicator.id} has {len(positives)} positive cases"
        assert any(not CJK.search(case["text"]) for case in positives), f"{indicator.id}: no English positive"
        assert any(CJK.search(case["text"]) for case in positives), f"{indicator.id}: no Chinese positive"


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_indicator_case(case, table):
    fired = _fired(case["text"], table)
    missing = [ident for ident in case["fires"] if ident not in fired]
    assert not missing, f"expected {missing} to fire on {case['text']!r}; fired {sorted(fired)}"
    wrong = {ident: [flag.evidence for flag in fired[ident]] for ident in case["silent"] if ident in fired}
    assert not wrong, f"expected these to stay silent on {case['text']!r}: {wrong}"


# --- Evidence and offsets ----------------------------------------------------


def test_evidence_is_quoted_from_the_original_text_in_every_case(table):
    for case in CASES:
        for flag in find_red_flags(case["text"], indicators=table):
            assert case["text"][flag.start : flag.end] == flag.evidence, case["id"]
            assert flag.evidence.strip(), case["id"]


def test_evidence_is_the_sentence_that_raised_the_flag(table):
    text = "Our team is small. We pay 2% daily on every deposit. Contact us by email."
    (flag,) = [f for f in find_red_flags(text, indicators=table) if f.id == "FIXED_RETURN"]
    assert flag.evidence == "We pay 2% daily on every deposit."
    assert (flag.start, flag.end) == (19, 52)


@pytest.mark.parametrize(
    ("text", "ident", "hit"),
    [
        ("Welcome to ＡＢＣ.\nMembers earn ３０％ monthly on their stake.\nJoin.", "FIXED_RETURN", "３０％ monthly"),
        ("项目介绍。存入ＵＳＤＴ，日化１．５％，次日到账。联系我们。", "FIXED_RETURN", "日化１．５％"),
        ("Intro\u200b. Earn 2\u200b% dai\u200bly on\u200d deposits. End.", "FIXED_RETURN", "2\u200b% dai\u200bly"),
        ("首页\u200b\u200b介绍。本项目保\u200b本零\u200c风险。其他。", "PRINCIPAL_PROTECTION", "保\u200b本"),
        (
            "\ufeffＮｏｔｅ：\u200b．\n10\u200b％ ｒｅｆｅｒｒａｌ ｂｏｎｕｓ, paid on deposits.",
            "REFERRAL_COMMISSION",
            "10\u200b％ ｒｅｆ",
        ),
    ],
    ids=["fullwidth-en", "fullwidth-zh", "zero-width-en", "zero-width-zh", "bom-fullwidth-zero-width"],
)
def test_offsets_point_into_the_original_text(text, ident, hit, table):
    flags = [flag for flag in find_red_flags(text, indicators=table) if flag.id == ident]
    assert flags, f"{ident} did not fire on {text!r}"
    flag = flags[0]
    assert text[flag.start : flag.end] == flag.evidence
    assert hit in flag.evidence
    assert flag.start <= text.index(hit) < text.index(hit) + len(hit) <= flag.end


def test_at_most_three_hits_per_indicator_each_from_its_own_sentence(table):
    text = " ".join(f"Plan {n} pays {n}% daily." for n in range(1, 9))
    flags = [flag for flag in find_red_flags(text, indicators=table) if flag.id == "FIXED_RETURN"]
    assert len(flags) == MAX_HITS_PER_INDICATOR
    assert len({(flag.start, flag.end) for flag in flags}) == len(flags)
    assert [flag.start for flag in flags] == sorted(flag.start for flag in flags)


def test_exclude_cancels_a_hit_in_its_sentence_only():
    custom = parse_indicators(
        {
            "indicator": [
                {
                    "id": "DAILY",
                    "category": "illegal_fundraising",
                    "severity": "high",
                    "title_en": "Daily",
                    "title_zh": "每日",
                    "patterns_en": ["paid daily"],
                    "exclude": ["not guaranteed"],
                }
            ]
        }
    )
    text = "Interest is paid daily but not guaranteed. Profits are paid daily."
    flags = find_red_flags(text, indicators=custom)
    assert [flag.evidence for flag in flags] == ["Profits are paid daily."]


# --- Malformed tables --------------------------------------------------------

_GOOD_ENTRY = {
    "id": "SAMPLE",
    "category": "pseudo_innovation",
    "severity": "low",
    "title_en": "Sample",
    "title_zh": "样例",
    "patterns_en": ["sample"],
}


def _duplicate(entries):
    entries.append(copy.deepcopy(entries[0]))


def _bad_category(entries):
    entries[0]["category"] = "ponzi"


def _bad_severity(entries):
    entries[0]["severity"] = "extreme"


def _bad_regex(entries):
    entries[0]["patterns_en"] = ["(?:unclosed"]


def _bad_exclude(entries):
    entries[0]["exclude"] = ["[z-a]"]


def _no_patterns(entries):
    del entries[0]["patterns_en"]


def _no_title(entries):
    entries[0]["title_zh"] = ""


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_duplicate, "repeated"),
        (_bad_category, "ponzi"),
        (_bad_severity, "extreme"),
        (_bad_regex, "(?:unclosed"),
        (_bad_exclude, "[z-a]"),
        (_no_patterns, "no patterns"),
        (_no_title, "title_zh"),
    ],
    ids=["duplicate-id", "bad-category", "bad-severity", "bad-regex", "bad-exclude", "no-patterns", "no-title"],
)
def test_malformed_table_raises_indicator_error(mutate, message):
    entries = [copy.deepcopy(_GOOD_ENTRY)]
    mutate(entries)
    with pytest.raises(IndicatorError, match=re.escape(message)):
        parse_indicators({"indicator": entries}, "custom.toml")


def test_valid_custom_table_parses():
    (indicator,) = parse_indicators({"indicator": [copy.deepcopy(_GOOD_ENTRY)]})
    assert indicator.id == "SAMPLE"
    assert [p.pattern for p in indicator.patterns] == ["sample"]


def test_empty_table_raises_indicator_error():
    with pytest.raises(IndicatorError, match="no \\[\\[indicator\\]\\] entries"):
        parse_indicators({})


def test_unreadable_table_file_raises_indicator_error(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[[indicator]\nid = ", encoding="utf-8")
    with pytest.raises(IndicatorError, match=re.escape("broken.toml")):
        load_indicators(broken)
    with pytest.raises(IndicatorError, match=re.escape("missing.toml")):
        load_indicators(tmp_path / "missing.toml")


# --- Performance sanity ------------------------------------------------------


def test_two_megabyte_document_completes(table):
    # Not timed: a regression to catastrophic backtracking would hang here rather than finish.
    sentences = [case["text"] for case in CASES]
    pieces = []
    size = 0
    index = 0
    while size < 2_000_000:
        sentence = sentences[index % len(sentences)]
        pieces.append(sentence)
        pieces.append("\n" if index % 5 == 0 else " ")
        size += len(sentence) + 1
        index += 1
    text = "".join(pieces)
    flags = find_red_flags(text, indicators=table)
    per_id: dict[str, int] = {}
    for flag in flags:
        per_id[flag.id] = per_id.get(flag.id, 0) + 1
        assert text[flag.start : flag.end] == flag.evidence
    assert set(per_id) == {indicator.id for indicator in table}
    assert max(per_id.values()) <= MAX_HITS_PER_INDICATOR


def test_wrapped_lines_are_joined_as_the_regex_reading_says() -> None:
    """A line feed becomes a space when a lower-case letter follows and no sentence end precedes it."""
    import random

    from scanner.indicators import _SENTENCE_FINAL, _join_wrapped_lines

    def reference(text: str) -> str:
        breaks = {
            m.start()
            for m in re.finditer(r"\n(?=[a-z])", text)
            if m.start() and text[m.start() - 1] not in _SENTENCE_FINAL
        }
        return "".join(" " if i in breaks else c for i, c in enumerate(text.lower()))

    rng = random.Random(2)
    for _ in range(5000):
        text = "".join(rng.choice("aZ\n .!:;。中\t\rb") for _ in range(rng.randint(0, 30)))
        assert _join_wrapped_lines(text, text.lower()) == reference(text), text
    assert _join_wrapped_lines("we pay\ndaily.\nNext", "we pay\ndaily.\nnext") == "we pay daily.\nnext"
