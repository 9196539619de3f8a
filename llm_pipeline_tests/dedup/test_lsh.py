"""S-curve, band/row choice, band keys, bucket edges and verified LSH edges."""

from __future__ import annotations

import numpy as np
import pytest

from llm_pipeline_assets.dedup.lsh import (
    band_keys,
    bucket_star_edges,
    choose_bands_rows,
    lsh_edges,
    s_curve,
    threshold_for,
)
from llm_pipeline_assets.dedup.minhash import MinHasher, minhash_signatures
from llm_pipeline_tests.dedup.corpus import pair_with_jaccard


def test_s_curve_values_and_monotonicity():
    assert s_curve(0.5, 28, 4) == pytest.approx(1 - (1 - 0.5**4) ** 28)
    assert s_curve(0.8, 14, 8) == pytest.approx(0.924, abs=1e-3)  # datatrove's documented value
    assert s_curve(0.0, 10, 5) == 0.0 and s_curve(1.0, 10, 5) == 1.0
    grid = np.linspace(0, 1, 101)
    curve = s_curve(grid, 28, 4)
    assert curve.shape == grid.shape and np.all(np.diff(curve) >= 0)
    # more bands -> more candidates, more rows -> fewer
    assert s_curve(0.6, 30, 4) > s_curve(0.6, 20, 4) and s_curve(0.6, 20, 5) < s_curve(0.6, 20, 4)


def test_threshold_for():
    assert threshold_for(14, 8) == pytest.approx((1 / 14) ** (1 / 8))
    assert threshold_for(1, 1) == 1.0
    # the S-curve is steepest near the threshold
    b, r = 20, 5
    grid = np.linspace(0.01, 0.99, 981)
    steepest = grid[np.argmax(np.gradient(s_curve(grid, b, r), grid))]
    assert abs(steepest - threshold_for(b, r)) < 0.06


def _brute_force(num_perm, t, wfp, wfn):
    best, arg = None, None
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            lo, hi = np.linspace(0, t, 4001), np.linspace(t, 1, 4001)
            err = wfp * np.trapezoid(s_curve(lo, b, r), lo) + wfn * np.trapezoid(1 - s_curve(hi, b, r), hi)
            if best is None or err < best - 1e-12:
                best, arg = err, (b, r)
    return arg


@pytest.mark.parametrize("num_perm, t, wfp, wfn", [(32, 0.5, 0.5, 0.5), (64, 0.8, 0.5, 0.5), (48, 0.6, 0.1, 0.9)])
def test_choose_bands_rows_minimizes_weighted_error(num_perm, t, wfp, wfn):
    b, r = choose_bands_rows(num_perm, t, wfp, wfn)
    assert b * r <= num_perm
    assert (b, r) == _brute_force(num_perm, t, wfp, wfn)


def test_choose_bands_rows_defaults_and_trends():
    assert choose_bands_rows(112, 0.55, 0.1, 0.9) == (28, 4)  # recall-leaning weights at a low threshold
    rows = [choose_bands_rows(112, t)[1] for t in (0.3, 0.5, 0.7, 0.9)]
    assert rows == sorted(rows)  # a higher threshold needs more rows per band
    with pytest.raises(ValueError):
        choose_bands_rows(112, 0.0)
    with pytest.raises(ValueError):
        choose_bands_rows(0, 0.5)


def test_band_keys():
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 2**32, size=(4, 12), dtype=np.uint32)
    sig[1, :4] = sig[0, :4]  # same first band only
    sig[2] = sig[0]
    keys = band_keys(sig, 3, 4)
    assert keys.shape == (4, 3) and keys.dtype == np.uint64
    assert keys[0, 0] == keys[1, 0] and keys[0, 1] != keys[1, 1]
    assert np.array_equal(keys[0], keys[2]) and len(set(keys[:, 0].tolist())) == 2
    assert np.array_equal(band_keys(sig[:, 4:8], 1, 4)[:, 0], keys[:, 1])  # bands are independent
    with pytest.raises(ValueError):
        band_keys(sig, 4, 4)


def test_bucket_star_edges_anchor_is_lowest_index():
    keys = np.array([9, 4, 9, 4, 1, 9], dtype=np.uint64)
    anchor, member, _ = bucket_star_edges(keys)
    assert sorted(zip(anchor.tolist(), member.tolist())) == [(0, 2), (0, 5), (1, 3)]
    assert all(x.size == 0 for x in bucket_star_edges(np.array([3], dtype=np.uint64)))


@pytest.mark.parametrize("bands, rows", [(28, 4), (20, 5), (10, 10)])
def test_measured_candidate_rate_follows_s_curve(bands, rows):
    rng = np.random.default_rng(bands * 100 + rows)
    hasher = MinHasher(num_perm=bands * rows, seed=9)
    n_pairs = 400
    for target in (0.3, 0.5, 0.7, 0.9):
        sets, sims = [], []
        for _ in range(n_pairs):
            a, b, j = pair_with_jaccard(rng, target, size=200)
            sets += [a, b]
            sims.append(j)
        counts = np.array([s.size for s in sets])
        sig = minhash_signatures(np.concatenate(sets), counts, hasher.a, hasher.b)
        keys = band_keys(sig, bands, rows)
        hit = (keys[0::2] == keys[1::2]).any(axis=1)
        expected = s_curve(np.array(sims), bands, rows).mean()
        tol = 3 * np.sqrt(expected * (1 - expected) / n_pairs) + 0.02
        assert abs(hit.mean() - expected) <= tol, (target, hit.mean(), expected)


def test_lsh_edges_dedupes_pairs_and_reanchors_failures():
    # one bucket {0, 1, 2} in every band; 0 is unrelated to 1 and 2, which are similar
    keys = np.array([5, 5, 5, 7], dtype=np.uint64)
    calls = []

    def verifier(left, right):
        calls.append(list(zip(left.tolist(), right.tolist())))
        return (left == 1) & (right == 2)

    edges, stats = lsh_edges(lambda b: keys, 4, bands=3, verifier=verifier)
    assert edges.tolist() == [[1, 2]]
    assert stats == {"candidate_pairs": 3, "verified_pairs": 1}
    assert sum(len(c) for c in calls) == 3  # every distinct pair verified once across bands
    edges, stats = lsh_edges(lambda b: keys, 4, bands=2, verifier=None)
    assert edges.tolist() == [[0, 1], [0, 2]] and stats["verified_pairs"] == 2


def test_cached_verdicts_survive_new_pairs_that_sort_before_them():
    """Regression: a pair verified in an earlier band kept its verdict only while no new pair sorted before it
    (the cache read verdicts at positions the merge had already moved)."""
    from llm_pipeline_assets.dedup.lsh import _PairCache

    cache = _PairCache(10)
    similar = lambda left, right: (left == 5) & (right == 7)  # noqa: E731
    assert cache.resolve(np.array([5]), np.array([7]), similar).tolist() == [True]
    assert cache.resolve(np.array([1, 5]), np.array([2, 7]), similar).tolist() == [False, True]
    assert cache.resolve(np.array([0, 1, 5]), np.array([9, 2, 7]), similar).tolist() == [False, False, True]


def test_lsh_edges_on_near_duplicate_chains_equal_a_cache_free_run():
    """Chains of gradually edited documents put similar and dissimilar pairs in the same buckets band after
    band: the verified edges must be what verifying every proposed pair afresh gives."""
    rng = np.random.default_rng(1)
    p, bands, rows = 112, 16, 7
    docs = []
    for _ in range(60):
        row = rng.integers(0, 2**32, size=p, dtype=np.uint64).astype(np.uint32)
        for _ in range(8):  # each link: ~6 % of the slots re-drawn
            docs.append(row.copy())
            flip = rng.choice(p, size=7, replace=False)
            row[flip] = rng.integers(0, 2**32, size=7, dtype=np.uint64).astype(np.uint32)
    sig = np.stack(docs)
    keys = band_keys(sig, bands, rows)

    def verifier(left, right):
        return np.count_nonzero(sig[left] == sig[right], axis=1) >= 0.8 * p - 1e-9

    class Fresh:  # the same algorithm, every proposed pair verified again
        def __init__(self):
            self.seen = {}

        def __call__(self, left, right):
            ok = verifier(left, right)
            self.seen.update(zip(zip(left.tolist(), right.tolist()), ok.tolist()))
            return ok

    edges, stats = lsh_edges(lambda b: keys[:, b], len(sig), bands, verifier)
    fresh = Fresh()
    for b in range(bands):  # replay band by band with a cache-free verifier (one band at a time: no reuse)
        lsh_edges(lambda _b, b=b: keys[:, b], len(sig), 1, fresh)
    want = sorted(pair for pair, ok in fresh.seen.items() if ok)
    assert edges.tolist() == [list(pair) for pair in want]
    assert stats == {"candidate_pairs": len(fresh.seen), "verified_pairs": len(want)}
