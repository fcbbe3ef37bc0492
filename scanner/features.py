"""Hashed word and character n-gram counts, computed with numpy alone.

Training (scikit-learn) and scoring (numpy) share this module, so a document
becomes the same feature counts on both sides. Character n-grams are hashed
with a vectorised rolling hash over the code points, which needs no word
segmenter for Chinese and keeps long filings fast. Word tokens are found from
a table of code-point classes and hashed from their code points with prefix
sums, all with array operations, so a 50-page filing never becomes a list of
Python strings; the hashes do not change between processes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from scanner.normalize import chinese_characters, code_points

# Word tokens: runs of letters and digits outside the CJK blocks (Chinese is
# covered by the character n-grams), plus the signs that carry meaning in an
# offer ("%", "$", "x" multipliers come out as their own token).
_WORD_CHAR = re.compile(r"[^\W_\u2e80-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_SIGN = re.compile(r"[%$¥€£]")
_WORD = re.compile(f"{_WORD_CHAR.pattern}+|{_SIGN.pattern}")
_DIGITS = re.compile(r"\d+")
_NON_CJK_RUN = re.compile(r"[^\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]+")

# English function words: they carry a writer's style, not an offer's substance,
# so they are left out of the word n-grams when ``stop_words`` is on.
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "us",
        "may",
        "might",
        "must",
        "shall",
    ]
)

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_PRIME = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)


CHAR_SCOPES = ("all", "cjk")


@dataclass(frozen=True)
class FeatureConfig:
    """How a text becomes hashed n-gram counts (stored in the model manifest)."""

    hash_bits: int = 22
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 4)
    fold_digits: bool = True
    max_chars: int = 2_000_000
    stop_words: bool = True
    char_scope: str = "all"  # "all", or "cjk": character n-grams of Chinese text only (words carry the rest)

    def __post_init__(self) -> None:
        if self.char_scope not in CHAR_SCOPES:
            raise ValueError(f"char_scope {self.char_scope!r} is not one of {', '.join(CHAR_SCOPES)}")
        if not 1 <= self.hash_bits <= 30:
            raise ValueError(f"hash_bits must be between 1 and 30, got {self.hash_bits}")

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        data = asdict(self)
        data["word_ngrams"] = list(self.word_ngrams)
        data["char_ngrams"] = list(self.char_ngrams)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FeatureConfig:
        """Build from :meth:`to_dict` output."""
        values = dict(data)
        for key in ("word_ngrams", "char_ngrams"):
            if key in values:
                pair: Any = values[key]
                values[key] = (int(pair[0]), int(pair[1]))
        return cls(**values)  # type: ignore[arg-type]

    @property
    def n_buckets(self) -> int:
        """The size of the hashed feature space."""
        return 1 << self.hash_bits


def _mix(values: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (MurmurHash3's fmix64) so nearby values spread out.

    Works in place: pass an array nobody else holds.
    """
    shift = np.uint64(33)
    values ^= values >> shift
    values *= _MIX1
    values ^= values >> shift
    values *= _MIX2
    values ^= values >> shift
    return values


def prepare_text(normalized: str) -> str:
    """Lower-case a normalised text and collapse its white space.

    Parameters
    ----------
    normalized : str
        Output of :func:`scanner.normalize.normalize_text`.

    Returns
    -------
    str
        The text the n-grams are taken from.
    """
    return " ".join(normalized.lower().split())


def char_ngram_hashes(text: str, low: int, high: int) -> list[np.ndarray]:
    """Hash every character n-gram of ``text`` for n in ``[low, high]``.

    Returns
    -------
    list of numpy.ndarray
        One uint64 array per n, ``result[k][i]`` the hash of ``text[i:i+low+k]``.
    """
    if not text:
        return []
    return list(_ngram_hashes(code_points(text).astype(np.uint64), low, high, salt=0))


def _ngram_hashes(base: np.ndarray, low: int, high: int, salt: int) -> Iterator[np.ndarray]:
    """Rolling hashes of every run of n consecutive ``base`` values, n in ``[low, high]``, mixed.

    ``salt`` keeps kinds of n-grams apart (0 for characters, 101 for words). Yields one array per
    n (none for n longer than ``base``), each computed when asked for, so that a caller can map
    and drop it before the next; ``base`` is not changed.
    """
    rolling = base
    with np.errstate(over="ignore"):
        for n in range(1, high + 1):
            if n > 1:
                if len(base) < n:
                    return
                rolling = rolling[:-1] * _PRIME
                rolling += base[n - 1 :]
            if n >= low:
                yield _mix(rolling ^ np.uint64((n + salt) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF))


_PRIME_INVERSE = np.uint64(pow(0x100000001B3, -1, 1 << 64))


def word_tokens(text: str, fold_digits: bool = True) -> list[str]:
    """Split a prepared text into word tokens (digits folded to "0" by default).

    The reference definition of a token; :func:`extract_grams` finds the same
    tokens with array operations (a test holds the two together).
    """
    if fold_digits:
        text = _DIGITS.sub("0", text)
    return _WORD.findall(text)


CHAR_BLOCK = 1 << 18  # characters hashed at a time (a 64-bit array of a block is 2 MB)
_POWERS: list[np.ndarray] = []  # [P**j, P**-j] for j < _POWERS_CACHED, built on first use (4 MB)
_POWERS_CACHED = 1 << 18


def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """``P**j`` and ``P**-j`` modulo 2**64 for ``j < length`` (views of a shared table when it is short)."""
    if length <= _POWERS_CACHED and _POWERS:
        return _POWERS[0][:length], _POWERS[1][:length]
    size = max(length, _POWERS_CACHED)
    with np.errstate(over="ignore"):
        powers = np.full(size, _PRIME, dtype=np.uint64)
        powers[0] = 1
        powers = np.cumprod(powers, dtype=np.uint64)
        inverse = np.full(size, _PRIME_INVERSE, dtype=np.uint64)
        inverse[0] = 1
        inverse = np.cumprod(inverse, dtype=np.uint64)
    if size == _POWERS_CACHED:
        _POWERS[:] = [powers, inverse]
    return powers[:length], inverse[:length]


def _span_hashes(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Hash each ``values[start:end]`` as ``sum(values[j] * P**(j - start))``, all spans at once.

    The sum comes from prefix sums of ``values[j] * P**j`` times the inverse power of the start
    (P is odd, so invertible modulo 2**64): no Python loop per span. A long text is taken in
    pieces of whole spans, so the table of powers stays small.
    """
    if len(values) > _POWERS_CACHED and len(starts) > 1:
        cuts = np.searchsorted(starts, np.arange(_POWERS_CACHED // 2, len(values), _POWERS_CACHED // 2))
        pieces = np.split(np.arange(len(starts)), np.unique(cuts))
        out = np.empty(len(starts), dtype=np.uint64)
        for piece in pieces:
            if len(piece):
                low, high = int(starts[piece[0]]), int(ends[piece].max())
                out[piece] = _sum_spans(values[low:high], starts[piece] - low, ends[piece] - low)
        return out
    return _sum_spans(values, starts, ends)


def _sum_spans(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    powers, inverse = _powers(len(values))
    prefix = np.zeros(len(values) + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(values * powers, out=prefix[1:])
        return (prefix[ends] - prefix[starts]) * inverse[starts]


def _token_hashes(tokens: list[str], fold_digits: bool) -> np.ndarray:
    """Hash each token from its code points (the reference for :func:`_text_tokens`)."""
    joined = "\x00".join(tokens)
    if fold_digits:
        joined = _DIGITS.sub("0", joined)
    codes = code_points(joined).astype(np.uint64)
    separators = np.flatnonzero(codes == 0)
    starts = np.concatenate([[0], separators + 1])
    ends = np.concatenate([separators, [len(codes)]])
    return _span_hashes(codes, starts, ends)


def word_ngram_hashes(tokens: list[str], low: int, high: int, fold_digits: bool = True) -> list[np.ndarray]:
    """Hash the word n-grams of a token list for n in ``[low, high]``."""
    if not tokens:
        return []
    return list(_ngram_hashes(_token_hashes(tokens, fold_digits), low, high, salt=101))


# Classes of code points for the array tokeniser, as bits: a character of a word (1), a sign that
# is a token by itself (2), a decimal digit (4). Taken from the regular expressions of word_tokens,
# so the two agree by construction.
_DIGIT = re.compile(r"\d")
_CLASSES = ((1, _WORD_CHAR), (2, _SIGN), (4, _DIGIT))
_BMP_CLASSES: list[np.ndarray] = []


def _class_of(char: str) -> int:
    return sum(bit for bit, pattern in _CLASSES if pattern.fullmatch(char))


def _code_classes(codes: np.ndarray) -> np.ndarray:
    """The class bits of each code point (uint8)."""
    if not _BMP_CLASSES:  # built on first use: 10 ms, from one substitution per class over the BMP
        every = "".join(map(chr, range(0x10000)))
        table = np.zeros(0x10000, dtype=np.uint8)
        for bit, pattern in _CLASSES:
            table[code_points(pattern.sub("\x00", every)) == 0] |= bit
        table[0] = _class_of("\x00")
        _BMP_CLASSES.append(table)
    table = _BMP_CLASSES[0]
    astral = codes >= 0x10000
    if not astral.any():
        return table[codes]
    classes = table[np.where(astral, 0, codes)]
    found, where = np.unique(codes[astral], return_inverse=True)
    classes[astral] = np.array([_class_of(chr(code)) for code in found.tolist()], dtype=np.uint8)[where]
    return classes


@lru_cache(maxsize=1)
def _stop_hashes() -> np.ndarray:
    """The sorted token hashes of the stop words (none holds a digit: folding leaves them alone)."""
    return np.sort(_token_hashes(sorted(STOP_WORDS), fold_digits=False))


@lru_cache(maxsize=1)
def _stop_table() -> tuple[np.ndarray, np.ndarray, np.uint64]:
    """A direct-mapped table for the stop-word test: ``(table, hashes, shift)``.

    ``table[(h >> shift) & 0xFFFF]`` is 0, or 1 + the index of the only stop word whose hash has
    those bits (a shift where no two stop words share them is chosen); ``hashes[that]`` then
    says whether ``h`` is that stop word. Two array look-ups per token instead of a binary search.
    """
    hashes = _stop_hashes()
    for shift in range(49):
        slots = (hashes >> np.uint64(shift)) & np.uint64(0xFFFF)
        if len(np.unique(slots)) == len(hashes):
            break
    else:  # pragma: no cover - 140 words in 65,536 slots: some shift always works
        raise AssertionError("no collision-free slot bits for the stop words")
    table = np.zeros(1 << 16, dtype=np.uint8)
    table[slots.view(np.int64)] = np.arange(1, len(hashes) + 1)
    return table, np.concatenate([np.zeros(1, dtype=np.uint64), hashes]), np.uint64(shift)


def _text_tokens(codes: np.ndarray, fold_digits: bool, stop_words: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find the tokens of a text from its code points: ``(starts, ends, hashes)``.

    The same tokens as :func:`word_tokens` (runs of word characters, and each
    sign alone) with the hashes :func:`_token_hashes` gives them, stop words
    dropped when asked, without a Python string per token.
    """
    classes = _code_classes(codes)
    word = (classes & 1) != 0
    sign = (classes & 2) != 0
    before = np.zeros(len(codes), dtype=np.bool_)  # the previous character is a word character
    before[1:] = word[:-1]
    after = np.zeros(len(codes), dtype=np.bool_)
    after[:-1] = word[1:]
    starts = np.flatnonzero((word & ~before) | sign)
    ends = np.flatnonzero((word & ~after) | sign) + 1
    values = codes.astype(np.uint64)
    at_starts, at_ends = starts, ends  # the tokens' bounds in ``values``
    if fold_digits:
        digit = (classes & 4) != 0
        if digit.any():
            # Each run of digits becomes one "0": the first digit, then nothing for the rest of the run.
            values[digit] = ord("0")
            repeat = np.zeros(len(codes), dtype=np.bool_)
            repeat[1:] = digit[1:] & digit[:-1]
            if repeat.any():
                position = np.zeros(len(codes) + 1, dtype=np.int64)
                np.cumsum(~repeat, out=position[1:])
                values = values[~repeat]
                at_starts, at_ends = position[starts], position[ends]
    hashes = _span_hashes(values, at_starts, at_ends)
    if stop_words and len(hashes):
        table, stop, shift = _stop_table()
        slot = table[((hashes >> shift) & np.uint64(len(table) - 1)).view(np.int64)]
        found = (slot != 0) & (stop[slot] == hashes)
        if found.any():
            keep = ~found
            starts, ends, hashes = starts[keep], ends[keep], hashes[keep]
    return starts, ends, hashes


@dataclass(frozen=True)
class Grams:
    """The hashed n-grams of one prepared text, kept to name them later.

    ``keys`` holds one entry per n-gram with repeats: the character n-grams
    of ``text`` for each n in turn, then the word n-grams for each n, each in
    text order. An entry is the n-gram's bucket (its hash masked to the
    configuration's ``hash_bits``), or its model column when the grams were
    extracted with a model's lookup table (``mapped``). ``char_sizes`` and
    ``word_sizes`` say how many n-grams each n has. ``token_starts`` and
    ``token_ends`` bound the word tokens (stop words left out) in
    ``word_text``.
    """

    text: str
    word_text: str
    token_starts: np.ndarray
    token_ends: np.ndarray
    keys: np.ndarray
    char_sizes: tuple[int, ...]
    word_sizes: tuple[int, ...]
    mapped: bool = False

    @property
    def tokens(self) -> list[str]:
        """The word tokens, as strings."""
        return [self.token(i) for i in range(len(self.token_starts))]

    def token(self, index: int) -> str:
        """The ``index``-th word token."""
        return self.word_text[int(self.token_starts[index]) : int(self.token_ends[index])]

    def _parts(self) -> list[np.ndarray]:
        bounds = np.cumsum([0, *self.char_sizes, *self.word_sizes]).tolist()
        return [self.keys[low:high] for low, high in itertools.pairwise(bounds)]

    @property
    def char_buckets(self) -> list[np.ndarray]:
        """The buckets of the character n-grams, one array per n."""
        return self._parts()[: len(self.char_sizes)] if not self.mapped else []

    @property
    def word_buckets(self) -> list[np.ndarray]:
        """The buckets of the word n-grams, one array per n."""
        return self._parts()[len(self.char_sizes) :] if not self.mapped else []

    def buckets(self) -> np.ndarray:
        """All n-gram buckets (with repeats), int64, in the order of ``keys``."""
        if self.mapped:
            raise ValueError("these grams were mapped to a model's columns; extract them without a lookup")
        return self.keys

    def columns(self, lookup: np.ndarray) -> np.ndarray:
        """Map every n-gram (with repeats) through a bucket-to-column table of ``2**hash_bits`` entries.

        The keys themselves when the grams were extracted with that table.
        """
        if self.mapped:
            return self.keys
        return np.take(lookup, self.keys)  # (checks the table is big enough)


def extract_grams(text: str, config: FeatureConfig, lookup: np.ndarray | None = None) -> Grams:
    """Hash the character and word n-grams of a prepared text.

    Parameters
    ----------
    text : str
        Output of :func:`prepare_text`.
    config : FeatureConfig
    lookup : numpy.ndarray, optional
        A model's bucket-to-column table (:meth:`scanner.model.Model.lookup`):
        the n-grams are then mapped to columns as they are hashed, and the
        hashes are not kept (half the memory of a long filing).

    Returns
    -------
    Grams
    """
    if lookup is not None and len(lookup) != config.n_buckets:
        raise ValueError(f"a lookup table of {len(lookup)} entries for {config.n_buckets} buckets")
    text = text[: config.max_chars]
    codes = code_points(text)
    starts, ends, token_hashes = _text_tokens(codes, config.fold_digits, config.stop_words)
    char_text = text if config.char_scope == "all" else _NON_CJK_RUN.sub(" ", text)
    char_codes = codes if char_text is text else code_points(char_text)
    low, high = config.char_ngrams
    char_sizes = tuple(len(char_codes) - n + 1 for n in range(low, high + 1) if len(char_codes) >= n)
    low, high = config.word_ngrams
    word_sizes = tuple(len(token_hashes) - n + 1 for n in range(low, high + 1) if len(token_hashes) >= n)
    keys = np.empty(sum(char_sizes) + sum(word_sizes), dtype=np.int64 if lookup is None else lookup.dtype)
    mask = np.uint64(config.n_buckets - 1)

    def put(hashes: np.ndarray, at: int) -> None:
        hashes &= mask  # in place: the array is the hashing's own
        part = keys[at : at + len(hashes)]
        if lookup is None:
            part[:] = hashes.view(np.int64)
        else:
            np.take(lookup, hashes.view(np.int64), out=part, mode="clip")

    # Character n-grams a block of text at a time, so that a long filing's temporary arrays stay
    # the size of a block; the block's n-grams go to their place among all the text's n-grams of that n.
    low, high = config.char_ngrams
    firsts = np.cumsum([0, *char_sizes]).tolist()  # where each n's n-grams begin in keys
    for begin in range(0, len(char_codes), CHAR_BLOCK):
        piece = char_codes[begin : begin + CHAR_BLOCK + high - 1].astype(np.uint64)
        for k, hashes in enumerate(_ngram_hashes(piece, low, high, salt=0)):
            # The block's own positions only (the next block starts its n-grams at begin + CHAR_BLOCK).
            put(hashes[: min(CHAR_BLOCK, len(hashes))], firsts[k] + begin)
    position = firsts[-1]
    for hashes in _ngram_hashes(token_hashes, *config.word_ngrams, salt=101) if len(token_hashes) else ():
        put(hashes, position)
        position += len(hashes)
    return Grams(
        text=char_text,
        word_text=text,
        token_starts=starts,
        token_ends=ends,
        keys=keys,
        char_sizes=char_sizes,
        word_sizes=word_sizes,
        mapped=lookup is not None,
    )


def hash_counts(text: str, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Count the hashed n-grams of a prepared text.

    Parameters
    ----------
    text : str
        Output of :func:`prepare_text`.
    config : FeatureConfig

    Returns
    -------
    (buckets, counts) : tuple of numpy.ndarray
        Sorted unique bucket indices (int64) and how often each occurs (float64).
    """
    buckets = extract_grams(text, config).buckets()
    unique, counts = np.unique(buckets, return_counts=True)
    return unique.astype(np.int64), counts.astype(np.float64)


def bucket_terms(grams: Grams, config: FeatureConfig, wanted: set[int]) -> dict[int, str]:
    """Name the n-grams of a text that fall in the ``wanted`` buckets (see :func:`gram_terms`)."""
    return gram_terms(grams, config, grams.buckets(), wanted, config.n_buckets)


def gram_terms(
    grams: Grams, config: FeatureConfig, keys: np.ndarray, wanted: Iterable[int], n_keys: int
) -> dict[int, str]:
    """Name the n-grams of a text whose key is wanted.

    Used to explain a score: word n-grams are named by their words; character
    n-grams only when they are all Chinese (Latin fragments mean little to a reader).

    Parameters
    ----------
    grams : Grams
    config : FeatureConfig
        The configuration ``grams`` was extracted with.
    keys : numpy.ndarray
        One key per n-gram in the order of :attr:`Grams.keys` (character
        n-grams by n, then word n-grams by n): their buckets, or their model
        columns (-1 or ``n_keys`` for none).
    wanted : iterable of int
        The keys to name, each below ``n_keys``.
    n_keys : int

    Returns
    -------
    dict
        Key to the first n-gram of the text with that key: word n-grams first
        (shortest first), then character n-grams.
    """
    names: dict[int, str] = {}
    wanted_keys = np.unique(np.fromiter(wanted, dtype=np.int64))
    left = len(wanted_keys)
    if len(keys) * 64 < n_keys:  # a short text: a sort-based test beats clearing a table of every key

        def member(part: np.ndarray) -> np.ndarray:
            return np.isin(part, wanted_keys, kind="sort")

    else:
        table = np.zeros(n_keys + 1, dtype=np.bool_)  # the extra last entry stands for no key (-1 or n_keys)
        table[wanted_keys] = True

        def member(part: np.ndarray) -> np.ndarray:
            return table[part]

    offsets = np.cumsum([0, *grams.char_sizes, *grams.word_sizes]).tolist()
    n_char = len(grams.char_sizes)
    parts = [(n_char + k, config.word_ngrams[0] + k) for k in range(len(grams.word_sizes))]
    parts += [(k, config.char_ngrams[0] + k) for k in range(n_char)]
    codes = None
    for part, n in parts:
        is_char = part < n_char
        if not left:
            break
        if is_char and codes is None:
            codes = code_points(grams.text)
            nameable = chinese_characters(codes)
            if not nameable.any():
                break
        low, high = offsets[part], offsets[part + 1]
        positions = np.flatnonzero(member(keys[low:high]))
        if is_char:  # only n-grams of Chinese characters, no punctuation
            whole = np.ones(len(positions), dtype=np.bool_)
            for k in range(n):
                whole &= nameable[positions + k]
            positions = positions[whole]
        if len(positions) > 64:  # keep the first position of each key
            found, first = np.unique(keys[low + positions], return_index=True)
            firsts = zip(found.tolist(), positions[first].tolist(), strict=True)
        else:
            firsts = zip(keys[low + positions].tolist(), positions.tolist(), strict=True)
        for key, position in firsts:
            if key not in names:
                left -= 1
                if is_char:
                    names[key] = grams.text[position : position + n]
                else:
                    names[key] = " ".join(grams.token(i) for i in range(position, position + n))
    return names
