"""Read filings into text: .txt .md .html .htm .pdf .docx files, or bytes from standard input.

Text is extracted, not normalised (normalising is another module's job). Every failure is a
:class:`~scanner.errors.DocumentError` whose message names the document and what to do.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import functools
import hashlib
import io
import logging
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from charset_normalizer import from_bytes

from scanner.errors import DocumentError
from scanner.normalize import code_points

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".html", ".htm", ".pdf", ".docx"})
_SOURCE_BY_SUFFIX = {".txt": "txt", ".md": "md", ".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx"}
_SAMPLE = 65_536  # bytes or characters the heuristics look at, so that big files stay fast
_BOMS = (  # UTF-32 first: its little-endian BOM starts with the UTF-16 one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_OLE = b"\xd0\xcf\x11\xe0"  # old Office (.doc, .xls) files
_MAGIC = {
    b"%PDF-": "it starts like a PDF; rename it to .pdf",
    b"PK\x03\x04": "it is a ZIP archive, e.g. .docx or .xlsx",
    _OLE: "it is an old Office file, e.g. .doc",
    b"\x89PNG": "it is a PNG image",
    b"\xff\xd8\xff": "it is a JPEG image",
    b"\x1f\x8b": "it is gzip-compressed",
}
_WESTERN = frozenset(map(chr, range(0xC0, 0x100))) - {"\xd7", "\xf7"} | frozenset("\xa0«»°§©®·–—‘’‚“”„€…•")
_SPACES = re.compile(r"\s+")
_CONVERT = "Convert it to .txt, .pdf or .docx."
_EMPTY = {
    "html": "has no visible text (only markup or scripts)",
    "pdf": "has no extractable text (a scanned image? Run OCR first, e.g. ocrmypdf)",
    "docx": "is empty (no text in its paragraphs or tables)",
}


@dataclass(frozen=True)
class Document:
    """A document read into text.

    Attributes
    ----------
    id : str
        The path as given, ``"-"`` for standard input, or the id the caller chose.
    text : str
        The extracted text, not normalised, cut at ``ReadLimits.max_chars``.
    sha256 : str
        Hex SHA-256 of the raw bytes read.
    source : str
        ``"txt"``, ``"md"``, ``"html"``, ``"pdf"``, ``"docx"`` or ``"stdin"``.
    encoding : str or None
        The detected text encoding (a Python codec name); None for PDF and DOCX.
    """

    id: str
    text: str
    sha256: str
    source: str
    encoding: str | None


@dataclass(frozen=True)
class ReadLimits:
    """Limits that protect a batch from huge, hostile or broken files.

    Attributes
    ----------
    max_bytes : int
        Largest file read, in bytes; a larger one is an error.
    max_pdf_pages : int
        Pages of a PDF read; later pages are skipped with a logged warning.
    max_chars : int
        Characters of text kept; the rest is cut with a logged warning.
    max_pdf_stream : int
        Most bytes one PDF stream (a page's content, a font) may inflate to. A page whose
        content inflates past it is skipped with a logged warning, and a PDF with no other
        readable page is an error: a few kB of compressed zeros or repeated text would
        otherwise cost gigabytes of memory or minutes of text extraction. pypdf's own cap is
        75 MB; extracting a page costs about 2 s per MB of content, so the time limit of a
        batch (``--timeout``) bounds a PDF with many pages near this limit.
    max_docx_entries, max_docx_uncompressed, max_docx_ratio : int, int, float
        Most ZIP entries, unpacked bytes and unpacked/packed ratio of a .docx; beyond any of
        them it is refused as a likely zip bomb. A .docx whose XML declares a DTD
        (``<!DOCTYPE``, where entities are defined) is refused too: Word never writes one,
        and entity expansion ("billion laughs") is the attack it would carry.
    """

    max_bytes: int = 50 * 2**20
    max_pdf_pages: int = 2000
    max_pdf_stream: int = 10 * 2**20
    max_chars: int = 5_000_000
    max_docx_entries: int = 2000
    max_docx_uncompressed: int = 200 * 2**20
    max_docx_ratio: float = 200.0


# Names of ``--limit NAME=VALUE`` on the command line: the field, and the unit its value is given in.
LIMIT_NAMES: dict[str, tuple[str, int | float]] = {
    "mb": ("max_bytes", 2**20),
    "pdf-pages": ("max_pdf_pages", 1),
    "pdf-stream-mb": ("max_pdf_stream", 2**20),
    "chars": ("max_chars", 1),
    "docx-entries": ("max_docx_entries", 1),
    "docx-mb": ("max_docx_uncompressed", 2**20),
    "docx-ratio": ("max_docx_ratio", 1.0),
}


def parse_limits(settings: list[str], base: ReadLimits | None = None) -> ReadLimits:
    """Build reading limits from ``NAME=VALUE`` settings (``pdf-pages=500``, ``docx-ratio=50``...).

    Parameters
    ----------
    settings : list of str
        Each ``NAME=VALUE``, NAME one of :data:`LIMIT_NAMES`; sizes in MB.
    base : ReadLimits, optional
        The limits the settings change (the defaults by default).

    Returns
    -------
    ReadLimits

    Raises
    ------
    ValueError
        For an unknown name or a value that is not a positive number, with the names allowed.
    """
    from dataclasses import replace

    values: dict[str, int | float] = {}
    known = ", ".join(LIMIT_NAMES)
    for setting in settings:
        name, sep, raw = setting.partition("=")
        name = name.strip().lower()
        if not sep or name not in LIMIT_NAMES:
            raise ValueError(f"Unknown limit {setting!r}: use NAME=VALUE with NAME one of {known}.")
        field, unit = LIMIT_NAMES[name]
        try:
            number = float(raw)
        except ValueError:
            number = -1.0
        if not number > 0 or number == float("inf"):
            raise ValueError(f"Limit {name} needs a positive number, got {raw!r}.")
        values[field] = number * unit if isinstance(unit, float) else max(1, int(number * unit))
    return replace(base or ReadLimits(), **values)  # type: ignore[arg-type]


def read_document(path: str | Path, *, limits: ReadLimits = ReadLimits(), doc_id: str | None = None) -> Document:
    """Read one document file into text.

    The suffix (any case) chooses the reader. A file with another suffix, or none, is read as
    PDF if it starts with ``%PDF-``, else as text (HTML if it starts like HTML) if its bytes
    are text; otherwise it is refused as an unsupported type.

    Parameters
    ----------
    path : str or Path
        The file to read.
    limits : ReadLimits, optional
        Size and resource limits.
    doc_id : str or None, optional
        The id to give the document; defaults to ``str(path)``.

    Returns
    -------
    Document

    Raises
    ------
    DocumentError
        When the file is missing, a folder, unreadable, too large, empty, binary, damaged,
        encrypted or of an unsupported type.
    """
    path = Path(path)
    label = str(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise DocumentError(f"{label} is a folder, not a document; list its documents with iter_document_paths.")
        if info.st_size > limits.max_bytes:
            raise DocumentError(_too_large(label, info.st_size, limits))
        with path.open("rb") as handle:  # one byte over the limit at most: a pipe has no size
            data = handle.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise DocumentError(f"{label}: no such file. Check the path.") from None
    except PermissionError:
        raise DocumentError(f"{label}: permission denied. Check the file's permissions.") from None
    except OSError as exc:
        raise DocumentError(f"{label}: cannot read it ({exc.strerror or exc}).") from None
    if len(data) > limits.max_bytes:
        raise DocumentError(_too_large(label, None, limits))
    return _parse(data, label, label if doc_id is None else doc_id, path.suffix, limits)


def read_bytes(data: bytes, *, name: str, suffix: str, limits: ReadLimits = ReadLimits()) -> Document:
    """Read a document from bytes in memory, e.g. standard input.

    Parameters
    ----------
    data : bytes
        The raw document.
    name : str
        Its id; ``"-"`` means standard input and gives ``source="stdin"``.
    suffix : str
        Its type, e.g. ``".pdf"`` or ``"pdf"``; ``""`` (or an unknown one) sniffs PDF, HTML
        or text as :func:`read_document` does.
    limits : ReadLimits, optional
        Size and resource limits.

    Returns
    -------
    Document

    Raises
    ------
    DocumentError
        As :func:`read_document`.
    """
    label = "standard input" if name == "-" else name
    if len(data) > limits.max_bytes:
        raise DocumentError(_too_large(label, len(data), limits))
    return _parse(data, label, name, suffix, limits, stdin=name == "-")


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode text bytes in whatever encoding a filing arrives in.

    In order: a byte-order mark (UTF-8, UTF-16, UTF-32); BOM-less UTF-16 by its NUL-byte
    pattern; UTF-8 (allowing a few bad bytes); GB18030 or Big5, whichever gives more common
    Chinese characters; cp1252 when the high bytes are accented letters or typographic marks;
    charset-normalizer on a sample; cp1252 or Latin-1, which never fail.

    Parameters
    ----------
    data : bytes
        The raw text.

    Returns
    -------
    tuple of (str, str)
        The text, without any byte-order mark, and the Python name of the encoding used.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding.replace("-sig", ""), errors="replace"), encoding
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        return data.decode(utf16, errors="replace"), utf16
    text = data.decode("utf-8", errors="replace")
    sample = text[:_SAMPLE]
    bad = sample.count("\ufffd")
    non_ascii = len(sample) - len(sample.encode("ascii", "ignore"))
    if non_ascii - bad >= 3 * bad:  # valid UTF-8, or a few stray bytes
        return text, "utf-8"  # other encodings give about one valid UTF-8 character per bad byte at most
    found = _decode_chinese(data) or _decode_western(data)
    if found is not None:
        return found
    guess = from_bytes(data[:_SAMPLE]).best()
    if guess is not None:
        return data.decode(guess.encoding, errors="replace"), guess.encoding
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def html_to_text(html: str) -> str:
    """Extract the visible text of an HTML page.

    Scripts, styles, ``noscript``, ``template``, ``svg``, ``iframe`` and the head (but its
    title) are dropped; block elements become line breaks; entities are unescaped; runs of
    whitespace become one space and blank lines go. Nothing recurses, so deep nesting is safe.

    Parameters
    ----------
    html : str
        The page source.

    Returns
    -------
    str
        One line per block of text.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def iter_document_paths(root: str | Path) -> Iterator[Path]:
    """Yield the documents under a folder, recursively, sorted by path.

    Only files with a suffix in :data:`SUPPORTED_SUFFIXES` (any case) are yielded; hidden
    files and folders (``.name``) and Office lock files (``~$name``) are skipped. Symbolic
    links are followed but each folder is visited once, so a link loop ends; a link named like a
    document that leads nowhere (dangling, or a loop) is yielded, so that reading it reports the
    problem instead of the document silently going missing. An unreadable sub-folder is skipped
    with a logged warning. A file path yields itself, whatever its suffix.

    Parameters
    ----------
    root : str or Path
        A folder or a file.

    Yields
    ------
    Path
        ``root`` joined with each document's relative path.

    Raises
    ------
    DocumentError
        When ``root`` does not exist or cannot be listed.
    """
    root = Path(root)
    if not root.is_dir():
        if not root.exists():
            raise DocumentError(f"{root}: no such file or folder. Check the path.")
        yield root
        return
    try:
        seen = {(root.stat().st_dev, root.stat().st_ino)}
        stack = [iter(_sorted_entries(root))]
    except OSError as exc:
        raise DocumentError(f"{root}: cannot list this folder ({exc.strerror or exc}).") from None
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
        elif not entry.name.startswith((".", "~$")):
            try:
                wanted = Path(entry.name).suffix.lower() in SUPPORTED_SUFFIXES
                if entry.is_symlink() and not os.path.exists(entry.path):  # dangling, or a loop
                    if wanted:  # yielded, so that reading it reports the problem
                        yield Path(entry.path)
                elif entry.is_dir():
                    key = (entry.stat().st_dev, entry.stat().st_ino)
                    if key not in seen:  # else a link loop, or a folder linked twice
                        seen.add(key)
                        stack.append(iter(_sorted_entries(Path(entry.path))))
                elif wanted and entry.is_file():
                    yield Path(entry.path)
            except OSError as exc:
                logger.warning("%s: skipped (%s).", entry.path, exc.strerror or exc)


def _sorted_entries(folder: Path) -> list[os.DirEntry[str]]:
    """List a folder's entries sorted by name, so that runs are reproducible."""
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _parse(data: bytes, label: str, doc_id: str, suffix: str, limits: ReadLimits, stdin: bool = False) -> Document:
    """Turn raw bytes into a Document, choosing the reader by suffix, else by sniffing."""
    if not data:
        raise DocumentError(f"{label} is empty (0 bytes).")
    suffix = suffix.lower() if not suffix or suffix.startswith(".") else "." + suffix.lower()
    kind = _SOURCE_BY_SUFFIX.get(suffix) or ("pdf" if data.startswith(b"%PDF-") else "")
    encoding: str | None = None
    if kind == "pdf":
        text = _pdf_text(data, label, limits)
    elif kind == "docx":
        text = _docx_text(data, label, limits)
    else:
        reason = _binary_reason(data)
        if reason is None:
            text, encoding = decode_text(data)
            reason = _control_reason(text)
        if reason is not None and not kind:
            what, supported = suffix or "(no suffix)", ", ".join(sorted(SUPPORTED_SUFFIXES))
            raise DocumentError(
                f"{label}: unsupported file type {what}, and not text ({reason}). Supported: {supported}."
            )
        if reason is not None:
            raise DocumentError(f"{label}: looks like a binary file, not text ({reason}). {_CONVERT}")
        if not kind:
            kind = "html" if text.lstrip()[:100].lower().startswith(("<!doctype html", "<html")) else "txt"
        if kind == "html":
            text = html_to_text(text)
    if not text.strip():
        raise DocumentError(f"{label} {_EMPTY.get(kind, 'is empty (only whitespace)')}.")
    if len(text) > limits.max_chars:
        logger.warning("%s: text cut at %d characters (ReadLimits.max_chars).", label, limits.max_chars)
        text = text[: limits.max_chars]
    sha256 = hashlib.sha256(data).hexdigest()
    return Document(id=doc_id, text=text, sha256=sha256, source="stdin" if stdin else kind, encoding=encoding)


def _too_large(label: str, size: int | None, limits: ReadLimits) -> str:
    """Say that a document is over ``max_bytes``; ``size`` None when unknown (a pipe)."""
    what = "is larger than that" if size is None else f"is {_size(size)}"
    limit = _size(limits.max_bytes)
    return f"{label} {what}, over the {limit} limit (ReadLimits.max_bytes). Split it or raise the limit."


def _size(n: int) -> str:
    """Format a byte count for a person: ``"512 bytes"``, ``"50 MB"``, ``"73.4 MB"``."""
    return f"{n} bytes" if n < 2**20 else f"{n / 2**20:.1f}".removesuffix(".0") + " MB"


# Control characters (not \t \n \v \f \r or ESC): C0, DEL and C1.
_IS_CONTROL = np.zeros(0xA0, dtype=np.bool_)
_IS_CONTROL[[*range(0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), *range(0x7F, 0xA0)]] = True


def _binary_reason(data: bytes) -> str | None:
    """Say why raw bytes are not text (a known file signature, NUL bytes), or None."""
    for magic, reason in _MAGIC.items():
        if data.startswith(magic):
            return reason
    wide = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _utf16_without_bom(data) is not None
    return "it contains NUL bytes" if b"\x00" in data and not wide else None


def _control_reason(text: str) -> str | None:
    """Say why decoded text is binary (over 5% control characters), or None."""
    sample = text[:_SAMPLE]
    codes = code_points(sample)
    controls = int(np.count_nonzero(_IS_CONTROL[codes[codes < len(_IS_CONTROL)]]))
    if controls <= 0.05 * len(sample):
        return None
    return f"{controls / len(sample):.0%} of its characters are control characters"


def _utf16_without_bom(data: bytes) -> str | None:
    """Name the UTF-16 byte order whose zero high bytes (ASCII characters) show in ``data``, or None."""
    sample = data[:4096]
    half = len(sample) // 2
    if half < 2 or b"\x00" not in sample:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    for zeros, others, codec in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros >= 0.2 * half and others <= 0.05 * half:
            try:
                data[: len(data) // 2 * 2].decode(codec)  # a cut-off last byte is forgiven
            except UnicodeDecodeError:
                return None
            return codec
    return None


@functools.cache
def _common_hanzi() -> frozenset[str]:
    """Return the 3755 common simplified (GB2312 level 1) and 5401 traditional (Big5 level 1) characters."""
    found: set[str] = set()
    gb2312 = ("gb2312", range(0xB0, 0xD8), [*range(0xA1, 0xFF)])
    for codec, leads, trails in (gb2312, ("big5", range(0xA4, 0xC7), [*range(0x40, 0x7F), *range(0xA1, 0xFF)])):
        for lead in leads:
            for trail in trails:
                try:
                    found.add(bytes((lead, trail)).decode(codec))
                except UnicodeDecodeError:
                    continue
    return frozenset(found)


def _decode_chinese(data: bytes) -> tuple[str, str] | None:
    """Decode GB18030 or Big5, judged by the result: each accepts much of the other's bytes.

    The wrong one gives rare characters, kana or private-use code points where the right one
    gives common Chinese characters. charset-normalizer often errs on short Chinese text.
    """
    common = _common_hanzi()
    best: tuple[float, str, str] | None = None
    for codec in ("gb18030", "big5", "cp950"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        counted = good = bad = 0
        for char in text[:_SAMPLE]:
            if char < "\x80" or "\u3000" <= char <= "\u303f" or "\uff00" <= char <= "\uffef":
                continue  # ASCII and CJK punctuation say nothing about the encoding
            counted += 1
            good += char in common
            bad += "\ue000" <= char <= "\uf8ff" or char == "\ufffd"
        score = (good - 5 * bad) / max(counted, 1)
        # two adjacent ideographs: an accented Latin letter before ASCII can make one common one
        if good >= 2 and re.search("[\u4e00-\u9fff]{2}", text[:_SAMPLE]) and (best is None or score > best[0]):
            best = (score, text, codec)
    return (best[1], best[2]) if best is not None and best[0] >= 0.5 else None


def _decode_western(data: bytes) -> tuple[str, str] | None:
    """Decode cp1252 if the text is mostly ASCII letters with accented ones and typographic marks.

    charset-normalizer tends to call short French or German text cp1250; runs of high bytes
    (Cyrillic, Greek) are left to it.
    """
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    high = [char for char in text[:_SAMPLE] if char >= "\x80"]
    letters = sum(char.isalpha() for char in text[:_SAMPLE])
    if len(high) <= 0.3 * letters and sum(char in _WESTERN for char in high) >= 0.9 * len(high):
        return text, "cp1252"
    return None


class _TextExtractor(HTMLParser):
    """Collect the visible text of a page; html.parser tokenises without recursion."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "head"})
    _BLOCK = frozenset(
        "address article aside blockquote body br caption dd details dialog div dl dt fieldset figcaption figure "  # noqa: SIM905
        "footer form h1 h2 h3 h4 h5 h6 header hr html li main nav ol p pre section summary table tbody tfoot thead "
        "title tr ul".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._open: dict[str, int] = {}  # how many of each skipped element are open
        self._in_title = False
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open a skipped element or a block, or separate table cells."""
        if tag in self._SKIP:
            self._open[tag] = self._open.get(tag, 0) + 1
        elif tag == "body":
            self._open.pop("head", None)  # a missing </head> must not hide the page
        self._in_title = self._in_title or tag == "title"
        self._pre += tag == "pre"
        self.parts.append("\n" if tag in self._BLOCK else " " if tag in ("td", "th") else "")

    def handle_endtag(self, tag: str) -> None:
        """Close a skipped element or a block."""
        if self._open.get(tag):
            self._open[tag] -= 1
        self._in_title = self._in_title and tag != "title"
        self._pre -= tag == "pre" and self._pre > 0
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        """Keep text outside skipped elements; outside ``pre``, line breaks in the source are spaces."""
        if not any(count for tag, count in self._open.items() if not (tag == "head" and self._in_title)):
            self.parts.append(data if self._pre else _SPACES.sub(" ", data))


def _pdf_text(data: bytes, label: str, limits: ReadLimits) -> str:
    """Extract the text of a PDF's pages, up to ``max_pdf_pages`` pages and about ``max_chars``."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on odd files would flood stderr
    with _pdf_stream_cap(limits.max_pdf_stream):
        return _pdf_pages_text(data, label, limits)


def _pdf_stream_cap(max_bytes: int) -> contextlib.AbstractContextManager[object]:
    """Cap the bytes pypdf may inflate one stream to, with every filter that has a cap (pypdf >= 6)."""
    try:
        from pypdf import Configuration, apply_configuration
    except ImportError:  # older pypdf: its fixed 75 MB caps apply
        return contextlib.nullcontext()
    fields = {field.name for field in dataclasses.fields(Configuration)}
    caps = {name: max_bytes for name in _PDF_STREAM_CAPS if name in fields}
    return apply_configuration(None, **caps)


_PDF_STREAM_CAPS = (
    "zlib_maximum_output_length",
    "brotli_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "jbig2_maximum_output_length",
    "array_based_stream_maximum_output_length",
)


def _pdf_pages_text(data: bytes, label: str, limits: ReadLimits) -> str:
    """Extract the text of a PDF's pages (see :func:`_pdf_text`), within pypdf's stream caps."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, LimitReachedError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(f"{label} is encrypted with a password. Remove the protection and scan it again.")
        pages = reader.pages
        count = len(pages)
    except DocumentError:
        raise
    except DependencyError:
        raise DocumentError(f"{label} is encrypted (AES); reading it needs: pip install cryptography.") from None
    except LimitReachedError:
        raise DocumentError(f"{label}: {_pdf_inflates(limits)}.") from None
    except Exception as exc:  # pypdf raises many exception types on damaged files
        raise DocumentError(f"{label}: not a readable PDF ({_reason(exc)}). Re-save or re-export it.") from None
    if count == 0:
        raise DocumentError(f"{label}: the PDF has no pages (truncated or damaged?). Re-save or re-export it.")
    if count > limits.max_pdf_pages:
        logger.warning(
            "%s: read the first %d of %d pages (ReadLimits.max_pdf_pages).", label, limits.max_pdf_pages, count
        )
    parts: list[str] = []
    errors: list[str] = []
    total = 0
    for page in pages[: limits.max_pdf_pages]:
        try:
            parts.append(page.extract_text() or "")
        except LimitReachedError:
            errors.append(_pdf_inflates(limits))
            continue
        except Exception as exc:  # one damaged page should not lose the others
            errors.append(_reason(exc))
            continue
        total += len(parts[-1])
        if total >= limits.max_chars:  # enough text: the rest would be cut anyway
            break
    if errors and not parts:
        raise DocumentError(f"{label}: no page of the PDF could be read ({errors[0]}). Re-save or re-export it.")
    if errors:
        logger.warning("%s: skipped %d unreadable PDF pages (%s).", label, len(errors), errors[0])
    return "\n\n".join(parts)


def _pdf_inflates(limits: ReadLimits) -> str:
    """Say that a PDF stream inflates past ``max_pdf_stream`` (a likely decompression bomb)."""
    return f"a stream inflates past the {_size(limits.max_pdf_stream)} limit (ReadLimits.max_pdf_stream)"


def _docx_text(data: bytes, label: str, limits: ReadLimits) -> str:
    """Check a .docx's ZIP against the limits, then extract its paragraphs and tables."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:  # sizes first: it could be a zip bomb
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        hint = " It looks like an old Word .doc: save it as .docx or .pdf." if data.startswith(_OLE) else ""
        raise DocumentError(f"{label} is not a valid .docx (not a ZIP archive).{hint}") from None
    unpacked = sum(entry.file_size for entry in entries)
    packed = max(sum(entry.compress_size for entry in entries), 1)
    checks = (
        (len(entries) > limits.max_docx_entries, f"has {len(entries)} ZIP entries", limits.max_docx_entries, "entries"),
        (unpacked > limits.max_docx_uncompressed, f"would unpack to {_size(unpacked)}",
         _size(limits.max_docx_uncompressed), "uncompressed"),
        (unpacked > limits.max_docx_ratio * packed, f"is compressed {unpacked / packed:.0f}:1",
         f"{limits.max_docx_ratio:g}:1", "ratio"),
    )  # fmt: skip
    for over, problem, limit, field in checks:
        if over:
            raise DocumentError(
                f"{label}: .docx {problem}, over the {limit} limit (ReadLimits.max_docx_{field}); it may be a zip bomb."
            )
    if not any(entry.filename == "word/document.xml" for entry in entries):
        raise DocumentError(f"{label} is not a valid .docx (no word/document.xml; another Office or ZIP file?).")
    try:
        part = _docx_part_with_dtd(data)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise DocumentError(
            f"{label}: not a readable .docx ({_reason(exc)}). Re-save it in Word or LibreOffice."
        ) from None
    if part is not None:
        raise DocumentError(
            f"{label}: .docx part {part} declares a DTD (<!DOCTYPE>), which Word never writes; refused as a "
            "possible XML entity-expansion attack. Re-save it in Word or LibreOffice."
        )
    import docx  # imported here: only DOCX files need it

    try:
        return "\n".join(_docx_lines(docx.Document(io.BytesIO(data))))
    except Exception as exc:  # python-docx and lxml raise many exception types on damaged files
        reason = _reason(exc)
        raise DocumentError(f"{label}: not a readable .docx ({reason}). Re-save it in Word or LibreOffice.") from None


# "<!DOCTYPE" as it appears in XML encoded as UTF-8 (or ASCII), UTF-16 or UTF-32, either byte order.
_DTD_MARKERS = tuple(
    "<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)


def _docx_part_with_dtd(data: bytes) -> str | None:
    """Name the first XML part of a .docx that declares a DTD, or None.

    python-docx parses without resolving entities and libxml2 caps their amplification, but a
    filing that carries a DTD is refused here with a clear message rather than left to them.
    Parts are read in blocks, so this costs no more memory than the zip-bomb limits allow.
    """
    overlap = max(map(len, _DTD_MARKERS)) - 1
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for entry in archive.infolist():
            if not entry.filename.lower().endswith((".xml", ".rels")):
                continue  # media may hold "<!DOCTYPE" (an SVG image); python-docx does not parse them
            with archive.open(entry) as handle:
                tail, block = b"", handle.read(1 << 20)
                while block:
                    window = tail + block
                    if any(marker in window for marker in _DTD_MARKERS):
                        return entry.filename
                    tail, block = window[-overlap:], handle.read(1 << 20)
    return None


def _docx_lines(document: DocxDocument) -> Iterator[str]:
    """Yield paragraphs and table rows (tab-separated cells) in order; nested tables follow their table."""
    from docx.table import Table

    stack: list[Iterator[object]] = [iter(document.iter_inner_content())]
    while stack:
        block = next(stack[-1], None)
        if block is None:
            stack.pop()
        elif not isinstance(block, Table):
            yield str(getattr(block, "text", ""))
        else:
            nested: list[Table] = []
            for row in block.rows:
                cells = list({id(cell._tc): cell for cell in row.cells}.values())  # a merged cell repeats
                yield "\t".join(cell.text.strip() for cell in cells)
                nested.extend(table for cell in cells for table in cell.tables)
            stack.append(iter(nested))


def _reason(exc: BaseException) -> str:
    """Give an exception's message, or its type when it has none, kept short."""
    return (str(exc).strip() or type(exc).__name__)[:200]
