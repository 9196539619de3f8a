"""fuzzy_dedup end to end: planted near-duplicates, survivors, determinism, validation."""

from __future__ import annotations

import numpy as np
import pytest

from llm_pipeline_assets.dedup import DedupParams, fuzzy_dedup, fuzzy_dedup_result
from llm_pipeline_tests.dedup.corpus import make_vocab, planted_corpus, random_doc

RATES = (0.01, 0.02, 0.03)


@pytest.fixture(scope="module")
def planted():
    return planted_corpus(150, RATES, seed=1)


def _recall_and_false_merges(clusters, groups, rates):
    clusters = np.asarray(clusters)
    originals = clusters[np.flatnonzero(rates == 0)]
    per_doc_original = originals[groups]
    near = rates > 0
    recall = float(np.mean(clusters[near] == per_doc_original[near]))
    false_merges = sum(len(np.unique(groups[clusters == c])) > 1 for c in np.unique(clusters))
    return recall, false_merges


def test_finds_planted_near_duplicates_without_false_merges(planted):
    texts, groups, rates = planted
    clusters = fuzzy_dedup(texts)
    recall, false_merges = _recall_and_false_merges(clusters, groups, rates)
    assert recall >= 0.95
    assert false_merges == 0
    for r in RATES:  # per edit rate, too
        sel = rates == r
        assert np.mean(np.asarray(clusters)[sel] == np.asarray(clusters)[np.flatnonzero(rates == 0)][groups[sel]]) >= 0.9


@pytest.mark.parametrize("verify", ["signature", "jaccard", "none"])
def test_verify_modes(planted, verify):
    texts, groups, rates = planted
    recall, false_merges = _recall_and_false_merges(fuzzy_dedup(texts, verify=verify), groups, rates)
    assert recall >= 0.95 and false_merges == 0


def test_survivor_is_lowest_index(planted):
    texts, groups, _ = planted
    order = np.random.default_rng(3).permutation(len(texts))  # originals no longer come first
    shuffled = [texts[i] for i in order]
    clusters = np.asarray(fuzzy_dedup(shuffled))
    idx = np.arange(len(shuffled))
    assert (clusters <= idx).all()
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        assert members.min() == c  # id = lowest index = survivor
    result = fuzzy_dedup_result(shuffled)
    assert np.array_equal(np.flatnonzero(result.keep), np.unique(clusters))


def test_unrelated_documents_stay_apart():
    rng = np.random.default_rng(5)
    vocab = make_vocab(rng, 300)  # small vocabulary: lots of shared words and short phrases
    texts = [" ".join(random_doc(rng, vocab, 120)) for _ in range(300)]
    assert fuzzy_dedup(texts) == list(range(300))


def test_exact_duplicates_through_case_whitespace_and_punctuation():
    texts = ["The cat sat on the mat today.", "the  CAT sat on the mat, today!", "\tThe cat sat\non the mat today",
             "A completely different sentence about dogs."]
    assert fuzzy_dedup(texts) == [0, 0, 0, 3]
    result = fuzzy_dedup_result(texts)
    assert result.exact_dup_of.tolist() == [-1, 0, 0, -1]
    assert result.stats["exact_removed"] == 2 and result.stats["fuzzy_removed"] == 0


def test_deterministic_across_calls(planted):
    texts = planted[0]
    assert fuzzy_dedup(texts) == fuzzy_dedup(list(texts))
    assert fuzzy_dedup(texts, seed=7) == fuzzy_dedup(texts, seed=7)


def test_short_and_empty_documents():
    texts = ["", "hi there", "Hi, there!", "", "another one", "x"]
    assert fuzzy_dedup(texts) == [0, 1, 1, 0, 4, 5]
    assert fuzzy_dedup([]) == []


def test_explicit_bands_rows_and_threshold():
    texts, groups, rates = planted_corpus(40, (0.01,), seed=2)
    for kwargs in ({"bands": 16, "rows": 7}, {"bands": 10}, {"rows": 4}, {"threshold": 0.8}, {"ngram": 3}):
        recall, false_merges = _recall_and_false_merges(fuzzy_dedup(texts, **kwargs), groups, rates)
        assert recall >= 0.9 and false_merges == 0, kwargs
    assert DedupParams(bands=10).rows == 11 and DedupParams(rows=4).bands == 28


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0.0},
        {"threshold": 1.5},
        {"threshold": -0.1},
        {"threshold": "high"},
        {"num_perm": 0},
        {"bands": 20, "rows": 6},  # 120 > 112
        {"bands": 0},
        {"rows": -1},
        {"ngram": 0},
        {"verify": "exactly"},
        {"seed": -1},
    ],
)
def test_parameter_validation(kwargs):
    with pytest.raises(ValueError):
        fuzzy_dedup(["a b c"], **kwargs)


def test_threshold_one_is_allowed():
    assert fuzzy_dedup(["a b c d e f", "a b c d e f g"], threshold=1.0) == [0, 1]
