"""A self-contained HTML page of one evaluation, for a reviewer judging a model.

:func:`render_evaluation_report` turns an :class:`~scanner.evaluation.Evaluation` into one HTML page: the contract's
metrics, a table at each level threshold, ROC, precision-recall and calibration plots, the confusion matrix by
category, ROC-AUC per group, and the worst misses with their evidence. Plots are PNG images inlined as ``data:`` URLs
and the page has no script, no external URL and a Content-Security-Policy that allows nothing else. Every text from
the data (ids, evidence, terms, group names) is HTML-escaped, since it quotes hostile documents.

matplotlib is imported inside the plotting functions, so importing this module stays cheap. Figures are drawn on an
explicit Agg canvas rather than through ``matplotlib.use("Agg")``: the result is the same on a headless server, and
a caller's pyplot state (a notebook's backend and open figures) is left alone.

Stable hooks for tests and scripts: ``img[data-plot]`` (``roc``, ``pr``, ``calibration``, ``confusion``), or
``p.note[data-plot]`` where a plot cannot be drawn; tables ``#metrics``, ``#at-level``, ``#confusion``,
``#by-group``; sections ``#false-negatives`` and ``#false-positives`` with one ``tr.miss[data-id]`` per document.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scanner.atomic import write_text_atomic
from scanner.datasets import LABELS
from scanner.evaluation import Evaluation
from scanner.scoring import Result

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

N_MISSES = 10
N_BINS = 10
_N_FLAGS, _N_TERMS, _EVIDENCE_CHARS, _EXCERPT_CHARS = 3, 5, 240, 300
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_LEVEL_COLOURS = {"medium": "#f79009", "high": "#d92d20"}
_CSS = """*{box-sizing:border-box}body{margin:0;color:#1d2939;background:#f2f4f7;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif}
header{background:#101828;color:#fff;padding:18px 28px}h1{margin:0 0 4px;font-size:21px;font-weight:600}
header p{margin:0;color:#d0d5dd;font-size:13px}main{padding:18px 28px}h2{font-size:16px;margin:22px 0 8px}
table{background:#fff;border:1px solid #e4e7ec;border-radius:8px;border-collapse:collapse;margin-bottom:8px}
th{background:#f9fafb;text-align:left;color:#475467;padding:6px 12px;font-size:12px;text-transform:uppercase}
td{padding:6px 12px;border-top:1px solid #f2f4f7;vertical-align:top}td.num{text-align:right;white-space:nowrap}
td.id{word-break:break-all;font:13px ui-monospace,Menlo,Consolas,monospace;max-width:260px}
.plots{display:flex;flex-wrap:wrap;gap:14px}figure{margin:0;background:#fff;border:1px solid #e4e7ec;
border-radius:8px;padding:8px}figcaption{font-size:12px;color:#667085;max-width:440px}img{display:block;max-width:100%}
.note,.muted,footer{color:#667085}p.note{background:#fff;border:1px dashed #d0d5dd;border-radius:8px;padding:12px}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;text-transform:uppercase}
.level-high{background:#fee4e2;color:#b42318}.level-medium{background:#fef0c7;color:#b54708}
.level-low{background:#dcfae6;color:#067647}.level-other{background:#eaecf0;color:#344054}ul{margin:0;padding-left:16px}
code{font-size:12px}q{color:#344054}.excerpt{font-size:12px;color:#475467;max-width:360px;word-break:break-word}
footer{padding:4px 28px 24px;font-size:12px}"""


def render_evaluation_report(
    evaluation: Evaluation,
    texts: list[str] | None = None,
    *,
    title: str = "crypto-risk-scanner evaluation",
    generated: str | None = None,
) -> str:
    """Render an evaluation as one self-contained HTML page.

    Parameters
    ----------
    evaluation : Evaluation
        From :func:`scanner.evaluation.evaluate_model`; pass ``explain=True`` there to list the top terms of
        the misses.
    texts : list of str, optional
        The documents' texts, in the order of ``evaluation.results``; when given, each miss shows an excerpt.
    title : str, default "crypto-risk-scanner evaluation"
        The page title and heading.
    generated : str, optional
        When the report was made, as shown in the header; by default the current UTC time.

    Returns
    -------
    str
        The HTML page. Plots that need both classes (ROC) or risky documents (precision-recall) are replaced by
        a note when the data lacks them.

    Raises
    ------
    ValueError
        When ``evaluation.labels`` or ``texts`` do not have one entry per result.
    """
    results, labels, metrics = evaluation.results, evaluation.labels, evaluation.metrics
    if len(labels) != len(results) or (texts is not None and len(texts) != len(results)):
        raise ValueError(
            f"Expected one label and text per result ({len(results)}); got {len(labels)} labels"
            + ("" if texts is None else f" and {len(texts)} texts")
            + "."
        )
    generated = generated if generated is not None else datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    scored = [i for i, r in enumerate(results) if r.probability is not None]
    probability = np.array([results[i].probability for i in scored], dtype=np.float64)
    y = np.array([labels[i] != "legitimate" for i in scored], dtype=bool)
    model = str(metrics.get("model") or (results[0].model if results else "unknown"))
    at_level: dict[str, dict[str, Any]] = metrics.get("at_level") or {}
    plots = [
        _plot_or_note("roc", "ROC curve", _roc_figure, y, probability, at_level),
        _plot_or_note("pr", "Precision-recall curve", _pr_figure, y, probability, at_level),
        _plot_or_note("calibration", "Calibration (reliability diagram)", _calibration_figure, y, probability),
        _plot_or_note("confusion", "Confusion matrix by category", _confusion_figure, _confusion(results, labels)),
    ]
    sections = [
        f"<h2>Metrics</h2>{_metrics_table(metrics)}<h2>At each level threshold</h2>{_at_level_table(at_level)}",
        f'<h2>Plots</h2><div class="plots">{"".join(plots)}</div>',
        f"<h2>Confusion matrix</h2>{_confusion_table(_confusion(results, labels))}",
    ]
    if metrics.get("by_group"):
        sections.append(f"<h2>By group</h2>{_group_table(metrics['by_group'])}")
    sections.append(_misses_section(results, labels, texts))
    n_risky = int(y.sum())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n<body>"
        f"<header><h1>{escape(title)}</h1><p>Model: {escape(model)} · n = {len(results)} "
        f"({n_risky} risky, {len(scored) - n_risky} legitimate) · Generated {escape(generated)}</p></header>\n"
        f"<main>{chr(10).join(sections)}</main>\n"
        "<footer>Risky means not legitimate. A document is flagged at the medium level or above; "
        "precision, recall, F1 and FPR in the first table are at the medium threshold.</footer></body></html>\n"
    )


def write_evaluation_report(
    evaluation: Evaluation,
    path: str | Path,
    texts: list[str] | None = None,
    *,
    title: str = "crypto-risk-scanner evaluation",
) -> Path:
    """Write :func:`render_evaluation_report` to ``path`` atomically (a temporary file, then a rename).

    Parameters
    ----------
    evaluation : Evaluation
    path : str or Path
        The HTML file to write; its folder must exist.
    texts : list of str, optional
        See :func:`render_evaluation_report`.
    title : str, default "crypto-risk-scanner evaluation"

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OSError
        When the file cannot be written; no partial file is left behind.
    ValueError
        As :func:`render_evaluation_report`.
    """
    return write_text_atomic(path, render_evaluation_report(evaluation, texts, title=title))


def _fmt(value: object, spec: str = ".3f") -> str:
    if value is None:
        return "—"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return escape(str(value))
    try:
        return format(value, spec)
    except ValueError:  # a float where a count was expected
        return escape(str(value))


def _table(table_id: str, head: list[str], rows: list[list[str]] | list[str]) -> str:
    """A table of escaped headings over rows given as lists of ``<td>`` cells or as whole ``<tr>`` elements."""
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(row if isinstance(row, str) else f"<tr>{''.join(row)}</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


def _num(value: object, spec: str = ".3f") -> str:
    return f'<td class="num">{_fmt(value, spec)}</td>'


def _metrics_table(metrics: dict[str, Any]) -> str:
    thresholds = metrics.get("thresholds") or {}
    rows = [
        [f"<td>{escape(key)}</td>", _num(metrics.get(key), "d" if key in ("n", "n_risky") else ".3f")]
        for key in ("n", "n_risky", "roc_auc", "pr_auc", "precision", "recall", "f1", "fpr", "category_accuracy")
    ]
    rows += [[f"<td>threshold {escape(str(level))}</td>", _num(value, ".4f")] for level, value in thresholds.items()]
    return _table("metrics", ["metric", "value"], rows)


def _at_level_table(at_level: dict[str, dict[str, Any]]) -> str:
    keys = ("threshold", "precision", "recall", "f1", "fpr", "tp", "fp", "fn", "tn")
    rows = [
        [f"<td>{escape(str(level))}</td>"]
        + [
            _num(row.get(k), "d" if k in ("tp", "fp", "fn", "tn") else ".4f" if k == "threshold" else ".3f")
            for k in keys
        ]
        for level, row in at_level.items()
    ]
    return _table("at-level", ["level", *keys], rows)


def _group_table(by_group: dict[str, dict[str, Any]]) -> str:
    keys = ("n", "n_risky", "roc_auc", "pr_auc", "recall", "fpr")
    rows = [
        [f"<td>{escape(str(group))}</td>"] + [_num(row.get(k), "d" if k in ("n", "n_risky") else ".3f") for k in keys]
        for group, row in by_group.items()
    ]
    return _table("by-group", ["group", *keys], rows)


def _confusion(results: list[Result], labels: list[str]) -> np.ndarray:
    """Counts of true label (rows) by predicted label (columns, in LABELS order); unscored documents are left out."""
    matrix = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for result, label in zip(results, labels, strict=True):
        if result.risk_level is None or label not in LABELS:
            continue
        predicted = "legitimate" if result.risk_level == "low" else (result.category or "legitimate")
        matrix[LABELS.index(label), LABELS.index(predicted)] += 1
    return matrix


def _confusion_table(matrix: np.ndarray) -> str:
    rows = [[f"<td>{escape(label)}</td>"] + [_num(int(v), "d") for v in matrix[i]] for i, label in enumerate(LABELS)]
    return _table("confusion", ["true \\ predicted", *LABELS], rows)


def _misses_section(results: list[Result], labels: list[str], texts: list[str] | None) -> str:
    flagged = [r.risk_level in ("medium", "high") for r in results]
    scored = [i for i, r in enumerate(results) if r.probability is not None]
    negatives = [i for i in scored if labels[i] != "legitimate" and not flagged[i]]
    positives = [i for i in scored if labels[i] == "legitimate" and flagged[i]]
    worst_fn = sorted(negatives, key=lambda i: results[i].probability or 0.0)[:N_MISSES]
    worst_fp = sorted(positives, key=lambda i: -(results[i].probability or 0.0))[:N_MISSES]
    parts = ["<h2>Worst misses</h2>"]
    for key, heading, rows, empty in (
        ("false-negatives", "Risky documents not flagged, lowest score first", worst_fn, "No false negative."),
        ("false-positives", "Legitimate documents flagged, highest score first", worst_fp, "No false positive."),
    ):
        head = ["id", "score", "level", "true label", "red flags", "top terms"] + (["excerpt"] if texts else [])
        body = [_miss_row(results[i], labels[i], texts[i] if texts else None) for i in rows]
        table = _table(f"{key}-table", head, body) if body else f'<p class="muted">{empty}</p>'
        parts.append(f'<section id="{key}"><h3>{escape(heading)} ({len(rows)} shown)</h3>{table}</section>')
    return "".join(parts)


def _miss_row(result: Result, label: str, text: str | None) -> str:
    level = result.risk_level or "other"
    flags = "".join(
        f"<li><code>{escape(f.id)}</code> <q>{escape(_clip(f.evidence, _EVIDENCE_CHARS))}</q></li>"
        for f in result.red_flags[:_N_FLAGS]
    )
    terms = ", ".join(f"{escape(t.term)} ({t.weight:+.2f})" for t in result.top_terms[:_N_TERMS])
    cells = [
        f'<td class="id">{escape(result.id)}</td>',
        _num(result.risk_score, ".1f"),
        f'<td><span class="badge level-{level if level in ("low", "medium", "high") else "other"}">'
        f"{escape(level)}</span></td>",
        f"<td>{escape(label)}</td>",
        f"<td><ul>{flags}</ul></td>" if flags else '<td class="muted">none</td>',
        f"<td>{terms}</td>" if terms else '<td class="muted">—</td>',
    ]
    if text is not None:
        cells.append(f'<td class="excerpt">{escape(_clip(text, _EXCERPT_CHARS))}</td>')
    return f'<tr class="miss" data-id="{escape(result.id)}">{"".join(cells)}</tr>'


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Plots -------------------------------------------------------------------------------------------------------------


class _NoPlotError(Exception):
    """The data cannot support this plot; the message says why."""


def _plot_or_note(key: str, caption: str, draw: Any, *args: Any) -> str:
    try:
        figure, detail = draw(*args)
    except _NoPlotError as exc:
        return f'<p class="note" data-plot="{key}"><strong>{escape(caption)}</strong>: {escape(str(exc))}</p>'
    return (
        f'<figure><img data-plot="{key}" alt="{escape(caption)}" src="data:image/png;base64,{_png(figure)}">'
        f"<figcaption>{escape(caption)}. {escape(detail)}</figcaption></figure>"
    )


def _figure() -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.6, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # draw with Agg whatever backend pyplot uses
    return figure, figure.add_subplot()


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})  # no URL in the page, even encoded
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _cumulative(y: np.ndarray, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives when flagging at each distinct score, highest first."""
    order = np.argsort(-probability, kind="mergesort")
    hits, ranked = y[order], probability[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    tp = np.cumsum(hits)[last]
    return tp, (last + 1) - tp


def _mark_levels(axes: Axes, at_level: dict[str, dict[str, Any]], x_key: str, y_key: str) -> None:
    for level, row in at_level.items():
        if row.get(x_key) is not None and row.get(y_key) is not None:
            axes.plot(
                [row[x_key]],
                [row[y_key]],
                "o",
                color=_LEVEL_COLOURS.get(level, "#344054"),
                markersize=8,
                label=f"{level} (t = {row['threshold']:.3f})",
            )


def _roc_figure(y: np.ndarray, probability: np.ndarray, at_level: dict[str, dict[str, Any]]) -> tuple[Figure, str]:
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise _NoPlotError(f"needs both risky and legitimate documents (found {n_pos} risky, {n_neg} legitimate).")
    tp, fp = _cumulative(y, probability)
    figure, axes = _figure()
    axes.plot(np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos], color="#344054", drawstyle="steps-post", label="model")
    axes.plot([0, 1], [0, 1], "--", color="#98a2b3", linewidth=1, label="chance")
    _mark_levels(axes, at_level, "fpr", "recall")
    axes.set(xlabel="False-positive rate", ylabel="True-positive rate (recall)", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    axes.legend(loc="lower right", fontsize=8)
    return figure, "Dots mark the medium and high level thresholds."


def _pr_figure(y: np.ndarray, probability: np.ndarray, at_level: dict[str, dict[str, Any]]) -> tuple[Figure, str]:
    n_pos = int(y.sum())
    if n_pos == 0:
        raise _NoPlotError("needs at least one risky document (found none).")
    tp, fp = _cumulative(y, probability)
    figure, axes = _figure()
    axes.plot(np.r_[0.0, tp / n_pos], np.r_[1.0, tp / (tp + fp)], color="#344054", drawstyle="steps-pre", label="model")
    axes.axhline(n_pos / len(y), linestyle="--", color="#98a2b3", linewidth=1, label="risky share")
    _mark_levels(axes, at_level, "recall", "precision")
    axes.set(xlabel="Recall", ylabel="Precision", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    axes.legend(loc="lower left", fontsize=8)
    return figure, "Dots mark the medium and high level thresholds."


def _calibration_figure(y: np.ndarray, probability: np.ndarray) -> tuple[Figure, str]:
    if len(y) == 0:
        raise _NoPlotError("no scored document.")
    bins = np.clip((probability * N_BINS).astype(int), 0, N_BINS - 1)
    counts = np.bincount(bins, minlength=N_BINS)
    used = np.flatnonzero(counts)
    mean_p = np.bincount(bins, weights=probability, minlength=N_BINS)[used] / counts[used]
    observed = np.bincount(bins, weights=y.astype(float), minlength=N_BINS)[used] / counts[used]
    figure, axes = _figure()
    axes.plot([0, 1], [0, 1], "--", color="#98a2b3", linewidth=1, label="perfectly calibrated")
    axes.plot(mean_p, observed, "o-", color="#344054", label="model")
    for x, share, count in zip(mean_p, observed, counts[used], strict=True):
        axes.annotate(
            f"n={count}", (x, share), textcoords="offset points", xytext=(-30 if x > 0.85 else 4, 6), fontsize=7
        )
    axes.set(
        xlabel="Mean predicted risk probability", ylabel="Observed risky share", xlim=(-0.02, 1.02), ylim=(-0.05, 1.08)
    )
    axes.legend(loc="upper left", fontsize=8)
    return figure, f"{N_BINS} equal-width bins of the predicted probability; n is the number of documents in a bin."


def _confusion_figure(matrix: np.ndarray) -> tuple[Figure, str]:
    names = [label.replace("_", "\n") for label in LABELS]
    figure, axes = _figure()
    axes.imshow(matrix, cmap="Blues", vmin=0, vmax=max(int(matrix.max()), 1))
    for (row, column), count in np.ndenumerate(matrix):
        dark = count > matrix.max() / 2
        axes.text(column, row, str(count), ha="center", va="center", color="white" if dark else "#101828")
    axes.set_xticks(range(len(LABELS)), names, fontsize=8)
    axes.set_yticks(range(len(LABELS)), names, fontsize=8)
    axes.set(xlabel="Predicted", ylabel="True label")
    return figure, "A document rated low counts as predicted legitimate, else as its predicted category."
