from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scanner.cli import app
from scanner.datasets import read_labelled
from scanner.suggest import choose_uncertain, suggest_documents, write_suggestions


def test_choose_uncertain_takes_the_most_uncertain_of_each_decile() -> None:
    probability = np.linspace(0.0, 1.0, 100)
    picked = choose_uncertain(probability, 10)
    assert len(picked) == 10
    deciles = sorted(i // 10 for i in picked)
    assert deciles == list(range(10))  # one per decile
    assert picked[:2] == [49, 50]  # the deciles at the boundary come first, at their point nearest 0.5
    assert 9 in picked and 90 in picked  # the extreme deciles give their points nearest the boundary


def test_choose_uncertain_goes_round_the_deciles_again() -> None:
    probability = np.linspace(0.0, 1.0, 100)
    picked = choose_uncertain(probability, 20)
    assert sorted(i // 10 for i in picked) == sorted(list(range(10)) * 2)
    assert len(set(picked)) == 20


@pytest.mark.parametrize("n, size", [(0, 5), (10, 3), (5, 0)], ids=["none-wanted", "fewer-than-n", "empty"])
def test_choose_uncertain_edges(n: int, size: int) -> None:
    picked = choose_uncertain(np.linspace(0, 1, size), n)
    assert sorted(picked) == list(range(min(n, size)))


def test_suggestions_fill_in_to_valid_labelled_data(
    corpus_rows: list[dict[str, str]], small_model, tmp_path: Path
) -> None:
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    for row in corpus_rows[200:260]:
        (folder / f"{row['id']}.txt").write_text(row["text"], encoding="utf-8")
    suggestions = suggest_documents([str(folder)], small_model, 12)
    assert len(suggestions) == 12 and len({s.id for s in suggestions}) == 12
    out = write_suggestions(suggestions, tmp_path / "to_label.csv")
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "text", "path", "risk_score", "label"]
    assert all(row["label"] == "" and row["text"] for row in rows)
    assert all(0 <= float(row["risk_score"]) <= 100 for row in rows)
    rows[0]["label"], rows[1]["label"] = "legitimate", "pseudo_innovation"  # an analyst labels two, leaves the rest
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    data = read_labelled(out)
    assert data.labels == ["legitimate", "pseudo_innovation"] and data.skipped_blank == 10


def test_cli_suggest_writes_the_csv(corpus_rows: list[dict[str, str]], small_model, tmp_path: Path) -> None:
    table = tmp_path / "unlabelled.csv"
    with open(table, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["filing_id", "description"])
        writer.writeheader()
        writer.writerows({"filing_id": r["id"], "description": r["text"]} for r in corpus_rows[300:330])
    out = tmp_path / "to_label.csv"
    result = CliRunner().invoke(
        app,
        [
            "suggest", str(table), "--n", "5", "--out", str(out), "--model", str(small_model.path),
            "--text-column", "description", "--id-column", "filing_id",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "scanner retrain" in result.stderr and not result.stdout
    with open(out, encoding="utf-8", newline="") as handle:
        ids = [row["id"] for row in csv.DictReader(handle)]
    assert len(ids) == 5 and set(ids) <= {r["id"] for r in corpus_rows[300:330]}
