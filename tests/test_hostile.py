"""Hostile filings: files built to break, hang or exhaust the scanner, made here in a temp folder.

Each case runs through the installed ``scan`` in a subprocess, alone (exit 1, one clear line
on stderr naming the file, no traceback; or exit 0 and a score when the file is odd but
readable) and in a batch beside good filings (an error row, the good ones scored), within a
time limit and a memory ceiling measured on the child.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docx
import pytest

from scanner import documents
from scanner.documents import ReadLimits, read_document
from scanner.errors import DocumentError
from tests.conftest import DEFAULT_MODEL
from tests.test_documents import _pdf, _pdf_file

SCAN = shutil.which("scan", path=str(Path(sys.executable).parent))
TIME_LIMIT = 60.0  # seconds per run of scan, start-up included
MEMORY_LIMIT_MB = 500
GNU_TIME = Path("/usr/bin/time")
RISKY = "Deposit USDT and earn a guaranteed 2% daily return. Refer a friend for 10% of their deposit. No risk."


# --- the corpus ------------------------------------------------------------------------------


def _good_docx(path: Path, text: str = RISKY) -> None:
    document = docx.Document()
    document.add_paragraph(text)
    document.save(str(path))


def _zip_bomb(path: Path) -> None:
    """512 MB of zeros deflated to about half a megabyte, written in blocks so the test stays small."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as handle:
            block = bytes(2**20)
            for _ in range(512):
                handle.write(block)


def _lying_zip_bomb(path: Path) -> None:
    """100 MB of zeros whose ZIP headers claim 1000 bytes, to slip under the zip-bomb checks."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as handle:
            block = bytes(2**20)
            for _ in range(100):
                handle.write(block)
    data = bytearray(path.read_bytes())
    at = 0
    while (at := data.find(b"word/document.xml", at + 1)) != -1:  # the name follows each header
        for signature, header, field in ((b"PK\x01\x02", 46, 24), (b"PK\x03\x04", 30, 22)):
            if data[at - header : at - header + 4] == signature:  # central directory, local header
                data[at - header + field : at - header + field + 4] = struct.pack("<I", 1000)
    path.write_bytes(bytes(data))


def _billion_laughs_xml() -> str:
    """A WordprocessingML body whose one paragraph holds &lol9;, 10**9 'lol's once expanded."""
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f"<!DOCTYPE w:document [{''.join(entities)}]>"
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>Guaranteed return &lol9;</w:t></w:r></w:p></w:body></w:document>"
    )


def _billion_laughs(path: Path) -> None:
    """A real .docx (so python-docx would open it) with word/document.xml swapped for the bomb."""
    _good_docx(path.with_suffix(".tmp"))
    with zipfile.ZipFile(path.with_suffix(".tmp")) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            body = _billion_laughs_xml().encode() if item.filename == "word/document.xml" else source.read(item)
            target.writestr(item, body)
    path.with_suffix(".tmp").unlink()


def _truncated_pdf(path: Path) -> None:
    data = _pdf(RISKY)
    path.write_bytes(data[: len(data) // 2])


def _encrypted_pdf(path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = path.with_suffix(".tmp")
    plain.write_bytes(_pdf(RISKY))
    writer = PdfWriter()
    writer.append(PdfReader(plain))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="RC4-128")
    with path.open("wb") as handle:
        writer.write(handle)
    plain.unlink()


def _inflating_pdf(path: Path, megabytes: int = 200) -> None:
    """A one-page PDF whose FlateDecode content stream inflates to ``megabytes`` MB of zeros."""
    packer = zlib.compressobj(9)
    packed = [packer.compress(b"BT /F1 12 Tf 72 712 Td (Guaranteed return) Tj ET\n")]
    block = bytes(2**20)
    packed += [packer.compress(block) for _ in range(megabytes)]
    stream = b"".join(packed) + packer.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    path.write_bytes(_pdf_file(objects))


def _deep_html(path: Path) -> None:
    depth = 300_000
    path.write_text("<html><body>" + "<div><span>" * depth + RISKY + "</span></div>" * depth + "</body></html>")


def _sparse(path: Path) -> None:
    with path.open("wb") as handle:  # 400 MB on paper, one block on disk
        handle.seek(400 * 2**20 - 1)
        handle.write(b"\0")


def _invalid_utf8(path: Path) -> None:
    path.write_bytes(
        RISKY.encode() + b" \xc3\x28 \xa0\xa1 \xe2\x28\xa1 \xf0\x28\x8c\xbc \xff\xfe\xfd " + RISKY.encode()
    )


def _mixed_encodings(path: Path) -> None:
    path.write_bytes(
        RISKY.encode("utf-8")
        + "\n每日固定收益百分之二，稳赚不赔，推荐新会员加入即可获得奖励。\n".encode("gb18030")
        + "\nRentabilité garantie de 2 % par jour, dès aujourd'hui.\n".encode("cp1252")
        + "\n本公司保證每月固定回報百分之五。\n".encode("big5")
    )


def _symlink_loop(path: Path) -> None:
    path.symlink_to(path.name)  # a link to itself


def _unreadable(path: Path) -> None:
    path.write_text(RISKY)
    path.chmod(0)


@dataclass(frozen=True)
class Case:
    """A hostile file, how to make it, and what scanning it must give."""

    name: str
    make: Callable[[Path], object] | None  # None: the path is left missing
    error: str | None  # a regex the error must match; None: the file is read and scored


CASES = [
    Case("empty.txt", lambda path: path.write_bytes(b""), r"is empty \(0 bytes\)"),
    Case("binary.txt", lambda path: path.write_bytes(bytes(range(256)) * 64), r"looks like a binary file"),
    Case("zip-bomb.docx", _zip_bomb, r"would unpack to 512 MB, over the 200 MB limit.*zip bomb"),
    Case("lying-zip-bomb.docx", _lying_zip_bomb, r"not a readable .docx \(Bad CRC-32 for file 'word/document.xml'\)"),
    Case("billion-laughs.docx", _billion_laughs, r"part word/document.xml declares a DTD.*entity-expansion"),
    Case("truncated.pdf", _truncated_pdf, r"PDF"),
    Case("encrypted.pdf", _encrypted_pdf, r"is encrypted with a password"),
    Case("inflating.pdf", _inflating_pdf, r"inflates past the 10 MB limit \(ReadLimits.max_pdf_stream\)"),
    Case("deep.html", _deep_html, None),
    Case("huge.txt", _sparse, r"is 400 MB, over the 50 MB limit \(ReadLimits.max_bytes\)"),
    Case("invalid-utf8.txt", _invalid_utf8, None),
    Case("mixed-encodings.txt", _mixed_encodings, None),
    Case("symlink-loop.txt", _symlink_loop, r"cannot read it \(Too many levels of symbolic links\)"),
    Case("unreadable.txt", _unreadable, r"permission denied"),
    Case("missing.txt", None, r"no such file"),
]
GOOD = {"good.txt": RISKY, "good.docx": "Our fund invests in listed shares; returns vary and you may lose money."}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile files and two good filings, in one folder (missing.txt stays missing)."""
    folder = tmp_path_factory.mktemp("hostile")
    for case in CASES:
        if case.make is not None:
            case.make(folder / case.name)
    (folder / "good.txt").write_text(GOOD["good.txt"], encoding="utf-8")
    _good_docx(folder / "good.docx", GOOD["good.docx"])
    return folder


# --- running scan ----------------------------------------------------------------------------


def _drop_root_prefix() -> list[str]:
    """As root, run the child without the capabilities that bypass file permissions, so 0o000 denies."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be enforced on the child")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float


def _scan(*args: str, tmp_path: Path) -> Run:
    """Run the installed scan with a time limit, measuring the child's peak memory."""
    assert SCAN, "the scan console script is installed"
    command = [*_drop_root_prefix(), SCAN, "--model", str(DEFAULT_MODEL), *args]
    report = tmp_path / "peak-kb"
    if GNU_TIME.exists():
        command = [str(GNU_TIME), "-f", "%M", "-o", str(report), *command]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=TIME_LIMIT, check=False)
    seconds = time.perf_counter() - started
    if GNU_TIME.exists():
        peak_mb = int(report.read_text().split()[-1]) / 1024
    else:  # the peak of every child so far: an upper bound on this one's
        import resource

        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return Run(proc.returncode, proc.stdout, proc.stderr, seconds, peak_mb)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_scan_alone(case: Case, corpus: Path, tmp_path: Path) -> None:
    path = corpus / case.name
    run = _scan(str(path), "--format", "jsonl", tmp_path=tmp_path)
    assert run.peak_mb < MEMORY_LIMIT_MB, f"{case.name}: peak memory {run.peak_mb:.0f} MB"
    assert "Traceback" not in run.stderr
    if case.error is None:
        assert run.returncode == 0, run.stderr
        row = json.loads(run.stdout)
        assert row["error"] is None
        assert 0 <= row["risk_score"] <= 100
        return
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"Error: {path}")
    assert re.search(case.error, lines[0]), lines[0]


def test_scan_batch_reports_each_hostile_file_and_scores_the_good_ones(corpus: Path, tmp_path: Path) -> None:
    missing = corpus / "missing.txt"
    run = _scan(str(corpus), str(missing), "--format", "jsonl", "--jobs", "2", "--timeout", "30", tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.peak_mb < MEMORY_LIMIT_MB, f"peak memory {run.peak_mb:.0f} MB"
    assert "Traceback" not in run.stderr
    rows = {Path(row["id"]).name: row for row in map(json.loads, run.stdout.splitlines())}
    assert set(rows) == {case.name for case in CASES} | set(GOOD)
    for case in CASES:
        row = rows[case.name]
        if case.error is None:
            assert row["error"] is None, row["error"]
            assert 0 <= row["risk_score"] <= 100
        else:
            assert row["error"] is not None and re.search(case.error, row["error"]), (case.name, row["error"])
            assert case.name in row["error"]
            assert row["risk_score"] is None
    assert rows["good.txt"]["risk_level"] in ("medium", "high")
    assert rows["good.docx"]["error"] is None and rows["good.docx"]["risk_score"] is not None
    errors = sum(case.error is not None for case in CASES)
    assert f"{len(rows)} documents" in run.stderr
    assert f"; {errors} errors" in run.stderr


# --- the library, directly -------------------------------------------------------------------


def test_billion_laughs_is_not_expanded_even_past_the_dtd_check(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Second line of defence: python-docx itself must not expand the entities."""
    monkeypatch.setattr(documents, "_docx_part_with_dtd", lambda data: None)
    started = time.perf_counter()
    try:
        text = read_document(corpus / "billion-laughs.docx").text
    except DocumentError as exc:
        assert "billion-laughs.docx: not a readable .docx" in str(exc)
    else:
        assert "lol" not in text
        assert len(text) < 100
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_docx_dtd_found_in_any_xml_encoding(codec: str, tmp_path: Path) -> None:
    path = tmp_path / "wide.docx"
    _good_docx(path.with_suffix(".tmp"))
    xml = _billion_laughs_xml().replace('encoding="UTF-8"', f'encoding="{codec[:6].upper()}"')
    with zipfile.ZipFile(path.with_suffix(".tmp")) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            body = xml.encode(codec) if item.filename == "word/document.xml" else source.read(item)
            target.writestr(item, body)
    with pytest.raises(DocumentError, match=r"wide.docx: .docx part word/document.xml declares a DTD"):
        read_document(path)


def test_docx_with_an_svg_image_is_not_refused_for_its_doctype(tmp_path: Path) -> None:
    path = tmp_path / "picture.docx"
    _good_docx(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("word/media/image1.svg", '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"><svg/>')
    assert "guaranteed 2% daily return" in read_document(path).text


def test_pdf_stream_limit_is_a_read_limit(tmp_path: Path) -> None:
    path = tmp_path / "inflate.pdf"
    _inflating_pdf(path, megabytes=3)
    assert "Guaranteed return" in read_document(path).text  # under the default 10 MB
    with pytest.raises(DocumentError, match=r"inflate.pdf: .*inflates past the 2 MB limit"):
        read_document(path, limits=ReadLimits(max_pdf_stream=2 * 2**20))


def test_batch_reports_a_dangling_link(tmp_path: Path) -> None:
    (tmp_path / "gone.pdf").symlink_to(tmp_path / "deleted.pdf")
    (tmp_path / "ok.txt").write_text(RISKY)
    found = [path.name for path in documents.iter_document_paths(tmp_path)]
    assert found == ["gone.pdf", "ok.txt"]
    with pytest.raises(DocumentError, match=r"gone.pdf: no such file"):
        read_document(tmp_path / "gone.pdf")


# --- limits set on the command line ----------------------------------------------------------


def test_parse_limits_sets_each_limit_in_its_unit() -> None:
    from scanner.documents import parse_limits

    limits = parse_limits(
        ["pdf-pages=3", "pdf-stream-mb=0.5", "chars=1000", "docx-entries=10", "docx-mb=2", "docx-ratio=50", "mb=1"]
    )
    assert limits.max_pdf_pages == 3 and limits.max_chars == 1000 and limits.max_docx_entries == 10
    assert limits.max_pdf_stream == 2**19 and limits.max_docx_uncompressed == 2 * 2**20 and limits.max_bytes == 2**20
    assert limits.max_docx_ratio == 50.0
    assert parse_limits([], ReadLimits(max_bytes=7)).max_bytes == 7  # the base is kept
    for bad in ("pages=3", "pdf-pages", "pdf-pages=0", "pdf-pages=-2", "pdf-pages=many", "chars=inf"):
        with pytest.raises(ValueError, match=r"[Ll]imit"):
            parse_limits([bad])


def test_cli_limits_change_what_is_refused(tmp_path: Path) -> None:
    from tests.test_documents import _pdf as make_pdf

    pdf = tmp_path / "three-pages.pdf"
    pdf.write_bytes(make_pdf("Welcome to the project.", "Earn a guaranteed 2% daily return.", "Thank you."))
    small = tmp_path / "small.docx"
    _good_docx(small)
    flags = lambda run: {flag["id"] for flag in json.loads(run.stdout)["red_flags"]}  # noqa: E731
    run = _scan(str(pdf), "--format", "jsonl", tmp_path=tmp_path)
    assert run.returncode == 0 and "FIXED_RETURN" in flags(run), run.stdout + run.stderr
    run = _scan(str(pdf), "--format", "jsonl", "--limit", "pdf-pages=1", tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "FIXED_RETURN" not in flags(run)  # page 2 was not read
    # A legitimate .docx has a dozen entries: with docx-entries=3 it is refused as a likely zip bomb.
    assert _scan(str(small), "--format", "jsonl", tmp_path=tmp_path).returncode == 0
    run = _scan(str(small), "--format", "jsonl", "--limit", "docx-entries=3", tmp_path=tmp_path)
    assert run.returncode == 1 and "entries" in run.stderr, run.stderr
    run = _scan(str(small), "--limit", "bogus=1", tmp_path=tmp_path)
    assert run.returncode == 2 and "pdf-pages" in run.stderr, run.stderr
