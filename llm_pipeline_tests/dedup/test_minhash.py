"""Shingling and MinHash signatures: reference arithmetic, determinism, accuracy."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import xxhash

from llm_pipeline_assets.dedup.minhash import (
    EMPTY_SLOT,
    MinHasher,
    minhash_signatures,
    shingle_hashes,
    word_hashes,
)
from llm_pipeline_assets.dedup.normalize import normalized_words
from llm_pipeline_tests.dedup.corpus import make_vocab, pair_with_jaccard, random_doc

_MASK = (1 << 64) - 1


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def reference_signature(text: str, hasher: MinHasher) -> list[int]:
    """The documented arithmetic, in plain Python integers."""
    w = [xxhash.xxh3_64_intdigest(x.encode()) for x in normalized_words(text)]
    n = hasher.ngram
    if not w:
        return [0xFFFFFFFF] * hasher.num_perm
    grams = [w[i : i + n] for i in range(len(w) - n + 1)] if len(w) >= n else [w]
    shingles = []
    for g in grams:
        h = g[0]
        for x in g[1:]:
            h = _mix((h * 0x9E3779B97F4A7C15 + x) & _MASK)
        shingles.append(h)
    return [min(((int(a) * x + int(b)) & _MASK) >> 32 for x in shingles) for a, b in zip(hasher.a, hasher.b)]


@pytest.fixture(scope="module")
def docs():
    rng = np.random.default_rng(7)
    vocab = make_vocab(rng, 800)
    out = [" ".join(random_doc(rng, vocab, int(k))) for k in rng.integers(0, 60, size=40)]
    return out + ["", "one", "Two words", "a b c d", "a b c d e", "Ünïcödé, \ufb01le; CAFÉ!", "   ...  "]


@pytest.mark.parametrize("ngram", [1, 3, 5])
def test_signatures_match_reference_arithmetic(docs, ngram):
    hasher = MinHasher(num_perm=24, ngram=ngram, seed=3)
    sigs = hasher.signatures(docs, batch_size=7)
    for text, sig in zip(docs, sigs):
        assert sig.tolist() == reference_signature(text, hasher)


def test_shape_dtype_empty_and_short_documents():
    hasher = MinHasher(num_perm=16, ngram=5)
    sigs = hasher.signatures(["", "a b", "a b c d e f g"])
    assert sigs.shape == (3, 16) and sigs.dtype == np.uint32
    assert (sigs[0] == EMPTY_SLOT).all() and not (sigs[1] == EMPTY_SLOT).all()
    assert hasher.signatures([]).shape == (0, 16)
    tokens, lengths = word_hashes([[], ["a", "b"], list("abcdefg")])
    shingles, counts = shingle_hashes(tokens, lengths, 5)
    assert counts.tolist() == [0, 1, 3] and shingles.size == 4


def test_results_do_not_depend_on_batching_or_chunking(docs):
    ref = MinHasher(num_perm=32).signatures(docs)
    for chunk in (1, 5, 64, 100_000):
        assert np.array_equal(MinHasher(num_perm=32, chunk_shingles=chunk).signatures(docs, batch_size=3), ref)
    tokens, lengths = word_hashes([normalized_words(t) for t in docs])
    shingles, counts = shingle_hashes(tokens, lengths, MinHasher().ngram)
    hasher = MinHasher(num_perm=32)
    assert np.array_equal(minhash_signatures(shingles, counts, hasher.a, hasher.b, chunk_shingles=2), ref)


def test_word_order_matters_and_seed_changes_hashes():
    hasher = MinHasher(num_perm=64)
    a, b = hasher.signatures(["alpha beta gamma delta epsilon", "epsilon delta gamma beta alpha"])
    assert not np.array_equal(a, b)
    again = MinHasher(num_perm=64).signatures(["alpha beta gamma delta epsilon"])[0]
    other_seed = MinHasher(num_perm=64, seed=43).signatures(["alpha beta gamma delta epsilon"])[0]
    assert np.array_equal(a, again) and not np.array_equal(a, other_seed)
    assert hasher.a.dtype == np.uint64 and (hasher.a & np.uint64(1)).all()  # odd multipliers


def test_signatures_stable_across_processes(docs):
    code = (
        "import hashlib, sys\n"
        "from llm_pipeline_assets.dedup.minhash import MinHasher\n"
        "docs = sys.stdin.read().split('\\x1e')\n"
        "print(hashlib.sha256(MinHasher().signatures(docs).tobytes()).hexdigest())"
    )
    payload = "\x1e".join(docs)
    expected = hashlib.sha256(MinHasher().signatures(docs).tobytes()).hexdigest()
    for seed in ("0", "123"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "HF_HUB_OFFLINE": "1"}
        res = subprocess.run(
            [sys.executable, "-c", code], input=payload, capture_output=True, text=True, env=env, check=True
        )
        assert res.stdout.strip() == expected


@pytest.mark.parametrize("num_perm, max_mae", [(112, 0.045), (256, 0.03)])
def test_estimate_tracks_true_jaccard(num_perm, max_mae):
    rng = np.random.default_rng(11)
    hasher = MinHasher(num_perm=num_perm, seed=5)
    errors = []
    for _ in range(300):
        a, b, true_j = pair_with_jaccard(rng, float(rng.uniform(0.05, 0.95)))
        sig = minhash_signatures(np.concatenate([a, b]), np.array([a.size, b.size]), hasher.a, hasher.b)
        errors.append(np.mean(sig[0] == sig[1]) - true_j)
    errors = np.array(errors)
    assert np.abs(errors).mean() < max_mae
    assert abs(errors.mean()) < 0.01  # unbiased


def test_invalid_parameters():
    for kwargs in ({"num_perm": 0}, {"ngram": 0}, {"chunk_shingles": 0}):
        with pytest.raises(ValueError):
            MinHasher(**kwargs)
