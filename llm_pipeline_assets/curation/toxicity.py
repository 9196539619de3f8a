"""Offline toxicity filter: a word list maintained in this repository, matched on word boundaries.

Score = share of a document's sentences that contain a listed term. A document whose score reaches
``cleaning.toxicity.threshold`` AND that holds at least ``cleaning.toxicity.min_hits`` term occurrences is
rejected: one quoted "damn" or "William the Bastard" in an encyclopedic article of 20 sentences is not a
toxic document. The default list is ``curation/data/toxic_words_en.txt``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

DEFAULT_WORDLIST = Path(__file__).parent / "data" / "toxic_words_en.txt"
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


def load_terms(path: str | Path | None = None) -> tuple[str, ...]:
    p = Path(path) if path else DEFAULT_WORDLIST
    if not p.exists():
        raise FileNotFoundError(f"cleaning.toxicity.wordlist: {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) would glue itself to the first term
    except UnicodeDecodeError as exc:
        raise ValueError(f"cleaning.toxicity.wordlist: {str(p)!r} is not UTF-8 text ({exc})") from None
    terms = []
    for line in text.splitlines():
        term = line.split("#", 1)[0].strip().lower()
        if term:
            terms.append(term)
    if not terms:
        raise ValueError(f"cleaning.toxicity.wordlist: {str(p)!r} lists no terms")
    return tuple(sorted(set(terms)))


@lru_cache(maxsize=8)
def _pattern(terms: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(r"\s+".join(map(re.escape, t.split())) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", re.IGNORECASE)


class ToxicityScorer:
    def __init__(self, wordlist: str | Path | None = None, threshold: float = 0.05, min_hits: int = 2):
        self.terms = load_terms(wordlist)
        self.pattern = _pattern(self.terms)
        self.threshold, self.min_hits = threshold, max(1, int(min_hits))

    def score(self, text: str) -> tuple[float, int]:
        """(share of sentences with a listed term, number of term hits)."""
        sentences = [s for s in _SENTENCE_SPLIT.split(text) if s.strip()]
        if not sentences:
            return 0.0, 0
        hits = [len(self.pattern.findall(s)) for s in sentences]
        return sum(1 for h in hits if h) / len(sentences), sum(hits)

    def check(self, text: str) -> str | None:
        """None to keep, else the reason (``toxicity_0.12``)."""
        score, hits = self.score(text)
        return f"toxicity_{score:.2f}" if hits >= self.min_hits and score >= self.threshold else None
