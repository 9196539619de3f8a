"""Device worker processes for the dedup GPU path: each one prepares and signs whole batches on the GPU.

Why: measured on an H100 (100,000 documents, batches of 20,000, one process), the device was busy 130 ms of a
714 ms run: the rest was this process's Python (the host half of the text preparation in the prefetch thread and
the launch of ~1,000 kernels per batch in the main thread, both under one GIL). The GPU has room for several
such streams of work, and the machine has cores for them: ``sign_pool(n)`` starts ``n`` spawned processes, each
with its own CUDA context and ``TorchDedupBackend``, and ``run_dedup(..., sign_pool=pool)`` sends each batch to one
of them whole (read, host half, device half, MinHash, exact keys): back come only the exact keys, the shingle
counts and the signatures, bit-identical to the in-process path (the same functions run in the worker).

Each worker warms up when it starts (``_warm_up``: the CUDA context, the MinHash self-check and its compiled
kernel, on a few documents of different lengths), so a pool started before a timed or long job does its
compiles outside it, as ``dedup_run.worker_pool`` does for the CPU path. Device memory: each worker holds its
own CUDA context (~0.5 GB) and up to ~100 bytes of temporaries per byte of text in a pass (a batch of 20,000
documents of 1.5 kB: ~3 GB; ``textprep.MAX_CHARS_PER_PASS`` caps a pass), so 8 workers fit an 80 GB card with
room to spare. Not with ``verify: jaccard`` (the
shingle sets must reach the host), and not with cuDF's MinHash (it needs the word lists).
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from threading import BrokenBarrierError
from multiprocessing import get_context
from typing import Optional, Tuple

import numpy as np

__all__ = ["sign_pool", "sign_batch"]

_BACKEND = None  # this worker process's TorchDedupBackend (set by _start_worker)


def _warm_up(backend) -> None:
    """Sign a few documents of 1 to ~3,000 words: CUDA context, the self-check, the compiled MinHash's shapes."""
    from llm_pipeline_assets.dedup.params import DedupParams
    from llm_pipeline_assets.gpu.dedup_run import _hasher

    params = DedupParams()
    words = [f"w{i % 97}x{i % 13}" for i in range(3000)]
    texts = [" ".join(words[:n]) for n in (0, 1, 2, 3, 40, 200, 700, 1500, 3000)] + ["Ünïcode wörds ﬁne"]
    backend.sign_texts(texts, _hasher(params.num_perm, params.ngram, params.seed))


def _start_worker(device: str, memory_budget: Optional[int], ready, errors) -> None:
    """Initializer of every worker: the backend and its warm-up, then wait at ``ready`` (a barrier of all the workers
    and the parent) so that ``sign_pool`` returns only once every worker is warm. A failure goes to ``errors`` and
    breaks the barrier, so the parent reports it at once."""
    global _BACKEND
    try:
        from llm_pipeline_assets.gpu.dedup_backend import TorchDedupBackend

        backend = TorchDedupBackend(device, memory_budget=memory_budget, text_on_device=True)
        _warm_up(backend)
    except BaseException as exc:
        errors.put(f"{type(exc).__name__}: {exc}"[:2000])
        ready.abort()
        raise
    _BACKEND = backend
    ready.wait()


def _started(_: int) -> Optional[int]:
    """This worker's process id once its backend is up (None otherwise)."""
    import os

    return os.getpid() if _BACKEND is not None else None


def sign_batch(batch, hasher_args: Tuple[int, int, int]):
    """In a ``sign_pool`` worker: ``(exact keys, shingles per doc, signatures)`` of one batch (``str``s, an Arrow
    column, or a ``ParquetBatch`` read here) as a ``dedup_run.PreparedBatch``."""
    from llm_pipeline_assets.gpu.dedup_run import PreparedBatch, _hasher, _texts_of

    if _BACKEND is None:
        raise RuntimeError("sign_batch runs in a sign_pool worker process (gpu.sign_pool.sign_pool)")
    start = time.perf_counter()
    data, lengths = _BACKEND.host_half(_texts_of(batch))
    host_seconds = time.perf_counter() - start
    keys, counts, sig = _BACKEND.sign_bytes(data, lengths, _hasher(*hasher_args))
    return PreparedBatch(keys, np.zeros(0, np.uint64), counts, sig, seconds=time.perf_counter() - start,
                         host_seconds=host_seconds)


def sign_pool(workers: int, device: str = "cuda", memory_budget: Optional[int] = None,
              start_timeout: float = 900.0) -> ProcessPoolExecutor:
    """``workers`` spawned processes that sign batches on ``device`` (``run_dedup(..., sign_pool=pool)``), every one
    started and warmed up before this returns (or a RuntimeError with the first worker's error, the pool shut
    down). Shut it down with ``pool.shutdown()``."""
    if workers < 1:
        raise ValueError(f"a sign pool needs at least one worker process, got {workers}")
    ctx = get_context("spawn")
    ready, errors = ctx.Barrier(workers + 1, timeout=start_timeout), ctx.SimpleQueue()
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker,
                               initargs=(str(device), memory_budget, ready, errors))
    # submitted together, before any worker is idle: each submit starts a process (spawned on demand), and every
    # process runs the initializer, which waits for all the others at the barrier
    for i in range(workers):
        pool.submit(_started, i)
    try:
        ready.wait()
    except BrokenBarrierError:
        pool.shutdown(wait=False, cancel_futures=True)
        why = errors.get() if not errors.empty() else f"not every worker was ready within {start_timeout:.0f} s"
        raise RuntimeError(f"a sign_pool worker on {device} did not start its dedup backend: {why}") from None
    return pool
