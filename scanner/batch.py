"""Batch scoring: many documents, folders and spreadsheets of filings.

A batch is a stream of jobs (a document file, standard input, or a row of a
table) turned into a stream of results. A job that fails becomes a result
with ``error`` set; the batch carries on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.documents import SUPPORTED_SUFFIXES, ReadLimits, iter_document_paths, read_bytes, read_document
from scanner.errors import DataError, ScannerError
from scanner.model import Model
from scanner.scoring import Result, error_result, score_text

TABLE_SUFFIXES = (".csv", ".jsonl", ".xlsx", ".parquet")


@dataclass(frozen=True)
class Job:
    """One thing to score: a document path, stdin, or a text from a table row."""

    id: str
    path: Path | None = None
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _iter_table(path: Path, text_column: str | None, id_column: str | None) -> Iterator[Job]:
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        elif suffix == ".jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        elif suffix == ".xlsx":
            frame = pd.read_excel(path, dtype=str, keep_default_na=False)
        else:
            frame = pd.read_parquet(path)
    except Exception as exc:  # pandas raises many types for malformed files
        raise DataError(f"{path}: cannot read it as a table ({exc}).") from exc
    column = text_column or "text"
    if column not in frame.columns:
        raise DataError(
            f"{path}: no column {column!r} (columns: {', '.join(map(str, frame.columns))}). "
            "Name the text column with --text-column."
        )
    if id_column and id_column not in frame.columns:
        raise DataError(f"{path}: no id column {id_column!r} (columns: {', '.join(map(str, frame.columns))}).")
    for index, row in enumerate(frame.to_dict("records")):
        value = row[column]
        text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
        ident = str(row[id_column]) if id_column else f"{path.name}:{index + 1}"
        extra = {str(k): v for k, v in row.items() if k != column}
        yield Job(id=ident, text=text, extra=extra)


def iter_jobs(inputs: list[str], *, text_column: str | None = None, id_column: str | None = None) -> Iterator[Job]:
    """Expand command-line inputs into jobs.

    Parameters
    ----------
    inputs : list of str
        Document files, folders (scanned recursively), ``-`` for standard
        input, or tables (.csv .jsonl .xlsx .parquet) scored row by row.
    text_column, id_column : str, optional
        Columns of a table holding the text and the id (defaults: ``text``,
        and ``<file>:<row>``).

    Yields
    ------
    Job
    """
    for raw in inputs:
        if raw == "-":
            yield Job(id="-")
            continue
        path = Path(raw)
        if path.is_dir():
            for doc in iter_document_paths(path):
                yield Job(id=str(doc), path=doc)
        elif path.suffix.lower() in TABLE_SUFFIXES and path.is_file():
            yield from _iter_table(path, text_column, id_column)
        else:
            yield Job(id=str(path), path=path)


def score_job(job: Job, model: Model, *, limits: ReadLimits | None = None, explain: bool = True) -> Result:
    """Score one job; a failure is a result with ``error`` set, never an exception."""
    limits = limits or ReadLimits()
    try:
        if job.text is not None:
            if not job.text.strip():
                return error_result(job.id, "empty text", model)
            return score_text(job.text, model, doc_id=job.id, explain=explain)
        if job.path is None:
            document = read_bytes(sys.stdin.buffer.read(), name="-", suffix=".txt", limits=limits)
        else:
            if job.path.suffix.lower() not in SUPPORTED_SUFFIXES and job.path.is_file():
                pass  # read_document decides whether an unknown suffix is text
            document = read_document(job.path, limits=limits, doc_id=job.id)
        return score_text(document.text, model, doc_id=job.id, sha256=document.sha256, explain=explain)
    except ScannerError as exc:
        return error_result(job.id, str(exc), model)
    except (OSError, ValueError, MemoryError, RecursionError) as exc:
        return error_result(job.id, f"{job.id}: could not be scored ({type(exc).__name__}: {exc})", model)


def score_jobs(
    jobs: Iterator[Job], model: Model, *, limits: ReadLimits | None = None, explain: bool = True
) -> Iterator[tuple[Job, Result]]:
    """Score jobs one after another, in order."""
    for job in jobs:
        yield job, score_job(job, model, limits=limits, explain=explain)
