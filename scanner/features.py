"""Hashed word and character n-gram counts, computed with numpy alone.

Training (scikit-learn) and scoring (numpy) share this module, so a document
becomes the same feature counts on both sides. Character n-grams are hashed
with a vectorised rolling hash over the code points, which needs no word
segmenter for Chinese and keeps long filings fast; word n-grams are hashed
from their tokens with CRC-32, a hash that does not change between processes.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# Word tokens: runs of letters and digits outside the CJK blocks (Chinese is
# covered by the character n-grams), plus the signs that carry meaning in an
# offer ("%", "$", "x" multipliers come out as their own token).
_WORD = re.compile(r"[^\W_\u2e80-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]+|[%$¥€£]")
_DIGITS = re.compile(r"\d+")
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff]")
_ALL_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")  # a nameable Chinese n-gram: characters, no punctuation
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
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return _ngram_hashes(codes, low, high, salt=0)


def _ngram_hashes(base: np.ndarray, low: int, high: int, salt: int) -> list[np.ndarray]:
    """Rolling hashes of every run of n consecutive ``base`` values, n in ``[low, high]``, mixed.

    ``salt`` keeps kinds of n-grams apart (0 for characters, 101 for words).
    """
    out = []
    rolling = base.copy()
    with np.errstate(over="ignore"):
        for n in range(1, high + 1):
            if n > 1:
                if len(base) < n:
                    break
                rolling = rolling[:-1] * _PRIME + base[n - 1 :]
            if n >= low:
                out.append(_mix(rolling ^ np.uint64((n + salt) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF)))
    return out


_PRIME_INVERSE = np.uint64(pow(0x100000001B3, -1, 1 << 64))


def word_tokens(text: str, fold_digits: bool = True) -> list[str]:
    """Split a prepared text into word tokens (digits folded to "0" by default)."""
    if fold_digits:
        text = _DIGITS.sub("0", text)
    return _WORD.findall(text)


def _token_hashes(tokens: list[str], fold_digits: bool) -> np.ndarray:
    """Hash each token from its code points, all tokens at once.

    A token's hash is ``sum(c[j] * P**(j - start))`` over its code points,
    taken from prefix sums of ``c[j] * P**j`` and the inverse power of its
    start (P is odd, so invertible modulo 2**64): no Python loop per token.
    """
    joined = "\x00".join(tokens)
    if fold_digits:
        joined = _DIGITS.sub("0", joined)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        powers = np.empty(len(codes), dtype=np.uint64)
        powers[0] = 1
        powers[1:] = _PRIME
        powers = np.cumprod(powers, dtype=np.uint64)
        inverse = np.empty(len(codes), dtype=np.uint64)
        inverse[0] = 1
        inverse[1:] = _PRIME_INVERSE
        inverse = np.cumprod(inverse, dtype=np.uint64)
        prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
        np.cumsum(codes * powers, out=prefix[1:])
        separators = np.flatnonzero(codes == 0)
        starts = np.concatenate([[0], separators + 1])
        ends = np.concatenate([separators, [len(codes)]])
        return (prefix[ends] - prefix[starts]) * inverse[starts]


def word_ngram_hashes(tokens: list[str], low: int, high: int, fold_digits: bool = True) -> list[np.ndarray]:
    """Hash the word n-grams of a token list for n in ``[low, high]``."""
    if not tokens:
        return []
    return _ngram_hashes(_token_hashes(tokens, fold_digits), low, high, salt=101)


@dataclass(frozen=True)
class Grams:
    """The hashed n-grams of one prepared text, kept to name them later."""

    text: str
    tokens: list[str]
    char_hashes: list[np.ndarray]
    word_hashes: list[np.ndarray]

    def buckets(self, n_buckets: int) -> np.ndarray:
        """All n-gram buckets (with repeats), int64."""
        hashes = self.char_hashes + self.word_hashes
        if not hashes:
            return np.zeros(0, dtype=np.int64)
        return (np.concatenate(hashes) & np.uint64(n_buckets - 1)).view(np.int64)

    def columns(self, lookup: np.ndarray) -> np.ndarray:
        """Map every n-gram (with repeats) through a bucket-to-column table; -1 for buckets not kept.

        The same as ``lookup[self.buckets(len(lookup))]`` without the concatenated copy of the hashes.
        """
        mask = np.uint64(len(lookup) - 1)
        parts = [lookup[(hashes & mask).view(np.int64)] for hashes in self.char_hashes + self.word_hashes]
        if not parts:
            return np.zeros(0, dtype=lookup.dtype)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


def extract_grams(text: str, config: FeatureConfig) -> Grams:
    """Hash the character and word n-grams of a prepared text.

    Parameters
    ----------
    text : str
        Output of :func:`prepare_text`.
    config : FeatureConfig

    Returns
    -------
    Grams
    """
    text = text[: config.max_chars]
    tokens = word_tokens(text, fold_digits=False)
    if config.stop_words:
        tokens = [t for t in tokens if t not in STOP_WORDS]
    char_text = text if config.char_scope == "all" else _NON_CJK_RUN.sub(" ", text)
    return Grams(
        text=char_text,
        tokens=tokens,
        char_hashes=char_ngram_hashes(char_text, *config.char_ngrams),
        word_hashes=word_ngram_hashes(tokens, *config.word_ngrams, fold_digits=config.fold_digits),
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
    buckets = extract_grams(text, config).buckets(config.n_buckets)
    unique, counts = np.unique(buckets, return_counts=True)
    return unique.astype(np.int64), counts.astype(np.float64)


def bucket_terms(grams: Grams, config: FeatureConfig, wanted: set[int]) -> dict[int, str]:
    """Name the n-grams of a text that fall in the ``wanted`` buckets.

    Used to explain a score: word n-grams are named by their words; character
    n-grams only when they hold Chinese (Latin fragments mean little to a reader).

    Returns
    -------
    dict
        Bucket index to the first n-gram of the text that hashes there.
    """
    names: dict[int, str] = {}
    mask = np.uint64(config.n_buckets - 1)
    wanted_array = np.fromiter(wanted, dtype=np.int64, count=len(wanted))
    low, _ = config.word_ngrams
    for k, hashes in enumerate(grams.word_hashes):
        n = low + k
        buckets = (hashes & mask).astype(np.int64)
        for position in np.flatnonzero(np.isin(buckets, wanted_array)):
            bucket = int(buckets[position])
            if bucket not in names:
                names[bucket] = " ".join(grams.tokens[position : position + n])
    if _CJK.search(grams.text):
        low, _ = config.char_ngrams
        for k, hashes in enumerate(grams.char_hashes):
            n = low + k
            buckets = (hashes & mask).astype(np.int64)
            for position in np.flatnonzero(np.isin(buckets, wanted_array)):
                bucket = int(buckets[position])
                gram = grams.text[position : position + n]
                if bucket not in names and _ALL_CJK.fullmatch(gram):
                    names[bucket] = gram
    return names
