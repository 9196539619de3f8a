"""MinHash signatures on a torch device, bit-identical to ``dedup.minhash.minhash_signatures``.

The CPU path (``dedup/minhash.py``) defines a signature as ``sig[d, j] = min over shingles x of d of
((a_j * x + b_j) mod 2**64) >> 32`` on uint64 shingle hashes.  Shingles and the hash family (``a``, ``b``)
come from the CPU code unchanged (``MinHasher.shingles_from_words`` and ``MinHasher.a/.b``); only this
O(shingles x num_perm) step moves to the device.

How the uint64 arithmetic is reproduced with torch int64 (torch has no usable uint64 min/multiply):

* The bits of a uint64 are reinterpreted as int64 (``ndarray.view``), never converted.  Two's-complement
  multiply and add keep the low 64 bits, so ``a * x + b`` in int64 has exactly the bits of the uint64
  result (ATen's int64 kernels wrap on CPU and CUDA; ``self_check`` verifies it on the device in use
  before the first batch, and the tests compare against numpy).
* ``>> 32`` is monotone, so the minimum of the top halves is the top half of the minimum: each hash is cut
  to its top 32 bits first (arithmetic shift, then ``& 0xFFFFFFFF``).  Those values are below 2**32, so
  float64 holds them exactly and the per-document minimum is ``torch.segment_reduce(..., "min")`` over the
  contiguous shingles of each document (no atomics, deterministic; segment_reduce has no int64 kernel).
  A document spanning several chunks is reduced per chunk and folded with a running ``minimum``.
* A document without shingles keeps the initial ``0xFFFFFFFF`` = ``EMPTY_SLOT``, as on the CPU.

Memory: shingles are hashed ``chunk`` at a time with ``chunk = memory_budget // (16 * num_perm)`` (the
``(chunk, num_perm)`` int64 hash block plus its float64 top halves), so the device holds at most about
``memory_budget`` bytes of hash values plus the batch's shingles (8 B each) and signatures.

cuDF (``cudf.Series.str.minhash`` over word lists) hashes n-grams with MurmurHash3 and permutes with
``(a * h + b) mod (2**61 - 1)``: a different hash family on different shingle hashes, so its signatures
can never equal the CPU path's.  ``cudf_word_signatures`` is therefore used only when configured
(``dedup.gpu_minhash: cudf``), never by ``auto``, and its signatures must not be mixed with numpy/torch ones.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from llm_pipeline_assets.dedup.minhash import EMPTY_SLOT, MinHasher, minhash_signatures

__all__ = ["TorchMinHasher", "DEFAULT_MEMORY_BUDGET", "cudf_word_signatures"]

_LOW32 = 0xFFFFFFFF
#: bytes of hash values per chunk (256 MiB: ~150k shingles at 112 permutations).
DEFAULT_MEMORY_BUDGET = 256 << 20


def _as_int64(values: np.ndarray) -> np.ndarray:
    """The same 64 bits, typed int64 (a view: no copy, no value conversion)."""
    return np.ascontiguousarray(values, dtype=np.uint64).view(np.int64)


class TorchMinHasher:
    """``minhash_signatures`` for one ``MinHasher``'s hash family, computed on ``device``."""

    def __init__(self, hasher: MinHasher, device: str = "cuda", memory_budget: int = DEFAULT_MEMORY_BUDGET):
        import torch

        if memory_budget < 1:
            raise ValueError(f"memory_budget must be >= 1 byte, got {memory_budget}")
        self.hasher = hasher
        self.device = torch.device(device)
        self.num_perm = hasher.num_perm
        self.chunk = max(1, int(memory_budget) // (16 * self.num_perm))
        self.a = torch.from_numpy(_as_int64(hasher.a).copy()).to(self.device)
        self.b = torch.from_numpy(_as_int64(hasher.b).copy()).to(self.device)
        self._checked = False

    def signatures_on_device(self, shingles: np.ndarray, counts: np.ndarray):
        """(N, num_perm) float64 tensor on the device holding the uint32 signature values exactly."""
        import torch

        counts = np.asarray(counts, dtype=np.int64)
        total = int(counts.sum())
        if total != np.asarray(shingles).size:
            raise ValueError(f"counts sum to {total} but there are {np.asarray(shingles).size} shingles")
        dev = self.device
        best = torch.full((counts.size, self.num_perm), float(EMPTY_SLOT), dtype=torch.float64, device=dev)
        if total == 0:
            return best
        ends = np.cumsum(counts)
        starts = ends - counts
        x = torch.from_numpy(_as_int64(shingles)).to(dev)
        a, b = self.a.unsqueeze(0), self.b.unsqueeze(0)
        for s in range(0, total, self.chunk):
            e = min(s + self.chunk, total)
            # documents overlapping [s, e): their shingle counts inside this chunk (empty ones count 0)
            d0, d1 = int(np.searchsorted(ends, s, side="right")), int(np.searchsorted(starts, e, side="left"))
            lengths = np.minimum(ends[d0:d1], e) - np.maximum(starts[d0:d1], s)
            h = x[s:e].unsqueeze(1) * a  # int64: wraps modulo 2**64 exactly like the uint64 product
            h += b
            h >>= 32
            h &= _LOW32
            part = torch.segment_reduce(h.to(torch.float64), "min", lengths=torch.from_numpy(lengths).to(dev),
                                        axis=0, unsafe=True, initial=float(EMPTY_SLOT))
            best[d0:d1] = torch.minimum(best[d0:d1], part)
        return best

    def signatures(self, shingles: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """uint32 ``(len(counts), num_perm)`` signatures, equal to ``minhash_signatures`` bit for bit."""
        if not self._checked:
            self.self_check()
        return self.signatures_on_device(shingles, counts).cpu().numpy().astype(np.uint32)

    def self_check(self, n_shingles: int = 257) -> None:
        """Compare the device's int64 wrap-around against numpy on random shingles (raises on mismatch).

        Covers values with the top bit set, an empty document and a document spanning several chunks.
        """
        rng = np.random.default_rng(12345)
        shingles = rng.integers(0, 2**64, size=n_shingles, dtype=np.uint64, endpoint=False)
        counts = np.array([0, 1, 5, n_shingles - 6, 0], dtype=np.int64)
        saved, self.chunk = self.chunk, 64  # force the multi-chunk path
        try:
            got = self.signatures_on_device(shingles, counts).cpu().numpy().astype(np.uint32)
        finally:
            self.chunk = saved
        want = minhash_signatures(shingles, counts, self.hasher.a, self.hasher.b)
        if not np.array_equal(got, want):
            bad = int((got != want).sum())
            raise RuntimeError(f"MinHash self-check failed on {self.device}: {bad} of {got.size} slots differ from "
                               "the numpy reference (int64 multiply does not wrap modulo 2**64 here); "
                               "set dedup.backend: cpu")
        if not (got[0] == EMPTY_SLOT).all():
            raise RuntimeError(f"MinHash self-check failed on {self.device}: empty document is not EMPTY_SLOT")
        self._checked = True


def cudf_word_signatures(word_lists: Sequence[Sequence[str]], hasher: MinHasher) -> np.ndarray:
    """uint32 signatures from cuDF's word n-gram MinHash (MurmurHash3, mod 2**61-1): NOT the CPU family.

    Uses the low 32 bits of ``hasher.a`` / ``hasher.b`` as cuDF's ``a`` / ``b`` and ``hasher.ngram`` as
    the n-gram width, so results are deterministic for a seed but differ from ``minhash_signatures``.
    Rows with no words get ``EMPTY_SLOT``.  Needs cudf (GPU only); import errors propagate.
    """
    import cudf

    n, p = len(word_lists), hasher.num_perm
    out = np.full((n, p), EMPTY_SLOT, dtype=np.uint32)
    rows = [i for i, w in enumerate(word_lists) if len(w)]
    if not rows:
        return out
    a = cudf.Series((hasher.a & np.uint64(_LOW32)).astype(np.uint32))
    b = cudf.Series((hasher.b & np.uint64(_LOW32)).astype(np.uint32))
    series = cudf.Series([list(word_lists[i]) for i in rows])
    sig = series.str.minhash(seed=int(hasher.seed) & _LOW32, a=a, b=b, width=hasher.ngram)
    out[rows] = sig.list.leaves.values.get().astype(np.uint32).reshape(len(rows), p)
    return out
