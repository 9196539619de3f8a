"""DedupIndexBuilder: batch invariance, on-disk signatures, result semantics."""

from __future__ import annotations

import os

import numpy as np
import pytest

from llm_pipeline_assets.dedup import DedupIndexBuilder, DedupParams, MinHasher, fuzzy_dedup
from llm_pipeline_tests.dedup.corpus import planted_corpus


@pytest.fixture(scope="module")
def corpus():
    texts, groups, rates = planted_corpus(60, (0.0, 0.01, 0.02), seed=4)  # all well above J=0.8
    texts = texts + [t.upper() + " !!" for t in texts[:20]]  # exact dups via case/punctuation
    return texts


def _build(workdir, texts, batch_sizes, params=None):
    builder = DedupIndexBuilder(workdir, params)
    start = 0
    for size in batch_sizes:
        builder.add_batch(texts[start : start + size])
        start += size
    builder.add_batch(texts[start:])
    return builder


@pytest.mark.parametrize("verify", ["signature", "jaccard", "none"])
def test_batches_equal_fuzzy_dedup_on_concatenation(tmp_path, corpus, verify):
    builder = _build(tmp_path, corpus, [1, 0, 37, 100, 3], DedupParams(verify=verify, batch_size=64))
    assert builder.n_docs == len(corpus)
    result = builder.finish()
    assert result.cluster.tolist() == fuzzy_dedup(corpus, verify=verify)


def test_signatures_file_on_disk(tmp_path, corpus):
    params = DedupParams(num_perm=64)
    builder = _build(tmp_path, corpus, [50, 50], params)
    path = tmp_path / DedupIndexBuilder.SIGNATURES_FILE
    assert os.path.getsize(path) == len(corpus) * 64 * 4
    sigs = builder.signatures()
    assert sigs.shape == (len(corpus), 64) and sigs.dtype == np.uint32
    assert np.array_equal(np.asarray(sigs), MinHasher(num_perm=64).signatures(corpus))
    builder.finish()
    assert os.path.getsize(path) == len(corpus) * 64 * 4


def test_result_semantics(tmp_path, corpus):
    result = _build(tmp_path, corpus, [30]).finish()
    n = len(corpus)
    idx = np.arange(n)
    exact = result.exact_dup_of
    assert exact.shape == result.cluster.shape == result.keep.shape == (n,)
    dups = exact >= 0
    assert (exact[dups] < idx[dups]).all() and (exact[exact[dups]] == -1).all()  # points at a survivor
    root = np.where(dups, exact, idx)
    assert (root[n - 20 :] == root[:20]).all()  # upper-cased copies found as exact dups
    assert (result.cluster[dups] == result.cluster[exact[dups]]).all()  # exact dups join their survivor's cluster
    assert np.array_equal(result.keep, result.cluster == idx)
    assert not (result.keep & dups).any()
    s = result.stats
    assert s["n_docs"] == n and s["kept"] == result.keep.sum()
    assert s["exact_removed"] == dups.sum()
    assert s["exact_removed"] + s["fuzzy_removed"] + s["kept"] == n
    assert 0 < s["verified_pairs"] <= s["candidate_pairs"]
    assert sum(size * count for size, count in s["cluster_size_histogram"].items()) == n
    assert s["kept"] == 60  # one survivor per planted group


def test_exact_stage_can_be_disabled(tmp_path, corpus):
    result = _build(tmp_path, corpus, [], DedupParams(exact=False)).finish()
    assert (result.exact_dup_of == -1).all()
    assert result.keep.sum() == 60 and result.stats["exact_removed"] == 0


def test_empty_and_lifecycle(tmp_path):
    builder = DedupIndexBuilder(tmp_path / "empty")
    result = builder.finish()
    assert result.cluster.size == 0 and result.stats["n_docs"] == 0
    with pytest.raises(RuntimeError):
        builder.add_batch(["late"])
    with pytest.raises(RuntimeError):
        builder.finish()
    single = DedupIndexBuilder(tmp_path / "one")
    single.add_batch(["only one document here"])
    assert single.finish().keep.tolist() == [True]


def test_jaccard_mode_spills_shingles(tmp_path, corpus):
    builder = _build(tmp_path, corpus, [10], DedupParams(verify="jaccard"))
    builder.finish()
    assert os.path.getsize(tmp_path / DedupIndexBuilder.SHINGLES_FILE) > 0
    with DedupIndexBuilder(tmp_path / "plain") as plain:
        assert not os.path.exists(tmp_path / "plain" / DedupIndexBuilder.SHINGLES_FILE)
    assert plain._sig_file.closed
    assert not os.path.exists(tmp_path / "band_keys.npy")  # scratch space is removed after finish()
