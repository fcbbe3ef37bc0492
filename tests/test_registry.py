from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.errors import ModelError
from scanner.registry import default_model_path, resolve_model_path, scanner_home


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
