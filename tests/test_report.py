"""The HTML report: structure, ordering, escaping, counts, and reading scan output back."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from scanner.errors import ScannerError
from scanner.report import ReportError, read_results, render_report

HOSTILE = "<script>alert(1)</script>"


def flag(fid: str, evidence: str, severity: str = "high", category: str = "illegal_fundraising") -> dict[str, Any]:
    return {"id": fid, "category": category, "severity": severity, "title": f"Title of {fid}", "evidence": evidence}


def record(rid: str, score: float | None, level: str | None, category: str | None, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": rid,
        "sha256": "ab" * 32,
        "risk_score": score,
        "risk_level": level,
        "category": category,
        "category_scores": {"illegal_fundraising": 0.9, "pseudo_innovation": 0.1} if category else None,
        "red_flags": [],
        "top_terms": [],
        "language": "en",
        "model": "default@1.0.0",
        "error": None,
    }
    base.update(extra)
    return base


def sample_records() -> list[dict[str, Any]]:
    """Six filings in no particular order: every level, both categories, an error, hostile text."""
    return [
        record("low/harbor.html", 12.5, "low", None),
        record(
            "high/golden-miner.txt",
            96.0,
            "high",
            "illegal_fundraising",
            red_flags=[
                flag("FIXED_RETURN", "Earn a guaranteed 2% Daily Return on every USDT you deposit."),
                flag("REFERRAL_COMMISSION", "Invite friends and earn 10% of their deposits.", severity="medium"),
            ],
            top_terms=[{"term": "daily return", "weight": 0.82}, {"term": "deposit", "weight": 0.4}],
        ),
        record("error/broken.pdf", None, None, None, error="Cannot read PDF: file is encrypted."),
        record(
            "medium/nebula-verse.md",
            55.25,
            "medium",
            "pseudo_innovation",
            red_flags=[flag("BUZZWORD_STACK", "The first AI metaverse blockchain daily.", "low", "pseudo_innovation")],
            top_terms=[{"term": "ai", "weight": 0.5}, {"term": "metaverse", "weight": 0.3}],
        ),
        record(
            'hostile/"><img src=x onerror=alert(2)>.txt',
            80.0,
            "high",
            "illegal_fundraising",
            red_flags=[flag("FIXED_RETURN", f"Returns {HOSTILE} daily & <b>bold</b>", severity="<i>high</i>")],
            top_terms=[{"term": "script", "weight": 0.3}, {"term": "<b>", "weight": 0.2}],
            note=f"analyst note {HOSTILE}",
        ),
        record("high/jucaibao.txt", 91.0, "high", "illegal_fundraising", company="聚财宝", text="x" * 1000),
    ]


@dataclass
class Page:
    """What a reviewer's browser would find in a report, as parsed from its HTML."""

    rows: list[dict[str, str | None]] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, str] = field(default_factory=dict)
    scripts: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._count: str | None = None
        self._in_script = self._in_mark = self._in_evidence = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        classes = (named.get("class") or "").split()
        if tag == "tr" and "result" in classes:
            self.page.rows.append(named)
        elif tag == "tr" and "detail" in classes:
            self.page.details.append({"attrs": named, "marks": [], "evidence": []})
        elif tag == "q" and "evidence" in classes:
            self._in_evidence = True
            self.page.details[-1]["evidence"].append("")
        elif tag == "mark" and self._in_evidence:
            self._in_mark = True
        elif tag == "span" and "data-count" in named:
            self._count = named["data-count"]
        elif tag == "script":
            self._in_script = True
            self.page.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "q":
            self._in_evidence = False
        self._in_mark = self._in_mark and tag != "mark"
        self._in_script = self._in_script and tag != "script"
        self._count = None

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.page.scripts[-1] += data
        if self._in_mark:
            self.page.details[-1]["marks"].append(data)
        if self._in_evidence:
            self.page.details[-1]["evidence"][-1] += data
        if self._count is not None:
            self.page.counts[self._count] = data


def parse_page(html: str) -> Page:
    """Parse a report page (as written, or as a browser's DOM dump)."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.page


@pytest.fixture()
def page_html() -> str:
    return render_report(sample_records(), title="Weekly <review>", generated="2026-01-02 09:00 UTC")


def test_rows_are_sorted_by_score_with_errors_last(page_html: str) -> None:
    ids = [row["data-id"] for row in parse_page(page_html).rows]
    assert ids == [
        "high/golden-miner.txt",
        "high/jucaibao.txt",
        'hostile/"><img src=x onerror=alert(2)>.txt',
        "medium/nebula-verse.md",
        "low/harbor.html",
        "error/broken.pdf",
    ]


def test_rows_carry_the_data_attributes_the_filters_use(page_html: str) -> None:
    page = parse_page(page_html)
    first, last = page.rows[0], page.rows[-1]
    assert (first["data-level"], first["data-category"], first["data-score"]) == ("high", "illegal_fundraising", "96.0")
    assert (last["data-level"], last["data-category"], last["data-score"]) == ("error", "none", "")
    assert [row["data-category"] for row in page.rows][3:5] == ["pseudo_innovation", "none"]
    assert len(page.details) == len(page.rows) and all("hidden" in d["attrs"] for d in page.details)
    for hook in ('id="results"', 'id="filter-level"', 'id="filter-category"', 'id="search"', 'id="summary"'):
        assert page_html.count(hook) == 1, hook


def test_each_row_shows_its_red_flags_with_evidence_and_top_terms(page_html: str) -> None:
    page = parse_page(page_html)
    detail = page_html.split('data-id="high/golden-miner.txt"')[1].split('<tr class="result"')[0]
    assert "FIXED_RETURN" in detail and "Title of FIXED_RETURN" in detail and "REFERRAL_COMMISSION" in detail
    assert '<span class="badge sev-high">high</span>' in detail and "Terms that weighed most" in detail
    assert page.details[0]["evidence"][0] == "Earn a guaranteed 2% Daily Return on every USDT you deposit."
    row_cells = re.search(r'data-id="high/golden-miner.txt".*?</tr>', page_html)
    assert row_cells and row_cells.group().endswith('<td class="num">2</td></tr>')


def test_top_terms_are_marked_in_the_evidence_case_insensitively(page_html: str) -> None:
    page = parse_page(page_html)
    assert page.details[0]["marks"] == ["Daily Return", "deposit"]
    assert (
        '<q class="evidence">Earn a guaranteed 2% <mark>Daily Return</mark> on every USDT you <mark>deposit</mark>.'
        in (page_html)
    )


def test_latin_terms_are_marked_as_whole_words_only(page_html: str) -> None:
    nebula = next(
        d
        for d, r in zip(parse_page(page_html).details, parse_page(page_html).rows, strict=True)
        if "nebula" in str(r["data-id"])
    )
    assert nebula["marks"] == ["AI", "metaverse"]  # not the "ai" inside "daily"


def test_hostile_text_is_escaped_and_only_the_page_script_exists(page_html: str) -> None:
    assert HOSTILE not in page_html and "<img" not in page_html and "<b>" not in page_html and "<i>" not in page_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_html
    assert "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;" in page_html  # marks inside escaped text
    assert 'data-id="hostile/&quot;&gt;&lt;img src=x onerror=alert(2)&gt;.txt"' in page_html
    assert "<title>Weekly &lt;review&gt;</title>" in page_html
    page = parse_page(page_html)
    assert len(page.scripts) == 1 and "alert" not in page.scripts[0]
    assert page_html.count("<script") == 1


def test_the_page_only_runs_its_own_script_and_fetches_nothing() -> None:
    page_html = render_report([r for r in sample_records() if not r["id"].startswith("hostile")])
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page_html)
    assert policy and "default-src 'none'" in policy.group(1)
    script = parse_page(page_html).scripts[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy.group(1)  # the page's own script is allowed, nothing else
    assert not re.search(r"https?:|//[a-z]|\bsrc=|\bhref=|url\(|@import|@font-face|fetch\(|XMLHttpRequest", page_html)


def test_summary_counts_levels_categories_errors_and_names_models(page_html: str) -> None:
    counts = parse_page(page_html).counts
    assert counts == {
        "documents": "6",
        "high": "3",
        "medium": "1",
        "low": "1",
        "error": "1",
        "illegal_fundraising": "3",
        "pseudo_innovation": "1",
    }
    assert "Generated 2026-01-02 09:00 UTC" in page_html and "Model: default@1.0.0" in page_html
    two_models = [record("a", 1.0, "low", None), record("b", 2.0, "low", None, model="retrained@1.1.0")]
    assert "Model: default@1.0.0, retrained@1.1.0" in render_report(two_models)


def test_error_rows_show_the_message_and_no_score(page_html: str) -> None:
    page = parse_page(page_html)
    assert page.rows[-1]["data-level"] == "error"
    error_row = page_html.split('data-id="error/broken.pdf"')[1]
    assert "Could not be scored: Cannot read PDF: file is encrypted." in error_row
    assert '<td class="num">—</td>' in error_row and '<span class="badge level-error">error</span>' in error_row


def test_extra_columns_are_shown_escaped_and_shortened(page_html: str) -> None:
    assert "<dt>company</dt><dd>聚财宝</dd>" in page_html
    assert f"<dd>{'x' * 200}…</dd>" in page_html and "x" * 201 not in page_html
    assert "<dt>note</dt><dd>analyst note &lt;script&gt;" in page_html


def test_an_empty_report_is_a_complete_page() -> None:
    html = render_report([], generated="now")
    page = parse_page(html)
    assert page.rows == [] and page.counts["documents"] == "0" and page.counts["high"] == "0"
    assert "No filings in this report." in html and html.rstrip().endswith("</html>") and len(page.scripts) == 1


def test_a_5000_filing_page_renders_every_row() -> None:
    records = [
        record(
            f"doc-{i:05d}",
            (i * 37) % 1000 / 10,
            ("low", "medium", "high")[i % 3],
            "illegal_fundraising",
            red_flags=[flag("FIXED_RETURN", f"Filing {i} pays a fixed daily return.")],
            top_terms=[{"term": "daily return", "weight": 0.8}],
        )
        for i in range(5000)
    ]
    page = parse_page(render_report(records))
    scores = [float(str(row["data-score"])) for row in page.rows]
    assert len(page.rows) == 5000 and scores == sorted(scores, reverse=True)
    assert sum(len(d["marks"]) for d in page.details) == 5000


def test_read_results_reads_jsonl_and_json(tmp_path: Path) -> None:
    records = sample_records()
    records[1]["red_flags"][0]["evidence"] += " line\u2028separator"  # str.splitlines would cut here
    jsonl = tmp_path / "results.jsonl"
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n\n", encoding="utf-8")
    (tmp_path / "results.json").write_text(json.dumps(records), encoding="utf-8")
    assert read_results(jsonl) == records
    assert read_results(str(tmp_path / "results.json")) == records


def _flat_row(rec: dict[str, Any]) -> dict[str, Any]:
    """A record flattened by hand as the contract describes for CSV."""
    flags = rec["red_flags"]
    return {
        **rec,
        "risk_score": "" if rec["risk_score"] is None else rec["risk_score"],
        "category_scores": "; ".join(f"{k}={v}" for k, v in (rec["category_scores"] or {}).items()),
        "red_flags": "; ".join(dict.fromkeys(f["id"] for f in flags)),
        "evidence": " | ".join(f"{f['id']}: {f['evidence']}" for f in flags),
        "top_terms": "; ".join(f"{t['term']} ({t['weight']:.3f})" for t in rec["top_terms"]),
    }


def test_csv_round_trip_parses_flattened_fields_back(tmp_path: Path) -> None:
    records = sample_records()
    records[1]["red_flags"].append(flag("FIXED_RETURN", "A second hit | with a bar: inside the sentence."))
    columns = [*records[0], "evidence", "note", "company", "text"]
    path = tmp_path / "results.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(_flat_row(r) for r in records)
    back = {r["id"]: r for r in read_results(path)}
    miner = back["high/golden-miner.txt"]
    assert miner["risk_score"] == 96.0 and miner["risk_level"] == "high" and miner["error"] is None
    assert miner["category_scores"] == {"illegal_fundraising": 0.9, "pseudo_innovation": 0.1}
    assert miner["top_terms"] == [{"term": "daily return", "weight": 0.82}, {"term": "deposit", "weight": 0.4}]
    assert [(f["id"], f["evidence"]) for f in miner["red_flags"]] == [
        ("FIXED_RETURN", "Earn a guaranteed 2% Daily Return on every USDT you deposit."),
        ("REFERRAL_COMMISSION", "Invite friends and earn 10% of their deposits."),
        ("FIXED_RETURN", "A second hit | with a bar: inside the sentence."),
    ]
    known = miner["red_flags"][0]  # title, severity and category come from the indicator table
    assert (known["title"], known["severity"], known["category"]) == (
        "Promises a fixed periodic return",
        "high",
        "illegal_fundraising",
    )
    assert back["error/broken.pdf"]["risk_score"] is None and back["error/broken.pdf"]["error"].startswith(
        "Cannot read"
    )
    assert back["low/harbor.html"]["category"] is None and back["low/harbor.html"]["red_flags"] == []
    assert back["high/jucaibao.txt"]["company"] == "聚财宝"
    original = parse_page(render_report(records))
    again = parse_page(render_report(list(back.values())))
    assert [r["data-id"] for r in again.rows] == [r["data-id"] for r in original.rows]
    assert again.details[0]["marks"] == original.details[0]["marks"] == ["Daily Return", "deposit"]


def test_csv_written_by_scan_reads_back(tmp_path: Path) -> None:
    from scanner.render import flatten

    path = tmp_path / "scan.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(flatten(sample_records()[1])))
        writer.writeheader()
        writer.writerow(flatten(sample_records()[1]))
    (back,) = read_results(path)
    assert [f["id"] for f in back["red_flags"]] == ["FIXED_RETURN", "REFERRAL_COMMISSION"]
    assert back["top_terms"][0] == {"term": "daily return", "weight": 0.82}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("missing.jsonl", None, "missing.jsonl: No such file or directory", id="missing-file"),
        pytest.param("results.txt", "{}", "use a .jsonl, .json, .csv file", id="other-extension"),
        pytest.param(
            "bad.jsonl", '{"id": "a", "risk_score": 1}\n{oops\n', "bad.jsonl line 2: not valid JSON", id="bad-json-line"
        ),
        pytest.param("obj.json", '{"id": "a"}', "expected a JSON array", id="json-not-array"),
        pytest.param(
            "noid.jsonl", '{"risk_score": 3}\n', "noid.jsonl line 1: expected a result object with an id", id="no-id"
        ),
        pytest.param(
            "score.json",
            '[{"id": "a", "risk_score": "high"}]',
            "item 1: risk_score 'high' is not a finite",
            id="bad-score",
        ),
        pytest.param(
            "flags.json",
            '[{"id": "a", "red_flags": "FIXED"}]',
            "red_flags and top_terms must be lists of objects",
            id="bad-flags",
        ),
        pytest.param(
            "labels.csv",
            "text,label\nhi,legitimate\n",
            "no column id, risk_score (found: text, label)",
            id="not-scan-csv",
        ),
        pytest.param(
            "score.csv",
            "id,risk_score\na,12\nb,lots\n",
            "score.csv line 3: risk_score 'lots' is not a number",
            id="bad-csv-score",
        ),
        pytest.param(
            "cats.csv",
            "id,risk_score,category_scores\na,1,illegal\n",
            "line 2: category_scores 'illegal'",
            id="bad-csv-split",
        ),
        pytest.param("latin1.csv", b"id,risk_score\n\xe9,1\n", "Cannot read results from", id="not-utf8"),
    ],
)
def test_read_results_explains_bad_input(tmp_path: Path, name: str, content: str | bytes | None, message: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError, match=re.escape(message)) as caught:
        read_results(path)
    assert isinstance(caught.value, ScannerError)
