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


def _brute_force(signatures: list, signature, threshold: float):
    """The most similar earlier signature above the threshold, ties to the earliest (by plain loops)."""
    best = None
    for index, earlier in enumerate(signatures):
        score = similarity(earlier, signature)
        if score >= threshold and (best is None or score > best[1]):
            best = (index, score)
    return best


def test_index_finds_the_most_similar_earlier_document_among_many_copies() -> None:
    import numpy as np

    from scanner.dedupe import BANDS, N_PERMUTATIONS

    rng = np.random.default_rng(7)
    template = rng.integers(0, 2**32 - 1, N_PERMUTATIONS, dtype=np.uint32)
    signatures = []
    for _ in range(400):  # copies of one template with a few slots changed: every one is a candidate
        copy = template.copy()
        changed = rng.choice(N_PERMUTATIONS, size=int(rng.integers(0, 12)), replace=False)
        copy[changed] = rng.integers(0, 2**32 - 1, len(changed), dtype=np.uint32)
        signatures.append(copy)
    signatures += [rng.integers(0, 2**32 - 1, N_PERMUTATIONS, dtype=np.uint32) for _ in range(50)]
    rng.shuffle(signatures)
    for threshold in (0.7, 0.9, 1.0):
        index = NearDuplicateIndex(threshold)
        for position, signature in enumerate(signatures):
            expected = _brute_force(signatures[:position], signature, threshold)
            # A pair that shares no band is never compared (that is what LSH trades); a pair this
            # close always shares one.
            found = index.query(signature)
            if expected is None:
                assert found is None
            else:
                rows = N_PERMUTATIONS // BANDS
                shares_band = any(
                    (signatures[expected[0]][b * rows : (b + 1) * rows] == signature[b * rows : (b + 1) * rows]).all()
                    for b in range(BANDS)
                )
                assert shares_band
                assert found == (str(expected[0]), round(expected[1], 3)), position
            index.add(str(position), signature)
        assert len(index) == len(signatures)
