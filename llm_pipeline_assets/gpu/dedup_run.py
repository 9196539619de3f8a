"""In-memory exact + fuzzy dedup through a dedup backend, with optional worker processes.

``run_dedup(texts, params, backend, workers=N)`` gives the same ``DedupResult`` as
``fuzzy_dedup_result(texts, params)`` / ``DedupIndexBuilder`` for any backend and any ``workers``:

1. text preparation (normalize, exact keys, XXH3 word hashes, shingle hashes: the CPU-bound, GIL-bound
   part) runs in the calling process or in ``workers`` spawned processes, batch by batch;
2. signatures: the backend's (``CpuDedupBackend`` computes them inside the workers too; the torch
   backend computes them in this process on its device while the workers prepare the next batches);
3. ``dedup_arrays`` with the backend's connected components.

This is the driver of ``bench/dedup_gpu.py`` and of the bit-identity tests; the pipeline asset uses
``DedupIndexBuilder`` (disk-backed) with the backend plugged into its hashing step.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from multiprocessing import get_context
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from llm_pipeline_assets.dedup.engine import DedupResult, dedup_arrays
from llm_pipeline_assets.dedup.index import arrow_texts, prepare_words
from llm_pipeline_assets.dedup.minhash import MinHasher, minhash_signatures, split_shingle_sets
from llm_pipeline_assets.dedup.normalize import EXACT_KEY_DTYPE
from llm_pipeline_assets.dedup.params import DedupParams
from llm_pipeline_assets.shards import prefetch

__all__ = ["ParquetBatch", "PreparedBatch", "parquet_batches", "prepare_batch", "run_dedup", "worker_pool"]


@dataclass
class PreparedBatch:
    """One batch after the CPU-bound steps (what crosses the process boundary)."""

    keys: np.ndarray  # EXACT_KEY_DTYPE
    shingles: np.ndarray  # uint64 shingle hashes, documents concatenated
    counts: np.ndarray  # shingles per document
    signatures: Optional[np.ndarray] = None  # filled in the worker for the CPU backend
    words: Optional[List[List[str]]] = None  # only for cuDF's word MinHash
    seconds: float = 0.0
    host_seconds: float = 0.0  # of ``seconds``: the host half (device text preparation only)


@lru_cache(maxsize=4)
def _hasher(num_perm: int, ngram: int, seed: int) -> MinHasher:
    return MinHasher(num_perm=num_perm, ngram=ngram, seed=seed)


def prepare_batch(texts: Sequence[str], hasher_args: Tuple[int, int, int], with_signatures: bool = False,
                  keep_words: bool = False) -> PreparedBatch:
    """Normalize, exact-key and shingle ``texts`` (``dedup.index.prepare_words``, as ``hash_texts`` does)."""
    start = time.perf_counter()
    hasher = _hasher(*hasher_args)
    texts = _texts_of(texts)
    texts = arrow_texts(texts) if hasattr(texts, "to_pylist") else texts
    keys, shingles, counts, words = prepare_words(texts, hasher)
    sig = minhash_signatures(shingles, counts, hasher.a, hasher.b, hasher.chunk_shingles) if with_signatures else None
    return PreparedBatch(keys, shingles, counts, sig, words if keep_words else None, time.perf_counter() - start)


@dataclass(frozen=True)
class ParquetBatch:
    """Row groups of a Parquet file's ``text`` column: a batch that is read where it is prepared (a worker process
    reads its own, so no text crosses the process boundary), as the ``dedup_index`` asset reads its shards."""

    path: str
    row_groups: Tuple[int, ...]

    def column(self):
        import pyarrow.parquet as pq

        return pq.ParquetFile(self.path).read_row_groups(list(self.row_groups), columns=["text"]).column(0)


def parquet_batches(paths: Sequence[str], docs: int) -> List[ParquetBatch]:
    """Consecutive row groups of each file, about ``docs`` documents (at least one row group) per batch."""
    import pyarrow.parquet as pq

    out: List[ParquetBatch] = []
    for path in paths:
        meta, group, rows = pq.ParquetFile(path).metadata, [], 0
        for g in range(meta.num_row_groups):
            group.append(g)
            rows += meta.row_group(g).num_rows
            if rows >= docs:
                out.append(ParquetBatch(str(path), tuple(group)))
                group, rows = [], 0
        if group:
            out.append(ParquetBatch(str(path), tuple(group)))
    return out


def _texts_of(batch):
    """A batch's texts: ``str``s or an Arrow column (read now for a ``ParquetBatch``)."""
    return batch.column() if isinstance(batch, ParquetBatch) else batch


def _timed_host_bytes(batch):
    from llm_pipeline_assets.gpu.textprep import texts_host_bytes

    start = time.perf_counter()
    data, lengths = texts_host_bytes(_texts_of(batch))
    return data, lengths, time.perf_counter() - start


def _device_prepare(backend, hasher: MinHasher, with_signatures: bool):
    """``prepare_batch`` for a backend that prepares text on its device, from the host half's output.

    ``with_signatures`` (no Jaccard verification, so the shingles are not needed on the host): the MinHash
    runs on the device right after, on the shingles still there (their time counts as ``prepare``)."""
    def prepare(host) -> PreparedBatch:
        data, lengths, host_seconds = host
        start = time.perf_counter()
        if with_signatures:  # the backend works in bounded device passes, also on a large Parquet row group
            keys, counts, sig = backend.sign_bytes(data, lengths, hasher)
            return PreparedBatch(keys, np.zeros(0, np.uint64), counts, sig,
                                 seconds=host_seconds + time.perf_counter() - start, host_seconds=host_seconds)
        keys, shingles, counts = backend.prepare_bytes(data, lengths, hasher)
        return PreparedBatch(keys, shingles, counts, seconds=host_seconds + time.perf_counter() - start,
                             host_seconds=host_seconds)

    return prepare


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Spawned preparation processes (spawn: safe next to an initialised CUDA context), started and warm."""
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    list(pool.map(prepare_batch, [[]] * workers, repeat((8, 1, 0))))  # import the modules in every worker now
    return pool


def run_dedup(texts: Sequence[str], params: Optional[DedupParams] = None, backend=None, workers: int = 0,
              batch_size: Optional[int] = None,
              pool: Optional[ProcessPoolExecutor] = None,
              sign_pool: Optional[ProcessPoolExecutor] = None) -> Tuple[DedupResult, Dict[str, float]]:
    """Exact + fuzzy dedup of ``texts`` through ``backend`` (default: CPU); returns ``(result, timings)``.

    ``workers`` > 0 prepares batches in that many spawned processes (``0`` = this process only), or pass a
    running ``pool`` (``worker_pool(n)``) to reuse its processes across calls. ``sign_pool``
    (``gpu.sign_pool.sign_pool(n)``): each batch is read, prepared and signed whole in one of its device processes
    (the backend's device work runs there; ``backend`` still does the LSH and components here).
    ``texts``: ``str``s, an Arrow string column, or ``ParquetBatch``es (``parquet_batches``: each batch as it is,
    read by whichever process prepares it; ``batch_size`` does not apply).
    ``timings`` holds wall seconds of ``prepare`` (summed over workers; ``prepare_host``: its host half when the
    backend prepares text on its device), ``prepare_wait`` (time this process
    waited for prepared batches), ``signatures`` (backend, this process), ``finish`` (LSH + components)
    and ``total``.
    """
    from llm_pipeline_assets.gpu.dedup_backend import CpuDedupBackend

    params = params if params is not None else DedupParams()
    backend = backend if backend is not None else CpuDedupBackend()
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    step = int(batch_size or params.batch_size)
    hasher_args = (params.num_perm, params.ngram, params.seed)
    hasher = _hasher(*hasher_args)
    in_worker = bool(backend.signatures_in_workers)
    keep_words = getattr(backend, "signature_engine", "") == "cudf"
    texts = texts if hasattr(texts, "to_pylist") else list(texts)  # an Arrow column is sliced without copies
    if len(texts) and isinstance(texts[0], ParquetBatch):
        batches = list(texts)
    else:
        batches = [texts[s:s + step] for s in range(0, len(texts), step)]
        if hasattr(texts, "to_pylist") and (pool is not None or sign_pool is not None or workers > 0):
            import pyarrow as pa  # a pickled Arrow slice carries its whole buffer: send compact copies

            batches = [pa.concat_arrays(getattr(b, "chunks", [b])) for b in batches]
    # a backend that prepares text on its device: workers (if any) only lowercase / NFKC / encode the next
    # batches (gpu.textprep.host_bytes) while this process runs the device half of the current one
    if sign_pool is not None and (params.verify == "jaccard" or not getattr(backend, "prepares_text", False)):
        raise ValueError("sign_pool signs on the device and returns no shingles: it needs dedup.verify 'signature' "
                         "or 'none' and a backend that prepares text on its device (TorchDedupBackend, torch MinHash)")
    fused_minhash = params.verify != "jaccard" and hasattr(backend, "prepare_signatures")
    prepare = _device_prepare(backend, hasher, fused_minhash) if getattr(backend, "prepares_text", False) else None
    t: Dict[str, float] = {"prepare": 0.0, "prepare_host": 0.0, "prepare_wait": 0.0, "signatures": 0.0, "finish": 0.0}
    start = time.perf_counter()
    own_pool = pool is None and sign_pool is None and workers > 0 and bool(batches)
    if own_pool:
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    if sign_pool is not None:
        from llm_pipeline_assets.gpu.sign_pool import sign_batch

        prepared = sign_pool.map(sign_batch, batches, repeat(hasher_args))
    elif prepare is not None:  # in-process: a thread prepares the next batches' host half meanwhile
        host = pool.map(_timed_host_bytes, batches) if pool is not None else prefetch(map(_timed_host_bytes, batches))
        prepared = map(prepare, host)
    elif pool is not None:
        prepared = pool.map(prepare_batch, batches, repeat(hasher_args), repeat(in_worker), repeat(keep_words))
    else:
        prepared = map(prepare_batch, batches, repeat(hasher_args), repeat(in_worker), repeat(keep_words))
    keys: List[np.ndarray] = []
    sigs: List[np.ndarray] = []
    sets: List[np.ndarray] = []
    try:
        while True:
            t0 = time.perf_counter()
            batch = next(prepared, None)
            t["prepare_wait"] += time.perf_counter() - t0
            if batch is None:
                break
            t["prepare"] += batch.seconds
            t["prepare_host"] += batch.host_seconds
            t0 = time.perf_counter()
            sig = batch.signatures
            if sig is None:
                sig = backend.signatures(batch.shingles, batch.counts, hasher, batch.words)
            t["signatures"] += time.perf_counter() - t0
            keys.append(batch.keys)
            sigs.append(np.ascontiguousarray(sig, dtype=np.uint32))
            if params.verify == "jaccard":
                sets.extend(split_shingle_sets(batch.shingles, batch.counts))
    finally:
        if own_pool:
            pool.shutdown(cancel_futures=True)
    t0 = time.perf_counter()
    all_keys = np.concatenate(keys) if keys else np.zeros(0, dtype=EXACT_KEY_DTYPE)
    all_sigs = np.concatenate(sigs) if sigs else np.zeros((0, params.num_perm), dtype=np.uint32)
    provider = (lambda idx: [sets[i] for i in np.asarray(idx).tolist()]) if params.verify == "jaccard" else None
    result = dedup_arrays(all_keys, all_sigs, params, provider, components=backend.components,
                          lsh=getattr(backend, "lsh", None))
    t["finish"] = time.perf_counter() - t0
    t["total"] = time.perf_counter() - start
    return result, t
