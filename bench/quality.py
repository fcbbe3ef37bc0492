"""Quality of a model on the real development sets in ../shared/data (``make quality``).

Prints the figures the README reports, as a Markdown table: ROC-AUC overall
and per source, precision / recall / false-positive rate at the medium and
high thresholds, the share of scam pitches rated medium or high, the share
of legitimate DeFi listings rated high, and category accuracy. The model
never trains on these sets; they measure how it generalises.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from scanner.datasets import read_labelled
from scanner.evaluation import evaluate_model
from scanner.registry import resolve_model

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SETS = {
    "dapps": SHARED / "dapps" / "dev.csv",
    "scam-pitches": SHARED / "scam-pitches" / "train.csv",
    "defi-listings": SHARED / "defi-listings" / "dev.csv",
    "tokens": SHARED / "tokens" / "dev.csv",
}


def measure(model_dir: str | None = None) -> dict[str, dict[str, object]]:
    """Evaluate the model on every development set that is present."""
    model = resolve_model(model_dir)
    out: dict[str, dict[str, object]] = {}
    for name, path in SETS.items():
        if not path.is_file():
            continue
        data = read_labelled(path)
        evaluation = evaluate_model(model, data)
        m = evaluation.metrics
        y = np.array([label != "legitimate" for label in data.labels])
        levels = np.array([r.risk_level for r in evaluation.results])
        row: dict[str, object] = {
            "n": m["n"],
            "roc_auc": m["roc_auc"],
            "medium": {k: m["at_level"]["medium"][k] for k in ("precision", "recall", "fpr")},
            "high": {k: m["at_level"]["high"][k] for k in ("precision", "recall", "fpr")},
            "category_accuracy": m["category_accuracy"],
            "risky_flagged": round(float(np.isin(levels[y], ["medium", "high"]).mean()), 3) if y.any() else None,
            "legit_high": round(float((levels[~y] == "high").mean()), 3) if (~y).any() else None,
            "legit_flagged": round(float(np.isin(levels[~y], ["medium", "high"]).mean()), 3) if (~y).any() else None,
        }
        if name != "dapps" or "by_group" not in m:
            out[name] = row
            continue
        row["by_source"] = {g: v["roc_auc"] for g, v in m["by_group"].items()}
        out[name] = row
    out["_model"] = {"label": model.label}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.model)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"model {result.pop('_model')['label']}")
    print(
        "| set | n | ROC-AUC | medium: precision / recall / FPR | high: precision / recall / FPR | risky rated >= medium | legitimate rated high | category accuracy |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, row in result.items():
        med, high = row["medium"], row["high"]
        print(
            f"| {name} | {row['n']} | {row['roc_auc']} | {med['precision']} / {med['recall']} / {med['fpr']} "
            f"| {high['precision']} / {high['recall']} / {high['fpr']} | {row['risky_flagged']} | {row['legit_high']} "
            f"| {row['category_accuracy']} |"
        )
        if "by_source" in row:
            print(f"|   by source: {', '.join(f'{k} {v}' for k, v in row['by_source'].items())} |||||||")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
