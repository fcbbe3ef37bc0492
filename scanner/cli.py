"""The command line: ``scan`` and ``scanner``.

Each command converts its arguments, makes one library call, hands the
result to a renderer and maps errors to exit codes: 0 done, 1 an error that
stopped the command, 2 bad usage, 3 ``--fail-on`` reached.
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from scanner.errors import ScannerError

EXIT_ERROR = 1
EXIT_FAIL_ON = 3

app = typer.Typer(
    name="scanner",
    help="Screen crypto project filings for illegal fundraising and pseudo-innovation risk.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class OutputFormat(enum.StrEnum):
    """Formats for results on standard output."""

    card = "card"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class Level(enum.StrEnum):
    """Risk levels, for --fail-on."""

    low = "low"
    medium = "medium"
    high = "high"


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(EXIT_ERROR)


ModelOption = Annotated[
    Path | None,
    typer.Option("--model", help="A model folder to use instead of the active one (beats SCANNER_MODEL)."),
]


def score(
    paths: Annotated[
        list[str], typer.Argument(help="Documents, folders, tables (.csv .xlsx .jsonl .parquet) or - for stdin.")
    ],
    output_format: Annotated[
        OutputFormat | None, typer.Option("--format", "-f", help="Output format on stdout (default: card).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write results to FILE (.csv .jsonl .json .xlsx .parquet .html).")
    ] = None,
    fail_on: Annotated[Level | None, typer.Option("--fail-on", help="Exit 3 when a document reaches LEVEL.")] = None,
    model: ModelOption = None,
    text_column: Annotated[
        str | None, typer.Option("--text-column", help="Column holding the text in a table.")
    ] = None,
    id_column: Annotated[str | None, typer.Option("--id-column", help="Column holding the id in a table.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any document could not be scored.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
    no_explain: Annotated[bool, typer.Option("--no-explain", help="Skip naming the top terms (faster).")] = False,
) -> None:
    """Score filings: a risk score, level, category and the sentences that raised it.

    Example: scan filings/acme.pdf --format json
    """
    from scanner.batch import iter_jobs, score_jobs
    from scanner.registry import resolve_model
    from scanner.render import ResultWriter, format_for_path

    try:
        loaded = resolve_model(model)
        fmt = format_for_path(out) if out else (output_format.value if output_format else "card")
        single = (
            len(paths) == 1
            and paths[0] != "-"
            and Path(paths[0]).suffix.lower() not in (".csv", ".xlsx", ".jsonl", ".parquet")
        )
        single = single and not Path(paths[0]).is_dir()
        levels = {"low": 0, "medium": 1, "high": 2}
        reached = False
        errors = 0
        count = 0
        jobs = iter_jobs(paths, text_column=text_column, id_column=id_column)
        with ResultWriter(fmt, stream=None if out else sys.stdout, path=out) as writer:
            for job, result in score_jobs(jobs, loaded, explain=not no_explain):
                count += 1
                if result.error:
                    errors += 1
                    if single:
                        raise _fail(f"Error: {result.error}")
                    typer.echo(f"warning: {result.error}", err=True)
                record = result.to_dict()
                record.update({k: v for k, v in job.extra.items() if k not in record})
                writer.write(record, result)
                if fail_on and result.risk_level and levels[result.risk_level] >= levels[fail_on.value]:
                    reached = True
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    if not quiet and count > 1:
        typer.echo(f"{count} documents scored, {errors} could not be read.", err=True)
    if strict and errors:
        raise _fail(f"{errors} document(s) could not be scored (--strict).")
    if reached:
        raise typer.Exit(EXIT_FAIL_ON)


app.command("score")(score)


@app.command("train")
def train(
    data: Annotated[
        list[Path], typer.Argument(help="Labelled data: CSV, JSONL, XLSX, Parquet or DIR/<label>/ folders.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The model folder to write.")],
    name: Annotated[str, typer.Option(help="Model name, as in result 'model' fields.")] = "model",
    version: Annotated[str, typer.Option(help="Model version.")] = "1.0.0",
    created: Annotated[str | None, typer.Option(help="Training timestamp to record (for reproducible builds).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the validation metrics as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Train a model from labelled data and print its cross-validated metrics.

    Example: scanner train data/corpus.csv --out models/mine
    """
    from scanner.datasets import read_labelled
    from scanner.training import fit_model, write_model

    try:
        labelled = read_labelled(list(data))
        trained = fit_model(labelled, quiet=quiet)
        folder = write_model(
            trained, labelled, out, name=name, version=version, created=created, sources=[str(p) for p in data]
        )
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    _print_metrics(trained.metrics, as_json)
    if not quiet:
        typer.echo(f"Model written to {folder}", err=True)


def _print_metrics(metrics: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    typer.echo(f"documents {metrics['n']} (risky {metrics['n_risky']})")
    typer.echo(f"ROC-AUC {metrics['roc_auc']}   PR-AUC {metrics['pr_auc']}")
    for level, row in metrics["at_level"].items():
        typer.echo(
            f"{level:<6} threshold {row['threshold']:.3f}: precision {row['precision']} recall {row['recall']} "
            f"FPR {row['fpr']}"
        )
    if metrics.get("category_accuracy") is not None:
        typer.echo(f"category accuracy {metrics['category_accuracy']}")
    for group, row in (metrics.get("by_group") or {}).items():
        typer.echo(f"  {group}: n {row['n']} ROC-AUC {row['roc_auc']}")


@app.command("evaluate")
def evaluate(
    data: Annotated[list[Path], typer.Argument(help="Labelled data to evaluate on.")],
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Measure a model on labelled data: ROC-AUC, precision, recall, FPR, category accuracy.

    Example: scanner evaluate labelled.csv --json
    """
    from scanner.datasets import read_labelled
    from scanner.evaluation import evaluate_model
    from scanner.registry import resolve_model

    try:
        labelled = read_labelled(list(data))
        report = evaluate_model(resolve_model(model), labelled)
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    _print_metrics(report.metrics, as_json)


@app.command("indicators")
def indicators(
    as_json: Annotated[bool, typer.Option("--json", help="Print the indicator table as JSON.")] = False,
    lang: Annotated[str, typer.Option(help="Title language: en or zh.")] = "en",
) -> None:
    """List the red-flag indicators: id, category, severity and title.

    Example: scanner indicators --lang zh
    """
    from scanner.indicators import load_indicators

    table = load_indicators()
    if as_json:
        rows = [
            {
                "id": i.id,
                "category": i.category,
                "severity": i.severity,
                "title_en": i.title_en,
                "title_zh": i.title_zh,
                "description": i.description,
                "patterns": [p.pattern for p in i.patterns],
            }
            for i in table
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for indicator in table:
        typer.echo(f"{indicator.id:<28} {indicator.category:<20} {indicator.severity:<7} {indicator.title(lang)}")


def main() -> None:
    """Entry point of ``scanner``."""
    app()


scan_app = typer.Typer(name="scan", add_completion=False, pretty_exceptions_enable=False)
scan_app.command()(score)


def scan_main() -> None:
    """Entry point of ``scan`` (the same as ``scanner score``)."""
    scan_app()
