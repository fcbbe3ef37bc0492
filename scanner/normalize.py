"""Text normalisation shared by the indicators and the features.

Filings arrive with full-width digits ("３０％"), zero-width and bidi control
characters, compatibility forms and other tricks that hide words from a
keyword filter. :func:`normalize` folds them away while keeping, for every
character of the result, the offset of the character it came from, so that
evidence can be quoted from the original text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np

from scanner.unicode_tables import CHANGED, RESIZING, RESIZING_TO
from scanner.variants import SIMPLIFIED, TRADITIONAL

# Letters of other scripts that look like Latin ones (a subset of Unicode's confusables data for
# Cyrillic, Greek and Armenian): a scam filing writes "guаranteed" with a Cyrillic "а" to slip past
# keyword filters. They fold to the Latin letter they imitate (the "skeleton" used for matching).
CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "һ": "h", "ӏ": "l", "ɡ": "g", "ո": "n", "ս": "u", "օ": "o", "ց": "g", "հ": "h",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}  # fmt: skip
# Traditional Chinese characters fold to their simplified form (OpenCC's character table, Apache-2.0),
# so 保證收益 and 保证收益 are the same words to the indicators and the model.
_T2S = dict(zip(TRADITIONAL, SIMPLIFIED, strict=True))

# Characters that carry no text: zero-width spaces and joiners, bidi controls,
# word joiners, invisible operators, the BOM and the soft hyphen.
_INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
    "\u206a\u206b\u206c\u206d\u206e\u206f\u3164\ufe00\ufe01\ufe02\ufe03\ufe04\ufe05\ufe06"
    "\ufe07\ufe08\ufe09\ufe0a\ufe0b\ufe0c\ufe0d\ufe0e\ufe0f\ufeff\uffa0"
)

# Punctuation that NFKC leaves alone but that means the same as its ASCII twin.
_EXTRA_FOLD = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u3000": " ",
    "\u00a0": " ",
    "\u2007": " ",
    "\u202f": " ",
    "\u2215": "/",
    "\u066a": "%",
}


def _bmp_class(listed: str) -> str:
    """The part of a character class string below U+10000, as a regex class.

    A class of plain BMP characters compiles to a bitmap; mixing in astral
    ranges makes the regex engine walk a list of ranges for every character
    (20 times slower). Astral characters are matched by a second, single-range
    branch instead and sorted out by :func:`fold_char`.
    """
    parts: list[str] = []
    position = 0
    while position < len(listed):
        low = high = listed[position]
        if position + 2 < len(listed) and listed[position + 1] == "-":
            high = listed[position + 2]
            position += 3
        else:
            position += 1
        if ord(low) < 0x10000:
            parts.append(low if low == high else f"{low}-{chr(min(ord(high), 0xFFFF))}")
    return "[" + "".join(parts) + "]"


# Characters normalisation may change; each folds on its own. Any astral character is a candidate.
_CHANGED = re.compile(_bmp_class(CHANGED) + "|[\U00010000-\U0010ffff]")
# Characters that may vanish or expand (a superset for astral ones: offsets then come from exact lengths).
_RESIZING = re.compile(_bmp_class(RESIZING) + "|[\U00010000-\U0010ffff]")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@lru_cache(maxsize=65536)
def fold_char(char: str) -> str:
    """Return what one character becomes after normalisation.

    Parameters
    ----------
    char : str
        A single character.

    Returns
    -------
    str
        The empty string for invisible characters, otherwise the NFKC form of
        the character with typographic quotes, dashes and spaces folded to ASCII,
        look-alike Cyrillic and Greek letters folded to Latin, and traditional
        Chinese characters folded to simplified ones.
    """
    if char in _INVISIBLE:
        return ""
    if char in _EXTRA_FOLD:
        return _EXTRA_FOLD[char]
    category = unicodedata.category(char)
    if category == "Cc" and char not in "\t\n\r":
        return " "
    if category in ("Cf", "Co", "Cs"):
        return ""
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) == 1:
        folded = _EXTRA_FOLD.get(folded, folded)
        folded = CONFUSABLES.get(folded, folded)
        folded = _T2S.get(folded, folded)
    return folded


class Normalized:
    """A normalised text and the way back to the original.

    Attributes
    ----------
    text : str
        The normalised text.
    offsets : numpy.ndarray or None
        ``offsets[i]`` is the index in the original text of the character that
        produced ``text[i]``; one extra final entry holds the original length.
        ``None`` means the normalised text is the original (identity mapping).
        Built on first use: most texts never need it.
    """

    __slots__ = ("_kept", "_offsets", "_source", "text")

    def __init__(self, text: str, source: str | None = None, kept: np.ndarray | None = None) -> None:
        self.text = text
        self._source = source  # set when characters vanished or expanded
        self._kept = kept  # set when spaced-out letters were joined: positions kept from the first stage
        self._offsets: np.ndarray | None = None

    @property
    def offsets(self) -> np.ndarray | None:
        """See the class docstring."""
        if self._source is None and self._kept is None:
            return None
        if self._offsets is None:
            first = self._first_stage() if self._source is not None else None
            if self._kept is None:
                self._offsets = first
            else:  # positions kept by the second stage, through the first stage's map
                self._offsets = first[self._kept] if first is not None else self._kept.astype(np.int64)
        return self._offsets

    def _first_stage(self) -> np.ndarray:
        """Each original character stands for len(fold) first-stage ones: repeat its index that often."""
        assert self._source is not None
        codes = np.frombuffer(self._source.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        table = _lengths()
        inside = codes < len(table)
        sizes = np.where(inside, table[np.where(inside, codes, 0)], 0).astype(np.int64)
        sizes[~inside & ~((codes >= 0xE0000) & (codes <= 0xE007F)) & (codes < 0xF0000)] = 1
        return np.concatenate(
            [np.repeat(np.arange(len(codes), dtype=np.int64), sizes), np.array([len(codes)], dtype=np.int64)]
        )

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a ``[start, end)`` span of the normalised text to the original text."""
        offsets = self.offsets
        if offsets is None:
            return start, end
        start = min(max(start, 0), len(self.text))
        end = min(max(end, start), len(self.text))
        if end == start:
            pos = int(offsets[start])
            return pos, pos
        return int(offsets[start]), int(offsets[end - 1]) + 1


def normalize(text: str) -> Normalized:
    """Normalise a text for matching and features, keeping offsets.

    Applies Unicode NFKC (full-width letters, digits and punctuation become
    ASCII: "３０％" is "30%"), removes zero-width and bidi control characters
    and folds typographic quotes, dashes and spaces. Case is kept.

    Parameters
    ----------
    text : str
        The text as read from the document.

    Returns
    -------
    Normalized
        The normalised text and the offsets back into ``text``.
    """
    # ASCII control characters become spaces one for one: no offsets change.
    clean = _ASCII_CONTROL.sub(" ", text) if _ASCII_CONTROL.search(text) else text
    source = None
    folded = clean
    if not clean.isascii() and _CHANGED.search(clean) is not None:
        # Characters to change are usually few (quotes, full-width punctuation): visit only those.
        folded = _CHANGED.sub(_fold_match, clean)
        source = clean if _RESIZING.search(clean) else None
    # Second stage, against keyword evasion: leetspeak inside words ("gu4rant33d", one for one)
    # and spaced-out letters ("g u a r a n t e e d", the separators removed).
    if _LEET.search(folded):
        folded = _LEET.sub(_unleet, folded)
    kept = None
    if _SPACED.search(folded):
        # Drop the separators inside the spaced word, and the extra spaces that set it apart.
        mask = np.ones(len(folded) + 1, dtype=bool)
        for match in _SPACED.finditer(folded):
            start, end = match.span()
            if (start > 0 and folded[start - 1] in "@$") or (start > 0 and folded[start - 1].isdigit()):
                continue
            mask[start + 1 : end : 2] = False
            low = start
            while low > 0 and folded[low - 1] == " ":
                low -= 1
            mask[low + 1 : start] = False  # extra spaces before: keep one
            high = end
            while high < len(folded) and folded[high] == " ":
                high += 1
            mask[end + 1 : high] = False  # and after
        kept = np.flatnonzero(mask)
        folded = _drop(folded, mask)
    return Normalized(folded, source, kept)


def _drop(text: str, mask: np.ndarray) -> str:
    """Keep the characters of ``text`` where ``mask`` is True (its last entry stands for the end)."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)[mask[:-1]]
    return codes.tobytes().decode("utf-32-le", "surrogatepass")


# A word with leet digits between its letters (not hex, not "web3": digits must sit inside letters).
# (Possessive quantifiers: no backtracking inside long words.)
_LEET = re.compile(r"\b[A-Za-z]++(?:[013457@$]++[A-Za-z]++)++(?![\w@$])")
_LEET_MAP = str.maketrans("013457@$", "oieastas")
# Four or more single letters each followed by one separator: "g u a r a n t e e d", "g.u.a.r.a".
_SPACED = re.compile(r"\b[A-Za-z](?:[ .\-*_][A-Za-z]){3,}+(?![A-Za-z0-9])")


def _unleet(match: re.Match[str]) -> str:
    return match.group().translate(_LEET_MAP)


def _fold_match(match: re.Match[str]) -> str:
    return fold_char(match.group())


_LENGTHS: list[np.ndarray] = []


def _lengths() -> np.ndarray:
    """How many characters each code point below U+30000 becomes (built on first use)."""
    if not _LENGTHS:
        table = np.ones(0x30000, dtype=np.uint8)
        for code, target in RESIZING_TO.items():
            table[code] = len(target)
        table[0xD800:0xE000] = 0
        _LENGTHS.append(table)
    return _LENGTHS[0]


def normalize_text(text: str) -> str:
    """Return only the normalised string of :func:`normalize`."""
    return normalize(text).text
