from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from scanner.features import (
    STOP_WORDS,
    FeatureConfig,
    bucket_terms,
    char_ngram_hashes,
    extract_grams,
    hash_counts,
    prepare_text,
    word_ngram_hashes,
    word_tokens,
)

CONFIG = FeatureConfig()


def _reference_counts(text: str, config: FeatureConfig) -> Counter[str]:
    grams: Counter[str] = Counter()
    low, high = config.char_ngrams
    for n in range(low, high + 1):
        grams.update("c:" + text[i : i + n] for i in range(len(text) - n + 1))
    tokens = [t for t in word_tokens(text) if not (config.stop_words and t in STOP_WORDS)]
    low, high = config.word_ngrams
    for n in range(low, high + 1):
        grams.update("w:" + " ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def test_counts_agree_with_a_plain_python_count() -> None:
    text = prepare_text("Deposit 100 USDT, earn 2% daily! 每日返利百分之二。 Deposit again.")
    buckets, counts = hash_counts(text, CONFIG)
    reference = _reference_counts(text, CONFIG)
    # every n-gram lands in one bucket: same total, and (no collisions at 2**22) same number of distinct buckets
    assert counts.sum() == sum(reference.values())
    assert len(buckets) == len(reference)
    assert sorted(counts.astype(int).tolist()) == sorted(reference.values())


def test_hashes_are_stable_across_processes() -> None:
    code = (
        "from scanner.features import FeatureConfig, hash_counts;"
        "b, c = hash_counts('guaranteed daily return 保本保息', FeatureConfig());"
        "print(int(b.sum()), int(c.sum()))"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    buckets, counts = hash_counts("guaranteed daily return 保本保息", CONFIG)
    assert runs == {f"{int(buckets.sum())} {int(counts.sum())}\n"}


def test_token_hashes_depend_on_the_token_only() -> None:
    a = word_ngram_hashes(["daily", "return"], 1, 1)[0]
    b = word_ngram_hashes(["x", "y", "daily", "return"], 1, 1)[0]
    assert a[0] == b[2] and a[1] == b[3] and a[0] != a[1]
    folded = word_ngram_hashes(["25", "%"], 1, 1)[0]
    assert folded[0] == word_ngram_hashes(["7", "%"], 1, 1)[0][0]


def test_char_and_word_hashes_do_not_share_salt() -> None:
    chars = char_ngram_hashes("ab", 2, 2)[0]
    words = word_ngram_hashes(["ab"], 1, 1)[0]
    assert chars[0] != words[0]


def test_chinese_needs_no_segmenter() -> None:
    assert word_tokens("保本保息 guaranteed") == ["guaranteed"]
    buckets, _ = hash_counts(prepare_text("保本保息"), CONFIG)
    # 3 bigrams + 2 trigrams + 1 four-gram, no word tokens
    assert len(buckets) == 6


def test_stop_words_are_left_out_of_word_grams() -> None:
    grams = extract_grams("the daily return of the pool", CONFIG)
    assert grams.tokens == ["daily", "return", "pool"]
    assert extract_grams("the daily return", FeatureConfig(stop_words=False)).tokens == ["the", "daily", "return"]


def test_digits_fold_in_words_only() -> None:
    assert word_tokens("earn 25% in 30 days") == ["earn", "0", "%", "in", "0", "days"]
    assert word_tokens("earn 25%", fold_digits=False) == ["earn", "25", "%"]


def test_prepare_text_lowercases_and_collapses_space() -> None:
    assert prepare_text("  Daily\n\n  RETURN\t") == "daily return"


def test_empty_text_gives_no_features() -> None:
    buckets, counts = hash_counts("", CONFIG)
    assert buckets.size == 0 and counts.size == 0


def test_bucket_terms_names_words_and_chinese() -> None:
    text = prepare_text("Guaranteed daily return of 2% 保本保息")
    grams = extract_grams(text, CONFIG)
    bigram = int(grams.word_buckets[1][1])  # "daily return"
    percent = int(grams.word_buckets[1][3])  # "2 %" ("of" is a stop word), hashed with the digit folded
    chinese = int(grams.char_buckets[2][text.index("保本保息")])
    names = bucket_terms(grams, CONFIG, {bigram, percent, chinese})
    assert names[bigram] == "daily return"
    assert names[percent] == "2 %"
    assert names[chinese] == "保本保息"


def test_config_round_trip() -> None:
    config = FeatureConfig(hash_bits=20, word_ngrams=(1, 3))
    assert FeatureConfig.from_dict(config.to_dict()) == config


# Characters that exercise every class of the array tokeniser: letters, digits of other scripts,
# signs, the underscore, CJK, kana and Hangul (left to the character n-grams), astral letters and
# digits, superscripts and Roman numerals (alphanumeric but not decimal).
_MIXED = "ab xyZ1 2_%$¥€£\u00e9\u4e00\u4e8c\u3042\uac00\uff10\uff41\U0001d7ce\U00010400\u0663\u00b2\u2160 .,-\n'09"


def _random_texts(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(count):
        chars = rng.choice(list(_MIXED), size=int(rng.integers(0, 300)))
        words = rng.choice(sorted(STOP_WORDS), size=int(rng.integers(0, 20)))
        texts.append(" ".join(["".join(chars), *words, "the0", "a"]))
    return texts


def test_array_tokeniser_agrees_with_the_regex_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner import features

    # A tiny table of powers makes long texts go through the piecewise path too.
    monkeypatch.setattr(features, "_POWERS_CACHED", 64)
    monkeypatch.setattr(features, "_POWERS", [])
    for text in [*_random_texts(300, seed=3), "x" * 500 + " ab " + "7" * 300 + " cd", ""]:
        for fold in (True, False):
            for stop in (True, False):
                config = FeatureConfig(fold_digits=fold, stop_words=stop)
                tokens = [t for t in word_tokens(text, fold_digits=False) if not (stop and t in STOP_WORDS)]
                grams = extract_grams(text, config)
                assert grams.tokens == tokens, text
                expected = word_ngram_hashes(tokens, *config.word_ngrams, fold_digits=fold)
                assert len(grams.word_buckets) == len(expected)
                for got, want in zip(grams.word_buckets, expected, strict=True):
                    assert np.array_equal(got, want & np.uint64(config.n_buckets - 1)), text


def test_character_ngrams_hashed_in_blocks_equal_the_whole_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner import features

    texts = [t for t in _random_texts(40, seed=9) if t] + ["ab", "a", "abcdefgh" * 7]
    whole = [extract_grams(text, CONFIG).keys for text in texts]
    for block in (1, 2, 3, 5, 64):
        monkeypatch.setattr(features, "CHAR_BLOCK", block)
        for text, expected in zip(texts, whole, strict=True):
            assert np.array_equal(extract_grams(text, CONFIG).keys, expected), (block, text)
