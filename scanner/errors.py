"""Exceptions raised by the scanner library (the CLI maps them to exit codes)."""

from __future__ import annotations


class ScannerError(Exception):
    """Base class: an expected failure whose message says what to do."""


class DocumentError(ScannerError):
    """A document could not be read."""


class ModelError(ScannerError):
    """A model folder is missing, malformed or altered."""


class DataError(ScannerError):
    """Labelled data is malformed."""
