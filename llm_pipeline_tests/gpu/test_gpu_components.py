"""Torch (and canonicalised cuGraph-style) components give the union-find's lowest-index labels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_pipeline_assets.dedup.components import connected_components
from llm_pipeline_assets.dedup.engine import signature_verifier
from llm_pipeline_assets.dedup.lsh import band_keys, lsh_edges
from llm_pipeline_assets.dedup.minhash import MinHasher
from llm_pipeline_assets.dedup.params import DedupParams
from llm_pipeline_assets.gpu.components import canonical_labels, components_on, torch_connected_components
from llm_pipeline_tests.gpu.helpers import cuda_only, one_torch_thread, shared_corpus  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@st.composite
def graphs(draw):
    n = draw(st.integers(0, 60))
    if n == 0:
        return 0, np.zeros((0, 2), dtype=np.int64)
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=120))
    return n, np.array(pairs, dtype=np.int64).reshape(-1, 2)


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_torch_components_equal_union_find(graph):
    n, edges = graph
    want = connected_components(n, edges)
    got = torch_connected_components(n, edges, "cpu")
    assert got.dtype == np.int64
    assert np.array_equal(got, want)
    # edge order and direction do not matter
    assert np.array_equal(torch_connected_components(n, edges[::-1, ::-1].copy(), "cpu"), want)


@settings(max_examples=40, deadline=None)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_canonical_labels_recover_lowest_index(graph, seed):
    n, edges = graph
    want = connected_components(n, edges)
    # arbitrary component ids (what cuGraph returns): a random injective relabelling of the roots
    ids = np.random.default_rng(seed).permutation(max(n, 1) * 3)[:max(n, 1)] + 10**9
    assert np.array_equal(canonical_labels(ids[want] if n else np.zeros(0, np.int64)), want)


def test_long_chain_and_star():
    n = 3000
    chain = np.stack([np.arange(1, n), np.arange(0, n - 1)], axis=1)[::-1].copy()
    assert (torch_connected_components(n, chain, "cpu") == 0).all()
    star = np.stack([np.full(n - 1, n - 1), np.arange(n - 1)], axis=1)
    assert (torch_connected_components(n, star, "cpu") == 0).all()


def test_invalid_edges_rejected():
    with pytest.raises(ValueError, match="endpoints"):
        torch_connected_components(3, [[0, 3]], "cpu")
    with pytest.raises(ValueError, match="n must be"):
        torch_connected_components(-1, np.zeros((0, 2)), "cpu")


def test_dedup_corpus_edges():
    texts = shared_corpus()
    params = DedupParams(threshold=0.5)
    signatures = MinHasher(params.num_perm, params.ngram, params.seed).signatures(texts)
    keys = band_keys(signatures, params.bands, params.rows)
    idx = np.arange(len(texts))
    edges, stats = lsh_edges(lambda b: keys[:, b], len(texts), params.bands,
                             signature_verifier(signatures, idx, params.threshold))
    assert stats["verified_pairs"] > 20  # the planted near-duplicates form real clusters
    want = connected_components(len(texts), edges)
    labels, engine = components_on(len(texts), edges, "cpu")
    assert engine == "torch" and np.array_equal(labels, want)


@cuda_only
def test_cuda_components_equal_union_find():
    rng = np.random.default_rng(0)
    n = 200_000
    edges = rng.integers(0, n, size=(150_000, 2))
    want = connected_components(n, edges)
    assert np.array_equal(torch_connected_components(n, edges, "cuda"), want)
    labels, engine = components_on(n, edges, "cuda")  # cuGraph when installed, else torch
    assert np.array_equal(labels, want), engine
