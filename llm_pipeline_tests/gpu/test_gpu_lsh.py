"""LSH banding + verification on a torch device (gpu/lsh.py) == the host's dedup.lsh.lsh_edges, edge for edge."""

from __future__ import annotations

import numpy as np
import pytest

from llm_pipeline_assets.dedup import DedupParams
from llm_pipeline_assets.dedup.engine import _host_lsh, dedup_arrays
from llm_pipeline_assets.dedup.lsh import band_keys
from llm_pipeline_assets.dedup.minhash import MinHasher
from llm_pipeline_assets.dedup.normalize import exact_keys
from llm_pipeline_assets.gpu import dedup_backend as db
from llm_pipeline_assets.gpu.lsh import _band_keys, lsh_edges_on
from llm_pipeline_tests.gpu.helpers import cuda_only, one_torch_thread, shared_corpus  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BUDGET = 1 << 30


def _tricky_signatures(params: DedupParams, seed: int = 0) -> np.ndarray:
    """Random rows, plus groups that share one band but little else (proposed, then rejected: re-anchoring),
    groups of true near-copies, and uint32 slots above 2**31 (sign bit set) everywhere."""
    rng = np.random.default_rng(seed)
    p, rows = params.num_perm, params.rows
    sig = rng.integers(0, 2**32, size=(400, p), dtype=np.uint64).astype(np.uint32)
    for g in range(20):  # band 0 shared by 6 documents that are otherwise unrelated, two of them near-copies
        base = 40 + g * 8
        sig[base:base + 6, :rows] = sig[base, :rows]
        sig[base + 3] = sig[base + 4]
        sig[base + 3, -3:] = rng.integers(0, 2**32, size=3, dtype=np.uint64).astype(np.uint32)
    for g in range(15):  # near-copies: 95 % of slots equal
        a, b = 250 + g * 2, 251 + g * 2
        sig[b] = sig[a]
        flip = rng.choice(p, size=max(1, p // 20), replace=False)
        sig[b, flip] = rng.integers(0, 2**32, size=flip.size, dtype=np.uint64).astype(np.uint32)
    sig[300:310] = sig[300]  # a bucket of ten exact signature copies
    return sig


@pytest.mark.parametrize("bands,rows", [(16, 7), (10, 11)])  # 10 x 11 leaves the last two slots unused
def test_band_keys_match_numpy_bit_for_bit(bands, rows):
    import torch

    params = DedupParams()
    sig = _tricky_signatures(params)
    want = band_keys(sig, bands, rows)
    got = _band_keys(torch.from_numpy(sig.view(np.int32)), bands, rows)  # all bands at once: (bands, m)
    assert got.shape == (bands, len(sig))
    assert np.array_equal(got.numpy().view(np.uint64), want.T)


@pytest.mark.parametrize("params", [DedupParams(), DedupParams(threshold=0.5), DedupParams(verify="none"),
                                    DedupParams(num_perm=64, bands=8, rows=8, threshold=0.9)],
                         ids=["default", "t0.5", "unverified", "8x8"])
def test_device_lsh_gives_the_host_edges_and_counts(params):
    sig = _tricky_signatures(params)
    surv = np.flatnonzero(np.arange(len(sig)) % 17 != 5)  # some documents are exact duplicates: not survivors
    want_edges, want_stats = _host_lsh(sig, surv, params, None, None)
    edges, stats = lsh_edges_on(sig, surv, params, "cpu", BUDGET)
    assert np.array_equal(edges, want_edges) and stats == want_stats
    assert want_stats["candidate_pairs"] > want_stats["verified_pairs"] > 0 or params.verify == "none"


def _chains(p: int = 112, seed: int = 1) -> np.ndarray:
    """Chains of gradually edited documents (~6 % of slots re-drawn per link): similar and dissimilar pairs
    share buckets band after band, so the host re-verifies cached pairs next to new ones."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(60):
        row = rng.integers(0, 2**32, size=p, dtype=np.uint64).astype(np.uint32)
        for _ in range(8):
            docs.append(row.copy())
            flip = rng.choice(p, size=7, replace=False)
            row[flip] = rng.integers(0, 2**32, size=7, dtype=np.uint64).astype(np.uint32)
    return np.stack(docs)


@pytest.mark.parametrize("threshold", [0.8, 0.5])
def test_device_lsh_on_near_duplicate_chains(threshold):
    params = DedupParams(threshold=threshold)
    sig = _chains()
    surv = np.arange(len(sig))
    want_edges, want_stats = _host_lsh(sig, surv, params, None, None)
    edges, stats = lsh_edges_on(sig, surv, params, "cpu", BUDGET)
    assert np.array_equal(edges, want_edges) and stats == want_stats and len(edges) > 100


def test_host_path_where_the_device_path_does_not_apply(monkeypatch):
    import torch

    from llm_pipeline_assets.gpu import lsh

    params = DedupParams()
    sig = _tricky_signatures(params)
    surv = np.arange(len(sig))
    assert lsh_edges_on(sig, surv, params, "cpu", memory_budget=1000) is None  # does not fit: the host spills
    assert lsh_edges_on(sig, surv, DedupParams(verify="jaccard"), "cpu", BUDGET) is None  # needs shingle sets
    assert lsh_edges_on(sig, surv[:0], params, "cpu", BUDGET)[1] == {"candidate_pairs": 0, "verified_pairs": 0}

    def out_of_memory(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3 GiB")

    monkeypatch.setattr(lsh, "_edges", out_of_memory)
    assert lsh_edges_on(sig, surv, params, "cpu", BUDGET) is None  # the run goes on, on the host


def test_dedup_with_the_device_lsh_equals_the_host_path():
    corpus = shared_corpus()
    params = DedupParams()
    signatures = MinHasher(params.num_perm, params.ngram, params.seed).signatures(corpus)
    keys = exact_keys(corpus)
    want = dedup_arrays(keys, signatures, params)
    backend = db.TorchDedupBackend("cpu", lsh_on_device=True)
    calls = []

    def spy(*args):
        calls.append(args[1].size)
        return backend.lsh(*args)

    got = dedup_arrays(keys, signatures, params, components=backend.components, lsh=spy)
    assert calls and want.stats["fuzzy_removed"] > 0
    for name in ("exact_dup_of", "cluster", "keep"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert got.stats == want.stats
    assert db.TorchDedupBackend("cpu").lsh(signatures, np.arange(len(keys)), params) is None  # off by default off CUDA


@cuda_only
def test_cuda_lsh_gives_the_host_edges():
    params = DedupParams()
    sig = _tricky_signatures(params)
    surv = np.arange(len(sig))
    edges, stats = lsh_edges_on(sig, surv, params, "cuda", BUDGET)
    want_edges, want_stats = _host_lsh(sig, surv, params, None, None)
    assert np.array_equal(edges, want_edges) and stats == want_stats
