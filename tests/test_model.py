from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from scanner.errors import ModelError
from scanner.model import CLASSIFIER_FILE, FEATURES_FILE, INDICATORS_FILE, MANIFEST, load_model, read_manifest


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    return target


def test_round_trip_keeps_arrays_and_manifest(small_model, tmp_path: Path) -> None:
    reloaded = load_model(small_model.path)
    assert np.array_equal(reloaded.buckets, small_model.buckets)
    assert np.array_equal(reloaded.risk_coef, small_model.risk_coef)
    manifest = read_manifest(small_model.path)
    for key in ("format_version", "scanner_version", "created", "training", "thresholds", "metrics", "files"):
        assert key in manifest
    assert manifest["training"]["counts"] == {"legitimate": 50, "illegal_fundraising": 50, "pseudo_innovation": 50}
    assert set(manifest["files"]) == {FEATURES_FILE, CLASSIFIER_FILE, INDICATORS_FILE}
    assert reloaded.label == "small@0.1.0"


@pytest.mark.parametrize("name", [FEATURES_FILE, CLASSIFIER_FILE, INDICATORS_FILE])
def test_altered_file_is_refused_by_name(small_model, tmp_path: Path, name: str) -> None:
    folder = _copy(small_model.path, tmp_path)
    with open(folder / name, "ab") as handle:
        handle.write(b"\x00tampered")
    with pytest.raises(ModelError, match=name.replace(".", r"\.") + ".*does not match the manifest"):
        load_model(folder)


def test_altered_weights_with_matching_zip_are_refused(small_model, tmp_path: Path) -> None:
    folder = _copy(small_model.path, tmp_path)
    with np.load(folder / CLASSIFIER_FILE) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["risk_coef"] = arrays["risk_coef"] * 0  # a model that never flags anything
    np.savez(folder / CLASSIFIER_FILE, **arrays)
    with pytest.raises(ModelError, match=r"classifier\.npz does not match"):
        load_model(folder)


def test_manifest_without_checksums_is_refused(small_model, tmp_path: Path) -> None:
    folder = _copy(small_model.path, tmp_path)
    manifest = json.loads((folder / MANIFEST).read_text())
    del manifest["files"]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="checksums"):
        load_model(folder)


def test_pickle_file_offered_as_model_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ModelError, match="not a model folder"):
        load_model(evil)
    folder = tmp_path / "evil_model"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ModelError, match=r"manifest\.json"):
        load_model(folder)
    assert not marker.exists()


def test_pickled_array_inside_npz_is_refused(small_model, tmp_path: Path) -> None:
    folder = _copy(small_model.path, tmp_path)
    with np.load(folder / FEATURES_FILE) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["idf"] = np.array([{"a": 1}], dtype=object)
    np.savez(folder / FEATURES_FILE, **arrays)
    manifest = json.loads((folder / MANIFEST).read_text())
    from scanner.model import sha256_file

    manifest["files"][FEATURES_FILE] = sha256_file(folder / FEATURES_FILE)  # even with a matching checksum
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="not a readable numpy array file"):
        load_model(folder)


def test_missing_model_says_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="scanner train"):
        load_model(tmp_path / "nowhere")


def test_other_format_version_is_refused(small_model, tmp_path: Path) -> None:
    folder = _copy(small_model.path, tmp_path)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["format_version"] = 99
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="format 99"):
        load_model(folder)


def test_default_model_loads_with_numpy_only() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from scanner.registry import resolve_model; m = resolve_model();"
        "from scanner.scoring import score_text; score_text('hello', m);"
        "print('sklearn' in sys.modules, 'scipy' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False False"
