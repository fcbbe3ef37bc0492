"""Where models live and which one is used.

The model used by a command is, in order: ``--model DIR``; the folder in the
``SCANNER_MODEL`` environment variable; the active model registered in
``SCANNER_HOME`` (by ``scanner retrain`` or ``scanner models activate``); the
default model shipped inside the package.

``SCANNER_HOME`` defaults to ``$XDG_DATA_HOME/crypto-risk-scanner`` (that is,
``~/.local/share/crypto-risk-scanner``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import scanner
from scanner.errors import ModelError
from scanner.model import Model, load_model

ACTIVE_FILE = "active.json"
MODELS_DIR = "models"

_CACHE: dict[Path, Model] = {}


def scanner_home() -> Path:
    """Return the folder of label stores and retrained models (``SCANNER_HOME``)."""
    configured = os.environ.get("SCANNER_HOME")
    if configured:
        return Path(configured).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "crypto-risk-scanner"


def default_model_path() -> Path:
    """Return the folder of the default model shipped with the package.

    An installed package carries it as ``scanner/_model``; a source checkout
    has it in ``models/default`` beside the package.
    """
    package = Path(scanner.__file__).resolve().parent
    for candidate in (package / "_model", package.parent / "models" / "default"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise ModelError(
        f"The default model is missing from the installation ({package / '_model'}). "
        "Reinstall with: pip install . (or build it with: make model)"
    )


def active_model_path() -> Path | None:
    """Return the active registered model's folder in ``SCANNER_HOME``, if any."""
    home = scanner_home()
    pointer = home / ACTIVE_FILE
    if not pointer.is_file():
        return None
    try:
        version = json.loads(pointer.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{pointer} is damaged ({exc}). Fix it with: scanner models activate VERSION") from exc
    folder = home / MODELS_DIR / str(version)
    if not folder.is_dir():
        raise ModelError(
            f"The active model {version} is missing from {home / MODELS_DIR}. Pick another with: scanner models activate VERSION"
        )
    return folder


def resolve_model_path(explicit: str | Path | None = None) -> Path:
    """Return the folder of the model a command should use (see the module docstring)."""
    if explicit:
        return Path(explicit).expanduser()
    configured = os.environ.get("SCANNER_MODEL")
    if configured:
        return Path(configured).expanduser()
    return active_model_path() or default_model_path()


def resolve_model(explicit: str | Path | None = None) -> Model:
    """Load (once per process) the model a command should use.

    Raises
    ------
    ModelError
        When that model is missing or fails verification.
    """
    path = resolve_model_path(explicit).resolve()
    if path not in _CACHE:
        _CACHE[path] = load_model(path)
    return _CACHE[path]
