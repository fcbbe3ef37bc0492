"""Near-duplicate detection across a batch: MinHash signatures and an LSH index.

A whitepaper copied with the project's name changed is a known red flag. Each
document gets a MinHash signature of its character 5-gram shingles (so it
works for Chinese too); signatures are banded into a locality-sensitive
hash index, and a new document is compared with the earlier documents that
share a band. The estimated Jaccard similarity is the share of equal
signature slots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scanner.features import char_ngram_hashes

N_PERMUTATIONS = 64  # signature slots (one-permutation hashing: 64 bins of one hash)
BANDS = 16
SHINGLE = 5
DEFAULT_THRESHOLD = 0.8
MIN_SHINGLES = 100  # shorter texts are too small to call copies of one another
_EMPTY = np.uint32(0xFFFFFFFF)


def minhash(prepared: str) -> np.ndarray | None:
    """Return the MinHash signature (uint32, ``N_PERMUTATIONS`` slots) of a prepared text.

    One-permutation hashing: each shingle's 64-bit hash picks a slot with its
    top 6 bits and competes for that slot's minimum with its low 32 bits, one
    pass over the shingles instead of 64.

    Parameters
    ----------
    prepared : str
        Output of :func:`scanner.features.prepare_text`.

    Returns
    -------
    numpy.ndarray or None
        None when the text has fewer than ``MIN_SHINGLES`` shingles.
    """
    hashes = char_ngram_hashes(prepared, SHINGLE, SHINGLE)
    if not hashes or len(hashes[0]) < MIN_SHINGLES:
        return None
    shingles = hashes[0]
    signature = np.full(N_PERMUTATIONS, _EMPTY, dtype=np.uint32)
    slots = (shingles >> np.uint64(58)).astype(np.intp)
    np.minimum.at(signature, slots, (shingles & np.uint64(0xFFFFFFFF)).astype(np.uint32))
    return signature


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures (slots empty in both are left out)."""
    used = (a != _EMPTY) | (b != _EMPTY)
    if not used.any():
        return 0.0
    return float(np.count_nonzero((a == b) & used) / np.count_nonzero(used))


@dataclass
class NearDuplicateIndex:
    """Earlier documents' signatures, searchable by band.

    Parameters
    ----------
    threshold : float
        Minimum estimated Jaccard similarity to report.
    """

    threshold: float = DEFAULT_THRESHOLD
    _ids: list[str] = field(default_factory=list)
    _signatures: list[np.ndarray] = field(default_factory=list)
    _bands: dict[tuple[int, bytes], list[int]] = field(default_factory=dict)

    def query(self, signature: np.ndarray | None) -> tuple[str, float] | None:
        """Return ``(id, similarity)`` of the most similar earlier document above the threshold."""
        if signature is None:
            return None
        candidates: set[int] = set()
        rows = N_PERMUTATIONS // BANDS
        for band in range(BANDS):
            key = (band, signature[band * rows : (band + 1) * rows].tobytes())
            candidates.update(self._bands.get(key, ()))
        best: tuple[str, float] | None = None
        for index in sorted(candidates):
            score = similarity(self._signatures[index], signature)
            if score >= self.threshold and (best is None or score > best[1]):
                best = (self._ids[index], round(score, 3))
        return best

    def add(self, doc_id: str, signature: np.ndarray | None) -> None:
        """Index a document's signature (nothing for None)."""
        if signature is None:
            return
        index = len(self._ids)
        self._ids.append(doc_id)
        self._signatures.append(signature)
        rows = N_PERMUTATIONS // BANDS
        for band in range(BANDS):
            key = (band, signature[band * rows : (band + 1) * rows].tobytes())
            self._bands.setdefault(key, []).append(index)
