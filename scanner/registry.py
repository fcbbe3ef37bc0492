"""Where models live and which one is used.

The model used by a command is, in order: ``--model DIR``; the folder in the
``SCANNER_MODEL`` environment variable; the active model registered in
``SCANNER_HOME`` (by ``scanner retrain`` or ``scanner models activate``); the
default model shipped inside the package.

``SCANNER_HOME`` defaults to ``$XDG_DATA_HOME/crypto-risk-scanner`` (that is,
``~/.local/share/crypto-risk-scanner``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import scanner
from scanner.atomic import write_text_atomic
from scanner.errors import ModelError, ScannerError
from scanner.model import Model, load_model, read_manifest

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


DEFAULT_NAME = "default"
LOCK_FILE = ".lock"


class BusyError(ScannerError):
    """Another process holds the ``SCANNER_HOME`` lock (a retrain is running)."""


@dataclass(frozen=True)
class ModelEntry:
    """One model that ``scanner models`` lists.

    Attributes
    ----------
    label : str
        ``name@version``, as in results' ``model`` field.
    version : str
        The folder name under ``SCANNER_HOME/models`` (``default`` for the shipped one).
    path : Path
    active : bool
        Whether commands use it when neither ``--model`` nor ``SCANNER_MODEL`` is given.
    manifest : dict
        The parsed manifest (empty when it could not be read).
    problem : str or None
        Why the manifest could not be read.
    """

    label: str
    version: str
    path: Path
    active: bool
    manifest: dict[str, Any]
    problem: str | None = None

    def summary(self) -> dict[str, Any]:
        """The figures ``scanner models`` shows: metrics, thresholds and training data."""
        metrics = self.manifest.get("metrics") or {}
        training = self.manifest.get("training") or {}
        return {
            "label": self.label,
            "version": self.version,
            "active": self.active,
            "path": str(self.path),
            "created": self.manifest.get("created"),
            "roc_auc": metrics.get("roc_auc"),
            "thresholds": self.manifest.get("thresholds"),
            "training": {
                "n": training.get("n"),
                "counts": training.get("counts"),
                "sha256": training.get("data_sha256"),
                "sources": training.get("sources"),
            },
            "gate": self.manifest.get("gate"),
            "problem": self.problem,
        }


def models_dir() -> Path:
    """Return ``SCANNER_HOME/models``, where retrained models are kept."""
    return scanner_home() / MODELS_DIR


def _active_version() -> str | None:
    pointer = scanner_home() / ACTIVE_FILE
    if not pointer.is_file():
        return None
    try:
        return str(json.loads(pointer.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _entry(version: str, path: Path, active: bool) -> ModelEntry:
    try:
        manifest = read_manifest(path)
    except ModelError as exc:
        return ModelEntry(f"?@{version}", version, path, active, {}, str(exc))
    label = f"{manifest.get('name', 'model')}@{manifest.get('version', '0')}"
    return ModelEntry(label, version, path, active, manifest)


def list_models() -> list[ModelEntry]:
    """Return the shipped default model then every model in ``SCANNER_HOME/models`` (oldest first).

    Folders being written (names starting with a dot) are left out.
    """
    active = _active_version()
    entries = [_entry(DEFAULT_NAME, default_model_path(), active is None)]
    folder = models_dir()
    if folder.is_dir():
        for child in sorted(folder.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                entries.append(_entry(child.name, child, child.name == active))
    return entries


def find_model(spec: str) -> ModelEntry:
    """Return the listed model that ``spec`` names.

    Parameters
    ----------
    spec : str
        ``name@version`` as in a result's ``model`` field, or just the version
        (the folder name); ``default`` or ``default@1.0.0`` is the shipped model.

    Raises
    ------
    ModelError
        When no model matches, naming the ones there are.
    """
    spec = spec.strip()
    entries = list_models()
    for entry in entries:
        if spec in (entry.label, entry.version):
            return entry
    if spec.split("@", 1)[0] == DEFAULT_NAME:
        return entries[0]
    known = ", ".join(entry.label for entry in entries)
    raise ModelError(f"No model {spec!r} in {models_dir()} (there are: {known}). List them with: scanner models")


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to ``path`` through a temporary file and one rename, so readers never see half a file."""
    write_text_atomic(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n", parents=True)


def activate_model(spec: str, *, locked: bool = False) -> ModelEntry:
    """Make the model ``spec`` names the active one (roll back or forward).

    The model is loaded and verified first; the pointer ``active.json`` is
    then replaced atomically. Activating the shipped default removes the
    pointer.

    Parameters
    ----------
    spec : str
        See :func:`find_model`.
    locked : bool
        The caller already holds :func:`home_lock` (a retrain promoting its
        model); otherwise it is taken here, so a rollback cannot race a
        retrain's switch.

    Raises
    ------
    ModelError
        When ``spec`` names no model or the model fails verification.
    BusyError
        When a retrain holds the lock.
    """
    with contextlib.nullcontext() if locked else home_lock():
        entry = find_model(spec)
        load_model(entry.path)
        pointer = scanner_home() / ACTIVE_FILE
        if entry.version == DEFAULT_NAME:
            pointer.unlink(missing_ok=True)
        else:
            write_json_atomic(pointer, {"version": entry.version})
    _CACHE.clear()
    return replace(entry, active=True)


def new_version(name: str = "retrained", now: _dt.datetime | None = None) -> str:
    """Return a version folder name not used yet: the UTC time, ``-2``, ``-3``… on a clash."""
    stamp = (now or _dt.datetime.now(_dt.UTC)).strftime("%Y-%m-%dT%H%M%SZ")
    folder = models_dir()
    version, counter = stamp, 1
    while (folder / version).exists() or version == DEFAULT_NAME:
        counter += 1
        version = f"{stamp}-{counter}"
    return version


@contextlib.contextmanager
def home_lock(wait: bool = False) -> Iterator[Path]:
    """Hold the ``SCANNER_HOME/.lock`` file lock (``fcntl.flock``) for the block.

    The operating system drops the lock when the process dies, even by
    SIGKILL, so a killed retrain never blocks the next one.

    Parameters
    ----------
    wait : bool
        Wait for the lock instead of failing at once.

    Raises
    ------
    BusyError
        When another process holds the lock and ``wait`` is false.
    """
    import fcntl

    home = scanner_home()
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise BusyError(
                f"Another retrain is running in {home} (it holds {path}). "
                "Wait for it to finish, or run again with --wait."
            ) from None
        try:
            yield path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
