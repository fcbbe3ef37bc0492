"""Fast multi-pattern matching: a literal prefilter in front of the indicator regexes.

Running two hundred regular expressions over a 50-page whitepaper one after
another costs seconds. Most patterns cannot match most documents: a pattern
for "2% daily" needs the word "daily", a pattern for 保本 needs 保本. This
module reads each pattern's syntax tree to find literals at least one of
which every match must contain, finds all of them in one Aho-Corasick pass
(ahocorasick_rs, a Rust automaton), and runs a pattern only in windows around the places where
its literals occur. Matches are the same as a full scan's (the windows are
wider than the longest possible match); patterns with no usable literal are
run over the whole text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

try:  # ahocorasick_rs is a dependency; without it every pattern is run in full.
    import ahocorasick_rs
except ImportError:  # pragma: no cover - exercised only on broken installs
    ahocorasick_rs = None  # type: ignore[assignment]

from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

MIN_LITERAL = 3
MAX_ALTERNATIVES = 64
MAX_UNION = 256
UNBOUNDED_WIDTH = 400  # matches longer than this are not expected from sentence-bounded patterns
LOOKAROUND_MARGIN = 64  # room for look-behind / look-ahead checks at a window's edges

_Requirement = frozenset[str] | None


def _best(options: list[frozenset[str]]) -> _Requirement:
    """Pick the most selective requirement: longest shortest literal, then fewest alternatives."""
    usable = [o for o in options if o and all(map(_selective, o)) and len(o) <= MAX_UNION]
    if not usable:
        return None
    return max(usable, key=lambda o: (min(map(_weight, o)), -len(o)))


def _weight(literal: str) -> int:
    # A Chinese character narrows a search about as much as two Latin letters.
    return sum(1 if char.isascii() else 2 for char in literal)


def _selective(literal: str) -> bool:
    return _weight(literal) >= MIN_LITERAL + 1 or (len(literal) >= MIN_LITERAL and literal.isascii())


def _repeat(av: object) -> tuple[int, int, Sequence[tuple[object, object]]]:
    """The (min, max, sub-pattern) of a repeat node."""
    node: Any = av
    return int(node[0]), int(node[1]), node[2]


def _exact(op: object, av: object) -> frozenset[str] | None:
    """The finite set of strings one element can match, or None (zero-width elements give {""})."""
    if op is sre_constants.LITERAL:
        return frozenset({chr(av)})  # type: ignore[arg-type]
    if op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return frozenset({""})  # zero-width: a superset condition stays true without it
    if op is sre_constants.SUBPATTERN:
        return _exact_sequence(av[-1])  # type: ignore[index]
    if op is sre_constants.BRANCH:
        union: set[str] = set()
        for branch in av[1]:  # type: ignore[index]
            part = _exact_sequence(branch)
            if part is None:
                return None
            union |= part
        return frozenset(union) if len(union) <= MAX_ALTERNATIVES else None
    if op is sre_constants.IN:
        members: list[tuple[object, int]] = list(av)  # type: ignore[call-overload]
        chars = [chr(v) for kind, v in members if kind is sre_constants.LITERAL]
        if len(chars) == len(members) and len(chars) <= 12:
            return frozenset(chars)
        return None
    if op is sre_constants.MAX_REPEAT or op is sre_constants.MIN_REPEAT:
        low, high, sub = _repeat(av)
        if high > 2:
            return None
        inner = _exact_sequence(sub)
        if inner is None:
            return None
        result = {""} if low == 0 else set()
        result |= {a + b for a in inner for b in (inner if high == 2 else {""})} if high >= 1 else set()
        if low == 2:
            result = {a + b for a in inner for b in inner}
        return frozenset(result) if len(result) <= MAX_ALTERNATIVES else None
    return None


def _exact_sequence(items: Sequence[tuple[object, object]]) -> frozenset[str] | None:
    product: frozenset[str] = frozenset({""})
    for op, av in items:
        part = _exact(op, av)
        if part is None:
            return None
        product = frozenset(a + b for a in product for b in part)
        if len(product) > MAX_ALTERNATIVES:
            return None
    return product


def _sequence(items: Sequence[tuple[object, object]]) -> _Requirement:
    options: list[frozenset[str]] = []
    run: frozenset[str] = frozenset({""})
    for op, av in items:
        part = _exact(op, av)
        if part is not None:
            joined = frozenset(a + b for a in run for b in part)
            if len(joined) <= MAX_ALTERNATIVES:
                run = joined
                continue
            options.append(run)  # the run so far is required; start again here
            run = part
            continue
        options.append(run)
        run = frozenset({""})
        if op is sre_constants.SUBPATTERN:
            requirement = _sequence(av[-1])  # type: ignore[index]
        elif op is sre_constants.BRANCH:
            requirement = _branch(av[1])  # type: ignore[index]
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, _high, sub = _repeat(av)
            requirement = _sequence(sub) if low >= 1 else None
        else:  # classes, anchors, lookarounds, backreferences: no literal
            requirement = None
        if requirement:
            options.append(requirement)
    options.append(run)
    return _best(options)


def _branch(branches: Sequence[Sequence[tuple[object, object]]]) -> _Requirement:
    union: set[str] = set()
    for branch in branches:
        requirement = _sequence(branch)
        if requirement is None:
            return None
        union |= requirement
    return frozenset(union) if len(union) <= MAX_UNION else None


def analyze(pattern: re.Pattern[str] | LazyPattern) -> tuple[frozenset[str] | None, int]:
    """Return the literals every match of ``pattern`` contains (one at least) and its widest match.

    Parameters
    ----------
    pattern : re.Pattern or LazyPattern
        A pattern without the IGNORECASE flag.

    Returns
    -------
    (literals, width) : tuple
        ``literals`` is None when no selective literal is required (e.g. two
        Latin letters are not); ``width`` is capped at ``UNBOUNDED_WIDTH``.
        The shipped patterns' analyses are read from a cache file (parsing
        seven hundred patterns is most of a cold start); others are computed.
    """
    cached = _analysis_cache().get(pattern.pattern) if pattern.flags == re.UNICODE else None
    if cached is not None:
        literals, width = cached
        return (None if literals is None else frozenset(literals)), width
    return _analyze(pattern.pattern, pattern.flags)


def _analyze(source: str, flags: int) -> tuple[frozenset[str] | None, int]:
    try:
        tree = sre_parse.parse(source, flags)
    except Exception:  # a pattern re compiled but the parser rejects: be safe
        return None, UNBOUNDED_WIDTH
    width = min(int(tree.getwidth()[1]), UNBOUNDED_WIDTH)
    if (flags | tree.state.flags) & re.IGNORECASE:
        return None, width
    return _sequence(list(tree)), width


CACHE_FILE = "_prefilter_cache.json"


@lru_cache(maxsize=1)
def _analysis_cache() -> dict[str, tuple[list[str] | None, int]]:
    """The precomputed analyses of the shipped indicator patterns (see :func:`build_cache`)."""
    try:
        raw = json.loads(resources.files("scanner").joinpath(CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict) or raw.get("version") != _cache_version():
        return {}
    return {key: (value[0], int(value[1])) for key, value in raw["patterns"].items()}


def _cache_version() -> str:
    # A change to the analysis's limits invalidates the cache (the generating test also compares entries).
    return f"{MIN_LITERAL}-{MAX_ALTERNATIVES}-{MAX_UNION}-{UNBOUNDED_WIDTH}"


def build_cache(patterns: Sequence[str]) -> str:
    """Return the cache file's text for ``patterns`` (written by tests/_gen_prefilter_cache.py)."""
    entries = {}
    for source in sorted(set(patterns)):
        literals, width = _analyze(source, re.compile(source).flags)
        entries[source] = [None if literals is None else sorted(literals), width]
    return (
        json.dumps(
            {"version": _cache_version(), "patterns": entries},
            ensure_ascii=False,
            indent=None,
            separators=(",", ":"),
            sort_keys=True,
        )
        + "\n"
    )


_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux-]+[:)]")


class LazyPattern:
    """A regular expression compiled the first time it is used.

    A cold ``scan`` of one short filing needs a few dozen of the table's seven
    hundred patterns (the prefilter rules the rest out), so compiling them all
    up front would be most of its start-up time. Behaves like the
    ``re.Pattern`` it stands for (``pattern``, ``flags``, ``groups``, ``search``,
    ``finditer``...).

    Parameters
    ----------
    pattern : str
        The regular expression, already known to compile.
    """

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern."""
        if self._compiled is None:
            self._compiled = re.compile(self.pattern)
        return self._compiled

    @property
    def flags(self) -> int:
        """The pattern's flags (inline flags need compiling to be known)."""
        if self._compiled is None and not _INLINE_FLAGS.search(self.pattern):
            return re.UNICODE
        return self.compiled.flags

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (LazyPattern, (self.pattern,))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.compiled, name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyPattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(("LazyPattern", self.pattern))

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r})"


def required_literals(pattern: re.Pattern[str] | LazyPattern) -> frozenset[str] | None:
    """Return literals of which every match of ``pattern`` contains at least one (see :func:`analyze`)."""
    return analyze(pattern)[0]


FAST_AFTER = 1_000_000  # characters
SMALL_HITS = 48  # literal hits up to which windows are built with lists
SEARCH_SLICE = 1 << 15  # characters searched for literals at a time


@dataclass(frozen=True)
class _Entry:
    pattern: re.Pattern[str] | LazyPattern
    literals: frozenset[str] | None
    width: int


class PatternSet:
    """A list of patterns matched together with a shared literal prefilter.

    Parameters
    ----------
    patterns : sequence of re.Pattern or LazyPattern
        The patterns, addressed by their index in this sequence.
    """

    def __init__(self, patterns: Sequence[re.Pattern[str] | LazyPattern]) -> None:
        self._entries = [_Entry(p, *analyze(p)) for p in patterns]
        self._always = [i for i, entry in enumerate(self._entries) if entry.literals is None]
        self._automaton: Any = None
        self._literals: list[str] = []
        self._owners: list[tuple[int, ...]] = []  # for each literal, the patterns that need it
        self._scanned = 0  # characters searched so far: past FAST_AFTER, the faster automaton is built
        if ahocorasick_rs is not None:
            owners: dict[str, list[int]] = {}
            for index, entry in enumerate(self._entries):
                for literal in entry.literals or ():
                    owners.setdefault(literal, []).append(index)
            if owners:
                self._literals = list(owners)
                self._owners = [tuple(indexes) for indexes in owners.values()]
                self._automaton = ahocorasick_rs.AhoCorasick(self._literals)
        # The owners as arrays (literal k owns _owner_flat[_owner_first[k] : _owner_first[k] + _owner_count[k]]),
        # and each pattern's window margin: hits become windows with array operations.
        self._owner_count = np.array([len(o) for o in self._owners], dtype=np.int64)
        self._owner_first = np.cumsum(self._owner_count) - self._owner_count
        self._owner_flat = np.array([i for o in self._owners for i in o], dtype=np.int64)
        self._margins = [e.width + LOOKAROUND_MARGIN for e in self._entries]
        self._longest = max((len(literal) for literal in self._literals), default=1)
        self._margin = np.array(self._margins, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._entries)

    def prefiltered(self) -> int:
        """How many patterns have a literal prefilter."""
        return sum(e.literals is not None for e in self._entries) if self._automaton is not None else 0

    def finditer(self, text: str) -> Iterator[tuple[int, re.Match[str]]]:
        """Yield ``(pattern index, match)`` for every match of every pattern.

        Matches of one pattern come in text order; patterns in index order.
        """
        if self._automaton is None:
            for index, entry in enumerate(self._entries):
                yield from ((index, m) for m in entry.pattern.finditer(text))
            return
        windows = self._windows(text)
        for index in sorted(set(windows).union(self._always)):
            entry = self._entries[index]
            if entry.literals is None:
                yield from ((index, m) for m in entry.pattern.finditer(text))
                continue
            last_end = -1
            finditer = entry.pattern.finditer  # once per pattern (a LazyPattern resolves it on each access)
            for low, high in windows[index]:
                for match in finditer(text, max(low, last_end), high):
                    if match.end() > match.start() or match.start() > last_end:
                        last_end = match.end()
                        yield index, match

    def _windows(self, text: str) -> dict[int, list[tuple[int, int]]]:
        """For each pattern whose literals occur, the windows of ``text`` to run it in, merged, in order.

        A window reaches the pattern's longest match (and room for look-arounds) on both sides of
        each place one of its literals starts, so no match that contains the literal is cut. The
        text is searched a slice at a time: a text dense with literals ("每日返利" a million times)
        has millions of hits, and only one slice's are held at once.
        """
        self._scanned += len(text)
        if self._scanned > FAST_AFTER and self._scanned - len(text) <= FAST_AFTER:
            # A long text or many: a DFA searches 2-3 times faster but takes 25 ms to build.
            self._automaton = ahocorasick_rs.AhoCorasick(
                self._literals, implementation=ahocorasick_rs.Implementation.DFA
            )
        if len(text) <= SEARCH_SLICE:
            return self._slice_windows(text, 0, len(text))
        windows: dict[int, list[tuple[int, int]]] = {}
        for begin in range(0, len(text), SEARCH_SLICE):
            for pattern, more in self._slice_windows(text, begin, begin + SEARCH_SLICE).items():
                merged = windows.setdefault(pattern, [])
                for low, high in more:
                    _add_window(merged, low, high)
        return windows

    def _slice_windows(self, text: str, begin: int, end: int) -> dict[int, list[tuple[int, int]]]:
        """The windows of the literals that start in ``text[begin:end]`` (searched with room for the longest)."""
        piece = text if begin == 0 and end >= len(text) else text[begin : end + self._longest - 1]
        found = self._automaton.find_matches_as_indexes(piece, overlapping=True)
        if not found:
            return {}
        if len(found) <= SMALL_HITS:  # a short text: plain lists beat array calls
            return self._few_windows(found, begin, end, len(text))
        hits = np.array(found, dtype=np.int64)
        hits = hits[hits[:, 1] < end - begin]  # not the next slice's
        if not len(hits):
            return {}
        # One row per (literal occurrence, pattern that needs the literal).
        count = self._owner_count[hits[:, 0]]
        rank = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        patterns = self._owner_flat[np.repeat(self._owner_first[hits[:, 0]], count) + rank]
        starts = np.repeat(hits[:, 1], count) + begin
        order = np.lexsort((starts, patterns))
        patterns, starts = patterns[order], starts[order]
        margin = self._margin[patterns]
        low = np.maximum(starts - margin, 0)
        high = np.minimum(starts + margin + 1, len(text))  # never decreasing within a pattern
        opens = np.ones(len(starts), dtype=np.bool_)  # a new window: another pattern, or a gap
        opens[1:] = (patterns[1:] != patterns[:-1]) | (low[1:] > high[:-1])
        first = np.flatnonzero(opens)
        last = np.append(first[1:], len(starts)) - 1
        windows: dict[int, list[tuple[int, int]]] = {}
        for pattern, window_low, window_high in zip(  # (the same windows as _few_windows makes)
            patterns[first].tolist(), low[first].tolist(), high[last].tolist(), strict=True
        ):
            windows.setdefault(pattern, []).append((window_low, window_high))
        return windows

    def _few_windows(
        self, found: list[tuple[int, int, int]], begin: int, end: int, size: int
    ) -> dict[int, list[tuple[int, int]]]:
        """:meth:`_slice_windows` for a few literal hits, with plain lists."""
        starts: dict[int, list[int]] = {}
        for literal, start, _ in found:
            if start < end - begin:
                for index in self._owners[literal]:
                    starts.setdefault(index, []).append(begin + start)
        windows: dict[int, list[tuple[int, int]]] = {}
        for index in sorted(starts):
            margin = self._margins[index]
            merged: list[tuple[int, int]] = []
            for start in sorted(starts[index]):
                _add_window(merged, max(0, start - margin), min(size, start + margin + 1))
            windows[index] = merged
        return windows


def _add_window(windows: list[tuple[int, int]], low: int, high: int) -> None:
    """Append ``[low, high)`` to windows in order of ``low``, merged with the last when they touch."""
    if windows and low <= windows[-1][1]:
        windows[-1] = (windows[-1][0], max(windows[-1][1], high))
    else:
        windows.append((low, high))
