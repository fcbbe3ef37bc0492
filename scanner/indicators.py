"""Named red-flag indicators that quote their evidence.

The indicators themselves (ids, categories, severities, bilingual titles and
patterns) live in ``indicators.toml`` beside this module so that a regulator
can read and extend them without touching code. This module loads them and
finds their hits in a text, each with the sentence that raised it and its
character offsets in the original text.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from scanner.errors import ScannerError
from scanner.normalize import CONFUSABLES, Normalized, code_points, from_code_points, normalize
from scanner.prefilter import LazyPattern, PatternSet

CATEGORIES = ("illegal_fundraising", "pseudo_innovation")
SEVERITIES = ("low", "medium", "high")
SEVERITY_WEIGHT = {"low": 0.5, "medium": 1.0, "high": 2.0}
MAX_HITS_PER_INDICATOR = 3
MAX_EVIDENCE_CHARS = 300
# Indicators computed by the engine rather than by patterns (they still take their id, severity and
# titles from the table). "obfuscation": another indicator's matched words were disguised in the
# original (zero-width characters, look-alike letters of other scripts, leetspeak, spaced letters).
BUILTINS = ("obfuscation",)
_DISGUISE = re.compile(
    "[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]"  # invisible characters inside the words
    "|[" + "".join(CONFUSABLES) + "](?=[A-Za-z])|(?<=[A-Za-z])[" + "".join(CONFUSABLES) + "]"  # mixed scripts
    "|(?<=[A-Za-z])[013457@$]+(?=[A-Za-z])"  # leetspeak
    r"|(?<![A-Za-z0-9])[A-Za-z](?:[ .\-*_][A-Za-z]){3,}(?![A-Za-z0-9])"  # spaced-out letters
)

# A sentence ends at terminal punctuation followed by a space (Latin), at
# "!?;" next to a Chinese character (normalisation turns "！？；" into
# these), at "。" or at a line break.
_SENTENCE_END = re.compile(r"[.!?;](?=\s)|[!?;](?=[^\x00-\x7f])|(?<=[^\x00-\x7f])[!?;]|[。！？；]|\n")


class IndicatorError(ScannerError):
    """The indicator table is malformed."""


@dataclass(frozen=True)
class Indicator:
    """One red-flag indicator as defined in the indicator table."""

    id: str
    category: str
    severity: str
    title_en: str
    title_zh: str
    description: str
    patterns: tuple[LazyPattern, ...]
    exclude: tuple[LazyPattern, ...]
    builtin: str | None = None

    def title(self, language: str) -> str:
        """Return the title in ``language`` ("zh" gives Chinese, else English)."""
        return self.title_zh if language == "zh" else self.title_en


@dataclass(frozen=True)
class RedFlag:
    """One hit of an indicator: the evidence sentence and where it stands."""

    id: str
    category: str
    severity: str
    title: str
    evidence: str
    start: int
    end: int

    def to_dict(self) -> dict[str, object]:
        """Return the contract's red-flag record."""
        return {
            "id": self.id,
            "category": self.category,
            "severity": self.severity,
            "title": self.title,
            "evidence": self.evidence,
            "start": self.start,
            "end": self.end,
        }


def _compile(pattern: object, where: str, validate: bool) -> LazyPattern:
    if not isinstance(pattern, str):
        raise IndicatorError(f"{where}: pattern {pattern!r} is not a string.")
    lazy = LazyPattern(pattern)
    if validate:
        try:
            lazy.compiled  # noqa: B018 - compiling is the check
        except re.error as exc:
            raise IndicatorError(f"{where}: pattern {pattern!r} is not a valid regular expression ({exc}).") from exc
    return lazy


def parse_indicators(
    table: dict[str, object], source: str = "indicators.toml", *, validate: bool = True
) -> tuple[Indicator, ...]:
    """Validate a parsed indicator table; its patterns are compiled when first used.

    Parameters
    ----------
    table : dict
        The parsed TOML document, with a list ``indicator``.
    source : str
        Name used in error messages.
    validate : bool
        Compile every pattern now to report a bad one. A table that was checked
        when it was written (a model's, verified by its sha256) skips this, so a
        cold start compiles only the patterns a document needs.

    Returns
    -------
    tuple of Indicator

    Raises
    ------
    IndicatorError
        When an entry lacks a field, repeats an id, or has an invalid value or pattern.
    """
    entries = table.get("indicator")
    if not isinstance(entries, list) or not entries:
        raise IndicatorError(f"{source}: no [[indicator]] entries found.")
    seen: set[str] = set()
    indicators = []
    for number, entry in enumerate(entries, start=1):
        where = f"{source} indicator #{number}"
        if not isinstance(entry, dict):
            raise IndicatorError(f"{where}: is not a table.")
        for field in ("id", "category", "severity", "title_en", "title_zh"):
            if not isinstance(entry.get(field), str) or not entry[field]:
                raise IndicatorError(f"{where}: field '{field}' is missing or empty.")
        ident = entry["id"]
        where = f"{source} indicator {ident}"
        if ident in seen:
            raise IndicatorError(f"{where}: id repeated; ids must be unique.")
        seen.add(ident)
        if entry["category"] not in CATEGORIES:
            raise IndicatorError(f"{where}: category {entry['category']!r} is not one of {', '.join(CATEGORIES)}.")
        if entry["severity"] not in SEVERITIES:
            raise IndicatorError(f"{where}: severity {entry['severity']!r} is not one of {', '.join(SEVERITIES)}.")
        patterns = [*entry.get("patterns_en", []), *entry.get("patterns_zh", [])]
        builtin = entry.get("builtin")
        if builtin is not None and builtin not in BUILTINS:
            raise IndicatorError(f"{where}: builtin {builtin!r} is not one of {', '.join(BUILTINS)}.")
        if not patterns and builtin is None:
            raise IndicatorError(f"{where}: has no patterns_en or patterns_zh.")
        indicators.append(
            Indicator(
                id=ident,
                category=entry["category"],
                severity=entry["severity"],
                title_en=entry["title_en"],
                title_zh=entry["title_zh"],
                description=str(entry.get("description", "")),
                patterns=tuple(_compile(p, where, validate) for p in patterns),
                exclude=tuple(_compile(p, where, validate) for p in entry.get("exclude", [])),
                builtin=builtin,
            )
        )
    return tuple(indicators)


def load_indicators(path: str | Path | None = None) -> tuple[Indicator, ...]:
    """Load the indicator table.

    Parameters
    ----------
    path : str or Path, optional
        A TOML file; by default the table shipped in the package.

    Returns
    -------
    tuple of Indicator

    Raises
    ------
    IndicatorError
        When the file cannot be read or is malformed.
    """
    if path is None:
        return _default_indicators()
    try:
        table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise IndicatorError(f"Cannot read indicator table {path}: {exc}.") from exc
    return parse_indicators(table, str(path))


@lru_cache(maxsize=1)
def _default_indicators() -> tuple[Indicator, ...]:
    text = resources.files("scanner").joinpath("indicators.toml").read_text(encoding="utf-8")
    return parse_indicators(tomllib.loads(text), validate=False)  # checked by the test suite


_PATTERN_SETS: dict[int, tuple[tuple[Indicator, ...], PatternSet, tuple[int, ...]]] = {}


def _pattern_set(table: tuple[Indicator, ...]) -> tuple[PatternSet, tuple[int, ...]]:
    """All patterns of a table behind one literal prefilter, and the indicator owning each.

    Cached by the table's identity (a model keeps its table): hashing seven hundred patterns
    on every call would cost more than some documents take to score.
    """
    cached = _PATTERN_SETS.get(id(table))
    if cached is not None and cached[0] is table:
        return cached[1], cached[2]
    patterns = [pattern for indicator in table for pattern in indicator.patterns]
    owners = tuple(i for i, indicator in enumerate(table) for _ in indicator.patterns)
    if len(_PATTERN_SETS) >= 8:
        _PATTERN_SETS.clear()
    _PATTERN_SETS[id(table)] = (table, PatternSet(patterns), owners)  # holding the table keeps its id unique
    return _PATTERN_SETS[id(table)][1], owners


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Return the bounds of the sentence around ``[start, end)``, capped in length."""
    window = MAX_EVIDENCE_CHARS
    lo = max(0, start - window)
    left = lo
    for match in _SENTENCE_END.finditer(text, lo, start):
        left = match.end()
    right_match = _SENTENCE_END.search(text, end, min(len(text), end + window))
    right = right_match.end() if right_match else min(len(text), end + window)
    # Keep the quote readable when a page has no punctuation (navigation noise).
    if right - left > MAX_EVIDENCE_CHARS:
        half = max(0, (MAX_EVIDENCE_CHARS - (end - start)) // 2)
        left = max(left, start - half)
        right = min(right, end + half)
    while left < start and text[left].isspace():
        left += 1
    while right > end and text[right - 1].isspace():
        right -= 1
    return left, right


# A line break inside a sentence (hard-wrapped text, PDF extraction): the line does not end a
# sentence and the next one goes on in lower case. Found on the normalised text, before lower-casing.
_SENTENCE_FINAL = frozenset(" \t\r\n.!?:;。！？")
_SENTENCE_FINAL_CODES = np.array(sorted(map(ord, _SENTENCE_FINAL)), dtype=np.uint32)


def _join_wrapped_lines(text: str, lowered: str) -> str:
    """Turn line breaks that wrap a sentence into spaces (one for one, so offsets hold).

    A break wraps when a lower-case ASCII letter follows it and the character before it does not
    end a sentence (``_SENTENCE_FINAL``); found with array operations over the code points.
    """
    if "\n" not in text:
        return lowered
    codes = code_points(text)
    breaks = np.flatnonzero(codes[1:-1] == 10) + 1  # a line feed with a character on each side
    follow = codes[breaks + 1]
    breaks = breaks[(follow >= ord("a")) & (follow <= ord("z"))]
    breaks = breaks[~np.isin(codes[breaks - 1], _SENTENCE_FINAL_CODES)]
    if not len(breaks):
        return lowered
    joined = code_points(lowered).copy()
    joined[breaks] = ord(" ")
    return from_code_points(joined)


def _lower_same_length(text: str) -> str:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # A few characters (e.g. "İ") grow when lowered; lower the rest one by one.
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def find_red_flags(
    text: str,
    *,
    language: str = "en",
    indicators: tuple[Indicator, ...] | None = None,
    normalized: Normalized | None = None,
    lowered: str | None = None,
) -> list[RedFlag]:
    """Find the red-flag indicators that fire in a text.

    Patterns are matched on the normalised, lower-cased text; evidence and
    offsets refer to the original ``text``.

    Parameters
    ----------
    text : str
        The document text as read.
    language : str
        "zh" gives Chinese titles, anything else English ones.
    indicators : tuple of Indicator, optional
        The table to use; the shipped one by default.
    normalized : Normalized, optional
        ``normalize(text)`` when the caller has it already.
    lowered : str, optional
        ``normalized.text.lower()`` when the caller has it already (used only
        when lower-casing kept the length).

    Returns
    -------
    list of RedFlag
        In order of position in the text; at most three hits per indicator,
        each from a different sentence.
    """
    table = indicators if indicators is not None else _default_indicators()
    norm = normalized if normalized is not None else normalize(text)
    if lowered is None or len(lowered) != len(norm.text):
        lowered = _lower_same_length(norm.text)
    haystack = _join_wrapped_lines(norm.text, lowered)
    patterns, owners = _pattern_set(table)
    flags: list[tuple[int, RedFlag]] = []
    sentences: dict[int, set[tuple[int, int]]] = {}
    rejected: set[tuple[int, int, int]] = set()  # (indicator, start, end) cancelled by an exclude
    matched: list[tuple[tuple[int, int], int, int, RedFlag]] = []  # sentence, match span, flag
    for pattern_index, match in patterns.finditer(haystack):
        owner = owners[pattern_index]
        seen = sentences.setdefault(owner, set())
        if len(seen) >= MAX_HITS_PER_INDICATOR or match.end() == match.start():
            continue
        bounds = _sentence_bounds(haystack, match.start(), match.end())
        if bounds in seen or (owner, *bounds) in rejected:
            continue
        indicator = table[owner]
        sentence = haystack[bounds[0] : bounds[1]]
        if any(ex.search(sentence) for ex in indicator.exclude):
            rejected.add((owner, *bounds))
            continue
        seen.add(bounds)
        start, end = norm.to_original(*bounds)
        flag = RedFlag(
            id=indicator.id,
            category=indicator.category,
            severity=indicator.severity,
            title=indicator.title(language),
            evidence=text[start:end],
            start=start,
            end=end,
        )
        flags.append((start, flag))
        matched.append((bounds, match.start(), match.end(), flag))
    flags.extend(_disguise_flags(text, norm, table, matched, language))
    flags.sort(key=lambda item: (item[0], item[1].id))
    return [flag for _, flag in flags]


def _disguise_flags(
    text: str,
    norm: Normalized,
    table: tuple[Indicator, ...],
    matched: list[tuple[tuple[int, int], int, int, RedFlag]],
    language: str,
) -> list[tuple[int, RedFlag]]:
    """Flag the sentences whose matched risk words were disguised in the original text."""
    builtin = next((i for i in table if i.builtin == "obfuscation"), None)
    if builtin is None or (norm.offsets is None and norm.text == text):
        return []
    out: list[tuple[int, RedFlag]] = []
    done: set[tuple[int, int]] = set()
    for bounds, match_start, match_end, flag in matched:
        if bounds in done or len(done) >= MAX_HITS_PER_INDICATOR:
            continue
        start, end = norm.to_original(match_start, match_end)
        if _DISGUISE.search(text, start, end) is None:
            continue
        done.add(bounds)
        evidence = RedFlag(
            id=builtin.id,
            category=flag.category,
            severity=builtin.severity,
            title=builtin.title(language),
            evidence=flag.evidence,
            start=flag.start,
            end=flag.end,
        )
        out.append((flag.start, evidence))
    return out


def indicator_features(flags: list[RedFlag], indicators: tuple[Indicator, ...]) -> list[float]:
    """Turn red flags into the model's indicator features.

    One value per indicator, ``log(1 + hits)``, then one per risk category,
    ``log(1 + sum of severity weights)``. Hits are capped per indicator, so a
    long document cannot pile up weight by repeating one phrase.

    Parameters
    ----------
    flags : list of RedFlag
        Output of :func:`find_red_flags`.
    indicators : tuple of Indicator
        The table, in the order of the model's columns.

    Returns
    -------
    list of float
        ``len(indicators) + len(CATEGORIES)`` values.
    """
    import math

    hits: dict[str, int] = {}
    weight = dict.fromkeys(CATEGORIES, 0.0)
    builtin = {indicator.id for indicator in indicators if indicator.builtin}
    for flag in flags:
        hits[flag.id] = hits.get(flag.id, 0) + 1
        if flag.id not in builtin:  # a disguise flag only restates another flag: do not count it twice
            weight[flag.category] += SEVERITY_WEIGHT[flag.severity]
    values = [math.log1p(hits.get(indicator.id, 0)) for indicator in indicators]
    values.extend(math.log1p(weight[category]) for category in CATEGORIES)
    return values
