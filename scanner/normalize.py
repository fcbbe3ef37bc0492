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
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

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

_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# Format (Cf), control (Cc), private-use (Co) and surrogate (Cs) characters
# outside ASCII: NFKC keeps them, normalisation does not. Written out rather
# than computed at import (a scan of the code space costs 0.2 s); a test
# checks it against unicodedata.
_FORMAT_CONTROL = (
    "\x80-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\ue000-\uf8ff"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000f0000-\U0010ffff"
)
_SPECIAL = re.compile(
    "[" + _FORMAT_CONTROL + "".join(re.escape(c) for c in sorted(set(_INVISIBLE) | set(_EXTRA_FOLD))) + "]"
)
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


@dataclass(frozen=True)
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
    """

    text: str
    offsets: np.ndarray | None

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a ``[start, end)`` span of the normalised text to the original text."""
        if self.offsets is None:
            return start, end
        start = min(max(start, 0), len(self.text))
        end = min(max(end, start), len(self.text))
        if end == start:
            pos = int(self.offsets[start])
            return pos, pos
        return int(self.offsets[start]), int(self.offsets[end - 1]) + 1


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
    if text.isascii() and _ASCII_CONTROL.search(text) is None:
        return Normalized(text, None)
    # ASCII control characters become spaces one for one, so offsets are unchanged.
    text_ascii_clean = _ASCII_CONTROL.sub(" ", text)
    pieces: list[str] = []
    offsets: list[np.ndarray] = []
    last = 0
    # ASCII runs map one to one; only the non-ASCII runs are folded character
    # by character, which keeps long English filings on the fast path.
    for match in _NON_ASCII_RUN.finditer(text_ascii_clean):
        if match.start() > last:
            pieces.append(text_ascii_clean[last : match.start()])
            offsets.append(np.arange(last, match.start(), dtype=np.int64))
        run = match.group()
        if unicodedata.is_normalized("NFKC", run) and not _SPECIAL.search(run):
            # Most Chinese text is already normal: keep the run as it is.
            pieces.append(run)
            offsets.append(np.arange(match.start(), match.end(), dtype=np.int64))
            last = match.end()
            continue
        run_offsets: list[int] = []
        for index, char in enumerate(run, start=match.start()):
            folded = fold_char(char)
            if folded:
                pieces.append(folded)
                run_offsets.extend([index] * len(folded))
        offsets.append(np.asarray(run_offsets, dtype=np.int64))
        last = match.end()
    if last < len(text):
        pieces.append(text_ascii_clean[last:])
        offsets.append(np.arange(last, len(text), dtype=np.int64))
    offsets.append(np.asarray([len(text)], dtype=np.int64))
    return Normalized("".join(pieces), np.concatenate(offsets))


def normalize_text(text: str) -> str:
    """Return only the normalised string of :func:`normalize`."""
    return normalize(text).text
