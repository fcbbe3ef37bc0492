"""The model file format: a folder of ``manifest.json`` and numpy arrays.

A model folder holds:

- ``manifest.json``: format version, scanner version, name and version, when
  and on what it was trained, the feature configuration, the level
  thresholds, validation metrics and the sha256 of every other file;
- ``features.npz``: the kept hash buckets and their idf weights;
- ``classifier.npz``: the risk head (linear weights, intercept, Platt
  calibration) and the category head;
- ``indicators.toml``: the red-flag table the model was trained with.

Arrays are read with ``allow_pickle=False`` and every file is checked against
the manifest before use, so an altered or foreign model is refused and no
pickle is ever loaded. Reading needs numpy, not scikit-learn.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scanner import __version__
from scanner.errors import ModelError
from scanner.features import FeatureConfig
from scanner.indicators import Indicator, IndicatorError, parse_indicators

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FEATURES_FILE = "features.npz"
CLASSIFIER_FILE = "classifier.npz"
INDICATORS_FILE = "indicators.toml"
MODEL_FILES = (FEATURES_FILE, CLASSIFIER_FILE, INDICATORS_FILE)
RISK_CATEGORIES = ("illegal_fundraising", "pseudo_innovation")

_FEATURE_ARRAYS = ("buckets", "idf")
_CLASSIFIER_ARRAYS = ("risk_coef", "risk_intercept", "platt", "category_coef", "category_intercept")


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Model:
    """A loaded, verified model, ready for :func:`scanner.scoring.score_text`.

    Attributes
    ----------
    path : Path
        The folder it was read from.
    manifest : dict
        The parsed ``manifest.json``.
    config : FeatureConfig
        How texts become n-gram counts.
    buckets, idf : numpy.ndarray
        Kept hash buckets (sorted) and their idf weights.
    indicators : tuple of Indicator
        The red-flag table, in the order of the indicator features.
    risk_coef : numpy.ndarray
        Weights over the tf-idf columns then the indicator features.
    risk_intercept : float
    platt : numpy.ndarray
        ``(a, b)``: calibrated risk is ``1 / (1 + exp(-(a * decision + b)))``.
    category_coef : numpy.ndarray
        Weights of the category head (positive means ``illegal_fundraising``).
    category_intercept : float
    thresholds : dict
        Probability thresholds ``{"medium": m, "high": h}``.
    """

    path: Path
    manifest: dict[str, Any]
    config: FeatureConfig
    buckets: np.ndarray
    idf: np.ndarray
    indicators: tuple[Indicator, ...]
    risk_coef: np.ndarray
    risk_intercept: float
    platt: np.ndarray
    category_coef: np.ndarray
    category_intercept: float
    thresholds: dict[str, float]
    indicator_scale: float
    _lookup: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The model's name (``default`` for the shipped one)."""
        return str(self.manifest.get("name", "model"))

    @property
    def version(self) -> str:
        """The model's version string."""
        return str(self.manifest.get("version", "0"))

    @property
    def label(self) -> str:
        """``name@version``, as written in every result's ``model`` field."""
        return f"{self.name}@{self.version}"

    def lookup(self) -> np.ndarray:
        """Return the bucket-to-column table (built once, on first use).

        A bucket the model does not keep maps to ``len(self.buckets)``, one past
        the last column, so that counting needs no filtering first. int64, as
        ``numpy.bincount`` wants its input.
        """
        if not self._lookup:
            table = np.full(self.config.n_buckets, len(self.buckets), dtype=np.int64)
            table[self.buckets] = np.arange(len(self.buckets), dtype=np.int64)
            self._lookup.append(table)
        return self._lookup[0]


def _load_npz(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in names if name not in data.files]
            if missing:
                raise ModelError(f"{path}: missing arrays {', '.join(missing)}; the model folder is incomplete.")
            return {name: np.asarray(data[name]) for name in names}
    except ModelError:
        raise
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable numpy array file ({exc}). Retrain or restore the model.") from exc


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and sanity-check a model folder's manifest.

    Raises
    ------
    ModelError
        When the folder or manifest is missing, unreadable or of another format.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        if folder.is_file():
            raise ModelError(
                f"{folder} is a file, not a model folder. A model is a folder with {MANIFEST} and .npz arrays; "
                "pickle and joblib files are never loaded."
            )
        raise ModelError(f"No model at {folder}. Train one with: scanner train data/corpus.csv --out {folder}")
    if not manifest_path.is_file():
        raise ModelError(
            f"{folder} has no {MANIFEST}; it is not a model folder. Train one with: scanner train DATA --out DIR"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{manifest_path}: not valid JSON ({exc}).") from exc
    if not isinstance(manifest, dict):
        raise ModelError(f"{manifest_path}: expected a JSON object.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{manifest_path}: model format {manifest.get('format_version')!r} is not supported "
            f"(this scanner reads format {FORMAT_VERSION}). Retrain the model with this version."
        )
    return manifest


def verify_files(folder: Path, manifest: dict[str, Any]) -> None:
    """Check every model file against the sha256 recorded in the manifest.

    Raises
    ------
    ModelError
        Naming the first file that is missing or whose content does not match.
    """
    recorded = manifest.get("files")
    if not isinstance(recorded, dict):
        raise ModelError(f"{folder / MANIFEST}: no 'files' checksums recorded; the model cannot be verified.")
    for name in MODEL_FILES:
        expected = recorded.get(name)
        path = folder / name
        if not expected:
            raise ModelError(f"{folder / MANIFEST}: no checksum recorded for {name}.")
        if not path.is_file():
            raise ModelError(f"{path} is missing; the model folder is incomplete.")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelError(
                f"{path} does not match the manifest (sha256 {actual[:12]}… != recorded {str(expected)[:12]}…): "
                "the model was altered or damaged. Restore it or retrain."
            )


def load_model(folder: str | Path) -> Model:
    """Load and verify a model folder.

    Parameters
    ----------
    folder : str or Path
        A folder written by :func:`save_model`.

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        When the folder is missing, altered, of another format or inconsistent.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    verify_files(folder, manifest)
    features = _load_npz(folder / FEATURES_FILE, _FEATURE_ARRAYS)
    classifier = _load_npz(folder / CLASSIFIER_FILE, _CLASSIFIER_ARRAYS)
    try:
        table = tomllib.loads((folder / INDICATORS_FILE).read_text(encoding="utf-8"))
        # The table was checked when the model was saved and its sha256 verified above.
        indicators = parse_indicators(table, str(folder / INDICATORS_FILE), validate=False)
        config = FeatureConfig.from_dict(manifest["features"])
        thresholds = {key: float(manifest["thresholds"][key]) for key in ("medium", "high")}
        indicator_scale = float(manifest["indicator_scale"])
    except (IndicatorError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{folder / MANIFEST}: incomplete or inconsistent model ({exc}).") from exc
    buckets = features["buckets"].astype(np.int64)
    n_columns = len(buckets) + len(indicators) + len(RISK_CATEGORIES)
    for name in ("risk_coef", "category_coef"):
        if classifier[name].shape != (n_columns,):
            raise ModelError(
                f"{folder / CLASSIFIER_FILE}: {name} has shape {classifier[name].shape}, expected ({n_columns},)."
            )
    if features["idf"].shape != buckets.shape or (len(buckets) and buckets.max() >= config.n_buckets):
        raise ModelError(f"{folder / FEATURES_FILE}: buckets and idf do not agree with the feature configuration.")
    return Model(
        path=folder,
        manifest=manifest,
        config=config,
        buckets=buckets,
        idf=features["idf"].astype(np.float64),
        indicators=indicators,
        risk_coef=classifier["risk_coef"].astype(np.float64),
        risk_intercept=float(classifier["risk_intercept"]),
        platt=classifier["platt"].astype(np.float64),
        category_coef=classifier["category_coef"].astype(np.float64),
        category_intercept=float(classifier["category_intercept"]),
        thresholds=thresholds,
        indicator_scale=indicator_scale,
    )


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as an .npz with fixed zip timestamps, so the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[name], order="C"), allow_pickle=False)
            archive.writestr(info, buffer.getvalue())


def save_model(
    folder: str | Path,
    manifest: dict[str, Any],
    features: dict[str, np.ndarray],
    classifier: dict[str, np.ndarray],
    indicators_toml: str,
) -> Path:
    """Write a model folder atomically.

    The files are written to a temporary folder beside ``folder`` and moved
    into place with one rename, so a crash never leaves a half-written model.
    An existing ``folder`` is replaced.

    Parameters
    ----------
    folder : str or Path
        Where the model goes.
    manifest : dict
        Everything but ``format_version``, ``scanner_version`` and ``files``,
        which are filled in here.
    features, classifier : dict of numpy.ndarray
        The arrays (see the module docstring).
    indicators_toml : str
        The text of the indicator table used in training.

    Returns
    -------
    Path
        The model folder.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    os.chmod(staging, 0o755)  # mkdtemp makes it private; a model is read by every user
    try:
        _write_npz(staging / FEATURES_FILE, features)
        _write_npz(staging / CLASSIFIER_FILE, classifier)
        (staging / INDICATORS_FILE).write_text(indicators_toml, encoding="utf-8")
        full = {"format_version": FORMAT_VERSION, "scanner_version": __version__, **manifest}
        full["files"] = {name: sha256_file(staging / name) for name in MODEL_FILES}
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for name in (*MODEL_FILES, MANIFEST):
            with open(staging / name, "rb") as handle:
                os.fsync(handle.fileno())
        if folder.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            os.replace(folder, retired / folder.name)
            os.replace(staging, folder)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder
