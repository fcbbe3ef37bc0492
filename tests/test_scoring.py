from __future__ import annotations

from pathlib import Path

import pytest

from scanner.documents import read_document
from scanner.scoring import detect_language, error_result, level_for, score_document, score_text

# Filings written for these tests (not from the corpus), one per class and language.
FILINGS = {
    ("zh", "illegal_fundraising"): (
        "【财富共享计划】投资门槛仅需1000元，平台保本保息，每日固定返利百分之二，一个月即可回本。"
        "直推一人奖励投资额的10%，二代奖励5%，三代奖励3%，团队越大收益越高。"
        "名额有限，请尽快将USDT转入客服提供的个人账户，逾期不候。"
    ),
    ("zh", "pseudo_innovation"): (
        "元宇宙链是全球首个融合区块链、人工智能与元宇宙的颠覆性生态，将彻底重构数字经济格局。"
        "我们以Web3赋能千行百业，打造万亿级市场。代币即将上线各大交易所，百倍潜力不可错过，社区共识驱动价值暴涨！"
    ),
    ("zh", "legitimate"): (
        "本交易所持有监管机构颁发的数字资产交易牌照，客户资产由独立第三方托管机构保管，每月公布储备审计报告。"
        "现货交易手续费为成交金额的0.1%，挂单方为0.08%。数字资产价格波动剧烈，投资者可能损失全部本金，请审慎评估自身风险承受能力。"
    ),
    ("en", "illegal_fundraising"): (
        "Join the Golden Miner pool today! Deposit BNB and earn a fixed 3% daily return, paid every 24 hours to your wallet. "
        "Invite friends and earn 10% referral commission on every deposit they make, plus 5% from level 2. "
        "Your principal is fully protected and you can withdraw profits any time."
    ),
    ("en", "pseudo_innovation"): (
        "MetaNova is the world's first AI-powered metaverse blockchain ecosystem that will revolutionize everything. "
        "Our community-driven token is the next 100x gem, ready to go to the moon. "
        "Roadmap: Q3 metaverse launch, Q4 global adoption. Don't miss the presale!"
    ),
    ("en", "legitimate"): (
        "Ledgerline is an open-source hardware wallet. Private keys are generated and stored on a certified secure element "
        "and never leave the device; transactions are confirmed on the device screen. Firmware is reproducibly built and "
        "audited twice a year. The device costs $79 and ships worldwide."
    ),
}


@pytest.mark.parametrize(("lang", "label"), list(FILINGS), ids=[f"{a}-{b}" for a, b in FILINGS])
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_chinese_and_english_filings_score_to_the_right_side(
    default_model, tmp_path: Path, lang, label, encoding
) -> None:
    path = tmp_path / f"{label}.txt"
    path.write_bytes(FILINGS[(lang, label)].encode(encoding))
    result = score_document(path, default_model)
    assert result.language == lang
    if label == "legitimate":
        assert result.risk_level == "low", result
    else:
        assert result.risk_level in ("medium", "high"), result
        assert result.category == label
    assert 0.0 <= result.risk_score <= 100.0


def test_result_record_has_contract_fields(default_model) -> None:
    record = score_text(FILINGS[("en", "illegal_fundraising")], default_model, doc_id="x").to_dict()
    assert list(record) == [
        "id",
        "sha256",
        "risk_score",
        "risk_level",
        "category",
        "category_scores",
        "red_flags",
        "top_terms",
        "language",
        "model",
        "error",
    ]
    assert record["model"] == "default@1.0.0"
    assert set(record["category_scores"]) == {"illegal_fundraising", "pseudo_innovation"}
    assert record["red_flags"], "a plain fixed-return pitch must raise red flags"
    flag = record["red_flags"][0]
    assert set(flag) == {"id", "category", "severity", "title", "evidence", "start", "end"}
    assert record["top_terms"] and record["top_terms"][0]["weight"] > 0


def test_evidence_offsets_quote_the_original(default_model) -> None:
    text = "Intro.\n\n保证每日返利３％，\u200b推荐奖励百分之十。"
    result = score_text(text, default_model)
    assert result.red_flags
    for flag in result.red_flags:
        assert text[flag.start : flag.end] == flag.evidence


def test_same_input_same_output(default_model) -> None:
    text = FILINGS[("zh", "pseudo_innovation")]
    assert score_text(text, default_model) == score_text(text, default_model)


def test_chinese_titles_for_chinese_filings(default_model) -> None:
    result = score_text(FILINGS[("zh", "illegal_fundraising")], default_model)
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in flag.title) for flag in result.red_flags)


def test_low_level_has_no_category(default_model) -> None:
    result = score_text(FILINGS[("en", "legitimate")], default_model)
    assert result.risk_level == "low" and result.category is None


def test_level_for_uses_thresholds() -> None:
    thresholds = {"medium": 0.3, "high": 0.8}
    assert [level_for(p, thresholds) for p in (0.1, 0.3, 0.79, 0.8)] == ["low", "medium", "medium", "high"]


def test_detect_language() -> None:
    assert detect_language("这是一个中文项目介绍 with a few English words") == "zh"
    assert detect_language("An English filing with 一 character") == "en"


def test_error_result_has_no_score() -> None:
    record = error_result("a.pdf", "a.pdf is encrypted", "default@1.0.0").to_dict()
    assert record["risk_score"] is None and record["error"] == "a.pdf is encrypted"


def test_read_document_gb18030_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(FILINGS[("zh", "legitimate")].encode("gb18030"))
    assert read_document(path).text == FILINGS[("zh", "legitimate")]
