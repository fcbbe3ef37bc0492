"""Which unlabelled documents to label next: uncertainty sampling spread across the score range.

A label teaches the model most where it is least sure, that is where the
calibrated probability is closest to 0.5. Taking only those would pick many
near-copies from one narrow band, so the documents are first split into
score deciles (equal counts) and the most uncertain are taken from each in
turn: the first pick of every decile, then the second, and so on, deciles
nearer the boundary first.

The output (``id``, ``text``, ``path``, ``risk_score``, an empty ``label``)
is labelled data once the ``label`` column is filled in: ``scanner retrain``
reads it as it is (rows left blank are skipped).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scanner.atomic import write_text_atomic
from scanner.batch import plan_jobs
from scanner.documents import read_document
from scanner.errors import DocumentError
from scanner.model import Model
from scanner.scoring import score_text

BINS = 10
BOUNDARY = 0.5
COLUMNS = ("id", "text", "path", "risk_score", "label")


@dataclass(frozen=True)
class Suggestion:
    """A document worth labelling."""

    id: str
    text: str
    path: str | None
    risk_score: float
    uncertainty: float


def choose_uncertain(probability: np.ndarray, n: int, bins: int = BINS) -> list[int]:
    """Return the indexes of ``n`` documents to label: the most uncertain of each score decile, in turns.

    Parameters
    ----------
    probability : numpy.ndarray
        Calibrated risk probabilities.
    n : int
        How many to pick (all when fewer).
    bins : int
        Equal-count score bins to spread the picks over.
    """
    probability = np.asarray(probability, dtype=np.float64)
    if n <= 0 or not len(probability):
        return []
    order = np.argsort(probability, kind="stable")
    groups = [g for g in np.array_split(order, min(bins, len(order))) if len(g)]
    ranked = [sorted(g.tolist(), key=lambda i: (abs(probability[i] - BOUNDARY), i)) for g in groups]
    ranked.sort(key=lambda g: abs(probability[g[0]] - BOUNDARY))
    picked: list[int] = []
    depth = 0
    while len(picked) < min(n, len(probability)):
        for group in ranked:
            if depth < len(group) and len(picked) < n:
                picked.append(group[depth])
        depth += 1
    return picked


def suggest_documents(
    inputs: Sequence[str], model: Model, n: int = 50, *, text_column: str | None = None, id_column: str | None = None
) -> list[Suggestion]:
    """Score unlabelled documents and return the ``n`` whose labels would teach most.

    Parameters
    ----------
    inputs : sequence of str
        Documents, folders or tables, as for ``scan``.
    model : Model
        The model whose uncertainty counts (the active one, usually).
    n : int

    Returns
    -------
    list of Suggestion
        Most uncertain first within each round; documents that could not be
        read are left out.
    """
    scored: list[tuple[str, str, str | None, float]] = []
    for job in plan_jobs(inputs, text_column=text_column, id_column=id_column):
        if job.text is not None:
            text = job.text
        elif job.path is not None:
            try:
                text = read_document(job.path, doc_id=job.id).text
            except DocumentError:
                continue  # an unreadable document cannot be labelled from its text either
        else:
            continue
        if not text.strip():
            continue
        risk = score_text(text, model, doc_id=job.id, explain=False).probability
        if risk is not None:
            scored.append((job.id, text, str(job.path) if job.path else None, float(risk)))
    probability = np.array([row[3] for row in scored])
    return [
        Suggestion(
            scored[i][0],
            scored[i][1],
            scored[i][2],
            round(scored[i][3] * 100, 1),
            round(1 - 2 * abs(scored[i][3] - BOUNDARY), 4),
        )
        for i in choose_uncertain(probability, n)
    ]


def write_suggestions(suggestions: Sequence[Suggestion], out: str | Path) -> Path:
    """Write suggestions as a CSV to fill in (``label`` empty), atomically.

    Returns
    -------
    Path
        The file written.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for s in suggestions:
        writer.writerow([s.id, s.text, s.path or "", s.risk_score, ""])
    return write_text_atomic(out, buffer.getvalue(), parents=True, newline="")
