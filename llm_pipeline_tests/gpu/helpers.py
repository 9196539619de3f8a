"""Shared corpus and markers for the accelerator tests (CPU torch runs everything; CUDA-only tests skip)."""

from __future__ import annotations

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
