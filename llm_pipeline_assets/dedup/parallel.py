"""Hashing the ``dedup_index`` asset's shards in worker processes (``dedup.workers``).

The expensive part of dedup is hashing (normalize, exact keys, shingles, MinHash); it is pure per document, so
shards can be hashed anywhere and added in order. ``ShardHashPool`` sends each pending shard's row groups
(``gpu.dedup_run.ParquetBatch``: a worker reads its own, no text crosses a process boundary) to:

* CPU path (no backend, or ``CpuDedupBackend``), and the GPU backend with ``verify: jaccard`` (its shingle sets
  must reach the host anyway): ``workers`` spawned processes hashing with ``index.hash_on_host`` (what
  ``DedupIndexBuilder.hash_texts`` runs in-process; the device text preparation is bit-identical to it), at most
  ``builder.hash_batch_docs`` documents at a time, as in-process hashing is bounded;
* GPU path (torch MinHash, ``verify`` not ``jaccard``): ``gpu.sign_pool`` device processes, each with its own CUDA
  context, running what ``hash_texts`` runs on the device;
* cuDF's MinHash (a different hash family, only on the device): no pool (``ShardHashPool.refusal`` says why).

Results come back in shard order, a window of ``2 x workers`` shards ahead (memory stays bounded on corpora of
thousands of shards), as ``HashedDocs`` equal to in-process hashing (tests compare the index both ways).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Iterable, Iterator, List, Tuple

import numpy as np

from llm_pipeline_assets.dedup.index import DedupIndexBuilder, HashedDocs, hash_on_host

__all__ = ["ShardHashPool"]


def hash_rows(batch, hasher_args: Tuple[int, int, int], chunk: int, jaccard: bool) -> List[HashedDocs]:
    """In a CPU worker: ``hash_on_host`` of a ``ParquetBatch`` read here, ``chunk`` documents at a time."""
    from llm_pipeline_assets.gpu.dedup_run import _hasher

    column, hasher = batch.column(), _hasher(*hasher_args)
    return [hash_on_host(column.slice(s, chunk), hasher, jaccard) for s in range(0, len(column), chunk)]


class ShardHashPool:
    """``workers`` processes hashing whole shards for ``builder`` (its parameters and backend)."""

    def __init__(self, builder: DedupIndexBuilder, workers: int, batch_docs: int):
        from llm_pipeline_assets.gpu.dedup_run import worker_pool

        if workers < 1:
            raise ValueError(f"dedup.workers must be >= 1 for a hashing pool, got {workers}")
        why = self.refusal(builder)
        if why:
            raise ValueError(why)
        backend, params = builder.backend, builder.params
        self.on_device = builder.signs_on_device  # torch MinHash on the device, no shingle sets needed
        self.workers, self.batch_docs = int(workers), int(batch_docs)
        self.chunk = max(1, min(self.batch_docs, params.batch_size))  # CPU workers: the in-process memory bound
        self.hasher_args = (params.num_perm, params.ngram, params.seed)
        self.jaccard = params.verify == "jaccard"
        if self.on_device:
            from llm_pipeline_assets.gpu.sign_pool import sign_pool

            self.pool = sign_pool(self.workers, backend.device, backend.memory_budget)
        else:
            self.pool = worker_pool(self.workers)
        self.engine = f"{self.workers} {'device' if self.on_device else 'CPU'} worker processes"

    @staticmethod
    def refusal(builder: DedupIndexBuilder) -> str:
        """Why ``builder``'s backend cannot hash in worker processes ("" when it can)."""
        backend = builder.backend
        if backend is None or getattr(backend, "prepares_text", False) or getattr(backend, "name", "") == "cpu":
            return ""
        return (f"dedup.workers: the {getattr(backend, 'name', '?')} backend with dedup.gpu_minhash "
                f"{getattr(backend, 'signature_engine', '?')!r} hashes in this process only")

    def _submit(self, path: Path) -> list:
        from llm_pipeline_assets.gpu.dedup_run import parquet_batches

        batches = parquet_batches([str(path)], self.batch_docs)
        if self.on_device:
            from llm_pipeline_assets.gpu.sign_pool import sign_batch

            return [self.pool.submit(sign_batch, b, self.hasher_args) for b in batches]
        return [self.pool.submit(hash_rows, b, self.hasher_args, self.chunk, self.jaccard) for b in batches]

    def _hashed(self, result) -> List[HashedDocs]:
        if isinstance(result, list):  # a CPU worker's chunks
            return result
        return [HashedDocs(result.keys, np.ascontiguousarray(result.signatures, dtype="<u4"), None, None)]

    def hash_shards(self, shards: Iterable[Tuple[str, Path]]) -> Iterator[Tuple[str, List[HashedDocs]]]:
        """``(tag, parts)`` for each ``(tag, path)`` in order; up to ``2 x workers`` shards are in flight."""
        todo = deque(shards)
        flight: deque = deque()
        while todo or flight:
            while todo and len(flight) < 2 * self.workers:
                tag, path = todo.popleft()
                flight.append((tag, self._submit(path)))
            tag, futures = flight.popleft()
            yield tag, [part for f in futures for part in self._hashed(f.result())]

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)
