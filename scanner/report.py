"""A self-contained HTML report of scan results, for a reviewer in a browser.

:func:`render_report` turns result records (the contract's dicts) into one HTML page with inline CSS and JavaScript:
no external URL, font or request, and a Content-Security-Policy that lets only the page's own script run. Every text
from a record is HTML-escaped, since records quote hostile documents. Rows are built here as HTML strings, so a page
of 10,000 filings opens fast. :func:`read_results` reads scan output (.jsonl, .json, .csv) back into records.

Filters can be set from the address, to bookmark or share a view: ``report.html#level=high&category=pseudo_innovation
&q=acme&open=all`` shows the high-risk pseudo-innovation filings whose id contains "acme", expanded (``open=ID``
expands one filing). A query string (``?level=high``) works too; changing a filter in the page rewrites the fragment.

Stable hooks for tests and scripts: table ``#results``; one ``tr.result`` per filing with ``data-id``, ``data-level``
(high, medium, low, error), ``data-category`` (a category or ``none``), ``data-score``, then its ``tr.detail`` (hidden
until expanded); evidence in ``q.evidence``, top terms in it in ``<mark>``; filters ``#filter-level``,
``#filter-category``, ``#search``; counts in ``#summary [data-count]``. Rows filtered out get the ``hidden`` attribute.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from scanner.errors import ScannerError

LEVELS = ("high", "medium", "low", "error")
SUFFIXES = (".jsonl", ".json", ".csv")
RECORD_KEYS: tuple[str, ...] = ("id", "sha256", "risk_score", "risk_level", "category", "category_scores")
RECORD_KEYS += ("red_flags", "top_terms", "language", "model", "error", "probability")
_SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
_EXTRA_CHARS = 200  # an input column kept beside the scores may hold a whole document
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TERM = re.compile(rf"(?P<term>.*?)\s*\((?P<weight>{_NUMBER})\)")  # "daily return (0.820)" as flattened in CSV
_HOW_TO = "Write scan output with: scan FILES --out results.jsonl (or .json, .csv)."

_CSS = """*{box-sizing:border-box}[hidden]{display:none!important}body{margin:0;color:#1d2939;background:#f2f4f7;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif}
header{background:#101828;color:#fff;padding:18px 28px}h1{margin:0 0 4px;font-size:21px;font-weight:600}
header p{margin:0;color:#d0d5dd;font-size:13px}main{padding:18px 28px}h3{font-size:12px;color:#475467;margin:12px 0 6px}
#summary{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:14px}.n{display:block;font-size:22px;font-weight:650}
.card{background:#fff;border:1px solid #e4e7ec;border-top:4px solid #344054;border-radius:8px;padding:6px 14px}
.card.high{border-top-color:#d92d20}.card.medium{border-top-color:#f79009}.card.low{border-top-color:#12b76a}
.card.error{border-top-color:#98a2b3}.card.cat{border-top-color:#7a5af8}.k,th,h3{text-transform:uppercase;font-size:12px}
.filters,table{background:#fff;border:1px solid #e4e7ec;border-radius:8px}.k,.w,.muted,#no-match,footer{color:#667085}
.filters{display:flex;flex-wrap:wrap;align-items:center;gap:14px;padding:10px 14px;margin-bottom:12px}
label{font-weight:600;color:#344054}#search{width:220px}.spacer{flex:1}#shown-count{color:#667085}
select,input,button{font:inherit;margin-left:6px;padding:4px 8px;border:1px solid #d0d5dd;border-radius:6px}
table{width:100%;border-collapse:collapse}td{padding:7px 12px;border-bottom:1px solid #f2f4f7;vertical-align:middle}
th{position:sticky;top:0;background:#f9fafb;text-align:left;color:#475467;padding:8px 12px;border-bottom:1px solid #eee}
tr.result{cursor:pointer}tr.result:hover,tr.open{background:#f5f8ff}td.num{text-align:right;white-space:nowrap}
td.id{word-break:break-all;font:13px ui-monospace,Menlo,Consolas,monospace}tr.open .toggle{transform:rotate(90deg)}
.toggle{margin:0 8px 0 0;padding:0 4px;border:0;background:none;color:#667085;font-size:11px}
.bar{display:inline-block;width:60px;height:6px;margin-left:8px;background:#eaecf0;border-radius:3px;vertical-align:middle}
.bar span{display:block;height:100%;border-radius:3px;background:#475467}.w{font-size:12px}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;text-transform:uppercase}
.level-high,.sev-high{background:#fee4e2;color:#b42318}.level-medium,.sev-medium{background:#fef0c7;color:#b54708}
.level-low,.sev-low{background:#dcfae6;color:#067647}.level-error,.level-other,.sev-other{background:#eaecf0;color:#344054}
tr.detail>td{background:#fcfcfd;padding:4px 20px 16px 44px}ol{margin:0;padding-left:18px}li.flag{margin-bottom:9px}
q.evidence{display:block;margin-top:3px;padding:4px 10px;border-left:3px solid #d0d5dd;background:#fff;color:#344054}
mark{background:#fde272;color:inherit;padding:0 2px;border-radius:2px}ul.terms{margin:0;padding:0;list-style:none}
ul.terms li{display:inline-block;margin:0 6px 6px 0;padding:1px 8px;border:1px solid #e4e7ec;border-radius:10px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;font-size:13px}dt{color:#667085}
dd{margin:0;word-break:break-all}.error-text{color:#b42318;font-weight:600}footer{padding:4px 28px 24px;font-size:12px}
[data-level=high] .bar>*{background:#d92d20}[data-level=medium] .bar>*{background:#f79009}
[data-level=low] .bar>*{background:#12b76a}@media print{.filters,.toggle{display:none}th{position:static}}"""

# Everything the page does, with no data inside: rows are filtered on their data-* attributes.
_JS = """(function () {
  var $ = function (id) { return document.getElementById(id); };
  var level = $("filter-level"), cat = $("filter-category"), search = $("search");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#results tr.result"));
  function setOpen(row, open) {
    row.classList.toggle("open", open);
    row.querySelector(".toggle").setAttribute("aria-expanded", String(open));
    row.nextElementSibling.hidden = !open || row.hidden;
  }
  function apply(save) {
    var l = level.value, c = cat.value, q = search.value.trim(), low = q.toLowerCase(), shown = 0, p;
    rows.forEach(function (r) {
      var d = r.dataset, ok = (!l || d.level === l) && (!c || d.category === c);
      r.hidden = !(ok && d.id.toLowerCase().indexOf(low) !== -1);
      r.nextElementSibling.hidden = r.hidden || !r.classList.contains("open");
      shown += r.hidden ? 0 : 1;
    });
    $("shown").textContent = shown; $("no-match").hidden = shown > 0 || rows.length === 0;
    if (save) {
      p = new URLSearchParams([["level", l], ["category", c], ["q", q]].filter(function (kv) { return kv[1]; }));
      try { history.replaceState(null, "", "#" + p); } catch (e) { /* some file:// pages refuse */ }
    }
  }
  function load() {
    var p = new URLSearchParams(location.hash.slice(1) || location.search.slice(1)), open = p.get("open");
    [[level, "level"], [cat, "category"], [search, "q"]].forEach(function (f) {
      f[0].value = p.get(f[1]) || "";
      if (f[0].selectedIndex < 0) { f[0].selectedIndex = 0; }  /* a value the select does not offer */
    });
    apply(false);
    rows.forEach(function (r) { if (!r.hidden && (open === "all" || r.dataset.id === open)) { setOpen(r, true); } });
  }
  document.querySelector("#results tbody").addEventListener("click", function (ev) {
    var r = ev.target.closest("tr.result");  /* a click in the details (to copy a quote) keeps them open */
    if (r) { setOpen(r, !r.classList.contains("open")); }
  });
  [level, cat, search].forEach(function (el) { el.addEventListener("input", function () { apply(true); }); });
  [["expand-all", true], ["collapse-all", false]].forEach(function (b) {
    $(b[0]).onclick = function () { rows.forEach(function (r) { if (!r.hidden) { setOpen(r, b[1]); } }); };
  });
  window.addEventListener("hashchange", load);
  load();
  document.body.setAttribute("data-ready", "true");
})();"""
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_JS.encode("utf-8")).digest()).decode("ascii")
_CSP = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{_SCRIPT_HASH}'; base-uri 'none'"


class ReportError(ScannerError):
    """Scan results cannot be read back for a report."""


def render_report(
    records: list[dict[str, Any]], *, title: str = "crypto-risk-scanner report", generated: str | None = None
) -> str:
    """Render result records as one self-contained HTML page.

    Parameters
    ----------
    records : list of dict
        Result records as in the contract; extra keys (input columns) are shown in a filing's details.
    title : str, default "crypto-risk-scanner report"
        The page title and heading.
    generated : str, optional
        When the report was made, as shown in the header; by default the current UTC time.

    Returns
    -------
    str
        The HTML page: filings by risk score, highest first, unreadable documents last.
    """
    generated = generated if generated is not None else datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    levels = Counter(_level(r) for r in records)
    categories = Counter(_category(r) for r in records if _level(r) != "error" and _category(r) != "none")
    models = ", ".join(sorted({str(r["model"]) for r in records if r.get("model")})) or "none"
    cards = [_card("documents", "documents", len(records), "")]
    cards += [_card(level, level, levels[level], level) for level in LEVELS]
    cards += [_card(c, c.replace("_", " "), n, "cat") for c, n in sorted(categories.items())]
    options = "".join(f'<option value="{escape(c)}">{escape(c.replace("_", " "))}</option>' for c in sorted(categories))
    body = "".join(_render_row(r) for r in sorted(records, key=_sort_key))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n<body>"
        f"<header><h1>{escape(title)}</h1><p>Generated {escape(generated)} · Model: {escape(models)}</p></header>\n"
        f'<main><section id="summary">{"".join(cards)}</section>\n<div class="filters">'
        '<label>Level<select id="filter-level"><option value="">All levels</option>'
        + "".join(f'<option value="{v}">{v.capitalize()}</option>' for v in LEVELS)
        + '</select></label><label>Category<select id="filter-category"><option value="">All categories</option>'
        f'{options}<option value="none">No category</option></select></label><label>Filing id'
        '<input id="search" type="search" placeholder="contains…" autocomplete="off"></label>'
        f'<span id="shown-count"><span id="shown">{len(records)}</span> of {len(records)} shown</span>'
        '<span class="spacer"></span><button type="button" id="expand-all">Expand all</button>'
        '<button type="button" id="collapse-all">Collapse all</button></div>\n<table id="results"><thead><tr>'
        "<th>Filing</th><th>Risk score</th><th>Level</th><th>Category</th><th>Red flags</th></tr></thead>\n<tbody>\n"
        f'{body or """<tr class="empty"><td colspan="5" class="muted">No filings in this report.</td></tr>"""}'
        '</tbody></table>\n<p id="no-match" hidden>No filing matches the filters.</p></main>\n'
        "<footer>Scores and red flags are risk warnings for a human reviewer, not verdicts. Click a row for its "
        f"evidence; highlighted words weighed most in the score.</footer>\n<script>{_JS}</script></body></html>\n"
    )


def _card(key: str, label: str, count: int, kind: str) -> str:
    count_html = f'<span class="n" data-count="{escape(key)}">{count}</span>'
    return f'<div class="card {kind}">{count_html}<span class="k">{escape(label)}</span></div>'


def _score(record: dict[str, Any]) -> float | None:
    value = record.get("risk_score")
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None  # type: ignore[arg-type]


def _level(record: dict[str, Any]) -> str:
    return "error" if record.get("error") else str(record.get("risk_level") or "unknown")


def _category(record: dict[str, Any]) -> str:
    return str(record.get("category") or "none")


def _sort_key(record: dict[str, Any]) -> tuple[int, float]:
    score = _score(record)
    return (2, 0.0) if record.get("error") else (1, 0.0) if score is None else (0, -score)


def _number(value: object, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _render_row(record: dict[str, Any]) -> str:
    rid, level, category, score = str(record.get("id", "")), _level(record), _category(record), _score(record)
    flags = [f for f in record.get("red_flags") or [] if isinstance(f, dict)]
    bar = f'<span class="bar"><span style="width:{min(max(score or 0.0, 0.0), 100.0):.0f}%"></span></span>'
    score_cell = "—" if score is None else f"{score:.1f}{bar}"
    return (
        f'<tr class="result" data-id="{escape(rid)}" data-level="{escape(level)}" data-category="{escape(category)}" '
        f'data-score="{"" if score is None else repr(score)}"><td class="id"><button type="button" class="toggle" '
        f'aria-expanded="false" aria-label="Details">▶</button>{escape(rid)}</td><td class="num">{score_cell}</td>'
        f'<td><span class="badge level-{level if level in LEVELS else "other"}">{escape(level)}</span></td>'
        f"<td>{escape(category.replace('_', ' ')) if category != 'none' else '—'}</td>"
        f'<td class="num">{len(flags)}</td></tr>\n'
        f'<tr class="detail" hidden><td colspan="5">{_render_detail(record, flags)}</td></tr>\n'
    )


def _render_detail(record: dict[str, Any], flags: list[dict[str, Any]]) -> str:
    parts = []
    if record.get("error"):
        parts.append(f'<p class="error-text">Could not be scored: {escape(str(record["error"]))}</p>')
    terms = [(str(t.get("term", "")), t.get("weight")) for t in record.get("top_terms") or [] if isinstance(t, dict)]
    pattern = _term_pattern([term for term, _ in terms])
    if flags:
        ranked = sorted(flags, key=lambda f: _SEVERITY_RANK.get(str(f.get("severity")), 3))
        parts.append(f'<h3>Red flags</h3><ol class="flags">{"".join(_render_flag(f, pattern) for f in ranked)}</ol>')
    elif not record.get("error"):
        parts.append('<p class="muted">No red flag found.</p>')
    if terms:
        items = "".join(f'<li>{escape(t)} <span class="w">{_number(w, "+.2f")}</span></li>' for t, w in terms)
        parts.append(f'<h3>Terms that weighed most</h3><ul class="terms">{items}</ul>')
    meta = []
    if isinstance(scores := record.get("category_scores"), dict) and scores:
        split = ", ".join(f"{str(k).replace('_', ' ')} {_number(v, '.0%') or v}" for k, v in scores.items())
        meta.append(("category split", split))
    meta += [(key, str(record[key])) for key in ("language", "model", "sha256") if record.get(key)]
    for key, value in record.items():
        if key not in RECORD_KEYS and value not in (None, ""):
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            meta.append((str(key), text if len(text) <= _EXTRA_CHARS else text[:_EXTRA_CHARS] + "…"))
    if meta:
        parts.append("<h3>Document</h3><dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in meta))
        parts.append("</dl>")
    return "".join(parts)


def _render_flag(flag: dict[str, Any], pattern: re.Pattern[str] | None) -> str:
    severity = str(flag.get("severity") or "")
    evidence = " ".join(str(flag.get("evidence") or "").split())
    return (
        f'<li class="flag"><span class="badge sev-{severity if severity in _SEVERITY_RANK else "other"}">'
        f"{escape(severity or '?')}</span> <code>{escape(str(flag.get('id', '')))}</code> "
        f"{escape(str(flag.get('title') or ''))}"
        + (f'<q class="evidence">{_highlight(evidence, pattern)}</q>' if evidence else "")
        + "</li>"
    )


def _term_pattern(terms: list[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for the terms; their words may be joined by spaces or punctuation."""
    alternatives = []
    for term in sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True):
        body = r"\W*".join(re.escape(word) for word in term.split())
        # Whole words for Latin terms ("ai" must not light up inside "daily"); Chinese has no word breaks.
        head = r"(?<![^\W_])" if term[0].isascii() and term[0].isalnum() else ""
        tail = r"(?![^\W_])" if term[-1].isascii() and term[-1].isalnum() else ""
        alternatives.append(head + body + tail)
    return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None


def _highlight(text: str, pattern: re.Pattern[str] | None) -> str:
    """Escape ``text`` and wrap the matches of ``pattern`` (found in the raw text) in ``<mark>``."""
    parts, position = [], 0
    for match in pattern.finditer(text) if pattern else ():
        if match.end() > match.start():
            parts.append(f"{escape(text[position : match.start()])}<mark>{escape(match.group())}</mark>")
            position = match.end()
    return "".join(parts) + escape(text[position:])


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Read scan output back into result records.

    Parameters
    ----------
    path : str or Path
        A ``.jsonl`` (one record a line), ``.json`` (an array of records) or ``.csv`` file written by ``scan``.
        Fields that CSV flattens (red flags, evidence, top terms, category scores) are parsed back; a red flag's
        title, severity and category come from the indicator table, its position in the document is ``None``.

    Returns
    -------
    list of dict
        The records, in file order.

    Raises
    ------
    ReportError
        When the file is missing, unreadable, of another format, or does not hold result records.
    """
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ReportError(f"Cannot read results from {path}: use a {', '.join(SUFFIXES)} file. {_HOW_TO}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise ReportError(f"Cannot read results from {path}: {why}. {_HOW_TO}") from exc
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if missing := [c for c in ("id", "risk_score") if c not in (reader.fieldnames or [])]:
            found = ", ".join(reader.fieldnames or []) or "none"
            raise ReportError(f"{path}: no column {', '.join(missing)} (found: {found}); is it scan output? {_HOW_TO}")
        return [_unflatten(row, f"{path} line {reader.line_num}") for row in reader]
    if path.suffix.lower() == ".json":
        data = _load_json(text, str(path))
        if not isinstance(data, list):
            raise ReportError(f"{path}: expected a JSON array of results, got {type(data).__name__}. {_HOW_TO}")
        return [_checked(item, f"{path} item {i}") for i, item in enumerate(data, 1)]
    # Split on "\n" only: str.splitlines would also cut at a U+2028 inside a JSON string.
    lines = [(f"{path} line {n}", line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    return [_checked(_load_json(line, where), where) for where, line in lines]


def _load_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{where}: not valid JSON ({exc}). {_HOW_TO}") from exc


def _checked(item: object, where: str) -> dict[str, Any]:
    """Return ``item`` if it has the shape of a result record, else raise ReportError."""
    if not isinstance(item, dict) or "id" not in item:
        raise ReportError(f"{where}: expected a result object with an id, got {item!r:.60}. {_HOW_TO}")
    if item.get("risk_score") is not None and _score(item) is None:
        raise ReportError(f"{where}: risk_score {item['risk_score']!r} is not a finite number.")
    lists = (item.get("red_flags") or [], item.get("top_terms") or [])
    if not all(isinstance(value, list) and all(isinstance(v, dict) for v in value) for value in lists):
        raise ReportError(f"{where}: red_flags and top_terms must be lists of objects.")
    if not isinstance(item.get("category_scores") or {}, dict):
        raise ReportError(f"{where}: category_scores must be an object.")
    return item


def _float(text: str, where: str, field: str) -> float:
    if not re.fullmatch(_NUMBER, text.strip()):
        raise ReportError(f"{where}: {field} {text!r} is not a number.")
    return float(text)


def _unflatten(row: dict[str | Any, str], where: str) -> dict[str, Any]:
    """Rebuild a record from a CSV row flattened by ``scanner.render.flatten``."""
    record: dict[str, Any] = {k: v for k, v in row.items() if k is not None and k != "evidence"}
    for key in ("sha256", "risk_level", "category", "language", "model", "error"):
        record[key] = (row.get(key) or "").strip() or None
    score = (row.get("risk_score") or "").strip()
    record["risk_score"] = _float(score, where, "risk_score") if score else None
    pairs = [p.partition("=") for p in (row.get("category_scores") or "").split(";") if p.strip()]
    if any(not sep for _, sep, _ in pairs):
        raise ReportError(f"{where}: category_scores {row['category_scores']!r} is not name=value; name=value.")
    record["category_scores"] = {
        k.strip(): _float(v, where, f"category score {k.strip()}") for k, _, v in pairs
    } or None
    terms = [(_TERM.fullmatch(p.strip()), p.strip()) for p in (row.get("top_terms") or "").split("; ") if p.strip()]
    record["top_terms"] = [{"term": m["term"], "weight": float(m["weight"])} if m else {"term": p} for m, p in terms]
    record["red_flags"] = _unflatten_flags(row.get("red_flags") or "", row.get("evidence") or "", record["language"])
    return record


def _unflatten_flags(ids_text: str, evidence: str, language: str | None) -> list[dict[str, Any]]:
    ids = [i.strip() for i in ids_text.split(";") if i.strip()]
    known = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)) or r"[A-Z][A-Z0-9_]*"
    # A sentence may itself hold " | ": split only where a flag id follows.
    pieces = re.split(rf" \| (?=(?:{known}): )", evidence.strip()) if evidence.strip() else []
    found = [(fid.strip(), sentence.strip()) for fid, _, sentence in (p.partition(": ") for p in pieces)]
    found += [(fid, "") for fid in ids if fid not in {f for f, _ in found}]
    flags = []
    for fid, sentence in found:
        known_flag = _indicator_catalogue().get(fid)
        category, severity = (known_flag.category, known_flag.severity) if known_flag else (None, None)
        title = known_flag.title(language or "en") if known_flag else ""
        flags.append(
            dict(id=fid, category=category, severity=severity, title=title, evidence=sentence, start=None, end=None)
        )
    return flags


@lru_cache(maxsize=1)
def _indicator_catalogue() -> dict[str, Any]:
    from scanner.indicators import load_indicators  # only CSV input needs the table

    return {indicator.id: indicator for indicator in load_indicators()}
