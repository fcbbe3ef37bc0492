"""Evasive text: the same filing disguised six ways scores the same and raises the same red flags."""

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


EVASIONS = {"homoglyphs": homoglyphs, "zero-width": zero_width, "full-width": full_width, "spaced": spaced,
            "leetspeak": leetspeak, "traditional": traditional}  # fmt: skip


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


@pytest.mark.parametrize("evasion", ["full-width", "traditional"])
def test_ordinary_variants_are_not_called_disguise(default_model, evasion: str) -> None:
    """Full-width forms and traditional characters are how Chinese filings are written, not evasion."""
    result = score_text(EVASIONS[evasion](FILINGS["zh-illegal"]), default_model)
    assert "OBFUSCATED_WORDING" not in {f.id for f in result.red_flags}


def test_normal_words_with_digits_are_not_unleeted() -> None:
    assert normalize_text("web3 erc20 0x4f3a 24h b2b") == "web3 erc20 0x4f3a 24h b2b"
    assert normalize_text("U.S.A. and e.g. a b c") == "U.S.A. and e.g. a b c"
