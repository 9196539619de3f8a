"""The torch MinHash kernel gives the numpy path's signatures bit for bit (CPU torch here, CUDA with -m gpu)."""

from __future__ import annotations

import numpy as np
import pytest

from llm_pipeline_assets.dedup.minhash import EMPTY_SLOT, MinHasher, minhash_signatures
from llm_pipeline_assets.dedup.normalize import normalized_words
from llm_pipeline_assets.gpu import minhash as gm
from llm_pipeline_assets.gpu.minhash import TorchMinHasher, padded_groups
from llm_pipeline_tests.gpu.helpers import cuda_only, one_torch_thread, shared_corpus  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _shingles(hasher: MinHasher, texts):
    return hasher.shingles_from_words([normalized_words(t) for t in texts])


@pytest.fixture(scope="module")
def corpus():
    return shared_corpus()


@pytest.mark.parametrize("fused", [False, True], ids=["chunked", "fused"])
@pytest.mark.parametrize("num_perm,ngram,seed", [(112, 3, 42), (64, 5, 7), (16, 1, 0)])
def test_signatures_identical_to_numpy(corpus, num_perm, ngram, seed, fused):
    hasher = MinHasher(num_perm=num_perm, ngram=ngram, seed=seed)
    shingles, counts = _shingles(hasher, corpus)
    assert (counts == 0).any() and counts.max() > 10000  # empty and multi-chunk documents are covered
    want = hasher.signatures(corpus)  # the CPU path end to end
    torch_hasher = TorchMinHasher(hasher, "cpu", fused=fused)
    if fused:
        torch_hasher.group_cap = 4096  # several groups per length class, the longest document alone
    got = torch_hasher.signatures(shingles, counts)
    assert torch_hasher.engine == ("fused" if fused else "segment_reduce")
    assert got.dtype == np.uint32 and got.shape == (len(corpus), num_perm)
    assert np.array_equal(got, want)
    assert (got[counts == 0] == EMPTY_SLOT).all()


@pytest.mark.parametrize("budget", [16 * 112 * 5, 16 * 112 * 997])
def test_memory_budget_changes_chunking_not_results(corpus, budget):
    hasher = MinHasher()
    shingles, counts = _shingles(hasher, corpus)
    torch_hasher = TorchMinHasher(hasher, "cpu", memory_budget=budget)
    assert torch_hasher.chunk == budget // (16 * 112)
    assert np.array_equal(torch_hasher.signatures(shingles, counts),
                          minhash_signatures(shingles, counts, hasher.a, hasher.b))


def test_extreme_shingle_values_wrap_like_uint64():
    # values around 0, 2**63 and 2**64 - 1 exercise the sign bit of the int64 reinterpretation
    hasher = MinHasher(num_perm=32, seed=5)
    specials = np.array([0, 1, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 2, 2**64 - 1], dtype=np.uint64)
    rng = np.random.default_rng(0)
    shingles = np.concatenate([specials, rng.integers(0, 2**64, size=500, dtype=np.uint64, endpoint=False)])
    counts = np.array([len(specials), 0, 1, 499], dtype=np.int64)
    got = TorchMinHasher(hasher, "cpu", memory_budget=16 * 32 * 3).signatures(shingles, counts)
    assert np.array_equal(got, minhash_signatures(shingles, counts, hasher.a, hasher.b))


def test_empty_inputs_and_bad_counts():
    hasher = MinHasher(num_perm=8)
    torch_hasher = TorchMinHasher(hasher, "cpu")
    assert torch_hasher.signatures(np.zeros(0, np.uint64), np.zeros(0, np.int64)).shape == (0, 8)
    only_empty = torch_hasher.signatures(np.zeros(0, np.uint64), np.zeros(3, np.int64))
    assert (only_empty == EMPTY_SLOT).all() and only_empty.shape == (3, 8)
    with pytest.raises(ValueError, match="counts sum"):
        torch_hasher.signatures(np.arange(5, dtype=np.uint64), np.array([2, 2]))
    with pytest.raises(ValueError, match="memory_budget"):
        TorchMinHasher(hasher, "cpu", memory_budget=0)


def test_self_check_rejects_a_different_hash_family():
    hasher = MinHasher(num_perm=16)
    torch_hasher = TorchMinHasher(hasher, "cpu")
    torch_hasher.self_check()  # the real family passes
    torch_hasher.b = torch_hasher.b + (1 << 32)  # any other arithmetic gives other top halves
    with pytest.raises(RuntimeError, match="self-check failed"):
        torch_hasher.self_check()


@cuda_only
def test_cuda_signatures_identical_to_numpy(corpus):
    hasher = MinHasher()
    shingles, counts = _shingles(hasher, corpus)
    want = hasher.signatures(corpus)
    for budget in (16 * 112 * 7, 256 << 20):  # many small chunks; the default budget
        got = TorchMinHasher(hasher, "cuda", memory_budget=budget).signatures(shingles, counts)
        assert np.array_equal(got, want)


def test_padded_groups_cover_each_document_once_with_under_2x_padding():
    counts = np.array([0, 1, 7, 8, 9, 300, 0, 5000, 17, 16], dtype=np.int64)
    groups = padded_groups(counts, cap=64)
    seen = np.concatenate([docs for docs, _ in groups])
    assert sorted(seen.tolist()) == [i for i in range(len(counts)) if counts[i] > 0]
    for docs, width in groups:
        assert (counts[docs] <= width).all() and (width < 2 * counts[docs]).all() or width == 8
        assert len(docs) * width <= 64 or len(docs) == 1  # a long document is a group of its own
    assert padded_groups(np.zeros(3, np.int64), cap=64) == []


def test_a_fused_kernel_that_disagrees_falls_back_to_the_chunked_path(corpus):
    hasher = MinHasher(num_perm=16)
    shingles, counts = _shingles(hasher, corpus[:50])
    torch_hasher = TorchMinHasher(hasher, "cpu", fused=True)
    torch_hasher._kernel = lambda x, st, ct, a, b, width: gm._padded_min(x, st, ct, a, b, width) + 1  # wrong
    got = torch_hasher.signatures(shingles, counts)
    assert torch_hasher.engine.startswith("segment_reduce") and not torch_hasher.fused
    assert np.array_equal(got, minhash_signatures(shingles, counts, hasher.a, hasher.b))


def test_a_fused_kernel_that_fails_to_build_falls_back_too(corpus):
    hasher = MinHasher(num_perm=16)
    shingles, counts = _shingles(hasher, corpus[:50])
    torch_hasher = TorchMinHasher(hasher, "cpu", fused=True)

    def broken(*args):
        raise RuntimeError("inductor: no C compiler")

    torch_hasher._kernel = broken
    got = torch_hasher.signatures(shingles, counts)
    assert "failed: RuntimeError: inductor: no C compiler" in torch_hasher.engine
    assert np.array_equal(got, minhash_signatures(shingles, counts, hasher.a, hasher.b))


def test_the_fused_kernel_compiles_to_one_graph():
    """One graph, no break: a break would hand the (docs, width, num_perm) hash block from one half to the other
    through memory (a numpy scalar inside the function did that once)."""
    import torch
    import torch._dynamo

    torch._dynamo.reset()
    x = torch.arange(40, dtype=torch.int64) * 7919
    starts, counts = torch.tensor([0, 9, 30]), torch.tensor([9, 21, 10])
    a, b = torch.arange(1, 9, dtype=torch.int64), torch.arange(8, dtype=torch.int64)
    explained = torch._dynamo.explain(gm._padded_min)(x, starts, counts, a, b, 32)
    assert explained.graph_count == 1 and explained.graph_break_count == 0, explained.break_reasons


def test_a_fused_kernel_failing_after_its_check_falls_back_for_good(corpus):
    hasher = MinHasher(num_perm=16)
    shingles, counts = _shingles(hasher, corpus[:50])
    torch_hasher = TorchMinHasher(hasher, "cpu", fused=True)
    torch_hasher.self_check()
    assert torch_hasher.engine == "fused"

    def out_of_memory(*args):
        raise RuntimeError("CUDA out of memory (a shape compiled after the check)")

    torch_hasher._kernel = out_of_memory
    got = torch_hasher.signatures(shingles, counts)
    assert torch_hasher.engine.startswith("segment_reduce (the fused kernel failed") and not torch_hasher.fused
    assert np.array_equal(got, minhash_signatures(shingles, counts, hasher.a, hasher.b))
