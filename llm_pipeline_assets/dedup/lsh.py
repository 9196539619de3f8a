"""Banded locality-sensitive hashing over MinHash signatures.

A signature of ``bands * rows`` slots is cut into ``bands`` bands of
``rows`` consecutive slots; two documents become a *candidate pair* when
all ``rows`` slots of at least one band agree.  For Jaccard similarity
``s`` the probability of that is the S-curve

    P(s) = 1 - (1 - s**rows)**bands

whose inflection is near ``threshold_for(bands, rows) = (1/bands)**(1/rows)``.

Candidates are found per band by sorting the band keys: every bucket (run
of equal keys) yields star edges ``(anchor, member)`` where the anchor is
the bucket's lowest index.  Each candidate pair is optionally *verified*
(estimated or true Jaccard >= threshold); members that fail against the
anchor are re-bucketed around the lowest failing member (a few rounds), so
a false candidate cannot hide a true pair inside the same bucket.  Every
distinct pair is verified once (a sorted pair cache spans all bands).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .minhash import SHINGLE_MULT, mix64

__all__ = [
    "s_curve",
    "threshold_for",
    "choose_bands_rows",
    "band_keys",
    "bucket_star_edges",
    "lsh_edges",
    "Verifier",
]

#: ``verifier(left, right) -> bool array``: does each candidate pair pass?
Verifier = Callable[[np.ndarray, np.ndarray], np.ndarray]


def s_curve(similarity, bands: int, rows: int):
    """Probability that a pair at Jaccard ``similarity`` becomes a candidate."""
    s = np.asarray(similarity, dtype=np.float64)
    out = 1.0 - (1.0 - s**rows) ** bands
    return float(out) if out.ndim == 0 else out


def threshold_for(bands: int, rows: int) -> float:
    """Approximate similarity at the steepest point of the S-curve."""
    return float((1.0 / bands) ** (1.0 / rows))


def choose_bands_rows(
    num_perm: int, threshold: float, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> Tuple[int, int]:
    """(bands, rows) with ``bands * rows <= num_perm`` minimizing weighted error.

    Same objective as datasketch's ``_optimal_param``: the false-positive
    area ``FP = integral_0^t P(s) ds`` and false-negative area
    ``FN = integral_t^1 (1 - P(s)) ds`` are integrated numerically
    (trapezoid rule, 2001 points per side) for every ``(b, r)`` and the pair
    minimizing ``fp_weight * FP + fn_weight * FN`` wins (ties: smaller
    ``b``, then smaller ``r``).  When candidates are verified afterwards,
    false positives only cost verification time, so a larger
    ``fn_weight`` trades CPU for recall.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)])
    bands, rows = pairs[:, :1].astype(np.float64), pairs[:, 1:].astype(np.float64)
    lo = np.linspace(0.0, threshold, 2001)[None, :]
    hi = np.linspace(threshold, 1.0, 2001)[None, :]
    fp = np.trapezoid(1.0 - (1.0 - lo**rows) ** bands, lo, axis=1)
    fn = np.trapezoid((1.0 - hi**rows) ** bands, hi, axis=1)
    err = fp_weight * fp + fn_weight * fn
    best = int(np.argmin(err))  # pairs are in (b, r) lexicographic order
    return int(pairs[best, 0]), int(pairs[best, 1])


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 key per (document, band): a mix64 fold of the band's slots.

    ``key = sig[:, c0]``; for each further slot ``key = mix64(key *
    SHINGLE_MULT + sig[:, c])``.  Returns shape ``(N, bands)``.
    """
    sig = np.asarray(signatures)
    if sig.ndim != 2 or sig.shape[1] < bands * rows:
        raise ValueError(f"signatures of shape {sig.shape} have fewer than {bands}x{rows} slots")
    out = np.empty((sig.shape[0], bands), dtype=np.uint64)
    for band in range(bands):
        c0 = band * rows
        key = sig[:, c0].astype(np.uint64)
        for c in range(c0 + 1, c0 + rows):
            key *= SHINGLE_MULT
            key += sig[:, c]
            key = mix64(key)
        out[:, band] = key
    return out


def bucket_star_edges(keys: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Star edges of the buckets of equal ``keys``.

    Returns ``(anchor, member, bucket)``: for every document that is not the
    lowest index of its bucket, the bucket's lowest index, itself, and a
    bucket id.  Members are ordered by (bucket, index).
    """
    n = keys.shape[0]
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    order = np.argsort(keys, kind="stable")  # equal keys keep index order
    sk = keys[order]
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(sk[1:], sk[:-1], out=first[1:])
    bucket = np.cumsum(first) - 1
    anchor = order[first][bucket]
    member = ~first
    return anchor[member], order[member], bucket[member]


class _PairCache:
    """Verdicts of already verified pairs, keyed by ``lo * n + hi`` (sorted)."""

    def __init__(self, n: int):
        self.n = n
        self.codes = np.zeros(0, dtype=np.int64)
        self.ok = np.zeros(0, dtype=bool)

    def resolve(self, left: np.ndarray, right: np.ndarray, verifier: Optional[Verifier]) -> np.ndarray:
        codes = left.astype(np.int64) * self.n + right
        pos = np.searchsorted(self.codes, codes)
        pos_c = np.minimum(pos, max(self.codes.size - 1, 0))
        hit = (pos < self.codes.size) & (self.codes[pos_c] == codes) if self.codes.size else np.zeros(codes.size, bool)
        result = np.empty(codes.size, dtype=bool)
        result[hit] = self.ok[pos_c[hit]]  # read before the merge below moves the cached verdicts
        new, inv = np.unique(codes[~hit], return_inverse=True)
        if new.size:
            new_ok = np.ones(new.size, dtype=bool) if verifier is None else verifier(new // self.n, new % self.n)
            merged = np.concatenate([self.codes, new])
            order = np.argsort(merged, kind="stable")
            self.codes, self.ok = merged[order], np.concatenate([self.ok, new_ok])[order]
            result[~hit] = new_ok[inv]
        return result


def lsh_edges(
    keys_for_band: Callable[[int], np.ndarray],
    n: int,
    bands: int,
    verifier: Optional[Verifier] = None,
    max_rounds: int = 8,
) -> Tuple[np.ndarray, Dict[str, int]]:
    """Verified candidate edges over all bands, one band in memory at a time.

    ``keys_for_band(b)`` returns the uint64 keys (shape ``(n,)``) of band
    ``b``.  Returns ``(edges, stats)`` where ``edges`` is an ``(E, 2)`` int64
    array of distinct verified pairs ``(lo, hi)`` and ``stats`` has
    ``candidate_pairs`` (distinct pairs proposed) and ``verified_pairs``.
    """
    cache = _PairCache(n)
    for band in range(bands):
        anchor, member, bucket = bucket_star_edges(np.asarray(keys_for_band(band)))
        for _ in range(max_rounds):
            if member.size == 0:
                break
            ok = cache.resolve(anchor, member, verifier)
            if verifier is None or ok.all():
                break
            member, bucket = member[~ok], bucket[~ok]  # re-anchor the failures
            first = np.empty(member.size, dtype=bool)
            if member.size:
                first[0] = True
                np.not_equal(bucket[1:], bucket[:-1], out=first[1:])
            anchor = member[first][np.cumsum(first) - 1]
            member, bucket, anchor = member[~first], bucket[~first], anchor[~first]
    edges = np.stack([cache.codes[cache.ok] // n, cache.codes[cache.ok] % n], axis=1)
    stats = {"candidate_pairs": int(cache.codes.size), "verified_pairs": int(cache.ok.sum())}
    return edges.astype(np.int64), stats
