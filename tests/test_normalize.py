from __future__ import annotations

import random
import re
import string

import numpy as np
import pytest

from scanner.normalize import fold_char, normalize, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("年化３０％", "年化30%", id="full-width-digits-percent"),
        pytest.param("ｇｕａｒａｎｔｅｅｄ", "guaranteed", id="full-width-letters"),
        pytest.param("guar\u200banteed", "guaranteed", id="zero-width-space"),
        pytest.param("daily\u202e return", "daily return", id="bidi-override"),
        pytest.param("\ufeffhello", "hello", id="bom"),
        pytest.param("“quoted” – dash", '"quoted" - dash', id="typographic"),
        pytest.param("a\u3000b", "a b", id="ideographic-space"),
        pytest.param("plain ascii", "plain ascii", id="ascii-unchanged"),
    ],
)
def test_normalize_folds(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_ascii_text_has_identity_offsets() -> None:
    result = normalize("Deposit and earn 2% daily.")
    assert result.offsets is None
    assert result.to_original(3, 7) == (3, 7)


def test_offsets_point_back_to_original() -> None:
    raw = "前言。保证\u200b月收益３０％！"
    result = normalize(raw)
    start = result.text.index("30%")
    orig_start, orig_end = result.to_original(start, start + 3)
    assert raw[orig_start:orig_end] == "３０％"
    zw = result.text.index("保证")
    a, b = result.to_original(zw, zw + 4)
    assert raw[a:b] == "保证\u200b月收"


def test_normalize_is_idempotent() -> None:
    raw = "Ｇｕａｒａｎｔｅｅｄ\u200d ３０％ “APY” ﬁnance"
    once = normalize_text(raw)
    assert normalize_text(once) == once


def test_control_characters_become_spaces() -> None:
    assert normalize_text("a\x00b\x07c") == "a b c"
    assert fold_char("\x1f") == " "


def test_class_table_matches_fold_char() -> None:
    """The class table (from scanner/unicode_tables.py) flags exactly the characters fold_char changes.

    Regenerate the tables (tests/_gen_unicode_tables.py) if this fails.
    """
    from scanner.normalize import _CHANGE, _CONTROL, _RESIZE, _classes

    codes = np.arange(0, 0x30000, dtype=np.uint32)
    codes = codes[(codes < 0xD800) | (codes > 0xDFFF)]
    wrong = []
    for code, bits in zip(codes.tolist(), _classes(codes).tolist(), strict=True):
        folded = fold_char(chr(code))
        if code < 0x80:  # ASCII: only control characters change, to a space, in a stage of their own
            ok = bits & (_CHANGE | _RESIZE) == 0 and bool(bits & _CONTROL) == (folded != chr(code))
        elif code < 0x10000:  # exact
            ok = bool(bits & _CHANGE) == (folded != chr(code)) and bool(bits & _RESIZE) == (len(folded) != 1)
        else:  # every astral character is a candidate
            ok = bits & _CHANGE != 0 and bits & _RESIZE != 0
        if not ok:
            wrong.append(hex(code))
    assert wrong == []


def test_the_fold_stage_equals_folding_each_character() -> None:
    from scanner.normalize import _CHANGE, _classes, _fold_codes, code_points, from_code_points

    rng = random.Random(5)
    alphabet = "ab ,\t\n\u2026\u2122\ufb01\u200b\u00ad\uff10\uff21\u00a0\u201c萬\U0001d400\U0001f600\u0130\u01c5\u2460\u00e9\ud800"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for text in texts:
        codes = code_points(text)
        folded = from_code_points(_fold_codes(codes, np.flatnonzero(_classes(codes) & _CHANGE)))
        assert folded == "".join(fold_char(c) for c in text), text


def test_the_hints_equal_the_regexes() -> None:
    from scanner.normalize import _classes, _leet_hints, code_points

    leet_hint = re.compile(r"[013457@$]++[A-Za-z]")
    rng = random.Random(4)
    alphabet = "ab4 0x$@.-_*\n\tzQ1é中 c d e"
    for text in ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(5000)]:
        expected = [
            m.span() for m in leet_hint.finditer(text) if m.start() and text[m.start() - 1] in string.ascii_letters
        ]
        assert _leet_hints(_classes(code_points(text))) == expected, text


def test_normal_chinese_run_keeps_offsets() -> None:
    raw = "保证收益 and 年化"
    result = normalize(raw)
    assert result.text == raw
    assert result.to_original(0, 4) == (0, 4)


# --- Chinese numerals ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # percent prefixes and tenths
        ("每日返利百分之三", "每日返利3%"),
        ("年化收益百分之三十六", "年化收益36%"),
        ("百分之一百二十", "120%"),
        ("百分之零点五", "0.5%"),
        ("千分之五", "0.5%"),
        ("日化千分之十", "日化1%"),
        ("日息万分之五", "日息0.05%"),
        ("本金百分百保障", "本金100%保障"),
        ("百分之百", "100%"),
        ("三成", "30%"),
        ("三成五", "35%"),
        ("两成收益", "20%收益"),
        # traditional interest units after a rate word
        ("日息三厘", "日息0.3%"),
        ("日息三厘五", "日息0.35%"),
        ("日息一分", "日息1%"),
        ("月息二分", "月息2%"),
        ("月息八厘", "月息0.8%"),
        ("月息一分五", "月息1.5%"),
        ("月利率一分二厘", "月利率1.2%"),
        ("年息一分", "年息10%"),
        ("年息三厘", "年息3%"),
        ("日利率为千分之三", "日利率为0.3%"),
        # quantities before a unit
        ("返利三倍", "返利3倍"),
        ("三点五倍", "3.5倍"),
        ("一百二十元", "120元"),
        ("投资门槛仅需一千元", "投资门槛仅需1000元"),
        ("三千五百元", "3500元"),
        ("一万零五元", "10005元"),
        ("三十六个月", "36个月"),
        ("两天", "2天"),
        ("七日年化", "7日年化"),
        ("锁仓期三十天", "锁仓期30天"),
        ("每天两个点", "每天2个点"),
        ("一千USDT", "1000USDT"),
        ("三千u", "3000u"),
        ("一倍", "1倍"),
        ("一元", "1元"),
        ("三％", "3%"),
        ("二〇二四年", "2024年"),
        ("一九九八年", "1998年"),
        ("二代奖励", "2代奖励"),
        # a final 万 or 亿 stays, as with Arabic digits
        ("投资满一万元", "投资满1万元"),
        ("六万美元", "6万美元"),
        ("一千二百万", "1200万"),
        ("两亿三千万", "23000万"),
        ("十万亿", "10万亿"),
        ("三万五千元", "35000元"),
        # financial and traditional forms (the latter folded to simplified first)
        ("壹仟元", "1000元"),
        ("拾万元", "10万元"),
        ("叁倍", "3倍"),
        ("貳佰元", "200元"),
        ("兩萬元", "2万元"),
        ("五點五倍", "5.5倍"),
        ("年化百分之三十六點五", "年化36.5%"),
    ],
)
def test_chinese_numerals_of_quantities_become_digits(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected
    assert normalize_text(expected) == expected  # and stay so


@pytest.mark.parametrize(
    "word",
    [
        "一起", "一直", "统一", "一带一路", "万一", "十分", "千万不要", "三星", "第一", "一些", "之一",
        "三分之一", "第三方", "第十二期", "一天一个", "一年", "最后一天", "一个月", "一人一票", "一代人", "一次性",
        "一成不变", "三成员", "其中三成为散户", "三五天", "两三倍", "七八个月", "十七八岁", "三级分销", "二级分销",
        "翻三倍", "百倍", "千倍", "千行百业", "万亿级市场", "百万富翁", "三十六计", "一年四季", "四两拨千斤",
        "三点钟", "一点点", "零点上线", "零风险", "一块儿", "一元化", "二元论", "五台山", "三位一体", "周六日",
        "每周三天", "利息一分都不少", "十万分之五", "三千分之一", "百分之三点多", "百分之几", "一亿五", "三厘",
    ],
)  # fmt: skip
def test_chinese_numerals_in_ordinary_words_stay(word: str) -> None:
    assert normalize_text(word) == word


def test_lone_one_folds_only_before_money_and_rates() -> None:
    assert normalize_text("一天一个点") == "一天1个点"
    assert normalize_text("一块钱") == "1块钱"
    assert normalize_text("一U") == "1U"


@pytest.mark.parametrize(
    ("raw", "numeral", "folded"),
    [
        ("前言。平台每日返利百分之三，稳赚。", "百分之三", "3%"),
        ("投资门槛仅需一千元即可参与", "一千", "1000"),
        ("本平台日息三厘，随存随取。", "三厘", "0.3%"),
        ("每日固定返利三成五！", "三成五", "35%"),
        ("年化收益百分之三十六", "百分之三十六", "36%"),
        ("投资满一万元", "一", "1"),
        ("三千五百元", "三千五百", "3500"),
        ("锁仓期三十天", "三十", "30"),
    ],
)
def test_folded_numerals_map_back_to_the_original_numerals(raw: str, numeral: str, folded: str) -> None:
    result = normalize(raw)
    start = result.text.index(folded)
    a, b = result.to_original(start, start + len(folded))
    assert raw[a:b] == numeral
    # and the text around them still maps one for one
    assert result.to_original(0, start) == (0, raw.index(numeral))
    tail = start + len(folded)
    assert normalize_text(raw[result.to_original(tail, len(result.text))[0] :]) == result.text[tail:]


def test_numeral_offsets_compose_with_the_other_stages() -> None:
    """Full-width, traditional, invisible and spaced-out characters around numerals that change length."""
    raw = "ｇ ｕ ａ ｒ ａ ｎ ｔ ｅ ｅ ｄ：每\u200b日返利百分之三，日息三厘五，投資滿壹萬元，月入三萬。"
    result = normalize(raw)
    assert result.text == "guaranteed:每日返利3%,日息0.35%,投资满1万元,月入3万。"
    offsets = result.offsets
    assert offsets is not None and len(offsets) == len(result.text) + 1 and offsets[-1] == len(raw)
    assert list(offsets) == sorted(offsets)
    for folded, original in [("3%", "百分之三"), ("0.35%", "三厘五"), ("1万", "壹萬"), ("3万", "三萬"),
                             ("guaranteed", "ｇ ｕ ａ ｒ ａ ｎ ｔ ｅ ｅ ｄ"), ("每日返利", "每\u200b日返利")]:  # fmt: skip
        start = result.text.index(folded)
        a, b = result.to_original(start, start + len(folded))
        assert raw[a:b] == original, folded


def test_chinese_text_without_numerals_keeps_identity_offsets() -> None:
    raw = "保证收益稳赚不赔。名额有限"
    result = normalize(raw)
    assert result.text == raw
    assert result.offsets is None


def test_numerals_are_folded_without_building_offsets() -> None:
    """The offset map is built on first use only, from the recorded edits."""
    result = normalize("每日返利百分之三")
    assert result._offsets is None
    assert result.offsets is not None
    assert [int(x) for x in result.offsets] == [0, 1, 2, 3, 4, 7, 8]


def test_red_flag_evidence_quotes_the_chinese_numerals() -> None:
    """Rates written in Chinese numerals fire as "3%" does; the evidence is the original sentence."""
    from scanner.indicators import find_red_flags

    raw = "本平台保本。每天返利三％。日化收益千分之五。年化收益率高达百分之三百。"
    flags = [flag for flag in find_red_flags(raw, language="zh") if flag.id == "FIXED_RETURN"]
    assert [flag.evidence for flag in flags] == ["每天返利三％。", "日化收益千分之五。", "年化收益率高达百分之三百。"]
    for flag in flags:
        assert raw[flag.start : flag.end] == flag.evidence


def test_the_fast_evasion_searches_equal_the_full_regexes() -> None:
    """The hint-driven leetspeak and spaced-letter searches give exactly what the full regexes give."""
    import random

    from scanner.normalize import _LEET, _SPACED, _spaced_spans, _unleet, _unleet_text

    rng = random.Random(3)
    alphabet = "ab4 0x$@.-_*\n\tzq1é中 c d e"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(20000)]
    texts += ["gu4rant33d r3turns", "g u a r a n t e e d", "x a b c d", "a_b_c_d e", "1 a b c d", "e.a.s.y m-o-n-e-y"]
    for text in texts:
        assert _unleet_text(text) == _LEET.sub(_unleet, text), text
        assert _spaced_spans(text) == [m.span() for m in _SPACED.finditer(text)], text


def test_offsets_are_exact_beyond_the_length_table() -> None:
    """Tag characters, unassigned tag-block points and private-use planes: fold_char decides their length."""
    assert normalize("ａ\U000e000a").offsets.tolist() == [0, 1, 2]  # kept (unassigned), not dropped
    assert normalize("x\U000e0001y\U000f0000z\U000e0020").offsets.tolist() == [0, 2, 4, 6]  # dropped
    rng = random.Random(11)
    alphabet = "ａb \U000e0000\U000e0001\U000e0005\U000e0020\U000e007f\U000f0000\U00030000\U0001f600…"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))
        result = normalize(text)
        offsets = result.offsets
        if offsets is None:
            continue
        assert len(offsets) == len(result.text) + 1 and offsets[-1] == len(text), text
        for i, char in enumerate(result.text):  # each character comes from one whose fold holds it
            assert char in fold_char(text[offsets[i]]) or char == " ", (text, i)
