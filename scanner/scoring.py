"""Score a document with a loaded model: numpy only, no scikit-learn.

The score is the model's calibrated probability that the document is not
legitimate, times 100. The level comes from the thresholds stored in the
model (chosen in training for known false-positive rates), the category
from the model's second head, and the evidence from the red-flag indicators
and the n-grams that weighed most.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scanner.documents import ReadLimits, read_document
from scanner.features import Grams, extract_grams, gram_terms
from scanner.indicators import RedFlag, find_red_flags, indicator_features
from scanner.model import RISK_CATEGORIES, Model
from scanner.normalize import chinese_characters, code_points, normalize

LEVELS = ("low", "medium", "high")
TOP_TERMS = 8
MIN_TERM_WEIGHT = 0.005  # smaller contributions to the log-odds are not worth naming


@dataclass(frozen=True)
class Term:
    """An n-gram of the document and how much it pushed the score up (log-odds)."""

    term: str
    weight: float


@dataclass(frozen=True)
class Result:
    """The contract's result record for one document."""

    id: str
    sha256: str | None
    risk_score: float | None
    risk_level: str | None
    category: str | None
    category_scores: dict[str, float] | None
    red_flags: tuple[RedFlag, ...]
    top_terms: tuple[Term, ...]
    language: str | None
    model: str
    error: str | None = None
    probability: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the record as in the contract (JSON-ready)."""
        return {
            "id": self.id,
            "sha256": self.sha256,
            "risk_score": self.risk_score,
            "risk_level": self.risk_level,
            "category": self.category,
            "category_scores": self.category_scores,
            "red_flags": [flag.to_dict() for flag in self.red_flags],
            "top_terms": [{"term": term.term, "weight": term.weight} for term in self.top_terms],
            "language": self.language,
            "model": self.model,
            "error": self.error,
        }


def detect_language(text: str) -> str:
    """Return "zh" when Chinese characters dominate the text, else "en".

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        "zh" or "en" (every non-Chinese filing is read with the English titles).
    """
    codes = code_points(text[:20000])
    cjk = int(np.count_nonzero(chinese_characters(codes)))
    letter = ((codes | 0x20) >= ord("a")) & ((codes | 0x20) <= ord("z"))  # [A-Za-z]
    latin_words = int(np.count_nonzero(letter[1:] & ~letter[:-1])) + int(letter[:1].sum())  # runs of letters
    return "zh" if cjk and cjk >= latin_words else "en"


def level_for(probability: float, thresholds: dict[str, float]) -> str:
    """Map a calibrated probability to low / medium / high."""
    if probability >= thresholds["high"]:
        return "high"
    if probability >= thresholds["medium"]:
        return "medium"
    return "low"


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


def vectorize(model: Model, grams: Grams, flags: list[RedFlag]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute a document's model features.

    Parameters
    ----------
    model : Model
    grams : Grams
        The document's n-grams (:func:`scanner.features.extract_grams`).
    flags : list of RedFlag
        The document's red flags under the model's indicator table.

    Returns
    -------
    (columns, values, extra) : tuple of numpy.ndarray
        The non-zero tf-idf columns (into the model's kept buckets), their
        L2-normalised weights, and the scaled indicator features.
    """
    extra = np.asarray(indicator_features(flags, model.indicators), dtype=np.float64) * model.indicator_scale
    columns = grams.columns(model.lookup())  # no work when extracted with the lookup
    n_columns = len(model.buckets)  # also the column of every n-gram the model does not keep
    if len(columns) * 16 < n_columns:
        # A short text: sorting its few n-grams beats scanning a count for every column.
        columns, counts = np.unique(columns, return_counts=True)
        if len(columns) and columns[-1] == n_columns:
            columns, counts = columns[:-1], counts[:-1]
    else:  # counting into a dense vector is linear; np.unique would sort every n-gram of a long filing
        dense = np.bincount(columns, minlength=n_columns + 1)[:n_columns]
        columns = np.flatnonzero(dense != 0)  # (a boolean array is six times faster to search)
        counts = dense[columns]
    values = (1.0 + np.log(counts)) * model.idf[columns]
    norm = math.sqrt(_dot(values, values))
    if norm > 0:
        values = values / norm
    return columns.astype(np.int64), values, extra


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """The dot product of two vectors, without BLAS.

    OpenBLAS splits a dot product of over 10,000 elements across threads that then spin between
    calls: they took a second core from a one-process scan (and from the other workers of a
    pool) for no gain on vectors this short.
    """
    return float(np.multiply(a, b).sum())


def predict_probability(
    model: Model, columns: np.ndarray, values: np.ndarray, extra: np.ndarray
) -> tuple[float, float]:
    """Return (calibrated risk probability, P(illegal_fundraising | risky))."""
    n_text = len(model.buckets)
    decision = _dot(values, model.risk_coef[columns]) + _dot(extra, model.risk_coef[n_text:]) + model.risk_intercept
    risk = _sigmoid(float(model.platt[0]) * decision + float(model.platt[1]))
    category = (
        _dot(values, model.category_coef[columns])
        + _dot(extra, model.category_coef[n_text:])
        + model.category_intercept
    )
    return risk, _sigmoid(category)


def _top_terms(model: Model, grams: Grams, columns: np.ndarray, values: np.ndarray) -> tuple[Term, ...]:
    if len(columns) == 0:
        return ()
    contributions = values * model.risk_coef[columns]
    keep = TOP_TERMS * 4
    if len(contributions) > keep:
        # Only the strongest few are named: partition first, then sort those (ties by column, as before).
        best = np.argpartition(-contributions, keep - 1)[:keep]
        order = best[np.lexsort((best, -contributions[best]))]
    else:
        order = np.argsort(-contributions, kind="stable")
    strong = [int(i) for i in order if contributions[i] >= MIN_TERM_WEIGHT]
    gram_columns = grams.columns(model.lookup())
    names = gram_terms(grams, model.config, gram_columns, {int(columns[i]) for i in strong}, len(model.buckets))
    terms: list[Term] = []
    seen: set[str] = set()
    for i in strong:
        name = names.get(int(columns[i]))
        if not name or name in seen:
            continue
        seen.add(name)
        terms.append(Term(name, round(float(contributions[i]), 4)))
        if len(terms) == TOP_TERMS:
            break
    return tuple(terms)


def score_text(
    text: str,
    model: Model | None = None,
    *,
    doc_id: str = "-",
    sha256: str | None = None,
    explain: bool = True,
) -> Result:
    """Score one text.

    Parameters
    ----------
    text : str
        The document's text, as read (normalisation happens here).
    model : Model, optional
        A loaded model; by default the active one (see :func:`scanner.registry.resolve_model`).
    doc_id : str
        The ``id`` of the result.
    sha256 : str, optional
        Hex digest of the document's bytes; by default that of the UTF-8 text.
    explain : bool
        Name the top terms.

    Returns
    -------
    Result
    """
    return analyze_text(text, model, doc_id=doc_id, sha256=sha256, explain=explain)[0]


def analyze_text(
    text: str,
    model: Model | None = None,
    *,
    doc_id: str = "-",
    sha256: str | None = None,
    explain: bool = True,
) -> tuple[Result, str]:
    """Score one text and also return its prepared form (see :func:`score_text`).

    The prepared text (normalised, lower-cased, white space collapsed) is what
    batch scoring takes its near-duplicate signature from.
    """
    if model is None:
        from scanner.registry import resolve_model

        model = resolve_model()
    if sha256 is None:
        sha256 = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    normalized = normalize(text)
    language = detect_language(normalized.text)
    lowered = normalized.text.lower()  # shared by the indicators and the n-grams
    flags = find_red_flags(text, language=language, indicators=model.indicators, normalized=normalized, lowered=lowered)
    prepared = " ".join(lowered.split())  # prepare_text(normalized.text), lower-cased once
    grams = extract_grams(prepared, model.config, model.lookup())  # mapped to the model's columns
    columns, values, extra = vectorize(model, grams, flags)
    risk, illegal = predict_probability(model, columns, values, extra)
    level = level_for(risk, model.thresholds)
    category_scores = {RISK_CATEGORIES[0]: round(illegal, 4), RISK_CATEGORIES[1]: round(1.0 - illegal, 4)}
    category = None if level == "low" else (RISK_CATEGORIES[0] if illegal >= 0.5 else RISK_CATEGORIES[1])
    result = Result(
        id=doc_id,
        sha256=sha256,
        risk_score=round(risk * 100.0, 1),
        risk_level=level,
        category=category,
        category_scores=category_scores,
        red_flags=tuple(flags),
        top_terms=_top_terms(model, grams, columns, values) if explain else (),
        language=language,
        model=model.label,
        probability=risk,
    )
    return result, prepared


def error_result(doc_id: str, message: str, model: Model | str, sha256: str | None = None) -> Result:
    """Return the result row of a document that could not be scored."""
    label = model if isinstance(model, str) else model.label
    return Result(
        id=doc_id,
        sha256=sha256,
        risk_score=None,
        risk_level=None,
        category=None,
        category_scores=None,
        red_flags=(),
        top_terms=(),
        language=None,
        model=label,
        error=message,
    )


def score_document(
    path: str | Path,
    model: Model | None = None,
    *,
    limits: ReadLimits | None = None,
    explain: bool = True,
) -> Result:
    """Read and score one document file.

    Parameters
    ----------
    path : str or Path
        A .txt .md .html .htm .pdf or .docx file.
    model : Model, optional
        By default the active model.
    limits : ReadLimits, optional
        Reading limits (bytes, pages, characters).
    explain : bool
        Name the top terms.

    Returns
    -------
    Result

    Raises
    ------
    scanner.errors.DocumentError
        When the document cannot be read.
    """
    document = read_document(path, limits=limits or ReadLimits())
    return score_text(document.text, model, doc_id=document.id, sha256=document.sha256, explain=explain)
