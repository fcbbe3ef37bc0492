"""Tests for scanner.documents: every file type, encoding, limit and failure a filing can bring."""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import zipfile
from pathlib import Path

import docx
import pytest

from scanner.documents import (
    SUPPORTED_SUFFIXES,
    Document,
    ReadLimits,
    decode_text,
    html_to_text,
    iter_document_paths,
    read_bytes,
    read_document,
)
from scanner.errors import DocumentError, ScannerError

SIMPLIFIED = [
    "本平台承诺每日固定收益百分之二，投资一万元，三十天后即可获得六千元回报。",
    "推荐新会员加入即可获得百分之十的奖励，层层返利，稳赚不赔，名额有限，先到先得。",
    "公司主要从事数字资产交易服务，用户资金由第三方银行存管，收益随市场价格波动。",
    "区块链技术将彻底改变全球金融体系，我们的代币价值将在一年内上涨一百倍。",
    "根据监管要求，本报告披露了项目的主要风险，包括市场风险、流动性风险和技术风险。",
]
TRADITIONAL = [
    "本公司保證每月固定回報百分之五，會員推薦新人加入可獲得獎金。",
    "投資越多，收益越高，絕無風險，老會員的利息由新會員的存款支付。",
    "區塊鏈技術將徹底改變世界金融體系，我們的數位貨幣即將上市。",
    "本基金投資於上市公司股票，淨值隨市場波動，過去績效不代表未來表現。",
    "依據主管機關規定，本說明書揭露發行人之財務狀況與營運風險。",
]


def _pdf(*pages: str, trailer_extra: str = "") -> bytes:
    """A minimal valid PDF with one Helvetica text line per page and a correct xref table."""
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode()]
    font = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        content = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return _pdf_file(objects, trailer_extra)


def _pdf_file(objects: list[bytes], trailer_extra: str = "") -> bytes:
    """PDF objects (numbered from 1, the first the catalog) with their xref table and trailer."""
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R {trailer_extra}>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Acme Yield Vault", level=1)
    document.add_paragraph("Deposit USDT and earn a guaranteed 2% daily return.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Plan"
    table.cell(0, 1).text = "Daily return"
    table.cell(1, 0).text = "Gold"
    table.cell(1, 1).text = "3% guaranteed"
    document.add_paragraph("Refer a friend for 10% of their deposit.")
    document.save(str(path))
    return path


# --- encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("Guaranteed 2% daily return, café", "utf-8", {"utf-8"}),
        ("每日固定收益 2%，稳赚不赔", "utf-8", {"utf-8"}),
        ("Rentabilité garantie de 2 % par jour, dès aujourd'hui. Déposez vos économies.", "latin-1", {"cp1252"}),
        ("Garantierte Rendite – 2 % täglich für Anleger „ohne Risiko“ … 100 €", "cp1252", {"cp1252"}),
    ],
    ids=["utf8-ascii", "utf8-chinese", "latin1-french", "cp1252-german-typography"],
)
def test_decode_text_western_and_utf8(text: str, encoding: str, expected: set[str]) -> None:
    decoded, name = decode_text(text.encode(encoding))
    assert decoded == text
    assert name in expected


@pytest.mark.parametrize("count", [1, 2, 3, 5], ids=lambda n: f"{n}-sentences")
@pytest.mark.parametrize("encoding", ["gb18030", "gbk"])
def test_decode_text_simplified_chinese(encoding: str, count: int) -> None:
    for start in range(len(SIMPLIFIED)):
        text = "".join((SIMPLIFIED * 2)[start : start + count])
        decoded, name = decode_text(text.encode(encoding))
        assert decoded == text, text
        assert name == "gb18030"


@pytest.mark.parametrize("count", [1, 2, 3, 5], ids=lambda n: f"{n}-sentences")
def test_decode_text_traditional_chinese_big5(count: int) -> None:
    for start in range(len(TRADITIONAL)):
        text = "".join((TRADITIONAL * 2)[start : start + count])
        decoded, name = decode_text(text.encode("big5"))
        assert decoded == text, text
        assert name in {"big5", "cp950"}


def test_decode_text_chinese_mixed_with_english_and_digits() -> None:
    text = "Project ABC (代币 ABC) 承诺年化收益 365%，USDT 充值 100 起投。\n" + SIMPLIFIED[0]
    assert decode_text(text.encode("gb18030"))[0] == text
    text = "Project ABC (代幣 ABC) 保證年化收益 365%，USDT 儲值 100 起投。\n" + TRADITIONAL[0]
    assert decode_text(text.encode("big5"))[0] == text


def test_decode_text_utf8_with_a_stray_bad_byte_stays_utf8() -> None:
    text, name = decode_text("Rendite garantiert, café, naïve résumé, 保本".encode() + b"\xff end")
    assert (text, name) == ("Rendite garantiert, café, naïve résumé, 保本\ufffd end", "utf-8")


def test_decode_text_cyrillic_goes_to_charset_normalizer() -> None:
    text = "Гарантированный доход два процента в день. Приглашайте друзей и получайте бонусы за каждого."
    decoded, name = decode_text(text.encode("cp1251"))
    assert decoded == text
    assert name == "cp1251"


@pytest.mark.parametrize(
    ("bom", "codec", "expected"),
    [
        (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
    ],
    ids=["utf8-bom", "utf16le-bom", "utf16be-bom"],
)
def test_decode_text_strips_bom(bom: bytes, codec: str, expected: str) -> None:
    text = "Guaranteed return 保本保息 " + SIMPLIFIED[0]
    decoded, name = decode_text(bom + text.encode(codec))
    assert decoded == text
    assert not decoded.startswith("\ufeff")
    assert name == expected


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_decode_text_utf16_without_bom(codec: str, tmp_path: Path) -> None:
    text = "Deposit 1000 USDT, earn 2% daily. 每日收益 2%。\nNo risk."
    assert decode_text(text.encode(codec)) == (text, codec)
    path = _write(tmp_path, "utf16.txt", text.encode(codec))
    assert read_document(path).text == text


@pytest.mark.parametrize(
    ("name", "data", "text", "encoding"),
    [
        ("gb.txt", "\n".join(SIMPLIFIED).encode("gb18030"), "\n".join(SIMPLIFIED), "gb18030"),
        ("big5.md", "\n".join(TRADITIONAL).encode("big5"), "\n".join(TRADITIONAL), "big5"),
        ("bom.txt", codecs.BOM_UTF16_LE + "你好 hello".encode("utf-16-le"), "你好 hello", "utf-16-le"),
    ],
    ids=["gb18030-txt", "big5-md", "utf16-txt"],
)
def test_read_document_text_files(tmp_path: Path, name: str, data: bytes, text: str, encoding: str) -> None:
    path = _write(tmp_path, name, data)
    document = read_document(path)
    assert document == Document(
        id=str(path), text=text, sha256=hashlib.sha256(data).hexdigest(), source=path.suffix[1:], encoding=encoding
    )


# --- HTML --------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html><html><head><title>Acme &amp; Co</title>
<meta charset="utf-8"><style>p { color: red }</style><script>var secret = "hidden";</script></head>
<body><noscript>Enable JavaScript</noscript><template><p>template text</p></template>
<h1>Earn   2%
daily</h1><p>Guaranteed&nbsp;returns &lt;no risk&gt; &#x4e2d;&#25991;</p>
<svg><title>chart</title><text>svg text</text></svg>
<ul><li>One</li><li>Two<br>lines</li></ul><table><tr><td>Plan</td><td>Gold</td></tr></table>
<pre>a  b
c</pre></body></html>"""


def test_html_to_text_keeps_visible_text_and_title() -> None:
    assert html_to_text(PAGE).split("\n") == [
        "Acme & Co",
        "Earn 2% daily",
        "Guaranteed returns <no risk> 中文",
        "One",
        "Two",
        "lines",
        "Plan Gold",
        "a b",
        "c",
    ]


@pytest.mark.parametrize("hidden", ["hidden", "p { color", "Enable JavaScript", "template text", "svg text", "chart"])
def test_html_to_text_drops_hidden_content(hidden: str) -> None:
    assert hidden not in html_to_text(PAGE)


def test_html_to_text_unclosed_head_does_not_hide_body() -> None:
    assert html_to_text("<html><head><title>T</title><body><p>Body text</p>") == "T\nBody text"


def test_html_to_text_deeply_nested_page() -> None:
    depth = 100_000
    assert html_to_text("<div>" * depth + "deep text" + "</div>" * depth) == "deep text"
    assert html_to_text("<b>" * depth + "unclosed") == "unclosed"


def test_read_document_html_and_htm(tmp_path: Path) -> None:
    for name in ("page.html", "page.HTM"):
        document = read_document(_write(tmp_path, name, PAGE.encode("utf-8")))
        assert document.source == "html"
        assert "Guaranteed returns" in document.text
        assert "secret" not in document.text


def test_read_document_html_without_visible_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "blank.html", b"<html><script>x = 1</script></html>")
    with pytest.raises(DocumentError, match=r"blank.html has no visible text"):
        read_document(path)


# --- PDF ---------------------------------------------------------------------------------


def test_read_document_pdf(tmp_path: Path) -> None:
    data = _pdf("Guaranteed 2% daily return", "Refer friends for bonuses")
    document = read_document(_write(tmp_path, "offer.pdf", data))
    assert "Guaranteed 2% daily return" in document.text
    assert "Refer friends for bonuses" in document.text
    assert (document.source, document.encoding) == ("pdf", None)
    assert document.sha256 == hashlib.sha256(data).hexdigest()


def test_read_document_pdf_page_and_char_limits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, "long.pdf", _pdf("page one", "page two", "page three"))
    with caplog.at_level(logging.WARNING, logger="scanner.documents"):
        text = read_document(path, limits=ReadLimits(max_pdf_pages=2)).text
    assert "page two" in text
    assert "page three" not in text
    assert "first 2 of 3 pages" in caplog.text
    assert len(read_document(path, limits=ReadLimits(max_chars=5)).text) == 5


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.8], ids=lambda k: f"keep-{k:.0%}")
def test_read_document_truncated_pdf(tmp_path: Path, keep: float) -> None:
    data = _pdf("Guaranteed 2% daily return")
    path = _write(tmp_path, "cut.pdf", data[: int(len(data) * keep)])
    with pytest.raises(DocumentError, match=r"cut.pdf"):
        read_document(path)


def test_read_document_not_a_pdf(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"fake.pdf: not a readable PDF"):
        read_document(_write(tmp_path, "fake.pdf", b"<html>not a pdf</html>"))


def test_read_document_encrypted_pdf(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(_write(tmp_path, "plain.pdf", _pdf("secret plan"))))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    with pytest.raises(DocumentError, match=r"locked.pdf is encrypted"):
        read_document(path)


def test_read_document_pdf_without_text(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"scan.pdf has no extractable text"):
        read_document(_write(tmp_path, "scan.pdf", _pdf("")))


# --- DOCX --------------------------------------------------------------------------------


def test_read_document_docx_paragraphs_and_tables(tmp_path: Path) -> None:
    document = read_document(_docx(tmp_path / "offer.docx"))
    assert document.text.split("\n") == [
        "Acme Yield Vault",
        "Deposit USDT and earn a guaranteed 2% daily return.",
        "Plan\tDaily return",
        "Gold\t3% guaranteed",
        "Refer a friend for 10% of their deposit.",
    ]
    assert (document.source, document.encoding) == ("docx", None)


def test_read_document_docx_zip_bomb(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (20 * 2**20))
    with pytest.raises(DocumentError, match=r"bomb.docx: .docx is compressed \d+:1, over the 200:1 limit"):
        read_document(path)
    with pytest.raises(DocumentError, match=r"would unpack to 20 MB, over the 10 MB limit"):
        read_document(path, limits=ReadLimits(max_docx_uncompressed=10 * 2**20))


def test_read_document_docx_too_many_entries(tmp_path: Path) -> None:
    path = _docx(tmp_path / "many.docx")
    with pytest.raises(DocumentError, match=r"many.docx: .docx has \d+ ZIP entries, over the 3 limit"):
        read_document(path, limits=ReadLimits(max_docx_entries=3))


def test_read_document_docx_not_a_zip(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"fake.docx is not a valid .docx \(not a ZIP archive\)\.$"):
        read_document(_write(tmp_path, "fake.docx", b"just some text"))
    with pytest.raises(DocumentError, match=r"old Word .doc"):
        read_document(_write(tmp_path, "old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600))


def test_read_document_docx_without_document_xml(tmp_path: Path) -> None:
    path = tmp_path / "other.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(DocumentError, match=r"no word/document.xml"):
        read_document(path)


def test_read_document_docx_with_broken_xml(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    with zipfile.ZipFile(_docx(tmp_path / "good.docx")) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = b"<w:document" if item.filename == "word/document.xml" else source.read(item)
            target.writestr(item, data)
    with pytest.raises(DocumentError, match=r"broken.docx: not a readable .docx"):
        read_document(path)


# --- failures and limits -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"is empty \(0 bytes\)"),
        (b" \n\t \r\n", r"is empty \(only whitespace\)"),
        ("\u3000 \n".encode(), "is empty"),
        (codecs.BOM_UTF8 + b"  ", "is empty"),
    ],
    ids=["zero-bytes", "whitespace", "ideographic-space", "bom-only"],
)
def test_read_document_empty(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=rf"empty.txt {message}"):
        read_document(_write(tmp_path, "empty.txt", data))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"text\x00with\x00\x01\x02 NUL bytes here and there \x00\x00\x00\x07", "contains NUL bytes"),
        (bytes(range(1, 32)) * 20 + b"some text", "control characters"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG image"),
        (_pdf("hello"), "starts like a PDF"),
    ],
    ids=["nul-bytes", "control-chars", "png", "pdf-named-txt"],
)
def test_read_document_binary_text_file(tmp_path: Path, data: bytes, reason: str) -> None:
    expected = rf"data.md: looks like a binary file, not text \(.*{reason}.*\)\. Convert it to .txt, .pdf or .docx\.$"
    with pytest.raises(DocumentError, match=expected):
        read_document(_write(tmp_path, "data.md", data))


def test_read_document_missing_and_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(DocumentError, match=re.escape(f"{missing}: no such file")):
        read_document(missing)
    with pytest.raises(DocumentError, match=re.escape(f"{tmp_path} is a folder")):
        read_document(tmp_path)


def test_read_document_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "secret.txt", b"text")

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(DocumentError, match=r"secret.txt: permission denied"):
        read_document(path)


def test_read_document_too_large(tmp_path: Path) -> None:
    path = _write(tmp_path, "big.txt", b"x" * 100)
    with pytest.raises(DocumentError, match=r"big.txt is 100 bytes, over the 10 bytes limit"):
        read_document(path, limits=ReadLimits(max_bytes=10))
    sparse = tmp_path / "huge.txt"
    with sparse.open("wb") as handle:
        handle.truncate(60 * 2**20)  # sparse: the size check must not read it
    with pytest.raises(DocumentError, match=r"huge.txt is 60 MB, over the 50 MB limit \(ReadLimits.max_bytes\)"):
        read_document(sparse)
    with pytest.raises(DocumentError, match=r"standard input is 100 bytes, over the 10 bytes limit"):
        read_bytes(b"x" * 100, name="-", suffix="", limits=ReadLimits(max_bytes=10))


def test_read_document_text_cut_at_max_chars(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = ("风险提示 " * 100).encode("gb18030")
    with caplog.at_level(logging.WARNING, logger="scanner.documents"):
        document = read_document(_write(tmp_path, "long.txt", data), limits=ReadLimits(max_chars=12))
    assert document.text == "风险提示 风险提示 风险"
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert "cut at 12 characters" in caplog.text


def test_read_document_unknown_suffix(tmp_path: Path) -> None:
    document = read_document(_write(tmp_path, "notes.text", "保本保息".encode("gb18030") * 5))
    assert (document.source, document.text) == ("txt", "保本保息" * 5)
    assert read_document(_write(tmp_path, "README", b"<!doctype html><p>Hi</p>")).source == "html"
    assert read_document(_write(tmp_path, "report.bin", _pdf("Hello PDF"))).text.strip() == "Hello PDF"
    expected = (
        r"sheet.xlsx: unsupported file type .xlsx, and not text \(it is a ZIP archive.*\)\. Supported: .docx, .htm,"
    )
    with pytest.raises(DocumentError, match=expected + r" .html, .md, .pdf, .txt\.$"):
        read_document(_write(tmp_path, "sheet.xlsx", b"PK\x03\x04" + b"\0" * 100))


def test_read_document_doc_id_and_error_base_class(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.txt", b"hello")
    assert read_document(path, doc_id="row-7").id == "row-7"
    assert read_document(str(path)).id == str(path)
    assert issubclass(DocumentError, ScannerError)


def test_read_bytes_stdin(tmp_path: Path) -> None:
    assert read_bytes(b"Guaranteed return", name="-", suffix="") == Document(
        id="-",
        text="Guaranteed return",
        sha256=hashlib.sha256(b"Guaranteed return").hexdigest(),
        source="stdin",
        encoding="utf-8",
    )
    assert read_bytes(_pdf("From a pipe"), name="-", suffix="").text.strip() == "From a pipe"
    assert read_bytes(b"<html><p>Hi &amp; bye</p>", name="-", suffix="").text == "Hi & bye"
    assert read_bytes(b"<p>x</p>", name="page", suffix="html").source == "html"
    with pytest.raises(DocumentError, match=r"standard input is empty"):
        read_bytes(b"", name="-", suffix="")


# --- folders -----------------------------------------------------------------------------


def test_iter_document_paths_sorted_and_filtered(tmp_path: Path) -> None:
    for name in [
        "b.txt",
        "a.PDF",
        "sub/z.docx",
        "sub/deeper/c.md",
        "sub/x.htm",
        "c.html",
        "skip.csv",
        "noext",
        ".hidden.txt",
        ".git/config.txt",
        "~$lock.docx",
    ]:
        _write(tmp_path, name, b"x")
    found = [path.relative_to(tmp_path).as_posix() for path in iter_document_paths(tmp_path)]
    assert found == ["a.PDF", "b.txt", "c.html", "sub/deeper/c.md", "sub/x.htm", "sub/z.docx"]
    assert list(iter_document_paths(str(tmp_path))) == list(iter_document_paths(tmp_path))


def test_iter_document_paths_file_and_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, "data.csv", b"x")
    assert list(iter_document_paths(path)) == [path]
    with pytest.raises(DocumentError, match=r"no such file or folder"):
        list(iter_document_paths(tmp_path / "missing"))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_iter_document_paths_survives_symlink_loop(tmp_path: Path) -> None:
    _write(tmp_path, "docs/a.txt", b"x")
    _write(tmp_path, "docs/sub/b.txt", b"x")
    (tmp_path / "docs" / "sub" / "loop").symlink_to(tmp_path / "docs", target_is_directory=True)
    (tmp_path / "docs" / "self").symlink_to(".", target_is_directory=True)
    found = [path.relative_to(tmp_path).as_posix() for path in iter_document_paths(tmp_path / "docs")]
    assert found == ["docs/a.txt", "docs/sub/b.txt"]


def test_supported_suffixes() -> None:
    assert frozenset({".txt", ".md", ".html", ".htm", ".pdf", ".docx"}) == SUPPORTED_SUFFIXES
