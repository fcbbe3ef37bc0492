"""Shared fixtures: every test runs with its own SCANNER_HOME and no SCANNER_MODEL."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
CORPUS = REPO / "data" / "corpus.csv"
DEFAULT_MODEL = REPO / "models" / "default"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("scanner_home")
    monkeypatch.setenv("SCANNER_HOME", str(home))
    monkeypatch.delenv("SCANNER_MODEL", raising=False)
    return home


@pytest.fixture(scope="session")
def corpus_rows() -> list[dict[str, str]]:
    with open(CORPUS, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def default_model():
    from scanner.model import load_model

    return load_model(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def small_corpus(corpus_rows, tmp_path_factory) -> Path:
    """A deterministic 150-document slice of the corpus (50 per label), as CSV."""
    picked: list[dict[str, str]] = []
    for label in ("legitimate", "illegal_fundraising", "pseudo_innovation"):
        picked += [r for r in corpus_rows if r["label"] == label][:50]
    path = tmp_path_factory.mktemp("small") / "small.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "label"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(picked)
    return path


@pytest.fixture(scope="session")
def small_model(small_corpus, tmp_path_factory):
    """A model trained on :func:`small_corpus` (a few seconds, once per session)."""
    from scanner.datasets import read_labelled
    from scanner.model import load_model
    from scanner.training import fit_model, write_model

    data = read_labelled(small_corpus)
    trained = fit_model(data)
    folder = write_model(trained, data, tmp_path_factory.mktemp("models") / "small", name="small", version="0.1.0")
    return load_model(folder)
