"""Batch scoring: folders and spreadsheets of filings, in parallel, resumable.

A batch is a list of jobs (a document file, standard input, or a row of a
table), sorted by id, scored by a pure function (:func:`score_batch`) that
an engine runs somewhere (here: this process or a local process pool), and
written in id order as results arrive. A job that fails becomes a result
with ``error`` set; the batch carries on.

Each output row also carries ``duplicate_of`` (an earlier document with the
same sha256: scored once, the copy reports the first one's scores) and
``near_duplicate_of`` / ``near_duplicate_similarity`` (the most similar
earlier document by MinHash over character 5-grams, above a threshold).

With an output file, a checkpoint beside it (``OUT.progress``) records each
finished row and the output's length after it, so ``--resume`` after a
crash or kill truncates any half-written row and carries on without scoring
a document twice or missing one; formats written at the end (.json, .xlsx,
.parquet, .html) are journalled in ``OUT.journal.jsonl`` meanwhile.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from scanner.dedupe import DEFAULT_THRESHOLD, NearDuplicateIndex, minhash
from scanner.documents import ReadLimits, iter_document_paths, read_bytes, read_document
from scanner.errors import DataError, ScannerError
from scanner.model import Model
from scanner.scoring import Result, analyze_text, error_result

TABLE_SUFFIXES = (".csv", ".jsonl", ".xlsx", ".parquet")
DEFAULT_TIMEOUT = 120.0
STREAMED_FORMATS = ("jsonl", "csv")
# Worker processes pay off only for a batch that takes one process longer than starting them (about
# 0.4 s on a 2-core machine): a smaller batch is scored here. The estimate is rough on purpose:
# half a millisecond a document, plus its bytes at 4 MB/s (text scores faster, PDF reads slower).
POOL_WORTH_SECONDS = 0.8
_SECONDS_PER_DOCUMENT = 0.0005
_BYTES_PER_SECOND = 4e6


@dataclass(frozen=True)
class Job:
    """One thing to score: a document path, stdin, or a text from a table row."""

    id: str
    path: Path | None = None
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    stdin: bytes | None = None


@dataclass(frozen=True)
class Outcome:
    """What scoring one job gives: its result, size in bytes and MinHash signature."""

    result: Result
    size: int = 0
    signature: np.ndarray | None = None


@dataclass
class Summary:
    """Counts and timing of a finished (or interrupted) batch."""

    documents: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    resumed: int = 0
    bytes: int = 0
    elapsed: float = 0.0

    def add(self, result: Result, size: int) -> None:
        """Count one result."""
        self.documents += 1
        self.bytes += size
        if result.error:
            self.errors += 1
        else:
            self.levels[result.risk_level or "low"] += 1
            if result.category:
                self.categories[result.category] += 1

    def lines(self) -> list[str]:
        """A human summary, one line each."""
        rate = self.documents / self.elapsed if self.elapsed > 0 else 0.0
        megabytes = self.bytes / 1e6
        levels = ", ".join(f"{level} {self.levels.get(level, 0)}" for level in ("high", "medium", "low"))
        categories = ", ".join(f"{k} {v}" for k, v in sorted(self.categories.items())) or "none"
        lines = [
            f"{self.documents} documents: {levels}; {self.errors} errors",
            f"categories: {categories}",
            f"duplicates {self.duplicates}, near-duplicates {self.near_duplicates}"
            + (f", {self.resumed} kept from the interrupted run" if self.resumed else ""),
            f"{self.elapsed:.1f} s, {rate:.1f} documents/s, {megabytes / self.elapsed if self.elapsed > 0 else 0:.2f} MB/s",
        ]
        return lines


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
    width = len(str(len(frame)))
    for index, row in enumerate(frame.to_dict("records")):
        value = row[column]
        text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
        # Row numbers are zero-padded so that sorting by id keeps the table's order.
        ident = str(row[id_column]) if id_column else f"{path.name}:{index + 1:0{width}d}"
        extra = {str(k): _plain(v) for k, v in row.items() if k != column}
        yield Job(id=ident, text=text, extra=extra)


def _plain(value: object) -> object:
    """A JSON-ready cell value (numpy scalars and NaN from pandas)."""
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        return value.item()  # type: ignore[union-attr]
    return value


def iter_jobs(inputs: Sequence[str], *, text_column: str | None = None, id_column: str | None = None) -> Iterator[Job]:
    """Expand command-line inputs into jobs, in the order given.

    Parameters
    ----------
    inputs : sequence of str
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


def plan_jobs(inputs: Sequence[str], *, text_column: str | None = None, id_column: str | None = None) -> list[Job]:
    """Return the jobs of ``inputs`` sorted by id (stable), standard input read once."""
    jobs = list(iter_jobs(inputs, text_column=text_column, id_column=id_column))
    jobs = [replace(job, stdin=sys.stdin.buffer.read()) if job.id == "-" and job.path is None else job for job in jobs]
    return sorted(jobs, key=lambda job: job.id)


class _Timeout(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _Timeout


def score_job(
    job: Job,
    model: Model,
    *,
    limits: ReadLimits | None = None,
    explain: bool = True,
    timeout: float | None = None,
    signature: bool = False,
) -> Outcome:
    """Score one job; a failure is a result with ``error`` set, never an exception.

    Parameters
    ----------
    job : Job
    model : Model
    limits : ReadLimits, optional
    explain : bool
        Name the top terms.
    timeout : float, optional
        Seconds allowed for the document (enforced with SIGALRM in the main thread).
    signature : bool
        Also compute the MinHash signature for near-duplicate detection.
    """
    limits = limits or ReadLimits()
    size = 0
    use_alarm = bool(timeout) and hasattr(signal, "setitimer") and _main_thread()
    previous = signal.signal(signal.SIGALRM, _on_alarm) if use_alarm else None
    if use_alarm:
        signal.setitimer(signal.ITIMER_REAL, float(timeout))  # type: ignore[arg-type]
    try:
        if job.text is not None:
            size = len(job.text.encode("utf-8", "surrogatepass"))
            if not job.text.strip():
                return Outcome(error_result(job.id, "empty text", model), size)
            text, sha = job.text, hashlib.sha256(job.text.encode("utf-8", "surrogatepass")).hexdigest()
        else:
            if job.path is None:
                document = read_bytes(job.stdin or b"", name="-", suffix="", limits=limits)
            else:
                document = read_document(job.path, limits=limits, doc_id=job.id)
            text, sha = document.text, document.sha256
            size = len(text.encode("utf-8", "surrogatepass"))
        result, prepared = analyze_text(text, model, doc_id=job.id, sha256=sha, explain=explain)
        outcome = Outcome(result, size, minhash(prepared) if signature else None)
        if len(text) > _TRIM_AFTER_CHARS:
            _release_memory()
        return outcome
    except _Timeout:
        return Outcome(
            error_result(job.id, f"{job.id}: took longer than {timeout:g} s (--timeout); skipped", model), size
        )
    except ScannerError as exc:
        return Outcome(error_result(job.id, str(exc), model), size)
    except (OSError, ValueError, MemoryError, RecursionError, UnicodeError) as exc:
        return Outcome(
            error_result(job.id, f"{job.id}: could not be scored ({type(exc).__name__}: {exc})", model), size
        )
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


_TRIM_AFTER_CHARS = 200_000


def _release_memory() -> None:
    """Give the heap memory a long document used back to the system (glibc keeps freed arrays).

    Without it a worker's resident size stays at the high-water mark of the largest filing so far.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only
        return libc
    except (OSError, AttributeError):
        return None


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def score_batch(
    jobs: Sequence[Job],
    model: Model,
    *,
    limits: ReadLimits | None = None,
    explain: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    signature: bool = True,
) -> list[Outcome]:
    """Score a batch of jobs: the pure core every engine runs.

    Returns one :class:`Outcome` per job, in the same order.
    """
    return [score_job(job, model, limits=limits, explain=explain, timeout=timeout, signature=signature) for job in jobs]


# --- the local process-pool engine -------------------------------------------------------------

_WORKER: dict[str, Any] = {}
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker(model_path: str, options: dict[str, Any]) -> None:
    from scanner.model import load_model

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _WORKER["model"] = load_model(model_path)
    _WORKER["options"] = options


def _work(jobs: list[Job]) -> list[Outcome]:
    return score_batch(jobs, _WORKER["model"], **_WORKER["options"])


def _chunks(items: Sequence[Job], size: int) -> Iterator[list[Job]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def start_pool(model: Model, workers: int, options: dict[str, Any]) -> Any:
    """Start a pool of ``workers`` scoring processes, each loading ``model`` once.

    Workers start in the background: start the pool before other preparation so
    that their start-up overlaps it.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    # Each worker is one core's worth: BLAS thread pools inside workers would fight over the
    # cores (OpenBLAS threads spin), which made two workers slower than one. Spawned workers
    # read these variables when they import numpy.
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    try:
        return context.Pool(workers, initializer=_init_worker, initargs=(str(model.path), options))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_local(
    jobs: Sequence[Job], model: Model, *, workers: int = 1, chunk: int = 4, pool: Any = None, **options: Any
) -> Iterator[Outcome]:
    """Score ``jobs`` in this process, or in a pool of processes, yielding outcomes in order.

    Parameters
    ----------
    jobs : sequence of Job
    model : Model
    workers : int
        Processes to use when no ``pool`` is given (1: this process).
    chunk : int
        Jobs sent to a worker at a time.
    pool : multiprocessing.pool.Pool, optional
        A pool from :func:`start_pool` (left open for the caller to close).
    **options
        Passed to :func:`score_batch`.
    """
    if pool is None and (workers <= 1 or len(jobs) <= chunk):
        for job in jobs:
            yield from score_batch([job], model, **options)
        return
    own = pool is None
    pool = pool or start_pool(model, workers, options)
    try:
        for outcomes in pool.imap(_work, _chunks(jobs, chunk)):
            yield from outcomes
    finally:
        if own:
            pool.terminate()


# --- checkpoint, for --resume --------------------------------------------------------------------


class Checkpoint:
    """The ``OUT.progress`` file: one line per finished row, written after the row itself.

    Each line holds the row's id, the output's length in bytes once the row
    was written, its sha256 and its MinHash signature, so a resumed run can
    truncate a half-written row and rebuild its duplicate indexes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None
        self._durable: Callable[[], int | None] | None = None
        self._pending: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        """Return the complete entries recorded so far (a torn last line is ignored)."""
        if not self.path.is_file():
            return []
        entries = []
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    break
        return entries

    def open(self, keep: int, durable: Callable[[], int | None] | None = None) -> None:
        """Open for appending, keeping the first ``keep`` entries.

        ``durable``, when given, says how many bytes of the output are flushed
        (:meth:`scanner.render.ResultWriter.durable`): an entry is written only
        once its row is, so that after a crash every recorded row is in the
        output. Without it each entry is written at once.
        """
        entries = self.read()[:keep]
        with open(self.path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(e) + "\n" for e in entries)
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across records
        self._durable = durable
        self._pending = []

    def record(self, doc_id: str, end: int, sha256: str | None, signature: np.ndarray | None) -> None:
        """Add one finished row (written out as soon as the row itself is flushed)."""
        self._pending.append(
            {
                "id": doc_id,
                "end": end,
                "sha256": sha256,
                "minhash": signature.tolist() if signature is not None else None,
            }
        )
        self._commit()

    def _commit(self) -> None:
        limit = self._durable() if self._durable is not None else None
        ready = 0
        while ready < len(self._pending) and (limit is None or self._pending[ready]["end"] <= limit):
            ready += 1
        if ready:
            entries = self._pending[:ready]
            del self._pending[:ready]  # first: an interruption while writing must not write them twice
            self._handle.write("".join(json.dumps(entry) + "\n" for entry in entries))
            self._handle.flush()

    def close(self, *, remove: bool) -> None:
        """Close (recording the rows the output holds by now); remove the file when the batch finished."""
        if self._handle is not None:
            if not remove:
                self._commit()
            self._handle.close()
            self._handle = None
        if remove:
            self.path.unlink(missing_ok=True)


def _record(result: Result, job: Job, extra: dict[str, Any]) -> dict[str, Any]:
    record = result.to_dict()
    record.update(extra)
    record.update({k: v for k, v in job.extra.items() if k not in record})
    return record


def run_batch(
    jobs: Sequence[Job],
    model: Model,
    write: Callable[[dict[str, Any], Result], int | None],
    *,
    workers: int = 1,
    checkpoint: Checkpoint | None = None,
    done: list[dict[str, Any]] | None = None,
    near_threshold: float = DEFAULT_THRESHOLD,
    on_result: Callable[[Result], None] | None = None,
    engine: Any = None,
    **options: Any,
) -> Summary:
    """Score ``jobs`` and hand each record to ``write`` in order.

    Parameters
    ----------
    jobs : sequence of Job
        Sorted by id (see :func:`plan_jobs`).
    model : Model
    write : callable
        ``write(record, result)``: writes one row and returns the output's
        length after it (for the checkpoint), or None.
    workers : int
        Processes to score in (1: this process).
    checkpoint : Checkpoint, optional
        Where finished rows are recorded.
    done : list of dict, optional
        Checkpoint entries of rows already written by an interrupted run:
        those jobs are skipped and their ids, hashes and signatures restored.
    near_threshold : float
        Minimum estimated Jaccard similarity for ``near_duplicate_of``.
    on_result : callable, optional
        Called with each result (progress display).
    engine : object, optional
        Where to score instead of local processes: anything with
        ``run(jobs, model, **options) -> Iterator[Outcome]`` in job order,
        such as :class:`scanner.dask_engine.DaskEngine`.
    **options
        Passed to :func:`score_batch` (limits, explain, timeout).

    Returns
    -------
    Summary
    """
    started = time.perf_counter()
    summary = Summary()
    first_by_sha: dict[str, str] = {}
    index = NearDuplicateIndex(near_threshold)
    finished = {entry["id"] for entry in done or []}
    for entry in done or []:
        if entry.get("sha256"):
            first_by_sha.setdefault(entry["sha256"], entry["id"])
        index.add(entry["id"], np.asarray(entry["minhash"], dtype=np.uint32) if entry.get("minhash") else None)
    summary.resumed = len(finished)
    pending = [job for job in jobs if job.id not in finished]

    options = {"signature": True, **options}
    parallel = engine is None and workers > 1 and len(pending) > 4 and _worth_a_pool(pending)
    pool = start_pool(model, workers, options) if parallel else None
    try:
        return _run(
            pending, model, write, summary, first_by_sha, index, checkpoint, on_result, pool, started, options, engine
        )
    finally:
        if pool is not None:
            pool.terminate()


def _run(
    pending: list[Job],
    model: Model,
    write: Callable[[dict[str, Any], Result], int | None],
    summary: Summary,
    first_by_sha: dict[str, str],
    index: NearDuplicateIndex,
    checkpoint: Checkpoint | None,
    on_result: Callable[[Result], None] | None,
    pool: Any,
    started: float,
    options: dict[str, Any],
    engine: Any = None,
) -> Summary:
    results_by_sha: dict[str, Result] = {}
    # Exact duplicates are found before scoring, from the bytes, so each is scored once
    # (the worker pool starts up meanwhile).
    first_for_digest = dict(first_by_sha)
    copy_of: dict[str, tuple[str, str]] = {}
    scored_once: list[Job] = []
    for job in pending:
        digest = _job_sha256(job)
        if digest is not None and digest in first_for_digest:
            copy_of[job.id] = (first_for_digest[digest], digest)
            continue
        scored_once.append(job)
        if digest is not None:
            first_for_digest[digest] = job.id
    wanted = {digest for _original, digest in copy_of.values()}  # keep only results that copies will reuse
    if engine is not None:
        outcomes = engine.run(scored_once, model, **options)
    else:
        outcomes = run_local(scored_once, model, pool=pool, **options)
    for job in pending:
        extra: dict[str, Any] = {"duplicate_of": None, "near_duplicate_of": None, "near_duplicate_similarity": None}
        if job.id in copy_of:
            # A copy of an earlier document: its scores, under its own id.
            original, digest = copy_of[job.id]
            source = results_by_sha.get(digest)
            if source is None:  # scored by the interrupted run, or unreadable: score the copy (same result)
                source = score_batch([job], model, **{**options, "signature": False})[0].result
            result = replace(source, id=job.id)
            extra["duplicate_of"] = original
            summary.duplicates += 1
            size, signature = 0, None
        else:
            outcome = next(outcomes)
            result, size, signature = outcome.result, outcome.size, outcome.signature
            if not result.error:
                near = index.query(signature)
                if near:
                    extra["near_duplicate_of"], extra["near_duplicate_similarity"] = near
                    summary.near_duplicates += 1
                index.add(job.id, signature)
                if result.sha256 in wanted:
                    results_by_sha.setdefault(result.sha256, result)
        end = write(_record(result, job, extra), result)
        summary.add(result, size)
        if checkpoint is not None and end is not None:
            checkpoint.record(job.id, end, result.sha256 if not result.error else None, signature)
        if on_result is not None:
            on_result(result)
    summary.elapsed = time.perf_counter() - started
    return summary


def _worth_a_pool(jobs: Sequence[Job]) -> bool:
    """Whether scoring ``jobs`` here would take longer than starting worker processes (see POOL_WORTH_SECONDS)."""
    seconds = 0.0
    for job in jobs:
        size = 0
        if job.text is not None:
            size = len(job.text)
        elif job.path is not None:
            with contextlib.suppress(OSError):
                size = job.path.stat().st_size
        seconds += _SECONDS_PER_DOCUMENT + size / _BYTES_PER_SECOND
        if seconds > POOL_WORTH_SECONDS:
            return True
    return False


def _job_sha256(job: Job) -> str | None:
    """sha256 of a job's bytes (a file's, or a table text's UTF-8), or None when unknown."""
    if job.text is not None:
        return hashlib.sha256(job.text.encode("utf-8", "surrogatepass")).hexdigest() if job.text.strip() else None
    if job.path is None:
        return None
    try:
        path = job.path
        if not path.is_file() or path.stat().st_size > ReadLimits().max_bytes:
            return None
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
