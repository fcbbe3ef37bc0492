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
        the character with typographic quotes, dashes and spaces folded to ASCII.
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
    if len(folded) == 1 and folded in _EXTRA_FOLD:
        return _EXTRA_FOLD[folded]
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

    __slots__ = ("_offsets", "_source", "text")

    def __init__(self, text: str, source: str | None = None) -> None:
        self.text = text
        self._source = source  # set when characters vanished or expanded
        self._offsets: np.ndarray | None = None

    @property
    def offsets(self) -> np.ndarray | None:
        """See the class docstring."""
        if self._source is None:
            return None
        if self._offsets is None:
            # Each original character stands for len(fold) normalised ones: repeat its index that often.
            codes = np.frombuffer(self._source.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            table = _lengths()
            inside = codes < len(table)
            sizes = np.where(inside, table[np.where(inside, codes, 0)], 0).astype(np.int64)
            sizes[~inside & ~((codes >= 0xE0000) & (codes <= 0xE007F)) & (codes < 0xF0000)] = 1
            self._offsets = np.concatenate(
                [np.repeat(np.arange(len(codes), dtype=np.int64), sizes), np.array([len(codes)], dtype=np.int64)]
            )
        return self._offsets

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
    if clean.isascii() or _CHANGED.search(clean) is None:
        return Normalized(clean)
    # Characters to change are usually few (quotes, full-width punctuation): visit only those.
    folded = _CHANGED.sub(_fold_match, clean)
    return Normalized(folded, clean if _RESIZING.search(clean) else None)


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
