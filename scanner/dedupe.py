"""Near-duplicate detection across a batch: MinHash signatures and an LSH index.

A whitepaper copied with the project's name changed is a known red flag. Each
document gets a MinHash signature of its character 5-gram shingles (so it
works for Chinese too); signatures are banded into a locality-sensitive
hash index, and a new document is compared with the earlier documents that
share a band. The estimated Jaccard similarity is the share of equal
signature slots.
"""

from __future__ import annotations

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


class NearDuplicateIndex:
    """Earlier documents' signatures, searchable by band.

    Signatures are kept in one array and compared with a new document all at
    once, and each band keeps its documents in an array, so that a batch full
    of copies of one template (every document a candidate of every later one)
    stays fast: the work per document is a few array operations over its
    candidates, not a Python loop.

    Parameters
    ----------
    threshold : float
        Minimum estimated Jaccard similarity to report.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._ids: list[str] = []
        self._signatures = np.empty((0, N_PERMUTATIONS), dtype=np.uint32)  # rows beyond len(_ids) are spare
        self._bands: dict[tuple[int, bytes], _Members] = {}
        self._first: dict[bytes, int] = {}  # a signature's first document: an exact match needs no comparison

    def __len__(self) -> int:
        return len(self._ids)

    def query(self, signature: np.ndarray | None) -> tuple[str, float] | None:
        """Return ``(id, similarity)`` of the most similar earlier document above the threshold.

        Ties go to the earliest document.
        """
        if signature is None:
            return None
        same = self._first.get(signature.tobytes())
        if same is not None and (signature != _EMPTY).any():
            return (self._ids[same], 1.0) if self.threshold <= 1.0 else None
        members = [self._bands[key].view() for key in _band_keys(signature) if key in self._bands]
        if not members:
            return None
        if sum(len(indexes) for indexes in members) * 8 < len(self._ids):  # few: sort them
            candidates = np.sort(np.concatenate(members))
            candidates = candidates[np.append(True, candidates[1:] != candidates[:-1])]
        else:  # many (copies of one template): mark them among all documents
            marked = np.zeros(len(self._ids), dtype=np.bool_)
            for indexes in members:
                marked[indexes] = True
            candidates = np.flatnonzero(marked)
        rows = self._signatures[candidates]
        used = (rows != _EMPTY) | (signature != _EMPTY)
        equal = np.count_nonzero((rows == signature) & used, axis=1)
        total = np.count_nonzero(used, axis=1)
        scores = np.divide(equal, total, out=np.zeros(len(candidates)), where=total > 0)
        best = int(np.argmax(scores))  # the first of the highest: the earliest document
        if scores[best] < self.threshold:
            return None
        return self._ids[int(candidates[best])], round(float(scores[best]), 3)

    def add(self, doc_id: str, signature: np.ndarray | None) -> None:
        """Index a document's signature (nothing for None)."""
        if signature is None:
            return
        index = len(self._ids)
        if index == len(self._signatures):
            grown = np.empty((max(64, 2 * index), N_PERMUTATIONS), dtype=np.uint32)
            grown[:index] = self._signatures[:index]
            self._signatures = grown
        self._signatures[index] = signature
        self._ids.append(doc_id)
        self._first.setdefault(signature.tobytes(), index)
        for key in _band_keys(signature):
            members = self._bands.get(key)
            if members is None:
                members = self._bands[key] = _Members()
            members.append(index)


def _band_keys(signature: np.ndarray) -> list[tuple[int, bytes]]:
    rows = N_PERMUTATIONS // BANDS
    return [(band, signature[band * rows : (band + 1) * rows].tobytes()) for band in range(BANDS)]


class _Members:
    """A growing array of document indexes (one band's bucket)."""

    __slots__ = ("_data", "_size")

    def __init__(self) -> None:
        self._data = np.empty(4, dtype=np.int64)
        self._size = 0

    def append(self, index: int) -> None:
        if self._size == len(self._data):
            self._data = np.concatenate([self._data, np.empty(len(self._data), dtype=np.int64)])
        self._data[self._size] = index
        self._size += 1

    def view(self) -> np.ndarray:
        return self._data[: self._size]
