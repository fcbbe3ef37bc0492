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
from decimal import Decimal
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

    __slots__ = ("_edits", "_kept", "_offsets", "_source", "text")

    def __init__(
        self,
        text: str,
        source: str | None = None,
        kept: np.ndarray | None = None,
        edits: tuple[list[tuple[int, int, int]], int] | None = None,
    ) -> None:
        self.text = text
        self._source = source  # set when characters vanished or expanded
        # Set when Chinese numerals were rewritten: (start, end, new length) spans of the first stage's
        # text, and that text's length.
        self._edits = edits
        self._kept = kept  # set when spaced-out letters were joined: positions kept from the earlier stages
        self._offsets: np.ndarray | None = None

    @property
    def offsets(self) -> np.ndarray | None:
        """See the class docstring."""
        if self._source is None and self._kept is None and self._edits is None:
            return None
        if self._offsets is None:
            # Each stage maps its output characters to its input ones; compose them from the last back.
            mapping = self._kept.astype(np.int64) if self._kept is not None else None
            if self._edits is not None:
                numerals = _edit_map(*self._edits)
                mapping = numerals if mapping is None else numerals[mapping]
            if self._source is not None:
                first = self._first_stage()
                mapping = first if mapping is None else first[mapping]
            self._offsets = mapping
        return self._offsets

    def _first_stage(self) -> np.ndarray:
        """Each original character stands for len(fold) first-stage ones: repeat its index that often."""
        assert self._source is not None
        codes = code_points(self._source)
        table = _lengths()
        inside = codes < len(table)
        if inside.all():
            sizes = table[codes]
        else:  # rare code points beyond the table: ask fold_char, once each
            sizes = table[np.where(inside, codes, 0)]
            found, where = np.unique(codes[~inside], return_inverse=True)
            sizes[~inside] = np.array([len(fold_char(chr(code))) for code in found.tolist()], dtype=np.uint8)[where]
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


def _edit_map(edits: list[tuple[int, int, int]], length: int) -> np.ndarray:
    """Map each character after ``edits`` (and the end) to the character of the text before them.

    Text outside the edits maps one for one. The ``size`` characters that replace ``text[start:end]``
    spread over it in order, the first on ``start`` and the last on ``end - 1``, so that a span of
    the new text covering the replacement quotes the whole of what it replaced ("3%" is "百分之三").
    """
    starts, ends, sizes = (np.array(column, dtype=np.int64) for column in zip(*edits, strict=True))
    # Every character outside the edits once, each edit's first character ``size`` times.
    inside = np.zeros(length + 2, dtype=np.int64)
    np.add.at(inside, starts, 1)
    np.add.at(inside, ends, -1)
    repeat = (np.cumsum(inside)[: length + 1] == 0).astype(np.int64)
    repeat[starts] = sizes
    mapping = np.repeat(np.arange(length + 1, dtype=np.int64), repeat)
    # Then spread each edit's characters over what it replaced.
    first = starts + np.concatenate([[0], np.cumsum(sizes - (ends - starts))[:-1]])  # where each edit begins now
    rank = np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    spread = np.repeat(starts, sizes) + rank * np.repeat(ends - starts, sizes) // np.repeat(sizes, sizes)
    spread[np.cumsum(sizes) - 1] = ends - 1
    mapping[np.repeat(first, sizes) + rank] = spread
    return mapping


def normalize(text: str) -> Normalized:
    """Normalise a text for matching and features, keeping offsets.

    Applies Unicode NFKC (full-width letters, digits and punctuation become
    ASCII: "３０％" is "30%"), removes zero-width and bidi control characters
    and folds typographic quotes, dashes and spaces, look-alike letters of other
    scripts and traditional Chinese characters; then rewrites Chinese numerals
    that state a quantity in Arabic digits ("百分之三" is "3%", "一千元" is
    "1000元"), undoes leetspeak inside words and joins spaced-out letters.
    Case is kept.

    Parameters
    ----------
    text : str
        The text as read from the document.

    Returns
    -------
    Normalized
        The normalised text and the offsets back into ``text``.
    """
    # One look at every character (a table of classes) says which stages have work to do; each
    # stage then visits only the characters it changes.
    codes = code_points(text)
    classes = _classes(codes)
    present = int(np.bitwise_or.reduce(classes)) if len(classes) else 0
    folded = text
    if present & _CONTROL:
        # ASCII control characters become spaces one for one: no offsets change.
        codes = codes.copy()
        codes[(classes & _CONTROL) != 0] = ord(" ")
        classes = _classes(codes)
        folded = from_code_points(codes)
    source = None
    if present & _CHANGE:
        source = folded if present & _RESIZE else None
        codes = _fold_codes(codes, np.flatnonzero((classes & _CHANGE) != 0))
        classes = _classes(codes)
        present = int(np.bitwise_or.reduce(classes)) if len(classes) else 0
        folded = from_code_points(codes)
    # Chinese numerals that state a quantity become Arabic digits ("百分之三" is "3%").
    edits = None
    if present & _NUMERAL:
        found = _numeral_edits(folded)
        if found:
            edits = ([(start, end, len(new)) for start, end, new in found], len(folded))
            folded = _apply(folded, found)
            classes = _classes(code_points(folded))
    # Second stage, against keyword evasion: leetspeak inside words ("gu4rant33d", one for one)
    # and spaced-out letters ("g u a r a n t e e d", the separators removed).
    unleeted = _unleet_text(folded, classes)
    if unleeted != folded:
        folded = unleeted
        classes = _classes(code_points(folded))
    kept = None
    spaced = _spaced_spans(folded, classes)
    if spaced:
        # Drop the separators inside the spaced word, and the extra spaces that set it apart.
        mask = np.ones(len(folded) + 1, dtype=bool)
        for start, end in spaced:
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
    return Normalized(folded, source, kept, edits)


# Classes of characters, as bits of one byte per code point (see _classes).
_CONTROL = 1  # ASCII control characters but tab, line feed and carriage return
_CHANGE = 2  # characters normalisation may change (CHANGED); every astral character is a candidate
_RESIZE = 4  # characters that may vanish or expand (RESIZING); any astral one, whose exact length counts
_NUMERAL = 8  # Chinese numeral characters
_LEET_DIGIT = 16  # [013457@$]
_LETTER = 32  # [A-Za-z]
_SEPARATOR = 64  # [ .\-*_]
_CLASS_TABLE: list[np.ndarray] = []


def _class_table() -> np.ndarray:
    """The class bits of every BMP code point, and at index 0x10000 those of any astral one."""
    if not _CLASS_TABLE:
        table = np.zeros(0x10001, dtype=np.uint8)
        for bit, listed in ((_CHANGE, CHANGED), (_RESIZE, RESIZING)):
            for low, high in _ranges(listed):
                if low < 0x10000:
                    table[low : min(high, 0xFFFF) + 1] |= bit
        table[0x10000] = _CHANGE | _RESIZE
        for bit, members in (
            (_CONTROL, "".join(map(chr, [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]))),
            (_NUMERAL, _N),
            (_LEET_DIGIT, "013457@$"),
            (_LETTER, "".join(sorted(_ASCII_LETTERS))),
            (_SEPARATOR, " .-*_"),
        ):
            table[[ord(char) for char in members]] |= bit
        _CLASS_TABLE.append(table)
    return _CLASS_TABLE[0]


def _ranges(listed: str) -> list[tuple[int, int]]:
    """The ``(first, last)`` code points of a character class string like ``"a-z\u00e9"``."""
    out = []
    position = 0
    while position < len(listed):
        low = high = listed[position]
        if position + 2 < len(listed) and listed[position + 1] == "-":
            high = listed[position + 2]
            position += 3
        else:
            position += 1
        out.append((ord(low), ord(high)))
    return out


def code_points(text: str) -> np.ndarray:
    """The code points of a text (uint32, lone surrogates included), for array operations."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def from_code_points(codes: np.ndarray) -> str:
    """The text of an array of code points (the inverse of :func:`code_points`)."""
    return codes.astype(np.uint32, copy=False).tobytes().decode("utf-32-le", "surrogatepass")


def chinese_characters(codes: np.ndarray) -> np.ndarray:
    """Which code points are Chinese characters (CJK ideographs, not punctuation), as booleans."""
    return ((codes >= 0x3400) & (codes <= 0x9FFF)) | ((codes >= 0xF900) & (codes <= 0xFAFF))


def _classes(codes: np.ndarray) -> np.ndarray:
    """The class bits of each code point (uint8)."""
    table = _class_table()
    if len(codes) and int(codes.max()) > 0xFFFF:
        return table[np.minimum(codes, 0x10000)]
    return table[codes]


def _fold_codes(codes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Replace the characters at ``positions`` by :func:`fold_char` of each, with array operations."""
    found, which = np.unique(codes[positions], return_inverse=True)
    folds = [fold_char(chr(code)) for code in found.tolist()]
    sizes = np.array([len(fold) for fold in folds], dtype=np.int32)
    if (sizes == 1).all():  # one for one: no character moves
        out = codes.copy()
        out[positions] = np.array([ord(fold) for fold in folds], dtype=np.uint32)[which]
        return out
    # Each distinct fold as a row of code points (padded), and each changed position's fold length.
    table = np.zeros((len(folds), int(sizes.max())), dtype=np.uint32)
    for row, fold in enumerate(folds):
        table[row, : len(fold)] = [ord(char) for char in fold]
    lengths = np.ones(len(codes), dtype=np.int32)
    lengths[positions] = sizes[which]
    starts = np.cumsum(lengths, dtype=np.int64)
    out = np.empty(int(starts[-1]) if len(starts) else 0, dtype=np.uint32)
    starts -= lengths  # where each character's replacement begins in the output
    unchanged = np.ones(len(codes), dtype=np.bool_)
    unchanged[positions] = False
    out[starts[unchanged]] = codes[unchanged]
    for offset in range(table.shape[1]):  # the k-th character of every fold at once
        hit = sizes[which] > offset
        out[starts[positions[hit]] + offset] = table[which[hit], offset]
    return out
    lengths = np.ones(len(codes), dtype=np.int64)
    lengths[positions] = sizes[which]
    ends = np.cumsum(lengths)
    starts = ends - lengths  # where each character's replacement begins in the output
    out = np.empty(int(ends[-1]), dtype=np.uint32)
    single = np.ones(len(codes), dtype=np.bool_)  # characters that stay or become one character
    single[positions] = sizes[which] == 1
    firsts = np.array([ord(fold[0]) if fold else 0 for fold in folds], dtype=np.uint32)
    replaced = codes.copy()
    replaced[positions] = firsts[which]
    out[starts[single]] = replaced[single]
    for index in np.flatnonzero(sizes > 1).tolist():  # the few that expand ("…" is "...")
        at = starts[positions[which == index]]
        for offset, char in enumerate(folds[index]):
            out[at + offset] = ord(char)
    return out


def _drop(text: str, mask: np.ndarray) -> str:
    """Keep the characters of ``text`` where ``mask`` is True (its last entry stands for the end)."""
    return from_code_points(code_points(text)[mask[:-1]])


# A word with leet digits between its letters (not hex, not "web3": digits must sit inside letters).
# (Possessive quantifiers: no backtracking inside long words.)
_LEET = re.compile(r"\b[A-Za-z]++(?:[013457@$]++[A-Za-z]++)++(?![\w@$])")
_LEET_MAP = str.maketrans("013457@$", "oieastas")
# Four or more single letters each followed by one separator: "g u a r a n t e e d", "g.u.a.r.a".
_SPACED = re.compile(r"\b[A-Za-z](?:[ .\-*_][A-Za-z]){3,}+(?![A-Za-z0-9])")


def _unleet(match: re.Match[str]) -> str:
    return match.group().translate(_LEET_MAP)


# Cheap first looks, found with array operations from the classes of the characters (the full
# patterns start with \b and would be tried at every position): a run of leet characters between
# two letters (_leet_hints), three spaced letters in a row (_spaced_spans).
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WHITE = re.compile(r"\s")


def _unleet_text(text: str, classes: np.ndarray | None = None) -> str:
    """``_LEET.sub(_unleet, text)``, run only on the words around a letter-leet-letter hint.

    A hint is a run of leet characters with an ASCII letter on each side, found from the classes
    of the characters (``_classes`` of the text, computed when not given). A leet word never holds
    white space, and at white space ``\b`` and the look-ahead see what they would in the whole
    text, so each window (the non-space run around a hint) gives the same result.
    """
    if classes is None:
        classes = _classes(code_points(text))
    windows: list[tuple[int, int]] = []
    for at, after in _leet_hints(classes):
        if windows and at < windows[-1][1]:
            continue
        low = at
        while low > 0 and not text[low - 1].isspace():
            low -= 1
        white = _WHITE.search(text, after)
        windows.append((low, white.start() if white else len(text)))
    if not windows:
        return text
    pieces = []
    last = 0
    for low, high in windows:
        pieces.append(text[last:low])
        pieces.append(_LEET.sub(_unleet, text[low:high]))
        last = high
    pieces.append(text[last:])
    return "".join(pieces)


def _leet_hints(classes: np.ndarray) -> list[tuple[int, int]]:
    """Where ``[013457@$]++[A-Za-z]`` matches right after an ASCII letter: (start, end) of each match.

    ``finditer`` of that pattern finds each maximal run of leet characters that a letter follows (a
    run that no letter follows fails from every one of its positions), ending after that letter.
    """
    leet = (classes & _LEET_DIGIT) != 0
    if not leet.any():
        return []
    letter = (classes & _LETTER) != 0
    n = len(classes)
    edges = np.flatnonzero(np.diff(leet.view(np.int8), prepend=0, append=0) != 0)  # run starts, then ends
    starts, ends = edges[0::2], edges[1::2]
    good = (starts > 0) & (ends < n)
    starts, ends = starts[good], ends[good]
    good = letter[starts - 1] & letter[ends]
    return list(zip(starts[good].tolist(), (ends[good] + 1).tolist(), strict=True))


def _spaced_spans(text: str, classes: np.ndarray | None = None) -> list[tuple[int, int]]:
    """The spans of ``_SPACED.finditer(text)``, tried only next to a hint.

    A hint is three times in a row a separator (space, dot, hyphen, star or underscore) and an
    ASCII letter, found from the classes of the characters. A match contains the hint one character after its start, so the
    leftmost match from ``pos`` starts one before or one after the first hint at or after ``pos``,
    or later.
    """
    if classes is None:
        classes = _classes(code_points(text))
    if len(classes) < 6:
        return []
    pair = ((classes[:-1] & _SEPARATOR) != 0) & ((classes[1:] & _LETTER) != 0)  # a separator, then a letter
    hints = np.flatnonzero(pair[:-4] & pair[2:-2] & pair[4:])
    spans: list[tuple[int, int]] = []
    pos = 0
    index = 0
    while index < len(hints):
        at = int(hints[index])
        if at < pos:
            index = int(np.searchsorted(hints, pos))
            continue
        match = None
        for start in (at - 1, at + 1):
            if start >= pos:
                match = _SPACED.match(text, start)
                if match:
                    break
        if match:
            spans.append(match.span())
            pos = match.end()
        else:
            pos = at + 1
        index += 1
    return spans


# ---------------------------------------------------------------------------
# Chinese numerals
# ---------------------------------------------------------------------------
# "每日返利百分之三" must look like "每日返利3%" to the indicators and the model, so numerals that state a
# quantity are rewritten in Arabic digits. Only runs with a quantity context change; numerals inside
# ordinary words and names stay as written. What folds:
#
#   * Percent prefixes: 百分之N -> N%, 千分之N -> N/10 %, 万分之N -> N/100 %, 百分百 -> 100%.
#   * N成 (tenths): 三成 -> 30%, 三成五 -> 35%; not 一成 (一成不变) nor 成员, 成本, 成为 and the like.
#   * Traditional interest units, only right after 日息/月息/年息, 日利/月利/年利, 日利率/月利率/年利率 or
#     日利息/月利息/年利息 (with an optional ":", 为, 是, 约, 达 or 高达 between). On a yearly rate 分 is a
#     tenth of the principal and 厘 a hundredth; on a monthly rate 分 is 1% and 厘 0.1% (the PBOC's
#     convention: 年息一分 = 10%, 年息三厘 = 3%, 月息二分 = 2%, 月息八厘 = 0.8%; 一分五 is 1.5 分, 三厘五
#     3.5 厘, 一分二厘 1.2 分). The textbook reads a daily 厘 as 0.01%, but the filings use daily rates
#     like monthly ones (the corpus writes "日息三厘（千分之三）"), and so does this rule: 日息三厘 = 0.3%,
#     日息一分 = 1% a day. Bare 息 and 利息 are left alone ("利息一分都不少": not a cent less).
#   * A run followed by a unit of quantity: % 倍 元 美元 美金 港元 港币 人民币 块钱 枚 个点, the coin tickers
#     USDT USDC USD U BTC ETH BNB TRX FIL right after the numeral, or 块 天 日 个月 月 年 周 小时 岁 人 名 代
#     层 份 期 次 家: 一千元 -> 1000元, 三十六个月 -> 36个月, 三点五倍 -> 3.5倍, 两个点 -> 2个点. A lone 一
#     folds only before the first group (一倍, 一元, 一个点): 一天, 一年, 一人, 一代, 一次 are everyday
#     words and indicators match 一天 as written. 级 is no unit (二级分销 is matched as written), nor are
#     个, 位 (三位一体) and 台 (五台山).
#   * A run ending in 万 or 亿 is a quantity by itself and keeps that unit, as numbers are written with
#     Arabic digits: 三万 -> 3万, 一千二百万 -> 1200万, 十万亿 -> 10万亿 (三万五千 -> 35000).
#
# Never folded: runs that start with 百, 千, 万 or 亿 (千万不要, 万一, 百倍, 千行百业, 万亿级); runs right
# after another numeral or digit, a Latin letter, 之 (三分之一, 之一), 第 (ordinals stay: 第一, 第三方),
# 翻 (翻三倍 is matched as written), 周 or 礼拜 (weekdays); approximations (三五天, 两三倍, 十七八岁) and
# whatever else is not one well-formed number. Digits without 十百千 join up only from three of them or
# with a zero (二〇二四年 -> 2024年), never two (三五天 is "three to five days"). Traditional and
# full-width forms were folded by the first stage already (萬 -> 万, 兩 -> 两, 點 -> 点, 貳 -> 贰).
#
# What this stage writes (ASCII digits, "." and "%") and the contexts it reads are out of reach of the
# leetspeak and spaced-letter stages after it, and it rewrites nothing it wrote: normalising twice
# gives the same text.
_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
    "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_TENS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG = {"万": 10**4, "亿": 10**8}
_D = "".join(_DIGITS)
_N = _D + "".join(_TENS) + "".join(_BIG)  # every numeral character
# The rest of a run after its first character; possessive, so that only whole runs are considered.
_RUN_TAIL = rf"[{_N}]*+(?:点[{_D}]++[万亿]*+)?+"
_STRONG_UNITS = (
    r"%|倍|美元|美金|港元|港币|人民币|元(?![论化复素次])|块钱|枚|个点(?!子)"
    r"|(?i:usdt|usdc|usd|u|btc|eth|bnb|trx|fil)(?![A-Za-z])"
)
_WEAK_UNITS = r"块(?!儿)|天|日|个月|月|年|周|小时|岁|人|名|代|层|份|期|次|家"
# One leading character class for all branches lets the regex engine skip to candidates in C; each
# branch then checks that character with a look-behind (and the one before it, two characters back).
_NUMERALS = re.compile(
    rf"[百千万日月年{_D}十拾](?:"
    # 百分之三, 千分之五, 万分之五 (百分之百 too)
    rf"(?<=[百千万])(?<![{_N}0-9.].)分之(?P<pn>[{_N}]++(?:点[{_D}]++)?+)(?!点)"
    rf"|(?<=百)(?<![{_N}0-9.].)分百(?P<full>)"
    # 日息三厘, 月息二分, 年利率一分五
    rf"|(?<=[日月年])(?:利息|利率|息|利)(?:[:：]\s?|为|是|约|高达|达)?"
    rf"(?P<rn>[{_D}十拾]{_RUN_TAIL})(?P<ru>[分厘])(?P<rs>[{_D}]厘?)?(?![之钟钱{_N}])"
    # 三成, 一千元, 三十六个月, 三万 (the run is the first character and this tail)
    rf"|(?<=[{_D}十拾])(?<![{_N}点之第翻周拜A-Za-z0-9].)(?P<tail>{_RUN_TAIL})(?![点{_N}])"
    rf"(?:(?:(?<![一壹])|(?<=[{_N}点][一壹]))"  # not a lone 一
    rf"(?:(?P<cheng>成)(?![员本功立交长熟果绩就为型品分年人都语效真份群批片色])(?P<cs>[{_D}](?![{_N}点]))?"
    rf"|(?={_WEAK_UNITS}))|(?=(?P<strong>{_STRONG_UNITS}))|(?<=[万亿])(?!分之)))"
)
_LONE_ONE = ("一", "壹")
# Percent per 分 or 厘, on a yearly rate (True) or a monthly or daily one (False): see above.
_RATE_UNITS = {
    ("分", True): Decimal(10),
    ("厘", True): Decimal(1),
    ("分", False): Decimal(1),
    ("厘", False): Decimal("0.1"),
}


def _numeral_edits(text: str) -> list[tuple[int, int, str]]:
    """The Chinese numerals of ``text`` to rewrite: (start, end, replacement), in order."""
    edits: list[tuple[int, int, str]] = []
    for match in _NUMERALS.finditer(text):
        if match.group("pn") is not None:
            value = _decimal(match.group("pn"))
            if value is not None:
                value = value / {"百": 1, "千": 10, "万": 100}[text[match.start()]]
                edits.append((match.start(), match.end(), _percent(value)))
        elif match.group("full") is not None:
            edits.append((match.start(), match.end(), "100%"))
        elif match.group("rn") is not None:
            value = _decimal(match.group("rn"))
            sub = match.group("rs")
            if value is None or (
                sub and ("点" in match.group("rn") or (sub.endswith("厘") and match.group("ru") == "厘"))
            ):
                continue  # 三厘五厘, 一点五分五: not one rate
            if sub:
                value += Decimal(_DIGITS[sub[0]]) / 10
            value *= _RATE_UNITS[match.group("ru"), text[match.start()] == "年"]
            edits.append((match.start("rn"), match.end(), _percent(value)))
        else:
            run = text[match.start() : match.end("tail")]
            if match.group("cheng") is not None:
                value = _decimal(run)
                if run in _LONE_ONE or value is None or value > 10:
                    continue
                tenths = match.group("cs")
                value = value * 10 + (_DIGITS[tenths] if tenths else 0)
                edits.append((match.start(), match.end(), _percent(value)))
                continue
            if run in _LONE_ONE and match.group("strong") is None:
                continue
            quantity = _quantity(run)
            if quantity is not None:
                size, digits = quantity
                edits.append((match.start(), match.start() + size, digits))
    return edits


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    pieces = []
    position = 0
    for start, end, new in edits:
        pieces.append(text[position:start])
        pieces.append(new)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _integer(run: str) -> str | None:
    """The decimal digits of an integer in Chinese numerals; None unless the run is one well-formed number."""
    if not any(char in _TENS or char in _BIG for char in run):
        if len(run) == 1 or ((len(run) >= 3 or "零" in run or "〇" in run) and "两" not in run):  # 三, 二〇二四
            return "".join(str(_DIGITS[char]) for char in run)
        return None  # 三五 is "three to five"
    value = _below_big(run, leading=True)
    return None if value is None else str(value)


def _below_big(run: str, *, leading: bool) -> int | None:
    """Value of a run with 万 and 亿: the part before the last of the largest times it, plus the rest."""
    for unit in ("亿", "万"):
        at = run.rfind(unit)
        if at < 0:
            continue
        high = _below_big(run[:at], leading=leading) if at else None
        if not high:
            return None
        rest = run[at + 1 :]
        if not rest:
            return high * _BIG[unit]
        if len(rest) == 1 and _DIGITS.get(rest):  # 一万五 is 15000
            return high * _BIG[unit] + _DIGITS[rest] * _BIG[unit] // 10
        low = _below_big(rest, leading=False)
        return None if low is None or low >= _BIG[unit] else high * _BIG[unit] + low
    return _section(run, leading=leading)


def _section(run: str, *, leading: bool) -> int | None:
    """Value of a run of digits with 十, 百 and 千 (below 10000)."""
    value, digit, last, zero = 0, None, 10**4, False
    for char in run:
        if char in _DIGITS:
            if digit is not None:  # two digits in a row: 三五, 两三 (an approximation)
                return None
            if _DIGITS[char]:
                digit = _DIGITS[char]
            elif zero:
                return None
            else:
                zero = True
            continue
        unit = _TENS[char]
        if unit >= last:
            return None
        if digit is None:
            if unit != 10 or not leading or value or zero:  # only a leading 十 stands alone: 十五
                return None
            digit = 1
        value += digit * unit
        digit, last, zero = None, unit, False
    if digit is not None:  # 一百零五, 二十五; 三千五 is 3500 and 一百五 is 150
        value += digit if zero or last <= 10 or last == 10**4 else digit * last // 10
    elif zero:
        return None
    return value


@lru_cache(maxsize=4096)
def _decimal(run: str) -> Decimal | None:
    """Value of a run, with 点 and decimals: 三点五 is 3.5."""
    if run == "百":  # 百分之百
        return Decimal(100)
    head, dot, tail = run.partition("点")
    integer = _integer(head)
    if integer is None or any(char not in _DIGITS for char in tail):
        return None
    return Decimal(integer + "." + "".join(str(_DIGITS[char]) for char in tail) if dot else integer)


@lru_cache(maxsize=4096)
def _quantity(run: str) -> tuple[int, str] | None:
    """How many characters of a quantity's run to replace, by what: a final 万 or 亿 stays as written."""
    head, dot, tail = run.partition("点")
    body = tail if dot else head
    unit = body[len(body.rstrip("万亿")) :]
    integer = _integer(head if dot else run)
    if integer is None:
        return None
    if dot:
        return len(run) - len(unit), integer + "." + "".join(
            str(_DIGITS[char]) for char in tail[: len(tail) - len(unit)]
        )
    if unit:
        scale = 1
        for char in unit:
            scale *= _BIG[char]
        return len(run) - len(unit), str(int(integer) // scale)
    return len(run), integer


def _percent(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "%"


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
