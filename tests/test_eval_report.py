from __future__ import annotations

import base64
import csv
import dataclasses
import re
from pathlib import Path

import pytest

from scanner.datasets import LabelledData, read_labelled
from scanner.eval_report import render_evaluation_report, write_evaluation_report
from scanner.evaluation import Evaluation, evaluate_model
from scanner.indicators import RedFlag
from scanner.scoring import Term

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE = '<script>alert("x")</script>'

LEGITIMATE = [
    "The company reports quarterly revenue from its payment software licences, audited by an independent firm.",
    "Our annual report describes the board, the risks of the business and the audited financial statements.",
    "The bank offers a savings account insured up to the statutory limit, with a variable interest rate.",
    "This research paper measures transaction latency on a permissioned ledger used for supply chain records.",
    "The exchange is licensed by the financial regulator and keeps client assets segregated in custody.",
    "The fund prospectus explains fees, past performance and the risk that investors may lose capital.",
    "Our open-source library verifies digital signatures; contributions are reviewed under a public licence.",
    "The university course covers cryptography, hash functions and the limits of distributed consensus.",
    "The logistics firm tracks containers with barcodes and publishes its delivery statistics monthly.",
    "The cooperative holds an annual general meeting where members vote on the budget and the accounts.",
]
ILLEGAL_FUNDRAISING = [
    "Invest now and earn a guaranteed 2% daily return; recruit three friends to unlock your referral bonus.",
    "Principal guaranteed, 30% monthly profit, no risk at all. Bring new members and earn on every level below you.",
    "Join our mining pool membership: pay 1000 USDT and receive fixed dividends forever, withdraw anytime.",
    "Static income plus dynamic income: the more people you introduce, the higher your team commission.",
    "Limited places! Deposit today, double your money in 60 days, guaranteed by our platform reserve.",
    "保本保息，每日返利百分之三，推荐新会员即可获得团队奖励，无任何风险。",
    "Stake your coins with us for a fixed 500% annual yield; returns are paid from new investor deposits.",
    "Become a node partner for 5000 USD and receive a guaranteed monthly payout of 800 USD for life.",
    "Our wealth plan promises high returns with zero risk; invite others to rise to diamond rank bonuses.",
    "高额回报，稳赚不赔，拉人头入会即可分红，名额有限，立即投资。",
]
PSEUDO_INNOVATION = [
    "Our revolutionary blockchain AI quantum platform will disrupt every industry and replace all banks.",
    "The world's first metaverse ecosystem token, backed by a secret patented algorithm nobody can copy.",
    "Using blockchain, our tea leaves become digital assets whose value can only go up as the chain grows.",
    "A decentralised AI super-chain with infinite throughput and zero fees, launching the next internet.",
    "Our token is pegged to carbon, gold and real estate at once, certified by a global blockchain alliance.",
    "区块链赋能，全球首创元宇宙数字资产，颠覆传统行业，打造下一代互联网生态。",
    "The coin has no white paper yet but holds a strategic partnership with every major tech company.",
    "Quantum-resistant smart contracts mined by solar satellites will make our coin worth one million dollars.",
    "Our NFT farm digitises livestock on chain so anyone can own a cow and earn from its milk forever.",
    "虚拟货币挖矿新技术，人工智能加区块链，价值无限增长，财富自由的新风口。",
]


def _write_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> LabelledData:
    rows = [
        (f"{label}-{i:02d}", text, label)
        for label, texts in (
            ("legitimate", LEGITIMATE),
            ("illegal_fundraising", ILLEGAL_FUNDRAISING),
            ("pseudo_innovation", PSEUDO_INNOVATION),
        )
        for i, text in enumerate(texts)
    ]
    return read_labelled(_write_csv(tmp_path_factory.mktemp("eval") / "labelled.csv", rows))


@pytest.fixture(scope="module")
def evaluation(default_model, labelled: LabelledData) -> Evaluation:
    return evaluate_model(default_model, labelled, explain=True)


def _images(page: str) -> dict[str, bytes]:
    found = re.findall(r'<img data-plot="([a-z]+)"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    return {key: base64.b64decode(data, validate=True) for key, data in found}


def _without_images(page: str) -> str:
    return re.sub(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', 'src=""', page)


def _force_false_positive(evaluation: Evaluation, index: int, **changes: object) -> Evaluation:
    """The evaluation with result ``index`` (a legitimate document) rated high with the given fields."""
    results = list(evaluation.results)
    changes = {"risk_level": "high", "risk_score": 99.0, "probability": 0.99, "category": "pseudo_innovation"} | changes
    results[index] = dataclasses.replace(results[index], **changes)  # type: ignore[arg-type]
    return Evaluation(evaluation.metrics, results, evaluation.labels)


def test_page_embeds_every_plot_as_png(evaluation: Evaluation) -> None:
    page = render_evaluation_report(evaluation)
    images = _images(page)
    assert set(images) == {"roc", "pr", "calibration", "confusion"}
    for key, data in images.items():
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000, key
    assert 'class="note"' not in page


def test_page_shows_model_n_and_contract_metrics(evaluation: Evaluation) -> None:
    page = render_evaluation_report(evaluation, title="Q3 check")
    m = evaluation.metrics
    assert "<title>Q3 check</title>" in page
    assert f"Model: {m['model']}" in page and "n = 30 (20 risky, 10 legitimate)" in page
    table = page.split('<table id="metrics">')[1].split("</table>")[0]
    for key in ("n", "roc_auc", "pr_auc", "precision", "recall", "f1", "fpr", "category_accuracy"):
        assert f"<td>{key}</td>" in table
    assert f'<td class="num">{m["roc_auc"]:.3f}</td>' in table
    for level, value in m["thresholds"].items():
        assert f'<td>threshold {level}</td><td class="num">{value:.4f}</td>' in table
    at_level = page.split('<table id="at-level">')[1].split("</table>")[0]
    for level, row in m["at_level"].items():
        assert f"<td>{level}</td>" in at_level and f'<td class="num">{row["tp"]}</td>' in at_level


def test_confusion_table_counts_every_document(evaluation: Evaluation) -> None:
    page = render_evaluation_report(evaluation)
    table = page.split('<table id="confusion">')[1].split("</table>")[0]
    counts = [int(c) for c in re.findall(r'<td class="num">(\d+)</td>', table)]
    assert len(counts) == 9 and sum(counts) == 30
    # Rows are true labels: each row sums to that label's 10 documents.
    assert [sum(counts[i : i + 3]) for i in (0, 3, 6)] == [10, 10, 10]
    flagged_legitimate = sum(
        r.risk_level != "low" for r, y in zip(evaluation.results, evaluation.labels, strict=True) if y == "legitimate"
    )
    assert sum(counts[1:3]) == flagged_legitimate


def test_misses_are_listed_worst_first_with_evidence(evaluation: Evaluation) -> None:
    legit = [i for i, y in enumerate(evaluation.labels) if y == "legitimate"]
    flag = RedFlag("GUARANTEED_RETURN", "illegal_fundraising", "high", "t", "earn a guaranteed 2% daily", 0, 10)
    forced = _force_false_positive(evaluation, legit[0], red_flags=(flag,))
    forced = _force_false_positive(forced, legit[1], risk_score=80.0, probability=0.8)
    page = render_evaluation_report(forced)
    section = page.split('<section id="false-positives">')[1].split("</section>")[0]
    ids = re.findall(r'<tr class="miss" data-id="([^"]+)"', section)
    assert ids[:2] == [evaluation.results[legit[0]].id, evaluation.results[legit[1]].id]
    assert "<code>GUARANTEED_RETURN</code> <q>earn a guaranteed 2% daily</q>" in section
    assert '<section id="false-negatives">' in page


def test_false_negatives_lowest_score_first(evaluation: Evaluation) -> None:
    risky = [i for i, y in enumerate(evaluation.labels) if y != "legitimate"]
    results = list(evaluation.results)
    for rank, i in enumerate(risky[:12]):
        results[i] = dataclasses.replace(results[i], risk_level="low", probability=0.001 * (rank + 1), risk_score=0.1)
    page = render_evaluation_report(Evaluation(evaluation.metrics, results, evaluation.labels))
    section = page.split('<section id="false-negatives">')[1].split("</section>")[0]
    ids = re.findall(r'<tr class="miss" data-id="([^"]+)"', section)
    assert ids == [results[i].id for i in risky[:10]]  # 10 of the 12, lowest first


def test_hostile_id_evidence_terms_and_text_are_escaped(evaluation: Evaluation) -> None:
    legit = next(i for i, y in enumerate(evaluation.labels) if y == "legitimate")
    flag = RedFlag(HOSTILE, "illegal_fundraising", "high", "t", f"evidence {HOSTILE}", 0, 10)
    forced = _force_false_positive(evaluation, legit, id=HOSTILE, red_flags=(flag,), top_terms=(Term(HOSTILE, 0.5),))
    texts = [HOSTILE] * len(forced.results)
    page = render_evaluation_report(forced, texts, title=HOSTILE)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert 'data-id="&lt;script&gt;' in page


def test_page_has_no_external_reference(evaluation: Evaluation) -> None:
    page = render_evaluation_report(evaluation)
    assert "http://" not in page and "https://" not in page
    assert "default-src 'none'; img-src data:;" in page  # a browser loads nothing else, even from a hostile page
    assert "//" not in _without_images(page).replace("<!DOCTYPE html>", "")
    for data in _images(page).values():
        assert b"http" not in data  # matplotlib's "Software" stamp names its web site


def test_one_class_only_replaces_curves_with_notes(default_model, tmp_path: Path) -> None:
    rows = [(f"legit-{i}", text, "legitimate") for i, text in enumerate(LEGITIMATE)]
    evaluation = evaluate_model(default_model, read_labelled(_write_csv(tmp_path / "legit.csv", rows)))
    page = render_evaluation_report(evaluation)
    assert set(_images(page)) == {"calibration", "confusion"}
    assert re.search(r'<p class="note" data-plot="roc">.*?found 0 risky, 10 legitimate', page)
    assert '<p class="note" data-plot="pr">' in page
    assert "No false negative." in page


def test_groups_get_their_own_table(default_model, tmp_path: Path) -> None:
    path = tmp_path / "grouped.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label", "source"])
        for i, (text, label) in enumerate(
            [*((t, "legitimate") for t in LEGITIMATE), *((t, "illegal_fundraising") for t in ILLEGAL_FUNDRAISING)]
        ):
            writer.writerow([f"d{i}", text, label, "<b>web</b>" if i % 2 else "filings"])
    evaluation = evaluate_model(default_model, read_labelled(path))
    assert evaluation.metrics.get("by_group"), "read_labelled should keep the source column as the group"
    page = render_evaluation_report(evaluation)
    table = page.split('<table id="by-group">')[1].split("</table>")[0]
    assert "<td>filings</td>" in table and "<td>&lt;b&gt;web&lt;/b&gt;</td>" in table


def test_mismatched_texts_are_refused(evaluation: Evaluation) -> None:
    with pytest.raises(ValueError, match="one label and text per result"):
        render_evaluation_report(evaluation, ["only one"])


def test_write_is_atomic_and_returns_the_path(evaluation: Evaluation, tmp_path: Path) -> None:
    target = tmp_path / "eval.html"
    target.write_text("old", encoding="utf-8")
    assert write_evaluation_report(evaluation, target) == target
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["eval.html"]
    with pytest.raises(OSError):
        write_evaluation_report(evaluation, tmp_path / "missing" / "eval.html")
    assert [p.name for p in tmp_path.iterdir()] == ["eval.html"]


def test_import_does_not_load_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, scanner.eval_report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
