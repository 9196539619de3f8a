"""Signature verification in the dedup_index stage: LSH candidates below the threshold are not merged.

With the default shape (threshold 0.8 -> 16 bands x 7 rows) a pair of documents sharing ~65 % of their word
3-grams becomes an LSH candidate about half the time; only verification (the estimated Jaccard from all 112
signature values) keeps such pairs apart. Removing it left every other dedup test passing on CPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from llm_pipeline_assets.config import DedupConfig
from llm_pipeline_assets.dedup.minhash import MinHasher
from llm_pipeline_assets.dedup.stage import build_dedup_index
from llm_pipeline_assets.shards import ShardWriter
from llm_pipeline_tests.dedup.corpus import edit_words, make_vocab, random_doc


@pytest.fixture(scope="module")
def related_pairs(tmp_path_factory):
    """80 (document, edited copy) pairs whose true 3-gram Jaccard lies between 0.55 and 0.75: related, not
    near-duplicates at threshold 0.8. Returns (the cleaned shards, each pair's Jaccard)."""
    rng = np.random.default_rng(5)
    vocab = make_vocab(rng)
    docs = []
    for _ in range(80):
        base = random_doc(rng, vocab, 200)
        docs += [" ".join(base), " ".join(edit_words(rng, base, 0.09, vocab))]
    sets = [set(np.asarray(s).tolist()) for s in MinHasher(num_perm=112, ngram=3, seed=1).shingle_sets(docs)]
    jaccard = [len(sets[i] & sets[i + 1]) / len(sets[i] | sets[i + 1]) for i in range(0, len(docs), 2)]
    writer = ShardWriter(tmp_path_factory.mktemp("web"), "part", max_docs=40)
    writer.write_many({"id": f"d{i}", "text": text, "source": "web"} for i, text in enumerate(docs))
    return writer.close(), jaccard


def test_candidates_below_the_threshold_are_rejected_by_signature_verification(related_pairs, tmp_path):
    files, jaccard = related_pairs
    assert 0.55 < min(jaccard) and max(jaccard) < 0.75
    quiet = {"log": lambda m: None}
    default = build_dedup_index([("web", files)], tmp_path / "signature", DedupConfig(), **quiet)
    assert DedupConfig().verify == "signature" and (default.bands, default.rows) == (16, 7)
    assert default.candidate_pairs >= 20  # LSH proposes many of the pairs ...
    assert default.verified_pairs == 0 and default.fuzzy_removed == 0 and default.kept == 160  # ... none is merged
    unverified = build_dedup_index([("web", files)], tmp_path / "none", DedupConfig(verify="none"), **quiet)
    assert unverified.candidate_pairs == default.candidate_pairs  # the same candidates, merged without verification
    assert unverified.fuzzy_removed == unverified.candidate_pairs
    exact = build_dedup_index([("web", files)], tmp_path / "jaccard", DedupConfig(verify="jaccard"), **quiet)
    assert exact.verified_pairs == 0 and exact.fuzzy_removed == 0
