"""Batch scoring on a Dask cluster (the optional ``dask`` extra).

The Dask engine runs the same pure core as the local engine,
:func:`scanner.batch.score_batch`, on a cluster's workers: jobs are cut into
chunks, each chunk is a task, and results come back in job order, so the
output, the error rows, the summary and ``--resume`` are those of the local
engine. Dask retries a task whose worker died, and since the client takes
exactly one result per chunk in order, nothing is missing or doubled.

What is shipped to workers: the model, once, as the bytes of its files
(the argument of one task that later tasks depend on, so Dask recomputes
it if the worker holding it dies); each worker writes them to a private
temporary folder and loads them with :func:`scanner.model.load_model`, which
checks every file against the sha256 in the manifest, then keeps the model
for later tasks. Jobs carry document paths (workers read the documents, so
the paths must be readable on the workers: a shared filesystem) or, for
table rows, the text itself.

For pipelines that already use Dask, :func:`score_bag` and
:func:`score_dataframe` score a dask bag of texts or a dask dataframe.
"""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from scanner.batch import Job, Outcome, score_batch
from scanner.errors import ScannerError
from scanner.model import MANIFEST, MODEL_FILES, Model, load_model

INSTALL_HINT = "The Dask engine needs Dask: pip install 'crypto-risk-scanner[dask]'"
_LOADED: dict[str, Model] = {}


class EngineError(ScannerError):
    """The Dask engine cannot run (not installed, or the cluster is unreachable)."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise EngineError(f"{INSTALL_HINT} (or use the default --engine local).") from exc
    return distributed


def model_payload(model: Model) -> dict[str, Any]:
    """The model as bytes, to ship to workers: ``{"sha256": …, "files": {name: bytes}}``."""
    files = {name: (model.path / name).read_bytes() for name in (*MODEL_FILES, MANIFEST)}
    return {"sha256": hashlib.sha256(files[MANIFEST]).hexdigest(), "files": files}


def load_payload(payload: dict[str, Any]) -> Model:
    """Load (once per worker process) a model shipped by :func:`model_payload`, verifying its files."""
    key = payload["sha256"]
    if key not in _LOADED:
        if hashlib.sha256(payload["files"][MANIFEST]).hexdigest() != key:
            raise EngineError("The model shipped to this worker does not match its manifest checksum.")
        folder = Path(tempfile.mkdtemp(prefix="scanner-model-"))
        for name, data in payload["files"].items():
            (folder / name).write_bytes(data)
        _LOADED[key] = load_model(folder)  # checks every array file against the manifest
    return _LOADED[key]


def _identity(value: Any) -> Any:
    return value


def _score_chunk(payload: dict[str, Any], jobs: list[Job], options: dict[str, Any]) -> list[Outcome]:
    return score_batch(jobs, load_payload(payload), **options)


class DaskEngine:
    """Score batches on a Dask cluster: an existing one (``scheduler``) or a new LocalCluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); by default a
        LocalCluster of ``workers`` single-threaded processes on this machine.
    workers : int, optional
        Workers of the LocalCluster (default: all cores).
    chunk : int
        Jobs per task.
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None, chunk: int = 8) -> None:
        distributed = _distributed()
        self.chunk = chunk
        self.cluster = None
        try:
            if scheduler:
                self.client = distributed.Client(scheduler, timeout="30s")
            else:
                from scanner.batch import default_workers

                self.cluster = distributed.LocalCluster(
                    n_workers=workers or default_workers(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
                self.client = distributed.Client(self.cluster)
        except OSError as exc:
            raise EngineError(f"Cannot reach the Dask scheduler {scheduler}: {exc}. Check the address.") from exc

    def run(self, jobs: Sequence[Job], model: Model, **options: Any) -> Iterator[Outcome]:
        """Yield one outcome per job, in order; a bounded number of tasks is in flight at a time."""
        # The model goes to the cluster as a task's argument rather than scattered data: the scheduler
        # keeps the task, so if the worker holding the model dies Dask computes it again (scattered
        # data has no lineage and would be lost with its last holder). pure=False: a fresh key per run.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ll]arge object.*", category=UserWarning)
            payload = self.client.submit(_identity, model_payload(model), pure=False)
        chunks = [list(jobs[i : i + self.chunk]) for i in range(0, len(jobs), self.chunk)]
        window = max(4, 4 * len(self.client.scheduler_info().get("workers", {})))
        pending: deque[Any] = deque()
        submitted = 0
        try:
            while submitted < len(chunks) or pending:
                while submitted < len(chunks) and len(pending) < window:
                    future = self.client.submit(
                        _score_chunk, payload, chunks[submitted], options, retries=3, pure=False
                    )
                    pending.append(future)
                    submitted += 1
                yield from pending.popleft().result()
        finally:  # an interrupted run (Ctrl-C, a writer's error) leaves nothing running on the cluster
            self.client.cancel([*pending, payload])

    def close(self) -> None:
        """Close the client, and the LocalCluster if this engine started it."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _partition_records(texts: list[Any], payload: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
    jobs = []
    for index, item in enumerate(texts):
        if isinstance(item, tuple):
            jobs.append(Job(id=str(item[0]), text=str(item[1])))
        else:
            jobs.append(Job(id=str(index), text=str(item)))
    return [outcome.result.to_dict() for outcome in score_batch(jobs, load_payload(payload), **options)]


def score_bag(bag: Any, model: Model | None = None, *, explain: bool = True) -> Any:
    """Score a dask bag of texts, or of ``(id, text)`` pairs; return a bag of result records.

    Parameters
    ----------
    bag : dask.bag.Bag
    model : Model, optional
        By default the active model (see :mod:`scanner.registry`).
    explain : bool
        Name the top terms.
    """
    from scanner.registry import resolve_model

    payload = model_payload(model or resolve_model())
    options = {"explain": explain, "timeout": None, "signature": False}
    return bag.map_partitions(_partition_records, payload, options)


def score_dataframe(
    frame: Any, *, text_column: str = "text", id_column: str | None = None, model: Model | None = None
) -> Any:
    """Score a dask dataframe of filings; return a dask dataframe of flattened result rows.

    The rows carry the contract's fields flattened as in CSV output (see
    :func:`scanner.render.flatten`), in the input's order.
    """
    import pandas as pd

    from scanner.registry import resolve_model
    from scanner.render import FLAT_FIELDS, flatten

    payload = model_payload(model or resolve_model())
    options = {"explain": True, "timeout": None, "signature": False}

    def score_part(part: pd.DataFrame) -> pd.DataFrame:
        ids = part[id_column].astype(str) if id_column else part.index.astype(str)
        records = _partition_records(list(zip(ids, part[text_column].astype(str), strict=True)), payload, options)
        return pd.DataFrame([flatten(r) for r in records], columns=list(FLAT_FIELDS), index=part.index)

    meta = pd.DataFrame({name: pd.Series(dtype="object") for name in FLAT_FIELDS})
    return frame.map_partitions(score_part, meta=meta)
