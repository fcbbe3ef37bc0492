"""Reading labelled data: CSV, JSONL, XLSX, Parquet or ``DIR/<label>/`` folders.

Every problem in a set of files (unknown labels, missing columns, empty
texts, unreadable paths, one text given two labels) is collected and raised
together as one :class:`DataError` naming each file and line, so an analyst
can fix them all in one go and nothing is stored from a bad batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.documents import SUPPORTED_SUFFIXES, iter_document_paths, read_document
from scanner.errors import DataError, DocumentError

LABELS = ("legitimate", "illegal_fundraising", "pseudo_innovation")
TABLE_SUFFIXES = (".csv", ".jsonl", ".json", ".xlsx", ".parquet")
MAX_REPORTED = 30


def normalize_label(value: object) -> str | None:
    """Return the canonical label for ``value``, None when blank, "" when unknown."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from pandas
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    return text if text in LABELS else ""


@dataclass(frozen=True)
class LabelledData:
    """Labelled documents ready for training or evaluation."""

    ids: list[str]
    texts: list[str]
    labels: list[str]
    origins: list[str]
    groups: list[str | None] = field(default_factory=list)
    skipped_blank: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def sha256(self) -> str:
        """A digest of the labelled texts, recorded in model manifests."""
        digest = hashlib.sha256()
        for text, label in zip(self.texts, self.labels, strict=False):
            digest.update(label.encode())
            digest.update(b"\x00")
            digest.update(text.encode("utf-8", "surrogatepass"))
            digest.update(b"\x01")
        return digest.hexdigest()

    def counts(self) -> dict[str, int]:
        """Documents per label."""
        return {label: self.labels.count(label) for label in LABELS}

    @staticmethod
    def concat(parts: list[LabelledData]) -> LabelledData:
        """Join several sets in order."""
        return LabelledData(
            ids=[i for p in parts for i in p.ids],
            texts=[t for p in parts for t in p.texts],
            labels=[lab for p in parts for lab in p.labels],
            origins=[o for p in parts for o in p.origins],
            groups=[g for p in parts for g in (p.groups or [None] * len(p))],
            skipped_blank=sum(p.skipped_blank for p in parts),
        )


def _read_table(path: Path) -> tuple[Any, int]:
    """Return (DataFrame, line offset of its first row) for a tabular file."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig"), 2
        if suffix in (".jsonl", ".json"):
            lines = suffix == ".jsonl" or path.read_text(encoding="utf-8-sig").lstrip().startswith("{")
            return pd.read_json(path, lines=lines, dtype=False), 1 if lines else 0
        if suffix == ".xlsx":
            return pd.read_excel(path, dtype=str, keep_default_na=False), 2
        if suffix == ".parquet":
            return pd.read_parquet(path), 1
    except Exception as exc:  # pandas raises many types for malformed files
        raise DataError(f"{path}: cannot read it as {suffix[1:].upper()} ({exc}).") from exc
    raise DataError(
        f"{path}: unsupported labelled-data format; use {', '.join(TABLE_SUFFIXES)} or a DIR/<label>/ folder."
    )


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _read_one_table(path: Path, problems: list[str]) -> LabelledData:
    frame, first_line = _read_table(path)
    columns = {str(c).strip().lower(): c for c in frame.columns}
    if "label" not in columns:
        problems.append(f"{path}: no 'label' column (columns: {', '.join(map(str, frame.columns))}).")
        return LabelledData([], [], [], [])
    text_col = columns.get("text")
    path_col = columns.get("path")
    if text_col is None and path_col is None and "sha256" in columns and "id" in columns:
        path_col = columns["id"]  # scan output: the id is the document's path
    if text_col is None and path_col is None:
        problems.append(f"{path}: needs a 'text' column or a 'path' column beside 'label'.")
        return LabelledData([], [], [], [])
    id_col = columns.get("id")
    group_col = columns.get("source") or columns.get("genre")
    ids, texts, labels, origins, groups = [], [], [], [], []
    blank = 0
    for index, row in enumerate(frame.to_dict("records")):
        where = f"{path} line {index + first_line}"
        label = normalize_label(row[columns["label"]])
        if label is None:
            blank += 1
            continue
        if label == "":
            problems.append(f"{where}: label {str(row[columns['label']]).strip()!r} is not one of {', '.join(LABELS)}.")
            continue
        text = _cell(row[text_col]) if text_col is not None else ""
        if not text.strip() and path_col is not None and _cell(row[path_col]).strip():
            doc_path = Path(_cell(row[path_col]).strip())
            candidates = [doc_path] if doc_path.is_absolute() else [path.parent / doc_path, doc_path]
            found = next((c for c in candidates if c.exists()), candidates[0])
            try:
                text = read_document(found).text
            except DocumentError as exc:
                problems.append(f"{where}: {exc}")
                continue
        if not text.strip():
            problems.append(f"{where}: empty text.")
            continue
        ids.append(
            _cell(row[id_col]) if id_col is not None and _cell(row[id_col]) else f"{path.name}:{index + first_line}"
        )
        texts.append(text)
        labels.append(label)
        origins.append(where)
        groups.append(_cell(row[group_col]) or None if group_col is not None else None)
    return LabelledData(ids, texts, labels, origins, groups, blank)


def _read_folder(root: Path, problems: list[str]) -> LabelledData:
    ids, texts, labels, origins = [], [], [], []
    children = sorted(p for p in root.iterdir() if p.is_dir())
    if not children:
        problems.append(f"{root}: a labelled folder needs one sub-folder per label ({', '.join(LABELS)}).")
    for child in children:
        label = normalize_label(child.name)
        if not label:
            problems.append(f"{child}: folder name {child.name!r} is not one of {', '.join(LABELS)}.")
            continue
        for doc in iter_document_paths(child):
            try:
                text = read_document(doc).text
            except DocumentError as exc:
                problems.append(str(exc))
                continue
            ids.append(str(doc))
            texts.append(text)
            labels.append(label)
            origins.append(str(doc))
    return LabelledData(ids, texts, labels, origins, [None] * len(ids))


def _check_conflicts(data: LabelledData, problems: list[str]) -> None:
    first: dict[str, int] = {}
    for index, text in enumerate(data.texts):
        key = hashlib.sha256(" ".join(text.split()).encode("utf-8", "surrogatepass")).hexdigest()
        if key in first and data.labels[first[key]] != data.labels[index]:
            other = first[key]
            problems.append(
                f"{data.origins[index]}: the same text as {data.origins[other]} but labelled "
                f"{data.labels[index]!r} there {data.labels[other]!r}; keep one label."
            )
        first.setdefault(key, index)


def read_labelled(paths: list[str | Path] | str | Path) -> LabelledData:
    """Read and validate labelled data from one or more files or folders.

    Parameters
    ----------
    paths : path or list of paths
        Tables (CSV, JSONL, XLSX, Parquet) with a ``label`` column and ``text``
        or ``path``, or folders ``DIR/<label>/<documents>``. ``scan`` output
        with a ``label`` column added is accepted (its ``id`` is the path).
        Rows with a blank label are skipped (and counted).

    Returns
    -------
    LabelledData

    Raises
    ------
    DataError
        Listing every problem found, each with its file and line.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    problems: list[str] = []
    parts = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            problems.append(f"{path}: no such file or folder.")
        elif path.is_dir():
            parts.append(_read_folder(path, problems))
        elif path.suffix.lower() in TABLE_SUFFIXES:
            try:
                parts.append(_read_one_table(path, problems))
            except DataError as exc:
                problems.append(str(exc))
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            problems.append(f"{path}: a single document has no label; put it in DIR/<label>/ or list it in a CSV.")
        else:
            problems.append(
                f"{path}: unsupported labelled-data format; use {', '.join(TABLE_SUFFIXES)} or a DIR/<label>/ folder."
            )
    data = LabelledData.concat(parts) if parts else LabelledData([], [], [], [])
    _check_conflicts(data, problems)
    if not problems and not len(data):
        problems.append(f"{', '.join(map(str, paths))}: no labelled documents found.")
    if problems:
        shown = problems[:MAX_REPORTED]
        more = f"\n… and {len(problems) - MAX_REPORTED} more problems." if len(problems) > MAX_REPORTED else ""
        raise DataError(
            f"{len(problems)} problem(s) in the labelled data; nothing was used:\n" + "\n".join(shown) + more
        )
    return data
