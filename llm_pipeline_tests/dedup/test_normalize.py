"""normalize_for_dedup, exact_key and first_occurrence."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from llm_pipeline_assets.dedup.normalize import (
    EXACT_KEY_DTYPE,
    exact_key,
    exact_keys,
    first_occurrence,
    normalize_for_dedup,
    normalized_words,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Hello,   WORLD!", "hello world"),
        ("  tabs\tand\nnew\r\nlines  ", "tabs and new lines"),
        ("snake_case-and-kebab", "snake case and kebab"),
        ("\ufb01le \uff21\uff22\uff23", "file abc"),  # NFKC: ligature, full-width
        ("\u201cQuoted\u201d \u2014 Caf\u00e9!", "quoted café"),
        ("", ""),
        ("...!!!", ""),
        ("Ünïcödé 123", "ünïcödé 123"),
    ],
)
def test_normalize_examples(raw, expected):
    assert normalize_for_dedup(raw) == expected
    assert " ".join(normalized_words(raw)) == expected


def test_ascii_fast_path_matches_unicode_path():
    ascii_chars = "".join(chr(c) for c in range(128))
    text = f"Mixed{ascii_chars}Text with {ascii_chars} inside"
    fast = normalized_words(text)
    slow = normalized_words(text + " \u00e9")  # non-ASCII forces the NFKC + regex path
    assert slow == fast + ["\u00e9"]


def test_exact_key_ignores_case_punctuation_whitespace():
    a = exact_key("The quick brown fox.")
    assert a == exact_key("the   QUICK brown\n fox")
    assert a == exact_key("  The, quick: brown -- fox!!  ")
    assert a != exact_key("the quick brown fax")
    assert isinstance(a, bytes) and len(a) == 16


def test_exact_keys_array_form():
    texts = ["a b", "A, B", "c"]
    keys = exact_keys(texts)
    assert keys.dtype == EXACT_KEY_DTYPE and keys.shape == (3,)
    assert keys[0] == keys[1] and keys[0] != keys[2]
    assert keys[0].tobytes() != b"" and exact_keys([]).shape == (0,)
    big_endian = np.array([(keys["hi"][2], keys["lo"][2])], dtype=">u8").tobytes()
    assert big_endian == exact_key("c")


def test_exact_key_is_stable_across_processes():
    texts = ["Hello World", "déjà vu", ""]
    code = (
        "from llm_pipeline_assets.dedup.normalize import exact_key\n"
        f"print(','.join(exact_key(t).hex() for t in {texts!r}))"
    )
    outs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "HF_HUB_OFFLINE": "1"}
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        outs.add(res.stdout.strip())
    assert outs == {",".join(exact_key(t).hex() for t in texts)}


def test_exact_key_golden_value():
    # XXH3-128 (seed 0) of b"hello world": pins the key format for stored indices.
    assert exact_key("Hello, World!") == exact_key("hello world")
    assert exact_key("hello world").hex() == GOLDEN_HELLO_WORLD


GOLDEN_HELLO_WORLD = "df8d09e93f874900a99b8775cc15b6c7"


def test_first_occurrence():
    keys = np.array([5, 3, 5, 7, 3, 5], dtype=np.uint64)
    assert first_occurrence(keys).tolist() == [0, 1, 0, 3, 1, 0]
    structured = exact_keys(["x", "y", "X!", "y", "z"])
    assert first_occurrence(structured).tolist() == [0, 1, 0, 1, 4]
    assert first_occurrence(np.zeros(0, dtype=np.uint64)).size == 0


def _first_seen(keys) -> list:
    seen = {}
    return [seen.setdefault(k.tobytes(), i) for i, k in enumerate(keys)]


def test_first_occurrence_of_128_bit_keys_sharing_a_high_half():
    keys = np.zeros(7, dtype=EXACT_KEY_DTYPE)
    keys["hi"] = [7, 7, 7, 7, 7, 2, 7]  # different keys with the same high half, interleaved: not adjacent by hi
    keys["lo"] = [1, 2, 1, 3, 2, 1, 1]
    assert first_occurrence(keys).tolist() == [0, 1, 0, 3, 1, 5, 0] == _first_seen(keys)
    assert first_occurrence(keys[:1]).tolist() == [0]
    rng = np.random.default_rng(0)
    for shared in (False, True):  # random keys with planted copies; then with a few high halves reused
        keys = np.zeros(5000, dtype=EXACT_KEY_DTYPE)
        keys["hi"] = rng.integers(0, 2**64, 5000, dtype=np.uint64) if not shared else rng.integers(0, 4, 5000)
        keys["lo"] = rng.integers(0, 2**64, 5000, dtype=np.uint64)
        keys[rng.integers(0, 5000, 800)] = keys[rng.integers(0, 5000, 800)]
        assert first_occurrence(keys).tolist() == _first_seen(keys)
