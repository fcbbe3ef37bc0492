"""The command line: ``scan`` and ``scanner``.

Each command converts its arguments, makes one library call, hands the
result to a renderer and maps errors to exit codes: 0 done, 1 an error that
stopped the command, 2 bad usage, 3 ``--fail-on`` reached.
"""

from __future__ import annotations

import enum
import json
import sys
from dataclasses import replace
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


class Engine(enum.StrEnum):
    """Where a batch is scored."""

    local = "local"
    dask = "dask"


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
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Processes to score in (default: all cores); a batch of under a second's work is scored in one.",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Carry on an interrupted run into the same --out file.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0, help="Seconds allowed per document (0: no limit).")
    ] = 120.0,
    near_duplicates: Annotated[
        float, typer.Option("--near-duplicate-threshold", min=0, max=1, help="Similarity that counts as a near-copy.")
    ] = 0.8,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any document could not be scored.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary on stderr.")] = False,
    no_explain: Annotated[bool, typer.Option("--no-explain", help="Skip naming the top terms (faster).")] = False,
    engine: Annotated[Engine, typer.Option("--engine", help="Where to score: local processes or a Dask cluster.")] = (
        Engine.local
    ),
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address (default: a LocalCluster here).")
    ] = None,
    max_mb: Annotated[float, typer.Option("--max-mb", min=0.001, help="Largest document to read, in MB.")] = 50.0,
    limit: Annotated[
        list[str] | None,
        typer.Option(
            "--limit",
            help="Reading limit NAME=VALUE, repeatable: pdf-pages, pdf-stream-mb, chars, docx-entries, docx-mb, "
            "docx-ratio (defaults: 2000, 10, 5000000, 2000, 200, 200; README 'Security').",
        ),
    ] = None,
) -> None:
    """Score filings: a risk score, level, category and the sentences that raised it.

    Example: scan filings/ --out results.csv
    """
    from scanner.batch import default_workers, plan_jobs
    from scanner.documents import ReadLimits, parse_limits
    from scanner.registry import resolve_model
    from scanner.render import format_for_path

    try:
        limits = parse_limits(limit or [], ReadLimits(max_bytes=int(max_mb * 2**20)))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--limit") from None
    try:
        loaded = resolve_model(model)
        dataset = out is not None and (out.suffix == "" or out.is_dir())  # a folder: a partitioned Parquet dataset
        fmt = (
            "parquet-dataset"
            if dataset
            else format_for_path(out)
            if out
            else (output_format.value if output_format else "card")
        )
        if resume and out is None:
            raise typer.BadParameter("--resume needs --out FILE (the output to carry on).")
        planned = plan_jobs(paths, text_column=text_column, id_column=id_column)
        single = len(paths) == 1 and len(planned) == 1 and planned[0].path is not None and planned[0].id == paths[0]
        summary, reached = _run_scan(
            planned,
            loaded,
            fmt=fmt,
            out=out,
            resume=resume,
            single=single,
            fail_on=fail_on.value if fail_on else None,
            quiet=quiet,
            workers=jobs or default_workers(),
            options={
                "explain": not no_explain,
                "timeout": timeout or None,
                "limits": limits,
            },
            near_threshold=near_duplicates,
            engine=_engine(engine, scheduler, jobs),
        )
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    except KeyboardInterrupt:
        hint = " Run the same command with --resume to carry on." if out else ""
        raise _fail(f"Interrupted.{hint}") from None
    if not quiet and summary.documents > 1:
        for line in summary.lines():
            typer.echo(line, err=True)
    if strict and summary.errors:
        raise _fail(f"{summary.errors} document(s) could not be scored (--strict).")
    if reached:
        raise typer.Exit(EXIT_FAIL_ON)


def _run_scan(
    planned: list[Any],
    loaded: Any,
    *,
    fmt: str,
    out: Path | None,
    resume: bool,
    single: bool,
    fail_on: str | None,
    quiet: bool,
    workers: int,
    options: dict[str, Any],
    near_threshold: float,
    engine: Any = None,
) -> tuple[Any, bool]:
    """Wire a batch to its output, checkpoint and progress display; return (summary, fail-on reached)."""
    from scanner.batch import STREAMED_FORMATS, Checkpoint, run_batch
    from scanner.render import ResultWriter, finish_journal

    levels = {"low": 0, "medium": 1, "high": 2}
    state = {"reached": False}
    checkpoint = None
    done: list[dict[str, Any]] = []
    if out is not None:
        side = out / "_scan" if fmt == "parquet-dataset" else out
        if fmt == "parquet-dataset":
            out.mkdir(parents=True, exist_ok=True)
        target = out if fmt in STREAMED_FORMATS else side.with_name(side.name + ".journal.jsonl")
        checkpoint = Checkpoint(side.with_name(side.name + ".progress"))
        done = checkpoint.read() if resume else []
        if done and target.is_file() and target.stat().st_size >= done[-1]["end"]:
            with open(target, "r+b") as handle:
                handle.truncate(done[-1]["end"])  # drop a row torn by the interruption
        else:
            done = []
        writer = ResultWriter(fmt if fmt in STREAMED_FORMATS else "jsonl", path=target, append=bool(done))
        checkpoint.open(keep=len(done), durable=writer.durable)
    else:
        writer = ResultWriter(fmt, stream=sys.stdout)

    progress = None
    if not quiet and sys.stderr.isatty() and len(planned) > 1:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} docs/s"),
            TimeRemainingColumn(),
            transient=True,
        )
        task = progress.add_task("scan", total=len(planned), completed=len(done), rate="-")
        progress.start()

    def write(record: dict[str, Any], result: Any) -> int | None:
        if result.error:
            if single:
                raise _fail(f"Error: {result.error}")
            if not quiet:
                typer.echo(f"warning: {result.error}", err=True)
        if fail_on and result.risk_level and levels[result.risk_level] >= levels[fail_on]:
            state["reached"] = True
        writer.write(record, result)
        return writer.tell()

    def tick(result: Any) -> None:
        if progress is not None:
            elapsed = progress.tasks[0].elapsed or 0.0
            done_now = progress.tasks[0].completed + 1 - len(done)
            progress.update(task, advance=1, rate=f"{done_now / elapsed:.1f}" if elapsed > 0 else "-")

    finished = False
    try:
        with writer:
            summary = run_batch(
                planned,
                loaded,
                write,
                workers=workers,
                checkpoint=checkpoint,
                done=done,
                near_threshold=near_threshold,
                on_result=tick,
                engine=engine,
                **options,
            )
        if out is not None and fmt not in STREAMED_FORMATS:
            finish_journal(side.with_name(side.name + ".journal.jsonl"), fmt, out)
        finished = True
    finally:
        if progress is not None:
            progress.stop()
        if checkpoint is not None:
            checkpoint.close(remove=finished)
        if engine is not None:
            engine.close()
    return summary, state["reached"]


def _engine(engine: Engine, scheduler: str | None, jobs: int | None) -> Any:
    """The Dask engine when asked for (the local engine is the default, None)."""
    if engine is Engine.local:
        if scheduler:
            raise typer.BadParameter("--scheduler goes with --engine dask.")
        return None
    from scanner.dask_engine import DaskEngine

    return DaskEngine(scheduler=scheduler, workers=jobs)


app.command("score")(score)


@app.command("train")
def train(
    data: Annotated[
        list[Path], typer.Argument(help="Labelled data: CSV, JSONL, XLSX, Parquet or DIR/<label>/ folders.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The model folder to write (default: a new version in SCANNER_HOME)."),
    ] = None,
    name: Annotated[str, typer.Option(help="Model name, as in result 'model' fields.")] = "trained",
    version: Annotated[str | None, typer.Option(help="Model version (default: the time, or 1.0.0 with --out).")] = None,
    created: Annotated[str | None, typer.Option(help="Training timestamp to record (for reproducible builds).")] = None,
    select: Annotated[
        bool, typer.Option("--select/--no-select", help="Choose the regularisation and weighting by cross-validation.")
    ] = True,
    c: Annotated[float | None, typer.Option("--c", min=1e-6, help="Fix the inverse regularisation strength.")] = None,
    baseline: Annotated[
        bool, typer.Option("--baseline/--no-baseline", help="Also cross-validate a plain TF-IDF baseline.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the validation metrics as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Train a model from labelled data and print its cross-validated metrics.

    Example: scanner train data/corpus.csv --out models/mine
    """
    from scanner.datasets import read_labelled
    from scanner.registry import models_dir, new_version
    from scanner.training import TrainConfig, baseline_auc, fit_model, write_model

    try:
        labelled = read_labelled(list(data))
        config = TrainConfig(select=select and c is None)
        if c is not None:
            config = replace(config, risk_c=c)
        trained = fit_model(labelled, config, quiet=quiet)
        if baseline:
            if not quiet:
                typer.echo("Cross-validating the baseline…", err=True)
            trained.metrics["baseline"] = baseline_auc(labelled, config)
        if out is None:
            version = version or new_version(name)
            out = models_dir() / version
        folder = write_model(
            trained,
            labelled,
            out,
            name=name,
            version=version or "1.0.0",
            created=created,
            sources=[str(p) for p in data],
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
    if metrics.get("selection"):
        typer.echo(
            "chosen by cross-validated ROC-AUC among: " + ", ".join(f"{k} {v}" for k, v in metrics["selection"].items())
        )
    base = metrics.get("baseline")
    if base:
        groups = ", ".join(f"{g} {v:.4f}" for g, v in base["by_group"].items() if v is not None)
        typer.echo(
            f"baseline (word+char TF-IDF, logistic regression, same folds): ROC-AUC {base['roc_auc']:.4f}"
            + (f" ({groups})" if groups else "")
        )


@app.command("evaluate")
def evaluate(
    data: Annotated[list[Path], typer.Argument(help="Labelled data to evaluate on.")],
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Also write an HTML report with plots to FILE.html.")
    ] = None,
) -> None:
    """Measure a model on labelled data: ROC-AUC, precision, recall, FPR, category accuracy.

    Example: scanner evaluate labelled.csv --report eval.html
    """
    from scanner.datasets import read_labelled
    from scanner.evaluation import evaluate_model
    from scanner.registry import resolve_model

    try:
        labelled = read_labelled(list(data))
        evaluation = evaluate_model(resolve_model(model), labelled, explain=report_path is not None)
        if report_path is not None:
            from scanner.eval_report import write_evaluation_report

            write_evaluation_report(evaluation, report_path, labelled.texts)
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    except OSError as exc:
        raise _fail(f"Error: cannot write {report_path} ({exc.strerror}).") from None
    _print_metrics(evaluation.metrics, as_json)
    if report_path is not None:
        typer.echo(f"Report written to {report_path}", err=True)


@app.command("report")
def report(
    results: Annotated[Path, typer.Argument(help="scan output: .jsonl, .json or .csv")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")],
    title: Annotated[str, typer.Option(help="The page title.")] = "crypto-risk-scanner report",
) -> None:
    """Write one self-contained HTML page for reviewers from scan results.

    Example: scanner report results.jsonl --out report.html
    """
    from scanner.report import read_results, render_report

    try:
        records = read_results(results)
        html = render_report(records, title=title)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(out)
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    except OSError as exc:
        raise _fail(f"Error: cannot write {out} ({exc.strerror}).") from None
    typer.echo(f"{len(records)} filings written to {out}", err=True)


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


models_app = typer.Typer(
    name="models",
    help="List, show and activate models (roll back or forward).",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(models_app, name="models")


@models_app.callback()
def models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """List the models: the shipped default and those in SCANNER_HOME, the active one marked with *.

    Example: scanner models
    """
    if ctx.invoked_subcommand is not None:
        return
    from scanner.registry import list_models

    try:
        rows = [entry.summary() for entry in list_models()]
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    if not any(row["active"] for row in rows):
        typer.echo(
            "warning: active.json names a model that is not there; run: scanner models activate VERSION", err=True
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        mark = "*" if row["active"] else " "
        if row["problem"]:
            typer.echo(f"{mark} {row['label']:<36} unreadable: {row['problem']}")
            continue
        training, thresholds = row["training"], row["thresholds"] or {}
        counts = ", ".join(f"{k} {v}" for k, v in (training["counts"] or {}).items())
        typer.echo(
            f"{mark} {row['label']:<36} ROC-AUC {row['roc_auc']}  medium {thresholds.get('medium', 0):.3f} "
            f"high {thresholds.get('high', 0):.3f}  n {training['n']} ({counts})  "
            f"data {str(training['sha256'])[:12]}  created {row['created']}"
        )
        typer.echo(f"    sources: {', '.join(training['sources'] or []) or '-'}")


@models_app.command("show")
def models_show(version: Annotated[str, typer.Argument(help="name@version, the version, or default.")]) -> None:
    """Show one model's manifest summary: metrics, thresholds, training data, gate.

    Example: scanner models show default@1.0.0
    """
    from scanner.registry import find_model

    try:
        entry = find_model(version)
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    typer.echo(json.dumps(entry.summary(), indent=2, ensure_ascii=False))


@models_app.command("activate")
def models_activate(version: Annotated[str, typer.Argument(help="name@version as in results, or default.")]) -> None:
    """Make a model the active one; `default` goes back to the shipped model.

    Example: scanner models activate default
    """
    from scanner.registry import activate_model

    try:
        entry = activate_model(version)
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    typer.echo(f"Active model: {entry.label}", err=True)


@app.command("retrain")
def retrain(
    new_labels: Annotated[
        list[Path] | None, typer.Argument(help="New labelled files (CSV, JSONL, XLSX, Parquet, DIR/<label>/).")
    ] = None,
    base: Annotated[
        Path | None, typer.Option("--base", help="Base corpus to train on as well (default: data/corpus.csv).")
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", min=0, help="How much worse than the active model is allowed.")
    ] = 0.01,
    force: Annotated[bool, typer.Option("--force", help="Promote even when the gate refuses.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for a running retrain instead of failing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the gate report as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Store new labels, train a candidate, and make it active if it is not worse than the active model.

    Example: scanner retrain to_label.csv
    """
    from scanner.retraining import retrain as run_retrain

    def say(message: str) -> None:
        if not quiet:
            typer.echo(message, err=True)

    try:
        outcome = run_retrain(
            list(new_labels or []), base=base, tolerance=tolerance, force=force, wait=wait, progress=say
        )
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    for warning in outcome.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        typer.echo(json.dumps({"promoted": outcome.promoted, "model": outcome.label, **outcome.gate.to_dict()}))
    else:
        for line in outcome.gate.lines():
            typer.echo(line, err=True)
    if not outcome.promoted:
        raise _fail(
            "Refused: the candidate is worse than the active model ("
            + "; ".join(outcome.gate.failures)
            + ")."
            + (
                f" Label batch(es) {', '.join(outcome.rejected)} marked rejected in the store."
                if outcome.rejected
                else ""
            )
            + " Check the labels, or promote anyway with --force."
        )
    forced = " (forced past the gate)" if outcome.forced else ""
    typer.echo(f"Active model: {outcome.label}{forced}", err=True)


@app.command("suggest")
def suggest(
    inputs: Annotated[list[str], typer.Argument(help="Unlabelled documents, folders or tables.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The CSV to write (fill in its label column).")],
    n: Annotated[int, typer.Option("--n", min=1, help="How many documents to suggest.")] = 50,
    model: ModelOption = None,
    text_column: Annotated[str | None, typer.Option("--text-column", help="Column holding the text.")] = None,
    id_column: Annotated[str | None, typer.Option("--id-column", help="Column holding the id.")] = None,
) -> None:
    """Pick the documents whose labels would teach the model most, as a CSV to label.

    Example: scanner suggest unlabelled/ --n 50 --out to_label.csv
    """
    from scanner.registry import resolve_model
    from scanner.suggest import suggest_documents, write_suggestions

    try:
        picked = suggest_documents(inputs, resolve_model(model), n, text_column=text_column, id_column=id_column)
        write_suggestions(picked, out)
    except ScannerError as exc:
        raise _fail(f"Error: {exc}") from None
    typer.echo(
        f"{len(picked)} documents to label written to {out}; fill in 'label', then: scanner retrain {out}", err=True
    )


def main() -> None:
    """Entry point of ``scanner``."""
    app()


scan_app = typer.Typer(name="scan", add_completion=False, pretty_exceptions_enable=False)
scan_app.command()(score)


def scan_main() -> None:
    """Entry point of ``scan`` (the same as ``scanner score``)."""
    scan_app()
