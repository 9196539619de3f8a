"""Text normalization and exact-duplicate keys.

Everything here is deterministic across processes and machines: keys come
from xxHash (XXH3) over the UTF-8 bytes of the normalized text, never from
Python's salted ``hash()``.

Normalization (``normalize_for_dedup``):

1. Unicode NFKC (folds full-width forms, ligatures, compatibility chars);
2. ``str.lower()``;
3. every punctuation / symbol character (anything that is neither a word
   character ``\\w`` nor whitespace, plus ``_``) is replaced by a space;
4. runs of whitespace collapse to one ASCII space; leading/trailing
   whitespace is removed.

So ``"Hello,   WORLD!"`` and ``"hello world"`` normalize to the same string
and therefore have the same ``exact_key``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, List, Sequence

import numpy as np
import xxhash

__all__ = [
    "normalize_for_dedup",
    "normalized_words",
    "fold_case",
    "exact_key",
    "exact_key_from_normalized",
    "exact_keys",
    "exact_keys_from_digests",
    "first_occurrence",
    "EXACT_KEY_DTYPE",
]

# Punctuation, symbols and underscore -> space.  ``\w`` is Unicode aware for
# ``str`` patterns, so letters/digits of every script are kept.
_PUNCT_RE = re.compile(r"[^\w\s]+|_+")
# ASCII fast path: the same character class as a translate table (derived
# from the regex itself so both paths agree exactly).
_ASCII_TABLE = {c: " " for c in range(128) if _PUNCT_RE.fullmatch(chr(c))}

#: dtype of the array form of exact keys: (hi, lo) halves of XXH3-128.
EXACT_KEY_DTYPE = np.dtype([("hi", "<u8"), ("lo", "<u8")])


def fold_case(text: str) -> str:
    """Steps 1-2 of the normalization: NFKC (skipped for ASCII text, which it leaves unchanged), lowercase.

    Shared with the device path (``gpu/textprep.py``), whose words are the runs of ``str.isalnum()``
    characters of this string.
    """
    return (text if text.isascii() else unicodedata.normalize("NFKC", text)).lower()


def normalized_words(text: str) -> List[str]:
    """Return the normalized word list of ``text`` (the dedup hot path).

    ``" ".join(normalized_words(t)) == normalize_for_dedup(t)``.  ASCII text
    (NFKC-invariant) takes a ``str.translate`` fast path (~4x the regex).
    """
    if text.isascii():
        return fold_case(text).translate(_ASCII_TABLE).split()
    return _PUNCT_RE.sub(" ", fold_case(text)).split()


def normalize_for_dedup(text: str) -> str:
    """NFKC, lowercase, punctuation -> space, collapse whitespace, strip."""
    return " ".join(normalized_words(text))


def exact_key_from_normalized(normalized: str) -> bytes:
    """16-byte XXH3-128 digest (big-endian, canonical) of a normalized text."""
    return xxhash.xxh3_128_digest(normalized.encode("utf-8"))


def exact_key(text: str) -> bytes:
    """Stable 128-bit key of the normalized text (16 bytes, XXH3-128, seed 0).

    Two texts that differ only in case, punctuation, Unicode compatibility
    forms or whitespace get the same key.  The value is identical in every
    process (no ``PYTHONHASHSEED`` dependence).
    """
    return exact_key_from_normalized(normalize_for_dedup(text))


def exact_keys_from_digests(digests: Iterable[bytes], count: int) -> np.ndarray:
    """Pack 16-byte digests into a structured ``EXACT_KEY_DTYPE`` array."""
    raw = b"".join(digests)
    if len(raw) != 16 * count:
        raise ValueError("every digest must be exactly 16 bytes")
    halves = np.frombuffer(raw, dtype=">u8").reshape(count, 2)
    out = np.empty(count, dtype=EXACT_KEY_DTYPE)
    out["hi"] = halves[:, 0]
    out["lo"] = halves[:, 1]
    return out


def exact_keys(texts: Sequence[str]) -> np.ndarray:
    """Exact keys of many texts as an ``EXACT_KEY_DTYPE`` array of shape (N,)."""
    return exact_keys_from_digests((exact_key(t) for t in texts), len(texts))


def _exact_key_groups(keys: np.ndarray):
    """``(stable order, key differs from the previous one in that order)`` for 128-bit keys. Sorting by the high
    half alone is about twice as fast as ``lexsort`` on both, and groups equal keys the same way unless two
    different keys share a high half (a 2**-64 chance per pair); that case is detected and sorted on both."""
    hi, lo = np.ascontiguousarray(keys["hi"]), np.ascontiguousarray(keys["lo"])
    order = np.argsort(hi, kind="stable")
    shi, slo = hi[order], lo[order]
    same_hi = shi[1:] == shi[:-1]
    differs = ~same_hi | (slo[1:] != slo[:-1])
    if np.any(same_hi & differs):  # a shared high half: equal keys may not be adjacent, sort on both
        order = np.lexsort((lo, hi))  # stable
        shi, slo = hi[order], lo[order]
        differs = (shi[1:] != shi[:-1]) | (slo[1:] != slo[:-1])
    return order, differs


def first_occurrence(keys: np.ndarray) -> np.ndarray:
    """For each position, the lowest index holding an equal key.

    Works for any 1-D array that ``np.argsort(kind="stable")`` can sort,
    including ``EXACT_KEY_DTYPE`` structured arrays.  ``result[i] == i``
    means ``i`` is the first (surviving) copy.
    """
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    if keys.dtype == EXACT_KEY_DTYPE:
        order, starts[1:] = _exact_key_groups(keys)
    else:
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        starts[1:] = sk[1:] != sk[:-1]
    group = np.cumsum(starts) - 1
    rep_sorted = order[np.flatnonzero(starts)][group]
    out = np.empty(n, dtype=np.int64)
    out[order] = rep_sorted
    return out


def count_repeated(keys: np.ndarray) -> int:
    """How many of ``keys`` (``EXACT_KEY_DTYPE``) repeat an earlier equal key. ``np.unique``: independent of the
    engine's grouping (``_exact_key_groups``), so a check built on it is a second opinion; 16 bytes per key, where a
    Python set of ``bytes`` cost ~80-105."""
    return int(len(keys) - len(np.unique(keys))) if len(keys) else 0
