"""Flat on-disk token stream: every document's token ids, end to end, plus document offsets.

Files for a prefix ``P`` (all readable with numpy alone)::

    P.bin       raw little-endian token ids, uint16 if vocab_size <= 65536 else uint32
    P.docs.npy  int64 offsets, length n_docs + 1, offsets[0] == 0, offsets[-1] == n_tokens;
                document i is tokens[offsets[i]:offsets[i + 1]]
    P.json      {"format": "token_stream", "dtype", "vocab_size", "eos_id", "documents", "tokens", ...}

The writer appends batch by batch; it keeps one int64 length per document and never the tokens,
so RAM is one batch plus 8 bytes per document. Files are written under temporary names and moved
into place by ``close()``, so a crashed run never leaves a stream that looks complete.
A document is at least one token (its EOS): the caller appends EOS; empty documents are rejected.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["TokenStream", "TokenStreamWriter", "token_dtype", "stream_files"]

_PARTIAL = ".partial"


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest on-disk dtype for ids in ``[0, vocab_size)``: uint16 up to 65536 ids, else uint32."""
    vocab_size = int(vocab_size)
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    if vocab_size > 2**32:
        raise ValueError(f"vocab_size {vocab_size} does not fit uint32 token ids")
    return np.dtype("<u2") if vocab_size <= 65536 else np.dtype("<u4")


def stream_files(prefix: Path) -> dict[str, Path]:
    """Paths of the three files that make up the stream at ``prefix``."""
    prefix = Path(prefix)
    return {"bin": Path(f"{prefix}.bin"), "offsets": Path(f"{prefix}.docs.npy"), "index": Path(f"{prefix}.json")}


def _as_ids(doc) -> np.ndarray:
    arr = np.asarray(doc)
    if arr.ndim != 1:
        raise ValueError(f"a document must be a 1-D sequence of token ids, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"token ids must be integers, got dtype {arr.dtype}")
    if arr.dtype == np.uint64:  # uint64 + int64 would concatenate to float64
        if arr.size and int(arr.max()) >= 2**63:
            raise ValueError(f"token id {int(arr.max())} does not fit any token dtype")
        arr = arr.astype(np.int64)
    return arr


class TokenStreamWriter:
    """Append documents (already ending in EOS) to ``<prefix>.bin``; ``close()`` writes the offsets.

    ``eos_id`` is optional: when given, every document must end with it (ValueError otherwise).
    Token ids must lie in ``[0, vocab_size)``, which also guarantees they fit the on-disk dtype.
    """

    def __init__(self, prefix: Path, vocab_size: int, eos_id: int | None = None):
        self.prefix = Path(prefix)
        self.vocab_size = int(vocab_size)
        self.dtype = token_dtype(self.vocab_size)
        self.eos_id = None if eos_id is None else int(eos_id)
        if self.eos_id is not None and not 0 <= self.eos_id < self.vocab_size:
            raise ValueError(f"eos_id {self.eos_id} is outside the vocabulary [0, {self.vocab_size})")
        self.files = stream_files(self.prefix)
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self._bin_tmp = Path(str(self.files["bin"]) + _PARTIAL)
        self._fh = open(self._bin_tmp, "wb")
        self._lengths: list[np.ndarray] = []
        self.documents = 0
        self.tokens = 0
        self._closed = False

    def add(self, docs: Sequence[np.ndarray | list[int]]) -> None:
        """Append a batch of documents; each must be non-empty and end with EOS (checked if eos_id given)."""
        if self._closed:
            raise ValueError("TokenStreamWriter is closed")
        arrays = [_as_ids(d) for d in docs]
        if not arrays:
            return
        lengths = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
        empty = np.flatnonzero(lengths == 0)
        if empty.size:
            raise ValueError(f"document {self.documents + int(empty[0])} is empty; a document is at least its EOS")
        flat = np.concatenate(arrays)
        if flat.dtype.kind not in "iu":
            raise ValueError(f"token ids must be integers, got dtype {flat.dtype}")
        bad = np.flatnonzero((flat < 0) | (flat >= self.vocab_size))
        if bad.size:
            pos = int(bad[0])
            doc = self.documents + int(np.searchsorted(np.cumsum(lengths), pos, side="right"))
            raise ValueError(f"token id {int(flat[pos])} in document {doc} is outside [0, {self.vocab_size}) "
                             f"and cannot be stored as {self.dtype.name}")
        if self.eos_id is not None:
            last = flat[np.cumsum(lengths) - 1]
            wrong = np.flatnonzero(last != self.eos_id)
            if wrong.size:
                i = int(wrong[0])
                raise ValueError(f"document {self.documents + i} ends with {int(last[i])}, not EOS {self.eos_id}")
        self._fh.write(flat.astype(self.dtype, copy=False).tobytes())
        self._lengths.append(lengths)
        self.documents += len(arrays)
        self.tokens += int(lengths.sum())

    def close(self) -> dict:
        """Finish the stream: write ``<prefix>.docs.npy`` and ``<prefix>.json``; returns documents/tokens."""
        if self._closed:
            return {"documents": self.documents, "tokens": self.tokens}
        self._fh.close()
        offsets = np.zeros(self.documents + 1, dtype=np.int64)
        if self._lengths:
            np.cumsum(np.concatenate(self._lengths), out=offsets[1:])
        self._lengths = []
        off_tmp = Path(str(self.files["offsets"]) + _PARTIAL)
        with open(off_tmp, "wb") as fh:
            np.save(fh, offsets)
        index = {"format": "token_stream", "version": 1, "dtype": self.dtype.name, "vocab_size": self.vocab_size,
                 "eos_id": self.eos_id, "documents": self.documents, "tokens": self.tokens,
                 "bin": self.files["bin"].name, "offsets": self.files["offsets"].name}
        os.replace(self._bin_tmp, self.files["bin"])
        os.replace(off_tmp, self.files["offsets"])
        self.files["index"].write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        self._closed = True
        return {"documents": self.documents, "tokens": self.tokens}

    def abort(self) -> None:
        """Drop everything written so far (used when the ``with`` block raises)."""
        if not self._closed:
            self._fh.close()
            self._bin_tmp.unlink(missing_ok=True)
            self._closed = True

    def __enter__(self) -> "TokenStreamWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def open_tokens(path: Path, dtype: np.dtype, count: int, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read-only memmap of ``count`` tokens (an empty array when count is 0: numpy cannot map empty files)."""
    shape = shape if shape is not None else (count,)
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    size = Path(path).stat().st_size
    if size != count * np.dtype(dtype).itemsize:
        raise ValueError(f"{path}: {size} bytes, expected {count} tokens of {np.dtype(dtype).name}")
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)


class TokenStream:
    """Read side of a token stream: ``tokens`` (memmap), ``offsets`` (int64), ``len()``, ``doc(i)``."""

    def __init__(self, prefix: Path):
        self.prefix = Path(prefix)
        self.files = stream_files(self.prefix)
        self.index = json.loads(self.files["index"].read_text())
        self.dtype = np.dtype(self.index["dtype"])
        self.vocab_size = int(self.index["vocab_size"])
        self.eos_id = self.index.get("eos_id")
        self.offsets = np.load(self.files["offsets"])
        if self.offsets.ndim != 1 or self.offsets.size != self.index["documents"] + 1 or self.offsets[0] != 0:
            raise ValueError(f"{self.files['offsets']}: malformed document offsets")
        self.n_tokens = int(self.offsets[-1])
        self.tokens = open_tokens(self.files["bin"], self.dtype, self.n_tokens)

    def __len__(self) -> int:
        return self.offsets.size - 1

    @property
    def lengths(self) -> np.ndarray:
        """Token count of every document (int64, EOS included)."""
        return np.diff(self.offsets)

    def doc(self, i: int) -> np.ndarray:
        """Tokens of document ``i`` (a view into the memmap; negative indices count from the end)."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"document {i} out of range for {n} documents")
        i %= n
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    def __getstate__(self) -> dict:
        return {"prefix": str(self.prefix)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(Path(state["prefix"]))
