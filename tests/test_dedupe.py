from __future__ import annotations

from scanner.dedupe import NearDuplicateIndex, minhash, similarity
from scanner.features import prepare_text

BASE = " ".join(f"Section {i}: the protocol settles trades on chain and publishes audited reserves." for i in range(40))


def test_identical_and_renamed_texts_are_near_duplicates() -> None:
    a = minhash(prepare_text(BASE))
    b = minhash(prepare_text(BASE.replace("protocol", "platform", 3) + " Renamed by NewCo."))
    assert a is not None and b is not None
    assert similarity(a, a) == 1.0
    assert similarity(a, b) >= 0.8


def test_unrelated_texts_are_not() -> None:
    other = " ".join(
        f"Chapter {i}: farmers hire miners and compound eggs every hour for BNB rewards." for i in range(40)
    )
    assert similarity(minhash(prepare_text(BASE)), minhash(prepare_text(other))) < 0.5


def test_short_texts_get_no_signature() -> None:
    assert minhash(prepare_text("Too short to compare.")) is None


def test_index_returns_most_similar_earlier_document_above_threshold() -> None:
    index = NearDuplicateIndex(threshold=0.8)
    original = minhash(prepare_text(BASE))
    index.add("first", original)
    found = index.query(minhash(prepare_text(BASE + " A footnote.")))
    assert found is not None and found[0] == "first" and found[1] >= 0.8
    assert index.query(None) is None
    unrelated = " ".join(
        f"Item {i}: a wallet stores keys on a secure element and signs on the device." for i in range(40)
    )
    assert index.query(minhash(prepare_text(unrelated))) is None
