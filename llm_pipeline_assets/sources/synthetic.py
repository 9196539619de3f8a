"""Deterministic synthetic corpus with planted problems for every curation stage.

``generate_documents(source, num_docs, seed, corpus_seed, mix)`` yields English-like documents of
which a configurable share carries one planted problem, recorded in ``SyntheticDoc.label``:

* ``clean``: English prose, 120-400 words in 2-6 paragraphs (blank-line separated), passing datatrove's
  Gopher quality/repetition, C4 and FineWeb filters. About 30% contain a PII *look-alike* that is not
  PII (ISO date, version number, price, ISBN, "Order #123456789", "12 + 30 = 42"). A clean document
  whose ``group`` differs from its ``id`` is a *shared-pool original* (``group == "shared-000123"``):
  its text depends only on ``corpus_seed`` and the pool index, so every source generated with the same
  ``corpus_seed`` that draws pool doc 123 emits the byte-identical original. Those originals are
  therefore exact duplicates *across* sources (a cross-source deduper keeps one per group), while
  within one source each pool original appears once and always before its copies.
* ``pii``: a clean document plus 1-3 planted values (kinds: ``PLANTED_PII_KINDS``).
* ``exact_dup``: a copy of an earlier clean document of this source or of a shared-pool original;
  half are byte-identical, the rest differ only in whitespace or letter case (equal after lower-casing
  and collapsing whitespace).
* ``near_dup``: a copy with words substituted/inserted/deleted; ``edit_rate`` = edits / words of the
  original, drawn uniformly from ``mix.near_dup_edit_rates``.
* ``low_quality`` / ``boilerplate``: texts that datatrove's quality filters reject (too short, symbols,
  shouting, run-together words, no stop words, no punctuation, ellipses, keyword stuffing; navigation
  menus, cookie banners, "Click here", repeated lines and blocks).
* ``toxic``: a clean document plus 2-3 sentences quoting terms of ``curation/data/toxic_words_en.txt``.
* ``non_english``: French, German or Spanish prose (80+ words).

``group`` is the duplicate family: the original and all its exact/near copies share it. A local
original's group is its own id (so a document with no copies has ``group == id``); shared-pool
families use ``shared-<k>``. Every copy's original is present earlier in the same source.

Label counts are exact: ``round(fraction * num_docs)`` per label (largest remainder), shuffled.
Output is a pure function of (source, num_docs, seed, corpus_seed, mix): all randomness comes from
``random.Random`` seeded with strings (SHA-512 based, not Python's salted ``hash``).
"""

from __future__ import annotations

import math
import random
from dataclasses import astuple, dataclass
from typing import Iterator

from llm_pipeline_assets.sources.synthetic_foreign import LANGUAGES, foreign_document
from llm_pipeline_assets.sources.synthetic_junk import boilerplate_document, low_quality_document
from llm_pipeline_assets.sources.synthetic_planted import (
    PLANTED_PII_KINDS,
    lookalike_sentence,
    pii_sentences,
    toxic_sentences,
)
from llm_pipeline_assets.sources.synthetic_prose import (
    english_paragraphs,
    insert_sentences,
    join_paragraphs,
    surface_variant,
    word_edits,
)

__all__ = ["LABELS", "PLANTED_PII_KINDS", "SyntheticDoc", "SyntheticMix", "generate_documents"]

PLANTED_LABELS = ("pii", "exact_dup", "near_dup", "low_quality", "boilerplate", "toxic", "non_english")
LABELS = ("clean", *PLANTED_LABELS)
_DUPS = ("exact_dup", "near_dup")
LOOKALIKE_RATE = 0.38  # of clean docs with >= 180 words: ~30% of all clean docs


@dataclass(frozen=True)
class SyntheticMix:
    """Fractions of documents per planted kind; the rest are ``clean``."""

    pii: float = 0.10
    exact_dup: float = 0.05
    near_dup: float = 0.10
    low_quality: float = 0.05
    boilerplate: float = 0.05
    toxic: float = 0.03
    non_english: float = 0.05
    near_dup_edit_rates: tuple[float, float] = (0.01, 0.05)
    cross_source: float = 0.5  # share of exact/near duplicates copying a doc from the shared pool

    def __post_init__(self) -> None:
        fracs = [getattr(self, name) for name in PLANTED_LABELS]
        if any(not 0.0 <= f <= 1.0 for f in fracs) or sum(fracs) > 1.0 + 1e-9:
            raise ValueError(f"label fractions must lie in [0, 1] and sum to at most 1: {self}")
        lo, hi = self.near_dup_edit_rates
        if not 0.0 < lo <= hi <= 0.5:
            raise ValueError(f"near_dup_edit_rates must satisfy 0 < lo <= hi <= 0.5: {self.near_dup_edit_rates}")
        if not 0.0 <= self.cross_source <= 1.0:
            raise ValueError(f"cross_source must lie in [0, 1]: {self.cross_source}")


@dataclass(frozen=True)
class SyntheticDoc:
    id: str
    text: str
    source: str
    label: str  # one of LABELS
    group: str  # duplicate family; == id for a document without copies
    edit_rate: float  # fraction of words edited (near_dup), else 0.0


def _label_counts(mix: SyntheticMix, n: int) -> dict[str, int]:
    fracs = {name: getattr(mix, name) for name in PLANTED_LABELS}
    fracs["clean"] = max(0.0, 1.0 - sum(fracs.values()))
    exact = {k: v * n for k, v in fracs.items()}
    counts = {k: math.floor(v) for k, v in exact.items()}
    by_remainder = sorted(exact, key=lambda k: (counts[k] - exact[k], LABELS.index(k)))
    for k in by_remainder[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def _plan(source: str, n: int, seed: int, corpus_seed: int, mix: SyntheticMix):
    """Labels per position and, for duplicates and pool originals, where their text comes from."""
    key = "|".join(str(x) for x in ("plan", source, n, seed, corpus_seed, *astuple(mix)))
    rng = random.Random(key)
    counts = _label_counts(mix, n)
    labels = [label for label in LABELS for _ in range(counts[label])]
    rng.shuffle(labels)
    dup_idx = [i for i, label in enumerate(labels) if label in _DUPS]
    cross = set(rng.sample(dup_idx, round(mix.cross_source * len(dup_idx))))
    pool_size = max(1, math.ceil(len(cross) / 2))  # ~2 copies per pool original and source
    origin: list[tuple[str, int] | None] = [None] * n
    candidates: list[int] = []  # earlier plain clean docs (possible local originals)
    free: list[int] = []  # earlier clean docs that may still become pool originals
    referenced: set[int] = set()
    pool_slots: set[int] = set()
    placed: dict[int, int] = {}  # pool index -> position of its original in this source

    def take_free() -> int | None:
        while free:
            idx = rng.randrange(len(free))
            j = free[idx]
            free[idx] = free[-1]
            free.pop()
            if j not in referenced and j not in pool_slots:
                return j
        return None

    def pick_local() -> int | None:
        for _ in range(32):
            if not candidates:
                return None
            j = candidates[rng.randrange(len(candidates))]
            if j not in pool_slots:
                return j
        valid = [j for j in candidates if j not in pool_slots]
        return rng.choice(valid) if valid else None

    def demote(i: int) -> None:  # no original available yet: swap with the next clean slot
        nxt = next((m for m in range(i + 1, n) if labels[m] == "clean"), None)
        if nxt is not None:
            labels[nxt] = labels[i]
            if i in cross:
                cross.discard(i)
                cross.add(nxt)
        labels[i] = "clean"
        candidates.append(i)
        free.append(i)

    for i in range(n):
        label = labels[i]
        if label == "clean":
            candidates.append(i)
            free.append(i)
        elif label in _DUPS and i in cross:
            k = rng.randrange(pool_size)
            if k not in placed:
                j = take_free()
                if j is None and not placed:
                    demote(i)
                    continue
                if j is None:
                    k = rng.choice(sorted(placed))
                else:
                    placed[k] = j
                    pool_slots.add(j)
                    origin[j] = ("pool", k)
            origin[i] = ("pool", k)
        elif label in _DUPS:
            j = pick_local()
            if j is None:
                demote(i)
                continue
            referenced.add(j)
            origin[i] = ("local", j)
    return labels, origin, referenced


def _clean_text(rng: random.Random) -> str:
    paragraphs = english_paragraphs(rng)
    # Look-alikes tokenize into many non-alphabetic tokens; keep them to longer docs so that
    # Gopher's alphabetic-word ratio (>= 0.8) keeps a safe margin.
    if rng.random() < LOOKALIKE_RATE and sum(len(s.split()) for p in paragraphs for s in p) >= 180:
        insert_sentences(rng, paragraphs, [lookalike_sentence(rng)])
    return join_paragraphs(paragraphs)


def _pool_text(corpus_seed: int, k: int) -> str:
    return _clean_text(random.Random(f"pool|{corpus_seed}|{k}"))


def _pii_text(rng: random.Random) -> str:
    paragraphs = english_paragraphs(rng)
    inline, blocks, _ = pii_sentences(rng)
    insert_sentences(rng, paragraphs, inline)
    parts = [" ".join(p) for p in paragraphs]
    for block in blocks:
        parts.insert(rng.randint(1, len(parts)), block)
    return "\n\n".join(parts)


def _toxic_text(rng: random.Random) -> str:
    paragraphs = english_paragraphs(rng)
    insert_sentences(rng, paragraphs, toxic_sentences(rng))
    return join_paragraphs(paragraphs)


def generate_documents(
    source: str, num_docs: int, seed: int = 0, corpus_seed: int = 1234, mix: SyntheticMix | None = None
) -> Iterator[SyntheticDoc]:
    """Yield ``num_docs`` documents ``f"{source}-{i:07d}"`` (see the module docstring for labels)."""
    mix = mix or SyntheticMix()
    if num_docs < 0:
        raise ValueError(f"num_docs must be >= 0, got {num_docs}")
    labels, origin, referenced = _plan(source, num_docs, seed, corpus_seed, mix)
    local_texts: dict[int, str] = {}
    pool_texts: dict[int, str] = {}

    def pool(k: int) -> str:
        if k not in pool_texts:
            pool_texts[k] = _pool_text(corpus_seed, k)
        return pool_texts[k]

    for i, label in enumerate(labels):
        rng = random.Random(f"doc|{source}|{seed}|{corpus_seed}|{i}")
        doc_id = f"{source}-{i:07d}"
        group, edit_rate = doc_id, 0.0
        o = origin[i]
        if label == "clean":
            if o is not None:
                text, group = pool(o[1]), f"shared-{o[1]:06d}"
            else:
                text = _clean_text(rng)
                if i in referenced:
                    local_texts[i] = text
        elif label in _DUPS:
            assert o is not None
            kind, j = o
            original = pool(j) if kind == "pool" else local_texts[j]
            group = f"shared-{j:06d}" if kind == "pool" else f"{source}-{j:07d}"
            if label == "exact_dup":
                text = surface_variant(rng, original)
            else:
                text, edit_rate = word_edits(rng, original, mix.near_dup_edit_rates)
        elif label == "pii":
            text = _pii_text(rng)
        elif label == "toxic":
            text = _toxic_text(rng)
        elif label == "low_quality":
            text = low_quality_document(rng)
        elif label == "boilerplate":
            text = boilerplate_document(rng)
        else:
            text = foreign_document(rng, rng.choice(LANGUAGES))
        yield SyntheticDoc(id=doc_id, text=text, source=source, label=label, group=group, edit_rate=edit_rate)

