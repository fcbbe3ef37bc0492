from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.cli import app
from scanner.errors import ModelError
from scanner.registry import (
    BusyError,
    activate_model,
    default_model_path,
    find_model,
    home_lock,
    list_models,
    new_version,
    resolve_model,
    resolve_model_path,
    scanner_home,
)


def test_scanner_home_from_env(_isolated_home: Path) -> None:
    assert scanner_home() == _isolated_home


def test_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _isolated_home: Path) -> None:
    assert resolve_model_path() == default_model_path()
    (_isolated_home / "models" / "v2").mkdir(parents=True)
    (_isolated_home / "active.json").write_text(json.dumps({"version": "v2"}))
    assert resolve_model_path() == _isolated_home / "models" / "v2"
    monkeypatch.setenv("SCANNER_MODEL", str(tmp_path / "env"))
    assert resolve_model_path() == tmp_path / "env"
    assert resolve_model_path(tmp_path / "explicit") == tmp_path / "explicit"


def test_damaged_active_pointer(_isolated_home: Path) -> None:
    (_isolated_home / "active.json").write_text("{not json")
    with pytest.raises(ModelError, match="scanner models activate"):
        resolve_model_path()


def test_default_model_is_shipped() -> None:
    assert (default_model_path() / "manifest.json").is_file()


@pytest.fixture
def registered(small_model, _isolated_home: Path) -> Path:
    """The small model registered in SCANNER_HOME as version folder 0.1.0 (label small@0.1.0)."""
    folder = _isolated_home / "models" / "0.1.0"
    shutil.copytree(small_model.path, folder)
    return folder


def test_list_models_marks_the_shipped_default_active(registered: Path) -> None:
    entries = list_models()
    assert [e.label for e in entries] == ["default@1.0.0", "small@0.1.0"]
    assert [e.active for e in entries] == [True, False]
    summary = entries[1].summary()
    assert summary["training"]["n"] == 150
    assert summary["training"]["counts"] == {"legitimate": 50, "illegal_fundraising": 50, "pseudo_innovation": 50}
    assert len(summary["training"]["sha256"]) == 64
    assert set(summary["thresholds"]) == {"medium", "high"} and summary["roc_auc"] > 0.5


def test_list_models_skips_folders_being_written(registered: Path, _isolated_home: Path) -> None:
    (_isolated_home / "models" / ".staging-x").mkdir()
    assert [e.version for e in list_models()] == ["default", "0.1.0"]


@pytest.mark.parametrize("spec", ["small@0.1.0", "0.1.0", " small@0.1.0 "], ids=["label", "version", "spaces"])
def test_activate_by_label_or_version(registered: Path, _isolated_home: Path, spec: str) -> None:
    entry = activate_model(spec)
    assert entry.label == "small@0.1.0" and entry.active
    assert json.loads((_isolated_home / "active.json").read_text()) == {"version": "0.1.0"}
    assert resolve_model().label == "small@0.1.0"
    assert [e.active for e in list_models()] == [False, True]
    assert sorted(p.name for p in _isolated_home.iterdir()) == [".lock", "active.json", "models"]  # no temp file


@pytest.mark.parametrize("spec", ["default", "default@1.0.0"])
def test_activate_default_removes_the_pointer(registered: Path, _isolated_home: Path, spec: str) -> None:
    activate_model("small@0.1.0")
    activate_model(spec)
    assert not (_isolated_home / "active.json").exists()
    assert resolve_model().label == "default@1.0.0"


def test_activate_unknown_names_the_known(registered: Path) -> None:
    with pytest.raises(ModelError, match=r"No model 'small@9\.9'.*default@1\.0\.0, small@0\.1\.0"):
        find_model("small@9.9")


def test_activate_refuses_an_altered_model(registered: Path, _isolated_home: Path) -> None:
    with open(registered / "classifier.npz", "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ModelError, match="does not match the manifest"):
        activate_model("small@0.1.0")
    assert not (_isolated_home / "active.json").exists()


def test_new_version_avoids_clashes(_isolated_home: Path) -> None:
    now = dt.datetime(2026, 11, 27, 1, 30, tzinfo=dt.UTC)
    assert new_version(now=now) == "2026-11-27T013000Z"
    (_isolated_home / "models" / "2026-11-27T013000Z").mkdir(parents=True)
    assert new_version(now=now) == "2026-11-27T013000Z-2"


def test_activate_waits_for_no_retrain(registered: Path, _isolated_home: Path) -> None:
    with home_lock(), pytest.raises(BusyError):
        activate_model("small@0.1.0")
    assert not (_isolated_home / "active.json").exists()


def test_home_lock_refuses_a_second_holder() -> None:
    with home_lock(), pytest.raises(BusyError, match="--wait"), home_lock():
        pass
    with home_lock():  # released
        pass


def test_cli_models_list_show_activate(registered: Path, _isolated_home: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["models"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("* default@1.0.0") and "ROC-AUC" in lines[0]
    assert any(line.startswith("  small@0.1.0") for line in lines)
    shown = runner.invoke(app, ["models", "show", "small@0.1.0"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["training"]["n"] == 150
    assert runner.invoke(app, ["models", "activate", "small@0.1.0"]).exit_code == 0
    as_json = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    assert [row["active"] for row in as_json] == [False, True]
    assert runner.invoke(app, ["models", "activate", "default"]).exit_code == 0
    assert not (_isolated_home / "active.json").exists()
    missing = runner.invoke(app, ["models", "activate", "nope@1"])
    assert missing.exit_code == 1 and "scanner models" in missing.stderr and not missing.stdout
