"""The label store: labelled documents imported for retraining, kept in ``SCANNER_HOME/labels``.

Layout:

- ``labels/index.json``: the batches, oldest first, each with its id, file,
  who imported it and when, from which files, how many records and its
  status (``pending`` until a retrain promotes or refuses it, then
  ``accepted`` or ``rejected``);
- ``labels/<batch id>.jsonl``: one record per document: ``id``, ``key`` (the
  sha256 of the whitespace-folded text), ``text``, ``label``, ``group``,
  ``source`` (file and line), ``imported_at``, ``who``.

A batch file is written first, then the index, each through a temporary
file and one rename; a batch file that the index does not list (left by a
crash between the two) is ignored. So the store always reads as the batches
the index lists, complete.

Rejected batches stay in the store for the record but are left out of
training and of the duplicate checks, so the same texts can be imported
again with corrected labels.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.atomic import write_text_atomic
from scanner.datasets import LabelledData, read_labelled
from scanner.errors import DataError
from scanner.registry import scanner_home, write_json_atomic

LABELS_DIR = "labels"
INDEX_FILE = "index.json"
STATUSES = ("pending", "accepted", "rejected")
HOLDOUT_SHARE = 5  # one text in five (by hash) is held out of training to judge retrained models


def text_key(text: str) -> str:
    """The sha256 of a text with its whitespace folded: the identity used for duplicates."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8", "surrogatepass")).hexdigest()


def is_holdout(key: str) -> bool:
    """Whether the text with this :func:`text_key` is held out of training (stable: chosen by the hash)."""
    return int(key[:8], 16) % HOLDOUT_SHARE == 0


@dataclass(frozen=True)
class Batch:
    """One import into the store."""

    id: str
    file: str
    imported_at: str
    who: str
    sources: list[str]
    n: int
    skipped: int
    status: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as in the index."""
        return {
            "id": self.id,
            "file": self.file,
            "imported_at": self.imported_at,
            "who": self.who,
            "sources": self.sources,
            "n": self.n,
            "skipped": self.skipped,
            "status": self.status,
        }


@dataclass(frozen=True)
class StoredLabel:
    """One labelled document in the store."""

    id: str
    key: str
    text: str
    label: str
    group: str | None
    source: str
    batch: str

    @property
    def holdout(self) -> bool:
        """Held out of training, used to compare a retrained model with the active one."""
        return is_holdout(self.key)


def labels_dir() -> Path:
    """Return ``SCANNER_HOME/labels``."""
    return scanner_home() / LABELS_DIR


def read_batches() -> list[Batch]:
    """Return the batches the index lists, oldest first.

    Raises
    ------
    DataError
        When the index is damaged.
    """
    index = labels_dir() / INDEX_FILE
    if not index.is_file():
        return []
    try:
        rows = json.loads(index.read_text(encoding="utf-8"))["batches"]
        return [Batch(**row) for row in rows]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{index} is damaged ({exc}). Restore it from a backup or remove {labels_dir()}.") from exc


def read_store(statuses: Sequence[str] = ("pending", "accepted")) -> list[StoredLabel]:
    """Return the stored labels of the batches with one of ``statuses``, in import order.

    Raises
    ------
    DataError
        When the index or a batch file is damaged or missing.
    """
    records: list[StoredLabel] = []
    for batch in read_batches():
        if batch.status not in statuses:
            continue
        path = labels_dir() / batch.file
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
            for line in lines:
                row = json.loads(line)
                records.append(
                    StoredLabel(
                        row["id"], row["key"], row["text"], row["label"], row.get("group"), row["source"], batch.id
                    )
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path} (batch {batch.id}) is missing or damaged ({exc}).") from exc
    return records


def as_labelled(records: Sequence[StoredLabel]) -> LabelledData:
    """Stored labels as :class:`LabelledData` (origins name the batch)."""
    return LabelledData(
        ids=[r.id for r in records],
        texts=[r.text for r in records],
        labels=[r.label for r in records],
        origins=[f"{r.source} (batch {r.batch})" for r in records],
        groups=[r.group for r in records],
    )


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_labels` did."""

    batch: Batch | None
    added: int
    duplicates: int


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers
        return "unknown"


def _write_lines_atomic(path: Path, lines: list[str]) -> None:
    write_text_atomic(path, "".join(line + "\n" for line in lines), parents=True)


def _write_index(batches: list[Batch]) -> None:
    write_json_atomic(labels_dir() / INDEX_FILE, {"batches": [b.to_dict() for b in batches]})


def import_labels(paths: Sequence[str | Path], *, now: _dt.datetime | None = None) -> ImportResult:
    """Validate labelled files and add them to the store as one ``pending`` batch.

    Parameters
    ----------
    paths : sequence of path
        Labelled data (see :func:`scanner.datasets.read_labelled`).

    Returns
    -------
    ImportResult
        The new batch (None when every text was already stored), how many
        records were added and how many duplicates were skipped.

    Raises
    ------
    DataError
        When the files have problems (every one listed, with file and line), or
        a text is already stored with another label (both named). Nothing is
        stored then.
    """
    data = read_labelled(list(paths))
    stored = {r.key: r for r in read_store()}
    now = now or _dt.datetime.now(_dt.UTC)
    imported_at = now.replace(microsecond=0).isoformat()
    who = _who()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    conflicts: list[str] = []
    duplicates = 0
    for ident, text, label, origin, group in zip(
        data.ids, data.texts, data.labels, data.origins, data.groups or [None] * len(data), strict=True
    ):
        key = text_key(text)
        previous = stored.get(key)
        if previous is not None and previous.label != label:
            conflicts.append(
                f"{origin}: labelled {label!r}, but the same text is stored as {previous.label!r} "
                f"({previous.source}, batch {previous.batch})."
            )
            continue
        if previous is not None or key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append(
            {
                "id": ident,
                "key": key,
                "text": text,
                "label": label,
                "group": group,
                "source": origin,
                "imported_at": imported_at,
                "who": who,
            }
        )
    if conflicts:
        raise DataError(
            f"{len(conflicts)} text(s) conflict with stored labels; nothing was stored. Fix the labels "
            "(or re-import after the stored batch is rejected):\n" + "\n".join(conflicts)
        )
    if not rows:
        return ImportResult(None, 0, duplicates)
    folder = labels_dir()
    folder.mkdir(parents=True, exist_ok=True)
    batches = read_batches()
    content = hashlib.sha256("".join(f"{r['key']}\t{r['label']}\n" for r in rows).encode()).hexdigest()[:8]
    batch_id = f"{now.strftime('%Y-%m-%dT%H%M%SZ')}-{content}"
    taken = {b.id for b in batches}
    # The same labels again within a second can only follow a rejection (rejected batches are not
    # duplicates): the new batch is a new record, so it gets its own id.
    copy = 1
    while batch_id in taken:
        copy += 1
        batch_id = f"{now.strftime('%Y-%m-%dT%H%M%SZ')}-{content}-{copy}"
    batch = Batch(
        id=batch_id,
        file=f"{batch_id}.jsonl",
        imported_at=imported_at,
        who=who,
        sources=[str(p) for p in paths],
        n=len(rows),
        skipped=duplicates,
        status="pending",
    )
    _write_lines_atomic(folder / batch.file, [json.dumps(r, ensure_ascii=False) for r in rows])
    _write_index([*batches, batch])
    return ImportResult(batch, len(rows), duplicates)


def set_status(batch_ids: Sequence[str], status: str) -> None:
    """Mark batches ``accepted`` or ``rejected`` (the index is rewritten atomically)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    wanted = set(batch_ids)
    batches = [Batch(**{**b.to_dict(), "status": status}) if b.id in wanted else b for b in read_batches()]
    _write_index(batches)
