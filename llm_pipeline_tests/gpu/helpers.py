"""Shared corpus and markers for the accelerator tests (CPU torch runs everything; CUDA-only tests skip)."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest

from llm_pipeline_tests.dedup.corpus import planted_corpus
from llm_pipeline_tests.torch_threads import one_torch_thread  # noqa: F401  (re-exported for the tests here)


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


#: ``@cuda_only`` = ``@pytest.mark.gpu`` + skipped without a CUDA device
def cuda_only(fn):
    return pytest.mark.gpu(pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device")(fn))


EDGE_CASES = [
    "",  # no words at all
    "   \n\t ",
    "!!! ... ???",  # punctuation only -> no words
    "a",  # one word (< ngram)
    "hello world",  # two words (< ngram 3)
    "Hello, WORLD!",  # the same words after normalization -> exact duplicate
    "Ｈｅｌｌｏ　ＷＯＲＬＤ ﬁne café naïve Straße",  # full-width forms and ligatures (NFKC)
    "hello world fine cafe naive strasse",
    "这是 一个 测试 文档 中文 文本 重复 重复 重复",
    "Ελληνικά κείμενα με τόνους και ΚΕΦΑΛΑΙΑ γράμματα εδώ",
    "نص عربي قصير للاختبار مع كلمات متكررة نص عربي",
    "emoji 🙂 smile 🙂 and 👍🏽 thumbs up with 🙂 again",
    "x" * 3000,  # one very long word
]


def shared_corpus(n_groups: int = 25, seed: int = 3) -> list:
    """Planted near-duplicates (1-3 % edits), unicode/empty/short edge cases, and two very long documents."""
    texts, _, _ = planted_corpus(n_groups, (0.0, 0.01, 0.02, 0.03), seed=seed, words=(40, 160))
    rng = np.random.default_rng(seed)
    long_doc = " ".join(f"w{int(i)}" for i in rng.integers(0, 4000, size=20000))
    long_copy = long_doc.replace("w17 ", "w18 ", 3)
    return texts + EDGE_CASES + [long_doc, long_copy] + EDGE_CASES[::-1]


def ascii_mess(n: int, seed: int = 1) -> list:
    """Printable ASCII, control bytes, underscores, uppercase, runs of separators and over-long words."""
    rng = random.Random(seed)
    alphabet = string.printable + "\x00\x01\x0b\x1c\x1f\x7f_"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400))) for _ in range(n)]
    return texts + ["a" * k for k in (15, 16, 17, 64, 300)] + ["", " ", "A_B", "x-y_z", "  Lead, TRAIL!  "]


def unicode_mess(n: int, seed: int = 2) -> list:
    """Mixed scripts, combining marks, full-width forms, ligatures, emoji, and words over 16 UTF-8 bytes."""
    rng = random.Random(seed)
    pieces = ["Straße", "İstanbul", "ǅemal", "ﬁne", "Ｈｅｌｌｏ", "café", "nai\u0308ve", "中文文本", "Ελληνικά", "عربي",
              "🙂", "👍🏽", "—", "’s", "١٢٣", "ⅷ", "²", "x_y", "Ǆ", "ΣΑΣ", "ĳ", "\u00a0", "\u2028", "\u3000"]
    return [" ".join(rng.choice(pieces) + rng.choice(["", ",", ".", "!", " "]) for _ in range(rng.randint(0, 60)))
            for _ in range(n)] + ["Ω" * 9, "中" * 6, "é" * 40]


# ASCII documents reach the device un-lowered (it lowercases A-Z); non-ASCII ones are folded on the host, where
# NFKC and lower() can make or change ASCII letters: Kelvin sign -> K -> k, fullwidth Ａ -> A -> a, İ -> i + dot
CASE_FOLDING = {"mixed-case": ["ÉCOLE Straße ABC", "KELVIN \u212a 5\u212a", "İstanbul IIı", "ＡＢＣ ｄｅｆ ABC",
                               "PLAIN ASCII ONLY", "plain ascii only", "Ⅻ ROMAN ⅻ", "ﬁNAL ﬀ"]}
