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

Fused (the CUDA default): documents of similar length (power-of-two classes) are hashed as padded
``(docs, width)`` blocks by one compiled reduction (``_padded_min``), so the hash values never reach memory;
at 100,000 documents on an H100 the chunked path below took 0.16 s, most of it writing and re-reading them.

Memory (chunked path): shingles are hashed ``chunk`` at a time with ``chunk = memory_budget // (16 * num_perm)`` (the
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
from llm_pipeline_assets.gpu.transfer import to_device

__all__ = ["TorchMinHasher", "DEFAULT_MEMORY_BUDGET", "cudf_word_signatures", "padded_groups"]

_LOW32 = 0xFFFFFFFF
#: EMPTY_SLOT as a Python int: inside a compiled function a numpy scalar is traced as a tensor, and ``int()`` of
#: it broke the graph in two (the hash block then went to memory between the halves)
_EMPTY = int(EMPTY_SLOT)
#: bytes of hash values per chunk (256 MiB: ~150k shingles at 112 permutations).
DEFAULT_MEMORY_BUDGET = 256 << 20


def _as_int64(values: np.ndarray) -> np.ndarray:
    """The same 64 bits, typed int64 (a view: no copy, no value conversion)."""
    return np.ascontiguousarray(values, dtype=np.uint64).view(np.int64)


def _padded_min(x, starts, counts, a, b, width: int):
    """``(g, num_perm)`` int64: for each row, the min of ``((a * x + b) >> 32) & 0xFFFFFFFF`` over its shingles
    ``x[starts[i] : starts[i] + counts[i]]`` (read as a ``(g, width)`` padded block), ``EMPTY_SLOT`` where none.

    Compiled on CUDA this is one fused reduction kernel: the ``(g, width, num_perm)`` hash block is never
    written to memory (the chunked path below writes and re-reads it five times)."""
    import torch

    pos = torch.arange(width, device=x.device)
    idx = (starts.unsqueeze(1) + pos).clamp(max=x.numel() - 1)
    h = x[idx].unsqueeze(-1) * a + b  # int64: wraps modulo 2**64 like the uint64 product
    h = (h >> 32) & _LOW32
    h = torch.where((pos < counts.unsqueeze(1)).unsqueeze(-1), h, _EMPTY)
    return h.amin(dim=1)


def padded_groups(counts: np.ndarray, cap: int, min_width: int = 8):
    """Documents with shingles, by power-of-two length class: ``[(doc ids, width)]`` with at most ``cap``
    padded positions (ids x width) per group (a longer document is a group of its own); padding < 2x."""
    counts = np.asarray(counts, dtype=np.int64)
    docs = np.flatnonzero(counts > 0)
    if docs.size == 0:
        return []
    widths = np.maximum(min_width, 1 << np.ceil(np.log2(np.maximum(counts[docs], 1))).astype(np.int64))
    order = np.argsort(widths, kind="stable")
    docs, widths = docs[order], widths[order]
    groups = []
    for width in np.unique(widths).tolist():
        members = docs[widths == width]
        per = max(1, int(cap) // width)
        groups += [(members[i:i + per], width) for i in range(0, members.size, per)]
    return groups


class TorchMinHasher:
    """``minhash_signatures`` for one ``MinHasher``'s hash family, computed on ``device``.

    ``fused`` (default: on CUDA) hashes documents as padded blocks of similar length through
    ``_padded_min`` (compiled on CUDA: one kernel, no hash block in memory); otherwise shingles are hashed
    ``chunk`` at a time and reduced with ``segment_reduce``. Both give the numpy signatures bit for bit;
    ``self_check`` proves the one in use before the first batch and falls back from fused to chunked if the
    fused kernel disagrees with numpy on this device.
    """

    def __init__(self, hasher: MinHasher, device: str = "cuda", memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 fused: bool | None = None):
        import torch

        if memory_budget < 1:
            raise ValueError(f"memory_budget must be >= 1 byte, got {memory_budget}")
        self.hasher = hasher
        self.device = torch.device(device)
        self.num_perm = hasher.num_perm
        self.memory_budget = int(memory_budget)
        self.chunk = max(1, int(memory_budget) // (16 * self.num_perm))
        self.a = torch.from_numpy(_as_int64(hasher.a).copy()).to(self.device)
        self.b = torch.from_numpy(_as_int64(hasher.b).copy()).to(self.device)
        cuda = self.device.type == "cuda"
        self.fused = cuda if fused is None else bool(fused)
        # compiled: padded positions per group, each holding about 16 bytes of indices / shingles (the hash
        # block stays in registers); eager: the block is materialized, ~3 int64 temporaries of positions x num_perm
        self.group_cap = max(1, int(memory_budget) // (16 if cuda else 24 * self.num_perm))
        self._kernel = torch.compile(_padded_min, dynamic=True) if cuda and self.fused else _padded_min
        self.engine = "fused" if self.fused else "segment_reduce"
        self._checked = False

    def _fused_on_device(self, x, counts: np.ndarray):
        import torch

        dev = self.device
        best = torch.full((counts.size, self.num_perm), _EMPTY, dtype=torch.int64, device=dev)
        starts = np.cumsum(counts) - counts
        a, b = self.a, self.b
        for docs, width in padded_groups(counts, self.group_cap):
            ids, st, ct = (to_device(v, dev) for v in (docs, starts[docs], counts[docs]))
            best[ids] = self._kernel(x, st, ct, a, b, int(width))
        return best

    def signatures_on_device(self, shingles, counts: np.ndarray):
        """(N, num_perm) tensor on the device (int64 fused, float64 chunked) holding the uint32 values exactly.

        ``shingles`` may be a uint64 numpy array or an int64 tensor already on the device (its bits)."""
        import torch

        counts = np.asarray(counts, dtype=np.int64)
        total = int(counts.sum())
        size = shingles.numel() if isinstance(shingles, torch.Tensor) else np.asarray(shingles).size
        if total != size:
            raise ValueError(f"counts sum to {total} but there are {size} shingles")
        dev = self.device
        if total == 0:
            return torch.full((counts.size, self.num_perm), _EMPTY, dtype=torch.int64, device=dev)
        x = shingles.to(dev) if isinstance(shingles, torch.Tensor) else torch.from_numpy(_as_int64(shingles)).to(dev)
        if self.fused:
            try:
                return self._fused_on_device(x, counts)
            except Exception as exc:  # a shape compiled later than the self-check failed to build, or OOM
                if not self._checked:
                    raise
                self._drop_fused(f"failed: {type(exc).__name__}: {str(exc)[:200]}")
        best = torch.full((counts.size, self.num_perm), float(EMPTY_SLOT), dtype=torch.float64, device=dev)
        ends = np.cumsum(counts)
        starts = ends - counts
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

    def queue(self, shingles, counts: np.ndarray):
        """``signatures_on_device`` after the self-check (once): on CUDA the kernels are queued and this returns
        without waiting for them; the caller reads the tensor (``.cpu()``) when it needs the values."""
        if not self._checked:
            self.self_check()
        return self.signatures_on_device(shingles, counts)

    def signatures(self, shingles, counts: np.ndarray) -> np.ndarray:
        """uint32 ``(len(counts), num_perm)`` signatures, equal to ``minhash_signatures`` bit for bit."""
        return self.queue(shingles, counts).cpu().numpy().astype(np.uint32)

    def _drop_fused(self, why: str) -> None:
        """From now on the chunked path; ``engine`` says why."""
        self.fused, self.engine = False, f"segment_reduce (the fused kernel {why})"

    def _check_once(self, shingles: np.ndarray, counts: np.ndarray, want: np.ndarray) -> bool:
        saved = self.chunk, self.group_cap
        self.chunk, self.group_cap = 64, 64  # force several chunks / groups (a document longer than a group)
        try:
            got = self.signatures_on_device(shingles, counts).cpu().numpy().astype(np.uint32)
        finally:
            self.chunk, self.group_cap = saved
        return bool(np.array_equal(got, want))

    def self_check(self, n_shingles: int = 257) -> None:
        """Compare the device's int64 wrap-around against numpy on random shingles (raises on mismatch).

        Covers values with the top bit set, an empty document and a document spanning several chunks. A
        fused kernel that disagrees is dropped for the chunked path (``engine`` says which runs).
        """
        rng = np.random.default_rng(12345)
        shingles = rng.integers(0, 2**64, size=n_shingles, dtype=np.uint64, endpoint=False)
        counts = np.array([0, 1, 5, n_shingles - 6, 0], dtype=np.int64)
        want = minhash_signatures(shingles, counts, self.hasher.a, self.hasher.b)
        if self.fused:
            try:
                agrees, why = self._check_once(shingles, counts, want), "disagreed with numpy"
            except Exception as exc:  # e.g. the compiler failed on this machine: the chunked path needs none
                agrees, why = False, f"failed: {type(exc).__name__}: {str(exc)[:200]}"
            if not agrees:
                self._drop_fused(why)
        if not self._check_once(shingles, counts, want):
            raise RuntimeError(f"MinHash self-check failed on {self.device}: signatures differ from the numpy "
                               "reference (int64 multiply does not wrap modulo 2**64 here); set dedup.backend: cpu")
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
