"""English prose rendering for the synthetic corpus: inflection, sentences, paragraphs and word edits.

Everything takes an explicit ``random.Random`` so callers control determinism. Stdlib only.
"""

from __future__ import annotations

import math
import random
import re

from llm_pipeline_assets.sources import synthetic_vocab as V


def pluralize(noun: str) -> str:
    if noun in V.IRREGULAR_PLURALS:
        return V.IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def past_tense(verb: str) -> str:
    if verb in V.IRREGULAR_PAST:
        return V.IRREGULAR_PAST[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


def gerund(verb: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


_NOUNS = list(dict.fromkeys(V.NOUNS))
_POOLS: dict[str, list[str]] = {
    "n": _NOUNS,
    "ns": [pluralize(n) for n in _NOUNS],
    "a": list(dict.fromkeys(V.ADJECTIVES)),
    "r": list(dict.fromkeys(V.ADVERBS)),
    "v": list(dict.fromkeys(V.VERBS)),
    "place": V.PLACES,
}
_POOLS["vs"] = [third_person(v) for v in _POOLS["v"]]
_POOLS["vd"] = [past_tense(v) for v in _POOLS["v"]]
_POOLS["vg"] = [gerund(v) for v in _POOLS["v"]]
_FULL_NAMES = [f"{f} {last}" for f in V.FIRST_NAMES for last in V.LAST_NAMES]
_EDIT_WORDS = _POOLS["a"] + _POOLS["r"] + _NOUNS

# Pre-split templates: even indices are literal text; odd indices are a word pool (list) to draw from
# or the name of a slot that needs per-document context (str).
_SPECIAL = {"t", "name", "num", "year"}
_COMPILED = [[p if i % 2 == 0 or p in _SPECIAL else _POOLS[p] for i, p in enumerate(re.split(r"\{(\w+)\}", t))]
             for t in V.TEMPLATES]
_LOWERABLE = {"The", "A", "Some", "Most", "Many", "Every", "Each", "Few", "Several", "Our", "Their",
              "His", "Her", "Those", "This", "One", "It", "They", "We", "She", "He", "There", "Nobody"}
_ARTICLE = re.compile(r"\b([Aa]) (?=(?:[aeiouAEIOU](?!ni|se|su|ur))|hour|honest)")


def english_vocabulary() -> set[str]:
    """Every distinct base word (noun, adjective, adverb, verb) the English renderer draws from."""
    return set(_NOUNS) | set(_POOLS["a"]) | set(_POOLS["r"]) | set(_POOLS["v"])


class _Ctx:
    """Per-document state: a handful of topic nouns that recur, which makes documents read coherent."""

    __slots__ = ("rng", "topic")

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.topic = rng.sample(_NOUNS, 5)


def _fill(ctx: _Ctx, slot: str) -> str:
    rng = ctx.rng
    if slot == "t":
        return rng.choice(ctx.topic) if rng.random() < 0.6 else rng.choice(_NOUNS)
    if slot == "name":
        return rng.choice(V.FIRST_NAMES) if rng.random() < 0.5 else rng.choice(_FULL_NAMES)
    if slot == "num":
        return rng.choice(V.NUMBER_WORDS) if rng.random() < 0.7 else str(rng.randint(2, 60))
    if slot == "year":
        return str(rng.randint(1850, 2023))
    pool = _POOLS.get(slot)
    return rng.choice(pool) if pool else "{" + slot + "}"  # unknown slots stay for the caller


def render(ctx: _Ctx, parts: list) -> str:
    """Render one compiled template (see ``_COMPILED``) to a capitalized sentence."""
    out = parts[:]
    rnd = ctx.rng.random
    for i in range(1, len(out), 2):
        p = out[i]
        out[i] = p[int(rnd() * len(p))] if type(p) is list else _fill(ctx, p)
    s = "".join(out)
    return s[0].upper() + s[1:]


def render_template(rng: random.Random, template: str) -> str:
    """Render a template string with the English slots ({n}, {ns}, {a}, {v}, {name}, ...)."""
    return fix_articles(render(_Ctx(rng), re.split(r"\{(\w+)\}", template)))


def fix_articles(text: str) -> str:
    return _ARTICLE.sub(r"\1n ", text)


def english_sentences(rng: random.Random, n_words: int) -> list[str]:
    """Sentences (distinct templates, shared topic, a/an fixed) adding up to at least ``n_words`` words."""
    ctx = _Ctx(rng)
    order = rng.sample(range(len(_COMPILED)), min(len(_COMPILED), n_words // 7 + 2))
    sentences: list[str] = []
    total = 0
    while total < n_words:
        s = render(ctx, _COMPILED[order[len(sentences) % len(order)]])
        if rng.random() < 0.15:
            first, _, rest = s.partition(" ")
            if first in _LOWERABLE:
                s = f"{rng.choice(V.OPENERS)}, {first.lower()} {rest}"
        sentences.append(s)
        total += s.count(" ") + 1
    return fix_articles("\x00".join(sentences)).split("\x00")  # one regex pass for all sentences


def english_paragraphs(rng: random.Random, min_words: int = 130, max_words: int = 360) -> list[list[str]]:
    """A document as 2-6 paragraphs (lists of sentences), each paragraph at least two sentences."""
    sentences = english_sentences(rng, rng.randint(min_words, max_words))
    n_par = min(rng.randint(2, 6), len(sentences) // 2)
    cuts = sorted(rng.sample(range(2, len(sentences) - 1, 2), n_par - 1)) if n_par > 1 else []
    bounds = [0, *cuts, len(sentences)]
    return [sentences[a:b] for a, b in zip(bounds, bounds[1:])]


def join_paragraphs(paragraphs: list[list[str]]) -> str:
    return "\n\n".join(" ".join(p) for p in paragraphs)


def insert_sentences(rng: random.Random, paragraphs: list[list[str]], sentences: list[str]) -> None:
    """Insert each sentence at a random position of a random paragraph (in place)."""
    for s in sentences:
        par = rng.choice(paragraphs)
        par.insert(rng.randint(0, len(par)), s)


_TRAILING = re.compile(r"^(.*?)([.,;:!?]*)$")


def word_edits(rng: random.Random, text: str, rate_range: tuple[float, float]) -> tuple[str, float]:
    """Substitute, insert or delete words at a rate drawn uniformly from ``rate_range``.

    Returns the edited text and the achieved rate: number of edits / number of words in ``text``
    (always inside ``rate_range`` for documents of at least ~50 words). Paragraph breaks are kept.
    """
    lo, hi = rate_range
    paragraphs = [p.split(" ") for p in text.split("\n\n")]
    positions = [(pi, wi) for pi, p in enumerate(paragraphs) for wi in range(len(p))]
    n = len(positions)
    target = rng.uniform(lo, hi)
    k = round(target * n)
    k = max(1, min(max(k, math.ceil(lo * n - 1e-9)), max(1, math.floor(hi * n + 1e-9))))
    chosen = sorted(rng.sample(range(n), k), reverse=True)
    for idx in chosen:  # right to left so earlier indices stay valid
        pi, wi = positions[idx]
        words = paragraphs[pi]
        core, punct = _TRAILING.match(words[wi]).groups()
        op = rng.random()
        if op < 0.25 and not punct and len(words) > 1:
            del words[wi]
        elif op < 0.5:
            words.insert(wi + 1, rng.choice(_EDIT_WORDS))
        else:
            new = rng.choice(_EDIT_WORDS)
            while new == core.lower():
                new = rng.choice(_EDIT_WORDS)
            if core[:1].isupper():
                new = new[0].upper() + new[1:]
            words[wi] = new + punct
    return "\n\n".join(" ".join(p) for p in paragraphs), k / n


def surface_variant(rng: random.Random, text: str) -> str:
    """``text`` unchanged, or altered only in whitespace or letter case (equal after normalization)."""
    roll = rng.random()
    if roll < 0.5:
        return text
    words = text.split(" ")
    picks = rng.sample(range(len(words)), min(3, len(words)))
    if roll < 0.75:  # whitespace: doubled spaces, trailing spaces/newline
        for i in picks:
            words[i] = words[i] + " "
        return " ".join(words) + rng.choice(["\n", "  ", " \n"])
    for i in picks:  # case: flip a few words to upper or lower case
        words[i] = words[i].upper() if rng.random() < 0.5 else words[i].lower()
    return " ".join(words)
