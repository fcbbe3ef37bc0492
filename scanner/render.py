"""Rendering results: the readable card, and the CSV / JSON / JSONL / XLSX / Parquet / HTML writers.

Writers are streaming where the format allows (JSONL, CSV: a row is written
as soon as it is known); JSON, XLSX and Parquet are written at the end.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import textwrap
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from scanner.errors import ScannerError
from scanner.scoring import Result

FORMATS = ("card", "json", "jsonl", "csv", "xlsx", "parquet", "html")
FLAT_FIELDS = (
    "id",
    "sha256",
    "risk_score",
    "risk_level",
    "category",
    "category_scores",
    "red_flags",
    "evidence",
    "top_terms",
    "language",
    "model",
    "error",
)
EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".json": "json",
    ".xlsx": "xlsx",
    ".parquet": "parquet",
    ".html": "html",
    ".htm": "html",
}


class RenderError(ScannerError):
    """Results cannot be written in the asked format."""


def format_for_path(path: str | Path) -> str:
    """Return the output format implied by a file name's extension.

    Raises
    ------
    RenderError
        For an extension that is not one of .csv .jsonl .json .xlsx .parquet .html.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise RenderError(f"Cannot tell the output format of {path}: use one of {', '.join(EXTENSIONS)}.")
    return EXTENSIONS[suffix]


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """Flatten a result record for CSV and XLSX: lists joined with "; ".

    ``red_flags`` holds the flag ids, ``evidence`` the quoted sentences
    (``ID: sentence``, joined with " | "), ``top_terms`` ``term (weight)``.
    Extra input columns kept beside the scores are passed through.
    """
    flat = dict(record)
    flags = record.get("red_flags") or []
    flat["red_flags"] = "; ".join(dict.fromkeys(flag["id"] for flag in flags))
    flat["evidence"] = " | ".join(f"{flag['id']}: {' '.join(flag['evidence'].split())}" for flag in flags)
    flat["top_terms"] = "; ".join(f"{t['term']} ({t['weight']:.3f})" for t in record.get("top_terms") or [])
    scores = record.get("category_scores")
    flat["category_scores"] = "; ".join(f"{k}={v}" for k, v in scores.items()) if scores else ""
    ordered = {key: flat.get(key) for key in FLAT_FIELDS}
    ordered.update({k: v for k, v in flat.items() if k not in ordered})
    return ordered


def render_card(result: Result, *, width: int = 100) -> str:
    """A readable summary of one result for a person at a terminal."""
    lines = [f"{result.id}"]
    if result.error:
        lines.append(f"  ERROR: {result.error}")
        return "\n".join(lines)
    category = result.category.replace("_", " ") if result.category else "-"
    lines.append(
        f"  Risk score {result.risk_score:5.1f} / 100   level {str(result.risk_level).upper():<6}   "
        f"category {category}   language {result.language}"
    )
    if result.category_scores and result.risk_level != "low":
        shares = ", ".join(f"{k.replace('_', ' ')} {v:.0%}" for k, v in result.category_scores.items())
        lines.append(f"  Category split: {shares}")
    if result.red_flags:
        lines.append(f"  Red flags ({len(result.red_flags)}):")
        for flag in result.red_flags:
            lines.append(f"    [{flag.severity.upper():<6}] {flag.id}: {flag.title}")
            quote = " ".join(flag.evidence.split())
            wrapped = textwrap.wrap(f'"{quote}" (chars {flag.start}-{flag.end})', width=width - 8)
            lines.extend(f"        {line}" for line in wrapped)
    else:
        lines.append("  Red flags: none")
    if result.top_terms:
        terms = ", ".join(f"{t.term} ({t.weight:+.2f})" for t in result.top_terms)
        lines.extend(
            textwrap.wrap(
                f"Terms that weighed most: {terms}", width=width, initial_indent="  ", subsequent_indent="    "
            )
        )
    lines.append(f"  Model {result.model}. A risk warning for a human reviewer, not a verdict.")
    return "\n".join(lines)


class ResultWriter:
    """Write result records to a stream or a file in one format.

    Use as a context manager; call :meth:`write` per record. Streaming formats
    (jsonl, csv, card) written to a stream (standard output, a pipe) are
    flushed after every record, so a reader downstream sees each row at once.
    Written to a file, they are flushed every ``FLUSH_ROWS`` records, or with
    the first record after ``FLUSH_SECONDS``, and on leaving: one flush per
    record cost more than scoring a short text. :meth:`durable` says how much
    of the file is flushed, so a checkpoint never records a row the file may
    lack.
    """

    FLUSH_SECONDS = 0.25
    FLUSH_ROWS = 32

    def __init__(self, fmt: str, stream: IO[str] | None = None, path: Path | None = None, append: bool = False) -> None:
        if fmt not in FORMATS:
            raise RenderError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
        self.fmt = fmt
        self.path = path
        self.append = append
        self._stream = stream
        self._own: IO[str] | None = None
        self._buffer: list[dict[str, Any]] = []
        self._csv: csv.DictWriter[str] | None = None
        self._row = io.StringIO()  # a CSV row is written here first, then to the output
        self._columns: list[str] | None = None
        self._written = 0  # bytes of the output file (UTF-8), counted: TextIOWrapper.tell() is slow
        self._durable = 0  # of which flushed
        self._last_flush = time.monotonic()
        self._unflushed = 0  # records since the last flush
        self.count = 0

    def __enter__(self) -> ResultWriter:
        if self.path is not None and self.fmt in ("jsonl", "csv", "card"):
            exists = self.append and self.path.exists() and self.path.stat().st_size > 0
            self._own = open(self.path, "a" if self.append else "w", encoding="utf-8", newline="")
            self._stream = self._own
            self._written = self._durable = self.path.stat().st_size if self.append else 0
            if exists and self.fmt == "csv":
                with open(self.path, encoding="utf-8", newline="") as handle:
                    self._columns = next(csv.reader(handle), None)
        return self

    def write(self, record: dict[str, Any], result: Result | None = None) -> None:
        """Write one record (``result`` is used by the card format)."""
        self.count += 1
        if self.fmt == "jsonl":
            self._emit(json.dumps(record, ensure_ascii=False) + "\n")
        elif self.fmt == "csv":
            flat = flatten(record)
            if self._csv is None:
                columns = self._columns or list(flat)
                self._csv = csv.DictWriter(self._row, fieldnames=columns, extrasaction="ignore")
                if self._columns is None:
                    self._csv.writeheader()
            self._csv.writerow(flat)
            self._emit(self._row.getvalue())
            self._row.seek(0)
            self._row.truncate()
        elif self.fmt == "card":
            text = render_card(result) if result is not None else json.dumps(record, ensure_ascii=False)
            self._emit(("\n" if self.count > 1 else "") + text + "\n")
        else:
            self._buffer.append(record)

    def _emit(self, text: str) -> None:
        assert self._stream is not None
        self._stream.write(text)
        if self._own is not None:
            self._written += len(text.encode("utf-8"))
        self._unflushed += 1
        if (
            self._own is None
            or self._unflushed >= self.FLUSH_ROWS
            or time.monotonic() - self._last_flush >= self.FLUSH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """Push what was written to the file (or stream)."""
        if self._stream is not None:
            self._stream.flush()
        self._durable = self._written
        self._last_flush = time.monotonic()
        self._unflushed = 0

    def tell(self) -> int | None:
        """Bytes written to the output file so far (None when writing to a stream)."""
        return self._written if self._own is not None else None

    def durable(self) -> int | None:
        """Bytes of the output file known to be flushed (None when writing to a stream)."""
        return self._durable if self._own is not None else None

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.fmt in ("json", "xlsx", "parquet", "html"):
                self._finish()
            elif self._stream is not None:
                self.flush()
        finally:
            if self._own is not None:
                self._own.close()

    def _finish(self) -> None:
        if self.fmt == "json":
            text = json.dumps(self._buffer, ensure_ascii=False, indent=2) + "\n"
            if self.path is not None:
                _atomic_write_text(self.path, text)
            else:
                assert self._stream is not None
                self._stream.write(text)
            return
        if self.fmt == "html":
            from scanner.report import render_report

            html = render_report(self._buffer)
            if self.path is not None:
                _atomic_write_text(self.path, html)
            else:
                assert self._stream is not None
                self._stream.write(html)
            return
        import pandas as pd

        frame = pd.DataFrame(
            [flatten(r) for r in self._buffer], columns=list(FLAT_FIELDS) if not self._buffer else None
        )
        if self.path is None:
            raise RenderError(f"The {self.fmt} format needs a file: use --out results.{self.fmt}.")
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        if self.fmt == "xlsx":
            frame.to_excel(tmp, index=False, engine="openpyxl")
        else:
            frame.to_parquet(tmp, index=False)
        tmp.replace(self.path)


def finish_journal(journal: Path, fmt: str, path: Path, rows_per_part: int = 50_000) -> int:
    """Render a batch's journal (JSONL records) into its final format at ``path``, then remove it.

    ``fmt == "parquet-dataset"`` writes a partitioned Parquet dataset into the folder ``path``
    (``part-00000.parquet``, … of ``rows_per_part`` rows each).
    """
    if fmt == "parquet-dataset":
        return _journal_to_dataset(journal, path, rows_per_part)
    count = 0
    with ResultWriter(fmt, path=path) as writer, open(journal, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                writer.write(json.loads(line))
                count += 1
    journal.unlink()
    return count


def _journal_to_dataset(journal: Path, folder: Path, rows_per_part: int) -> int:
    import pandas as pd

    count, part = 0, 0
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal part, rows
        if rows:
            tmp = folder / f".part-{part:05d}.parquet.tmp"
            pd.DataFrame(rows).to_parquet(tmp, index=False)
            tmp.replace(folder / f"part-{part:05d}.parquet")
            part, rows = part + 1, []

    with open(journal, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                rows.append(flatten(json.loads(line)))
                count += 1
                if len(rows) >= rows_per_part:
                    flush()
    flush()
    journal.unlink()
    with contextlib.suppress(OSError):
        journal.parent.rmdir()  # the dataset's private _scan folder, now empty
    return count


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_results(results: Iterable[Result], fmt: str, stream: IO[str] | None = None, path: Path | None = None) -> int:
    """Write results in ``fmt`` to ``stream`` or ``path``; return how many."""
    with ResultWriter(fmt, stream=stream, path=path) as writer:
        for result in results:
            writer.write(result.to_dict(), result)
    return writer.count


def render_string(results: Iterable[Result], fmt: str) -> str:
    """Render results to a string (card, json, jsonl, csv, html)."""
    buffer = io.StringIO()
    write_results(results, fmt, stream=buffer)
    return buffer.getvalue()
