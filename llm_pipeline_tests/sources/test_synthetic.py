"""Tests for the deterministic synthetic corpus (``llm_pipeline_assets.sources.synthetic``)."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from llm_pipeline_assets.sources.synthetic import LABELS, SyntheticMix, generate_documents
from llm_pipeline_assets.sources.synthetic_prose import english_vocabulary

from llm_pipeline_tests.sources.conftest import N, by_label


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def shingles(text: str, n: int = 5) -> set[str]:
    words = normalize(text).split()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _digest(source: str, n: int, seed: int) -> str:
    h = hashlib.sha256()
    for d in generate_documents(source, n, seed=seed):
        h.update(repr((d.id, d.text, d.source, d.label, d.group, d.edit_rate)).encode())
    return h.hexdigest()


# --- determinism and shape -------------------------------------------------------------------------


def test_same_arguments_give_identical_output():
    assert list(generate_documents("web", 300, seed=7)) == list(generate_documents("web", 300, seed=7))


def test_output_is_identical_across_processes_with_different_hash_seeds():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from llm_pipeline_tests.sources.test_synthetic import _digest; print(_digest('web', 400, 3))"
    )
    root = str(Path(__file__).resolve().parents[2])
    outs = set()
    for hash_seed in ("1", "987"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        outs.add(subprocess.run([sys.executable, "-c", code, root], env=env, capture_output=True, text=True,
                                check=True).stdout.strip())
    assert outs == {_digest("web", 400, 3)}


def test_seed_and_source_change_the_output():
    base = [d.text for d in generate_documents("web", 200, seed=0)]
    other_seed = [d.text for d in generate_documents("web", 200, seed=1)]
    other_source = [d.text for d in generate_documents("books", 200, seed=0)]
    assert sum(a != b for a, b in zip(base, other_seed)) > 150
    assert sum(a != b for a, b in zip(base, other_source)) > 150


def test_ids_labels_and_fields(docs):
    assert [d.id for d in docs] == [f"web-{i:07d}" for i in range(N)]
    assert {d.source for d in docs} == {"web"}
    assert {d.label for d in docs} == set(LABELS)
    assert all(d.edit_rate == 0.0 for d in docs if d.label != "near_dup")


def test_label_fractions_match_the_mix(docs):
    mix = SyntheticMix()
    counts = Counter(d.label for d in docs)
    for label in LABELS[1:]:
        assert abs(counts[label] / N - getattr(mix, label)) <= 0.01, label
    custom = SyntheticMix(pii=0.5, exact_dup=0.0, near_dup=0.0, low_quality=0.0, boilerplate=0.0, toxic=0.0,
                          non_english=0.25)
    counts = Counter(d.label for d in generate_documents("web", 400, mix=custom))
    assert counts == {"pii": 200, "non_english": 100, "clean": 100}


def test_invalid_mix_is_rejected():
    with pytest.raises(ValueError):
        SyntheticMix(pii=0.9, exact_dup=0.2)
    with pytest.raises(ValueError):
        SyntheticMix(near_dup_edit_rates=(0.2, 0.1))
    with pytest.raises(ValueError):
        SyntheticMix(cross_source=1.5)


def test_clean_documents_are_varied_english_prose(docs):
    clean = by_label(docs, "clean")
    for d in clean:
        paragraphs = d.text.split("\n\n")
        assert 120 <= len(d.text.split()) <= 400, d.id
        assert 2 <= len(paragraphs) <= 6, d.id
        assert all(p.strip() and p.rstrip()[-1] in ".?!" for p in paragraphs), d.id
    assert len(english_vocabulary()) >= 1500
    used = {w.strip(".,;?!").lower() for d in clean for w in d.text.split()}
    assert len(used & english_vocabulary()) >= 1500
    stop = {"the", "be", "to", "of", "and", "that", "have", "with"}  # Gopher's stop words
    assert all(len(stop & set(d.text.split())) >= 2 for d in clean)


def test_unrelated_clean_documents_share_almost_no_word_5grams(docs):
    unique = [shingles(d.text) for d in by_label(docs, "clean") if d.group == d.id][:250]
    worst = max(jaccard(a, b) for a, b in itertools.combinations(unique, 2))
    assert worst < 0.05


# --- duplicates ------------------------------------------------------------------------------------


def _originals(docs):
    """group -> first clean document of that group (the original every copy was made from)."""
    out = {}
    for d in docs:
        if d.label == "clean" and d.group not in out:
            out[d.group] = d
    return out


def test_every_copy_has_an_earlier_original_in_the_same_source(docs):
    originals = _originals(docs)
    copies = [d for d in docs if d.label in ("exact_dup", "near_dup")]
    assert len(copies) == round(0.15 * N)
    for d in copies:
        orig = originals[d.group]
        assert orig.id < d.id
        if d.label == "exact_dup":
            assert normalize(d.text) == normalize(orig.text)
        else:
            assert d.text != orig.text
            assert jaccard(shingles(d.text), shingles(orig.text)) >= 0.4
    exact = by_label(docs, "exact_dup")
    assert any(d.text == originals[d.group].text for d in exact)  # byte-identical copies
    assert any(d.text != originals[d.group].text for d in exact)  # whitespace / case variants


@pytest.mark.parametrize("num_docs", [0, 1, 2, 5, 17, 60])
@pytest.mark.parametrize("cross", [0.0, 0.5, 1.0])
def test_tiny_and_duplicate_heavy_corpora_keep_originals_first(num_docs, cross):
    mix = SyntheticMix(pii=0.0, exact_dup=0.4, near_dup=0.4, low_quality=0.0, boilerplate=0.0, toxic=0.0,
                       non_english=0.0, cross_source=cross)
    out = list(generate_documents("tiny", num_docs, mix=mix))
    assert len(out) == num_docs
    originals = _originals(out)
    for d in out:
        if d.label in ("exact_dup", "near_dup"):
            assert originals[d.group].id < d.id


def test_near_dup_edit_rates_lie_in_the_configured_range(docs):
    rates = [d.edit_rate for d in by_label(docs, "near_dup")]
    assert all(0.01 <= r <= 0.05 for r in rates)
    assert min(rates) < 0.02 and max(rates) > 0.04
    mix = SyntheticMix(near_dup=0.3, near_dup_edit_rates=(0.1, 0.12))
    rates = [d.edit_rate for d in generate_documents("web", 300, mix=mix) if d.label == "near_dup"]
    assert rates and all(0.1 <= r <= 0.12 for r in rates)


def test_cross_source_copies_share_groups_and_originals(docs):
    other = list(generate_documents("books", N, seed=5, corpus_seed=1234))
    shared_web = {d.group for d in docs if d.group.startswith("shared-")}
    shared_books = {d.group for d in other if d.group.startswith("shared-")}
    common = shared_web & shared_books
    assert len(common) >= 0.5 * min(len(shared_web), len(shared_books)) > 0
    web_orig, books_orig = _originals(docs), _originals(other)
    for group in common:
        assert web_orig[group].text == books_orig[group].text
    copies = [d for d in docs if d.label in ("exact_dup", "near_dup")]
    assert 0.4 <= sum(d.group.startswith("shared-") for d in copies) / len(copies) <= 0.6
    elsewhere = list(generate_documents("books", 500, seed=5, corpus_seed=99))
    other_orig = _originals(elsewhere)
    for group in set(other_orig) & common:
        assert other_orig[group].text != web_orig[group].text
