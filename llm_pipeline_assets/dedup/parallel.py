"""Hashing the ``dedup_index`` asset's shards in worker processes (``dedup.workers``).

The expensive part of dedup is hashing (normalize, exact keys, shingles, MinHash); it is pure per document, so
shards can be hashed anywhere and added in order. ``ShardHashPool`` sends each pending shard's row groups
(``gpu.dedup_run.ParquetBatch``: a worker reads its own, no text crosses a process boundary) to:

* CPU path (no backend, or ``CpuDedupBackend``): ``workers`` spawned processes running ``dedup_run.prepare_batch``
  (``prepare_words`` + numpy MinHash: what ``DedupIndexBuilder.hash_texts`` runs in-process);
* GPU path (a backend that prepares text on its device, ``verify`` not ``jaccard``): ``gpu.sign_pool`` device
  processes, each with its own CUDA context, running what ``hash_texts`` runs on the device.

Results come back in shard order, a window of ``2 x workers`` shards ahead (memory stays bounded on corpora of
thousands of shards), as ``HashedDocs`` equal to in-process hashing (tests compare the index both ways).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Iterable, Iterator, List, Tuple

import numpy as np

from llm_pipeline_assets.dedup.index import DedupIndexBuilder, HashedDocs
from llm_pipeline_assets.dedup.minhash import split_shingle_sets

__all__ = ["ShardHashPool"]


class ShardHashPool:
    """``workers`` processes hashing whole shards for ``builder`` (its parameters and backend)."""

    def __init__(self, builder: DedupIndexBuilder, workers: int, batch_docs: int):
        from llm_pipeline_assets.gpu.dedup_run import worker_pool

        if workers < 1:
            raise ValueError(f"dedup.workers must be >= 1 for a hashing pool, got {workers}")
        backend, params = builder.backend, builder.params
        self.on_device = bool(getattr(backend, "prepares_text", False))
        if self.on_device and not builder.signs_on_device:
            raise ValueError("dedup.workers with the GPU backend signs on the device and returns no shingle sets: "
                             "it needs dedup.verify 'signature' or 'none' (got 'jaccard'); set dedup.workers: 0")
        if not self.on_device and getattr(backend, "name", "cpu") != "cpu":
            raise ValueError(f"dedup.workers: the {getattr(backend, 'name', '?')} backend with "
                             f"dedup.gpu_minhash {getattr(backend, 'signature_engine', '?')!r} hashes in this "
                             "process only; set dedup.workers: 0")
        self.workers, self.batch_docs = int(workers), int(batch_docs)
        self.hasher_args = (params.num_perm, params.ngram, params.seed)
        self.jaccard = params.verify == "jaccard"
        if self.on_device:
            from llm_pipeline_assets.gpu.sign_pool import sign_pool

            self.pool = sign_pool(self.workers, backend.device, backend.memory_budget)
        else:
            self.pool = worker_pool(self.workers)
        self.engine = f"{self.workers} {'device' if self.on_device else 'CPU'} worker processes"

    def _submit(self, path: Path) -> list:
        from llm_pipeline_assets.gpu.dedup_run import parquet_batches, prepare_batch

        batches = parquet_batches([str(path)], self.batch_docs)
        if self.on_device:
            from llm_pipeline_assets.gpu.sign_pool import sign_batch

            return [self.pool.submit(sign_batch, b, self.hasher_args) for b in batches]
        return [self.pool.submit(prepare_batch, b, self.hasher_args, True) for b in batches]

    def _hashed(self, prepared) -> HashedDocs:
        sig = np.ascontiguousarray(prepared.signatures, dtype="<u4")
        if not self.jaccard:
            return HashedDocs(prepared.keys, sig, None, None)
        parts = split_shingle_sets(prepared.shingles, prepared.counts)
        sizes = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        sets = np.concatenate(parts).astype("<u8") if parts else np.zeros(0, "<u8")
        return HashedDocs(prepared.keys, sig, sizes, sets)

    def hash_shards(self, shards: Iterable[Tuple[str, Path]]) -> Iterator[Tuple[str, List[HashedDocs]]]:
        """``(tag, parts)`` for each ``(tag, path)`` in order; up to ``2 x workers`` shards are in flight."""
        todo = deque(shards)
        flight: deque = deque()
        while todo or flight:
            while todo and len(flight) < 2 * self.workers:
                tag, path = todo.popleft()
                flight.append((tag, self._submit(path)))
            tag, futures = flight.popleft()
            yield tag, [self._hashed(f.result()) for f in futures]

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)

    def __enter__(self) -> "ShardHashPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
