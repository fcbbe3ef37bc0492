"""crypto-risk-scanner: screen crypto project filings for illegal fundraising and pseudo-innovation.

>>> from scanner import load_model, score_text
>>> result = score_text("Deposit USDT and earn a guaranteed 2% daily return.")
>>> result.risk_level in {"low", "medium", "high"}
True
"""

from __future__ import annotations

__version__ = "1.0.0"

from scanner.documents import Document, read_document
from scanner.errors import DataError, DocumentError, ModelError, ScannerError
from scanner.indicators import RedFlag, find_red_flags, load_indicators
from scanner.model import Model, load_model
from scanner.normalize import normalize, normalize_text
from scanner.scoring import Result, score_document, score_text

__all__ = [
    "DataError",
    "Document",
    "DocumentError",
    "Model",
    "ModelError",
    "RedFlag",
    "Result",
    "ScannerError",
    "__version__",
    "find_red_flags",
    "load_indicators",
    "load_model",
    "normalize",
    "normalize_text",
    "read_document",
    "score_document",
    "score_text",
]
