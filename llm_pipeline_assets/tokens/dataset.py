"""Readers for packed sequences: numpy (:class:`PackedSequences`), torch and Hugging Face adapters.

Each example is a dict of (seq_len,) int64 arrays::

    input_ids       the packed tokens
    labels          input_ids, -100 on padding and on the first token of every later document piece (the
                    model shifts labels: that token would be predicted from another document's EOS), as
                    the project's own training loop does
    position_ids    restart at 0 at every segment start (the padding tail counts from 0)
    segment_ids     ordinal of the document piece at each position, -1 on padding
    attention_mask  1 on real tokens, 0 on padding

Padding is known from the segments, never from token values, so pad_id may equal EOS. ``attention_mask``
alone does NOT keep attention within documents: a plain Hugging Face model given it attends across the
packed documents. Use ``segment_ids`` (a block-diagonal mask, flex or varlen attention) or ``position_ids``
with flash-attn's packed path, as ``llm_pipeline_assets.training`` does.
torch and datasets are imported only inside the adapters. Also :func:`split_of`, the stable
document-level train/val split used before tokenization.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .packing import load_packed_arrays, packed_files, position_ids, segment_ids

__all__ = ["PackedSequences", "FIELDS", "to_torch_dataset", "to_hf_dataset", "split_of"]

FIELDS = ("input_ids", "labels", "position_ids", "segment_ids", "attention_mask")
IGNORE_INDEX = -100


class PackedSequences:
    """Numpy-only random access to ``<out_prefix>.bin`` / ``.segments.npy`` / ``.json``."""

    def __init__(self, out_prefix: Path):
        self.prefix = Path(out_prefix)
        self.files = packed_files(self.prefix)
        self.index, self.tokens, self.segments = load_packed_arrays(self.prefix)
        self.seq_len = int(self.index["seq_len"])
        # rows of sequence i are segments[bounds[i]:bounds[i + 1]] (segments are sorted by sequence)
        self._bounds = np.searchsorted(self.segments[:, 0], np.arange(len(self) + 1, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.index["n_sequences"])

    def sequence_segments(self, i: int) -> np.ndarray:
        """The (k, 4) segment rows (sequence, start, length, document) of sequence ``i``."""
        i = self._check(i)
        return self.segments[self._bounds[i]:self._bounds[i + 1]]

    def _check(self, i: int) -> int:
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"sequence {i} out of range for {n} sequences")
        return int(i) % n

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        i = self._check(i)
        segs = self.sequence_segments(i)
        input_ids = np.asarray(self.tokens[i], dtype=np.int64)
        seg = segment_ids(segs, self.seq_len)
        real = seg >= 0
        later_start = np.zeros_like(real)
        later_start[1:] = seg[1:] != seg[:-1]
        return {
            "input_ids": input_ids,
            "labels": np.where(real & ~later_start, input_ids, IGNORE_INDEX),
            "position_ids": position_ids(segs, self.seq_len),
            "segment_ids": seg,
            "attention_mask": real.astype(np.int64),
        }

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __getstate__(self) -> dict:  # pickle the path, not the memmapped data (DataLoader workers)
        return {"prefix": str(self.prefix)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(Path(state["prefix"]))


@lru_cache(maxsize=None)
def _torch_dataset_class():
    import torch
    from torch.utils.data import Dataset

    class TorchPackedSequences(Dataset):
        """``torch.utils.data.Dataset`` over :class:`PackedSequences`: the same fields as int64 tensors."""

        def __init__(self, packed: PackedSequences):
            self.packed = packed

        def __len__(self) -> int:
            return len(self.packed)

        def __getitem__(self, i: int) -> dict:
            return {k: torch.from_numpy(v) for k, v in self.packed[i].items()}

    TorchPackedSequences.__module__ = __name__
    TorchPackedSequences.__qualname__ = "TorchPackedSequences"
    return TorchPackedSequences


def __getattr__(name: str):
    # PEP 562: ``dataset.TorchPackedSequences`` builds the class on first use, which is also how
    # pickle finds it in a spawned DataLoader worker without importing torch at module import.
    if name == "TorchPackedSequences":
        return _torch_dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_torch_dataset(packed: PackedSequences):
    """A ``torch.utils.data.Dataset`` returning dicts of int64 tensors (see the module docstring)."""
    return _torch_dataset_class()(packed)


def _generate_examples(prefix: str, fingerprint: str):
    del fingerprint  # only part of the datasets cache key, so a rewritten file is not served stale
    yield from PackedSequences(Path(prefix))


def _fingerprint(packed: PackedSequences) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(packed.files["index"].read_bytes())
    for key in ("bin", "segments"):
        st = os.stat(packed.files[key])
        h.update(f"{key}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def to_hf_dataset(packed: PackedSequences, cache_dir: str | Path | None = None):
    """A ``datasets.Dataset`` (arrow on disk under ``cache_dir``, memory-mapped) with the same int64 fields.

    Built with ``Dataset.from_generator`` one sequence at a time, so RAM stays bounded; works
    offline. The cache key includes the index bytes and the files' sizes/mtimes.
    """
    from datasets import Dataset, Features, Sequence, Value

    n = packed.seq_len
    features = Features({k: Sequence(Value("int64"), length=n) for k in FIELDS})
    return Dataset.from_generator(
        _generate_examples, features=features,
        gen_kwargs={"prefix": str(packed.prefix.resolve()), "fingerprint": _fingerprint(packed)},
        cache_dir=None if cache_dir is None else str(cache_dir))


def split_of(doc_id: str, val_fraction: float, seed: int) -> str:
    """``"val"`` or ``"train"`` for a document, from blake2b of ``f"{seed}:{doc_id}"`` (stable across runs).

    The first 8 digest bytes, read as an integer in [0, 2**64), fall below ``val_fraction * 2**64``
    with probability val_fraction, so a document lands in exactly one split whatever the process.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1], got {val_fraction}")
    digest = hashlib.blake2b(f"{seed}:{doc_id}".encode("utf-8"), digest_size=8).digest()
    return "val" if int.from_bytes(digest, "big") < val_fraction * 2.0**64 else "train"
