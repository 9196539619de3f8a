"""Disk-backed, memory-bounded dedup index for the pipeline asset.

Usage::

    builder = DedupIndexBuilder(workdir, DedupParams(threshold=0.6))
    for batch in batches:            # any number of batches, any sizes
        builder.add_batch(batch)     # docs get consecutive global indices
    result = builder.finish()        # DedupResult, arrays per global index

RAM during ``add_batch`` is one batch of text plus 16 bytes (exact key) per
document seen so far; signatures are appended to ``signatures.u32`` in the
workdir (raw little-endian uint32, row-major, exactly ``N * num_perm * 4``
bytes).  ``finish`` memory-maps that file, writes band keys band-major to
``band_keys.npy`` and processes one band (``8 * N`` bytes of keys plus its
sort order) at a time.  With ``verify="jaccard"`` the distinct shingles of
every document are also spilled to ``shingles.u64`` (+ 8 bytes/doc offsets).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from .engine import DedupResult, dedup_arrays
from .minhash import MinHasher, minhash_signatures, split_shingle_sets
from .normalize import EXACT_KEY_DTYPE, exact_key_from_normalized, exact_keys_from_digests, normalized_words
from .params import DedupParams

__all__ = ["DedupIndexBuilder", "HashedDocs", "arrow_texts", "hashed_docs", "hash_on_host", "prepare_words",
           "refuse_null_texts"]


def prepare_words(texts: Sequence[str], hasher: MinHasher):
    """The CPU text preparation: ``(exact keys, shingle hashes, shingles per doc, normalized word lists)``."""
    words = [normalized_words(t) for t in texts]
    keys = exact_keys_from_digests([exact_key_from_normalized(" ".join(w)) for w in words], len(words))
    shingles, counts = hasher.shingles_from_words(words)
    return keys, shingles, counts, words


@dataclass
class HashedDocs:
    """What dedup needs of a run of documents: 16-byte exact keys, ``(n, num_perm)`` uint32 signatures and,
    for ``verify="jaccard"`` only, the size of each distinct-shingle set and the sets concatenated."""

    keys: np.ndarray
    signatures: np.ndarray
    set_sizes: Optional[np.ndarray] = None
    shingles: Optional[np.ndarray] = None


def hashed_docs(keys: np.ndarray, raw_signatures: np.ndarray, shingles: np.ndarray, counts: np.ndarray,
                jaccard: bool) -> HashedDocs:
    """``HashedDocs`` of a batch: little-endian uint32 signatures, and the distinct shingle sets for Jaccard."""
    sig = np.ascontiguousarray(raw_signatures, dtype="<u4")
    if not jaccard:
        return HashedDocs(keys, sig, None, None)
    parts = split_shingle_sets(shingles, counts)
    sizes = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    sets = np.concatenate(parts).astype("<u8") if parts else np.zeros(0, "<u8")
    return HashedDocs(keys, sig, sizes, sets)


def hash_on_host(texts, hasher: MinHasher, jaccard: bool) -> HashedDocs:
    """The CPU path's hashing of ``texts`` (``str``s or an Arrow string column): ``prepare_words`` + numpy MinHash."""
    texts = arrow_texts(texts) if hasattr(texts, "to_pylist") else texts
    keys, shingles, counts, _ = prepare_words(texts, hasher)
    raw = minhash_signatures(shingles, counts, hasher.a, hasher.b, hasher.chunk_shingles)
    return hashed_docs(keys, raw, shingles, counts, jaccard)


def refuse_null_texts(column) -> None:
    """Raise on nulls in an Arrow text column: every dedup path (CPU strings, device bytes) needs text in each row."""
    if column.null_count:
        raise ValueError(f"the text column holds {column.null_count} null value(s): dedup needs a string in every row")


def arrow_texts(column) -> list:
    """An Arrow string column as ``str``s (``refuse_null_texts`` first)."""
    refuse_null_texts(column)
    return column.to_pylist()


class DedupIndexBuilder:
    """Accumulate documents batch by batch, then run exact + fuzzy dedup."""

    SIGNATURES_FILE = "signatures.u32"
    SHINGLES_FILE = "shingles.u64"

    def __init__(self, workdir: str, params: Optional[DedupParams] = None, backend=None):
        self.workdir = os.fspath(workdir)
        self.backend = backend  # None: numpy signatures + union-find; else a gpu/dedup_backend.py backend
        os.makedirs(self.workdir, exist_ok=True)
        self.params = params if params is not None else DedupParams()
        p = self.params
        self.hasher = MinHasher(num_perm=p.num_perm, ngram=p.ngram, seed=p.seed)
        self._keys: List[np.ndarray] = []
        self._n = 0
        self._finished = False
        self._sig_file = open(self.signatures_path, "wb")
        self._shingle_file = open(os.path.join(self.workdir, self.SHINGLES_FILE), "wb") if p.verify == "jaccard" else None
        self._set_sizes: List[np.ndarray] = []

    @property
    def signatures_path(self) -> str:
        return os.path.join(self.workdir, self.SIGNATURES_FILE)

    @property
    def n_docs(self) -> int:
        """Number of documents added so far."""
        return self._n

    def hash_batch_docs(self, requested: int) -> int:
        """Documents per ``hash_texts`` call: ``requested``, capped at ``params.batch_size`` on the CPU path (it
        bounds the shingles held at once). A backend that prepares text on its device bounds its memory by text
        passes (``gpu.textprep.text_passes``) and pays fixed costs per call (host syncs, kernel launches), so it
        takes ``requested`` whole: at 512 documents a call the device would mostly wait."""
        if getattr(self.backend, "prepares_text", False):
            return max(1, int(requested))
        return max(1, min(int(requested), self.params.batch_size))

    def add_batch(self, texts: Sequence[str]) -> None:
        """Hash a batch; its documents get the next consecutive global indices."""
        step = self.hash_batch_docs(len(texts))
        for s in range(0, len(texts), step):
            self.add_hashed(self.hash_texts(texts[s : s + step]))

    @property
    def signs_on_device(self) -> bool:
        """True when ``hash_texts`` hands text to the backend's device and gets signatures back (no Jaccard sets):
        then ``hash_bytes`` takes the backend's ``host_half`` of a batch prepared ahead."""
        return bool(getattr(self.backend, "prepares_text", False)) and self.params.verify != "jaccard"

    def hash_bytes(self, data: np.ndarray, lengths: np.ndarray) -> HashedDocs:
        """``hash_texts`` of the texts whose ``backend.host_half`` is ``(data, lengths)`` (``signs_on_device`` only)."""
        if not self.signs_on_device:
            raise RuntimeError("hash_bytes needs a backend that prepares text on its device, and verify != 'jaccard'")
        keys, _, raw = self.backend.sign_bytes(data, lengths, self.hasher)
        return HashedDocs(keys, np.ascontiguousarray(raw, dtype="<u4"), None, None)

    def hash_texts(self, texts: Sequence[str]) -> HashedDocs:
        """Exact keys, MinHash signatures (and shingle sets for ``verify="jaccard"``) of ``texts``: ``str``s, or an
        Arrow string column (a shard's ``text`` as read: a device backend then makes no Python string per document).

        Pure: depends only on the texts and ``num_perm``/``ngram``/``seed``, so hashes computed once
        (e.g. per input shard, kept across a crash) can be added later with :meth:`add_hashed`.
        """
        h = self.hasher
        on_device = getattr(self.backend, "prepares_text", False)
        jaccard = self.params.verify == "jaccard"
        if on_device and not jaccard:  # text and MinHash on the device, shingles stay there
            keys, raw = self.backend.sign_texts(texts, h)
            return HashedDocs(keys, np.ascontiguousarray(raw, dtype="<u4"), None, None)
        if self.backend is None:
            return hash_on_host(texts, h, jaccard)
        words = None
        if on_device:  # normalize + word hashes on the device
            keys, shingles, counts = self.backend.prepare(texts, h)
        else:
            texts = arrow_texts(texts) if hasattr(texts, "to_pylist") else texts
            keys, shingles, counts, words = prepare_words(texts, h)
        return hashed_docs(keys, self.backend.signatures(shingles, counts, h, words), shingles, counts, jaccard)

    def add_hashed(self, docs: HashedDocs) -> None:
        """Append documents hashed by :meth:`hash_texts` (of a builder with the same parameters)."""
        if self._finished:
            raise RuntimeError("add_batch() after finish()")
        n = len(docs.keys)
        if docs.signatures.shape != (n, self.params.num_perm):
            raise ValueError(f"signatures shape {docs.signatures.shape} != ({n}, {self.params.num_perm})")
        self._keys.append(np.asarray(docs.keys))
        self._sig_file.write(np.ascontiguousarray(docs.signatures, dtype="<u4").tobytes())
        if self._shingle_file is not None:
            if docs.set_sizes is None or docs.shingles is None:
                raise ValueError('verify="jaccard" needs the shingle sets of every document')
            self._set_sizes.append(np.asarray(docs.set_sizes, dtype=np.int64))
            self._shingle_file.write(np.asarray(docs.shingles, dtype="<u8").tobytes())
        self._n += n

    def signatures(self) -> np.ndarray:
        """Read-only memmap (N, num_perm) uint32 of the signatures written so far."""
        if not self._sig_file.closed:
            self._sig_file.flush()
        if self._n == 0:
            return np.zeros((0, self.params.num_perm), dtype=np.uint32)
        return np.memmap(self.signatures_path, dtype="<u4", mode="r", shape=(self._n, self.params.num_perm))

    def _shingle_provider(self):
        if self._shingle_file is None:
            return None
        sizes = np.concatenate(self._set_sizes) if self._set_sizes else np.zeros(0, np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        path = os.path.join(self.workdir, self.SHINGLES_FILE)
        data = np.memmap(path, dtype="<u8", mode="r") if offsets[-1] else np.zeros(0, np.uint64)

        def provider(indices: np.ndarray) -> List[np.ndarray]:
            return [np.asarray(data[offsets[i] : offsets[i + 1]]) for i in np.asarray(indices).tolist()]

        return provider

    def __enter__(self) -> "DedupIndexBuilder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the spill files (idempotent)."""
        for f in (self._sig_file, self._shingle_file):
            if f is not None and not f.closed:
                f.close()

    def finish(self) -> DedupResult:
        """Run exact then fuzzy dedup over everything added; closes the builder."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        self._finished = True
        self.close()
        keys = np.concatenate(self._keys) if self._keys else np.zeros(0, dtype=EXACT_KEY_DTYPE)
        self._keys = [keys]
        extra = {} if self.backend is None else {"components": self.backend.components,
                                                 "lsh": getattr(self.backend, "lsh", None)}
        return dedup_arrays(keys, self.signatures(), self.params, self._shingle_provider(), self.workdir, **extra)
