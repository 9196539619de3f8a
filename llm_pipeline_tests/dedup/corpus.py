"""Synthetic corpora with planted near-duplicates for the dedup tests."""

from __future__ import annotations

import numpy as np

_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def make_vocab(rng: np.random.Generator, size: int = 5000) -> list[str]:
    words = {"".join(rng.choice(_LETTERS, size=int(k))) for k in rng.integers(3, 10, size=size)}
    return sorted(words)


def random_doc(rng: np.random.Generator, vocab: list[str], n_words: int) -> list[str]:
    """Zipf-ish word sampling so that unrelated documents share many words."""
    p = 1.0 / np.arange(1, len(vocab) + 1)
    return [vocab[i] for i in rng.choice(len(vocab), size=n_words, p=p / p.sum())]


def edit_words(rng: np.random.Generator, words: list[str], rate: float, vocab: list[str]) -> list[str]:
    """Apply exactly ``round(rate * len)`` random substitutions/insertions/deletions (at least one)."""
    out = list(words)
    for _ in range(max(1, round(rate * len(words)))):
        pos, op = int(rng.integers(len(out))), int(rng.integers(3))
        new = vocab[int(rng.integers(len(vocab)))]
        if op == 0:
            out[pos] = new
        elif op == 1 and len(out) > 1:
            del out[pos]
        else:
            out.insert(pos, new)
    return out


def planted_corpus(n_groups: int, rates: tuple[float, ...], seed: int = 0, words: tuple[int, int] = (150, 300)):
    """Originals followed (interleaved) by edited copies.

    Returns ``(texts, groups, rates_per_doc)``; ``groups[i]`` is the original's
    group id and the original itself has rate 0.
    """
    rng = np.random.default_rng(seed)
    vocab = make_vocab(rng)
    texts, groups, doc_rates = [], [], []
    for g in range(n_groups):
        base = random_doc(rng, vocab, int(rng.integers(*words)))
        texts.append(" ".join(base))
        groups.append(g)
        doc_rates.append(0.0)
        for r in rates:
            texts.append(" ".join(edit_words(rng, base, r, vocab)))
            groups.append(g)
            doc_rates.append(r)
    return texts, np.array(groups), np.array(doc_rates)


def pair_with_jaccard(rng: np.random.Generator, jaccard: float, size: int = 300):
    """Two random uint64 sets of ``size`` items with Jaccard ~``jaccard``.

    Returns ``(a, b, exact_jaccard)`` (the overlap is rounded to whole items).
    """
    common = int(round(2 * size * jaccard / (1 + jaccard)))
    only = size - common
    pool = rng.integers(0, 2**64, size=common + 2 * only, dtype=np.uint64)
    a = np.concatenate([pool[:common], pool[common : common + only]])
    b = np.concatenate([pool[:common], pool[common + only :]])
    return a, b, common / (common + 2 * only)
