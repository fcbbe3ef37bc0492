"""The HTML report as a reviewer sees it: headless Chromium runs the page's script, then we read its DOM."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from scanner.report import render_report
from tests.test_report import parse_page, record, sample_records

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PWN = "document.body.setAttribute('data-pwned', 'yes')"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless browser test needs /usr/bin/chromium (apt-get install chromium)"
)


def _chromium(profile: Path, url: str, *args: str) -> str:
    """Run headless Chromium on ``url`` with no network or background services; return its stdout."""
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    command += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    command += [f"--user-data-dir={profile}", *args, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _records() -> list[dict[str, Any]]:
    hostile = [f"<script>{PWN}</script>", f'<img src="x" onerror="{PWN}">', f'<svg onload="{PWN}"></svg>']
    trap = record(
        "trap.txt",
        70.0,
        "high",
        "illegal_fundraising",
        red_flags=[{"id": "FIXED_RETURN", "severity": "high", "title": hostile[1], "evidence": " ".join(hostile)}],
        top_terms=[{"term": "script", "weight": 0.1}],
    )
    return [*sample_records(), trap]


@pytest.fixture()
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(render_report(_records(), generated="2026-01-02 09:00 UTC"), encoding="utf-8")
    return path


def _dom(report: Path, suffix: str = "") -> str:
    return _chromium(report.parent / "profile", report.as_uri() + suffix, "--dump-dom")


def test_rows_are_shown_by_descending_score_with_highlighted_evidence(report: Path) -> None:
    dom = _dom(report, "#open=all")
    assert re.search(r'<body[^>]*data-ready="true"', dom), "the page's script did not run"
    page = parse_page(dom)
    scores = [float(str(row["data-score"])) for row in page.rows if row["data-score"]]
    assert len(page.rows) == len(_records()) and scores == sorted(scores, reverse=True) and len(scores) == 6
    assert page.rows[-1]["data-level"] == "error"
    assert all("hidden" not in row for row in page.rows)
    opened = [detail for detail in page.details if "hidden" not in detail["attrs"]]
    assert len(opened) == len(page.rows)  # open=all expanded every filing
    assert opened[0]["marks"] == ["Daily Return", "deposit"]


def test_only_the_clicked_filing_opens_from_the_address(report: Path) -> None:
    page = parse_page(_dom(report, "#open=" + quote("high/golden-miner.txt")))
    shown = [
        row["data-id"] for row, detail in zip(page.rows, page.details, strict=True) if "hidden" not in detail["attrs"]
    ]
    assert shown == ["high/golden-miner.txt"]


@pytest.mark.parametrize("address", ["#level=high", "?level=high"], ids=["fragment", "query"])
def test_choosing_level_high_hides_the_other_rows(report: Path, address: str) -> None:
    dom = _dom(report, address)
    page = parse_page(dom)
    visible = [row["data-level"] for row in page.rows if "hidden" not in row]
    hidden = [str(row["data-level"]) for row in page.rows if "hidden" in row]
    assert visible == ["high"] * 4 and sorted(hidden) == ["error", "low", "medium"]
    assert '<span id="shown">4</span> of 7 shown' in dom
    assert [row["data-id"] for row in page.rows][:4] == ["high/golden-miner.txt", "high/jucaibao.txt", *_hostile_ids()]


def _hostile_ids() -> list[str]:
    return ['hostile/"><img src=x onerror=alert(2)>.txt', "trap.txt"]


def test_category_and_id_search_combine(report: Path) -> None:
    page = parse_page(_dom(report, "#category=illegal_fundraising&q=HIGH/"))
    assert [row["data-id"] for row in page.rows if "hidden" not in row] == [
        "high/golden-miner.txt",
        "high/jucaibao.txt",
    ]


def test_no_script_from_the_data_runs(report: Path) -> None:
    dom = _dom(report, "#open=all")
    assert not re.search(r"<body[^>]*data-pwned", dom)
    assert "&lt;<mark>script</mark>&gt;document.body.setAttribute" in dom  # shown as text, in the evidence
    elements = _elements(dom)
    assert elements.count("script") == 1 and "img" not in elements and "svg" not in elements


def _elements(html: str) -> list[str]:
    """The names of the elements in a page, in document order."""
    names: list[str] = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: names.append(tag)  # type: ignore[method-assign]
    parser.feed(html)
    return names


def _png_size_and_colours(path: Path) -> tuple[tuple[int, int], int]:
    """Width and height of a PNG, and how many distinct byte values its pixel data holds."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    size = struct.unpack(">II", data[16:24])
    chunks, position = b"", 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        if data[position + 4 : position + 8] == b"IDAT":
            chunks += data[position + 8 : position + 8 + length]
        position += 12 + length
    return size, len(set(zlib.decompress(chunks)))


def test_screenshot_of_the_report(tmp_path: Path) -> None:
    records = _records()[:-1] + [
        record(
            f"filings/project-{i:02d}.pdf",
            score,
            "high" if score >= 70 else "medium" if score >= 40 else "low",
            ("illegal_fundraising", "pseudo_innovation")[i % 2] if score >= 40 else None,
        )
        for i, score in enumerate((88.4, 73.1, 64.0, 47.9, 33.3, 21.7, 9.8, 4.2))
    ]
    report = tmp_path / "report.html"
    report.write_text(render_report(records, generated="2026-01-02 09:00 UTC"), encoding="utf-8")
    shot = tmp_path / "report.png"
    url = report.as_uri() + "#open=" + quote("high/golden-miner.txt")
    _chromium(tmp_path / "profile", url, f"--screenshot={shot}", "--window-size=1280,900")
    size, colours = _png_size_and_colours(shot)
    assert size == (1280, 900) and colours > 50, "the screenshot is blank"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report.png")
