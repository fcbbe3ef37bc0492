"""Evasive text: the same filing disguised eight ways scores the same and raises the same red flags."""

from __future__ import annotations

import re

import pytest

from scanner.normalize import CONFUSABLES, normalize_text
from scanner.scoring import score_text
from scanner.variants import SIMPLIFIED, TRADITIONAL

RISK_WORDS = re.compile(
    r"\b(?:guaranteed|daily|return|returns|referral|commission|profit|deposit|revolutionary|moon)\b"
)

FILINGS = {
    "en-illegal": (
        "Join the Golden Miner pool today! Deposit BNB and earn a guaranteed 3% daily return, paid every 24 hours. "
        "Invite friends and earn a 10% referral commission on every deposit they make, plus 5% from level 2. "
        "Your principal is fully protected and profit can be withdrawn at any time."
    ),
    "en-pseudo": (
        "MetaNova is the world's first AI-powered metaverse blockchain ecosystem, a revolutionary platform that "
        "will disrupt every industry. Our community-driven token is the next 100x gem, ready to go to the moon. "
        "Roadmap: Q3 metaverse launch, Q4 global adoption."
    ),
    "zh-illegal": (
        "【财富共享计划】投资门槛仅需1000元，平台保本保息，每日固定返利3%，一个月即可回本。"
        "直推一人奖励投资额的10%，二代奖励5%，团队越大收益越高。名额有限，请尽快转入客服提供的个人账户。"
    ),
    "zh-pseudo": (
        "元宇宙链是全球首个融合区块链、人工智能与元宇宙的颠覆性生态，将彻底重构数字经济格局。"
        "我们以Web3赋能千行百业，打造万亿级市场。代币即将上线各大交易所，百倍潜力不可错过！"
    ),
    # Rates the indicators only see when written in digits (the Chinese-numeral disguise must not hide them).
    "zh-rates": (
        "稳定币质押计划：年化收益率36%，按日计息，随存随取。会员每天收益1.2%，锁仓30天后可提现，月入30000元不是梦。"
    ),
}

_TO_CYRILLIC = {latin: other for other, latin in CONFUSABLES.items() if other in "аеорсхуі"}
_LEET = str.maketrans("aeiost", "43105" + "7")
_S2T = {s: t for t, s in zip(TRADITIONAL, SIMPLIFIED, strict=True)}


def _in_risk_words(text: str, change) -> str:
    return RISK_WORDS.sub(lambda m: change(m.group()), text)


def homoglyphs(text: str) -> str:
    return _in_risk_words(text, lambda w: "".join(_TO_CYRILLIC.get(c, c) for c in w))


def zero_width(text: str) -> str:
    return re.sub(r"(?<=\w)(?=\w)", "\u200b", text)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def spaced(text: str) -> str:
    return _in_risk_words(text, lambda w: "  " + " ".join(w) + "  ")


def leetspeak(text: str) -> str:
    return _in_risk_words(text, lambda w: w[0] + w[1:-1].translate(_LEET) + w[-1] if len(w) > 3 else w)


def traditional(text: str) -> str:
    return "".join(_S2T.get(c, c) for c in text)


def _in_chinese(
    number: int, digits: str = "零一二三四五六七八九", units: str = "十百千万", *, first: bool = True
) -> str:
    """An integer below 10^8 in Chinese numerals: 1000 is 一千, 15 is 十五, 105 is 一百零五, 10010 一万零一十."""
    if number >= 10_000:
        high, low = divmod(number, 10_000)
        rest = ("零" if low < 1000 else "") + _in_chinese(low, digits, units, first=False) if low else ""
        return _in_chinese(high, digits, units) + units[3] + rest
    out, zero = "", False
    for unit, name in ((1000, units[2]), (100, units[1]), (10, units[0]), (1, "")):
        digit = number // unit % 10
        if digit:
            leading_ten = first and unit == 10 and digit == 1 and not out and units[0] == "十"  # 十五, not 一十五
            out += ("零" if zero else "") + ("" if leading_ten else digits[digit]) + name
            zero = False
        elif out:
            zero = True
    return out or digits[0]


def _numbers_in_chinese(text: str, digits: str, units: str) -> str:
    """Numbers written against Chinese text in Chinese numerals: 3% is 百分之三, 1.5% 百分之一点五, 1000元 一千元."""

    def spell(match: re.Match[str]) -> str:
        number = _in_chinese(int(match.group(1)), digits, units)
        if match.group(2):
            number += "点" + "".join(digits[int(digit)] for digit in match.group(2))
        return "百分之" + number if match.group(3) else number

    return re.sub(r"(?<=[\u4e00-\u9fff])(\d+)(?:\.(\d+))?(?![\d.,])(%?)", spell, text)


def chinese_numerals(text: str) -> str:
    return _numbers_in_chinese(text, "零一二三四五六七八九", "十百千万")


def financial_numerals(text: str) -> str:
    """The forms written on cheques and contracts: 壹仟元, 百分之叁."""
    return _numbers_in_chinese(text, "零壹贰叁肆伍陆柒捌玖", "拾佰仟万")


EVASIONS = {"homoglyphs": homoglyphs, "zero-width": zero_width, "full-width": full_width, "spaced": spaced,
            "leetspeak": leetspeak, "traditional": traditional, "chinese-numerals": chinese_numerals,
            "financial-numerals": financial_numerals}  # fmt: skip


@pytest.mark.parametrize("evasion", list(EVASIONS))
@pytest.mark.parametrize("name", list(FILINGS))
def test_evasion_moves_score_at_most_5_points_and_keeps_red_flags(default_model, name: str, evasion: str) -> None:
    original = FILINGS[name]
    disguised = EVASIONS[evasion](original)
    before = score_text(original, default_model)
    after = score_text(disguised, default_model)
    assert abs(after.risk_score - before.risk_score) <= 5.0, (before.risk_score, after.risk_score)
    before_ids = {f.id for f in before.red_flags}
    after_ids = {f.id for f in after.red_flags} - {"OBFUSCATED_WORDING"}
    assert after_ids == before_ids
    for flag in after.red_flags:  # evidence is still quoted from the disguised original
        assert disguised[flag.start : flag.end] == flag.evidence


@pytest.mark.parametrize("evasion", ["homoglyphs", "zero-width", "spaced", "leetspeak"])
def test_disguise_inside_risk_words_is_itself_a_red_flag(default_model, evasion: str) -> None:
    result = score_text(EVASIONS[evasion](FILINGS["en-illegal"]), default_model)
    assert "OBFUSCATED_WORDING" in {f.id for f in result.red_flags}
    assert "OBFUSCATED_WORDING" not in {f.id for f in score_text(FILINGS["en-illegal"], default_model).red_flags}


@pytest.mark.parametrize("evasion", ["full-width", "traditional", "chinese-numerals", "financial-numerals"])
def test_ordinary_variants_are_not_called_disguise(default_model, evasion: str) -> None:
    """Full-width forms, traditional characters and Chinese numerals are how Chinese filings are written."""
    result = score_text(EVASIONS[evasion](FILINGS["zh-illegal"]), default_model)
    assert "OBFUSCATED_WORDING" not in {f.id for f in result.red_flags}


def test_normal_words_with_digits_are_not_unleeted() -> None:
    assert normalize_text("web3 erc20 0x4f3a 24h b2b") == "web3 erc20 0x4f3a 24h b2b"
    assert normalize_text("U.S.A. and e.g. a b c") == "U.S.A. and e.g. a b c"


def test_chinese_numeral_disguise_rewrites_the_chinese_filings_only() -> None:
    assert chinese_numerals(FILINGS["zh-illegal"]).startswith(
        "【财富共享计划】投资门槛仅需一千元，平台保本保息，每日固定返利百分之三，"
    )
    assert "直推一人奖励投资额的百分之十，二代奖励百分之五，" in chinese_numerals(FILINGS["zh-illegal"])
    assert "仅需壹仟元" in financial_numerals(FILINGS["zh-illegal"])
    assert "每天收益百分之一点二，锁仓三十天后可提现，月入三万元" in chinese_numerals(FILINGS["zh-rates"])
    assert "年化收益率百分之叁拾陆" in financial_numerals(FILINGS["zh-rates"])
    assert "Web3" in chinese_numerals(FILINGS["zh-pseudo"])
    for name in ("en-illegal", "en-pseudo"):
        assert chinese_numerals(FILINGS[name]) == FILINGS[name]
    assert [_in_chinese(n) for n in (5, 10, 15, 105, 110, 1000, 1010, 10010, 20000, 30005)] == [
        "五", "十", "十五", "一百零五", "一百一十", "一千", "一千零一十", "一万零一十", "二万", "三万零五"
    ]  # fmt: skip
    assert normalize_text(chinese_numerals("投资10010元和15元")) == "投资10010元和15元"


@pytest.mark.parametrize("evasion", ["chinese-numerals", "financial-numerals"])
def test_chinese_numerals_normalise_to_the_arabic_filing(evasion: str) -> None:
    """The model and the indicators see the very text of the filing written with Arabic digits."""
    original = FILINGS["zh-illegal"]
    assert normalize_text(EVASIONS[evasion](original)) == normalize_text(original)
