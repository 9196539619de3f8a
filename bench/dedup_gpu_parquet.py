"""The Parquet-source variants of ``bench/dedup_gpu.py`` (``--source parquet``) and the helpers both share.

``cpu_parquet`` is the ``dedup_index`` asset's own path (``DedupIndexBuilder.hash_texts`` on each record batch's
``text`` column, the next batch decoded meanwhile), ``cpu_workers_parquet`` has each worker read its own row groups,
``gpu_parquet`` hands the Arrow column to the device through ``run_dedup``, and ``gpu_builder_parquet`` is the asset's
own path with the GPU backend.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import numpy as np

from llm_pipeline_assets.dedup import DedupIndexBuilder, DedupParams
from llm_pipeline_assets.gpu.dedup_backend import CpuDedupBackend, TorchDedupBackend
from llm_pipeline_assets.gpu.dedup_run import parquet_batches, run_dedup, worker_pool
from llm_pipeline_assets.shards import prefetch

BATCH = 5000  # documents per add_batch / prepared batch, as in bench/dedup_compare.py


def run_builder_parquet(path: str, params: DedupParams, backend=None, batch: int = BATCH) -> tuple:
    """The ``dedup_index`` asset's path: each record batch's Arrow ``text`` column through ``hash_texts`` (the
    backend's device path when it has one), signatures on disk, then ``finish`` with the backend's LSH/components."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="bench-dedup-gpu-") as work:
        start = time.perf_counter()
        builder = DedupIndexBuilder(work, params, backend=backend)
        size = builder.hash_batch_docs(batch)
        for batch in prefetch(pq.ParquetFile(path).iter_batches(batch_size=size, columns=["text"])):
            builder.add_hashed(builder.hash_texts(batch.column(0)))
        result = builder.finish()
        return time.perf_counter() - start, result


def write_parquet(texts: list, folder: str, row_group: int = BATCH) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = os.path.join(folder, "corpus.parquet")
    pq.write_table(pa.table({"text": pa.array(texts, pa.string())}), path, row_group_size=row_group,
                   compression="zstd")
    return path


def parquet_variants(texts: list, params: DedupParams, args, want, report: dict, gpu_batch: int) -> list:
    """``cpu_parquet``, ``cpu_workers_parquet`` and ``gpu_parquet`` (see the module docstring) into ``report``."""
    n = len(texts)
    with tempfile.TemporaryDirectory(prefix="bench-dedup-parquet-") as folder:
        path = write_parquet(texts, folder)
        report["parquet_mb"] = os.path.getsize(path) / 1e6
        s, (_, result) = timed(lambda: run_builder_parquet(path, params), args.repeat)
        report["cpu_parquet"] = {"seconds": s, "docs_per_s": n / s, "identical": identical(result, want)}
        if args.cpu_workers:
            pool = worker_pool(args.cpu_workers)
            try:
                def cpu_workers_run():
                    result, t = run_dedup(parquet_batches([path], BATCH), params, CpuDedupBackend(), pool=pool)
                    return t["total"], result, t

                s, (_, result, t) = timed(cpu_workers_run, args.repeat)
            finally:
                pool.shutdown()
            report["cpu_workers_parquet"] = {"workers": args.cpu_workers, "seconds": s, "docs_per_s": n / s,
                                             "timings": t, "identical": identical(result, want)}
        backend = TorchDedupBackend(args.device, memory_budget=args.memory_budget_mb << 20, text_on_device=True)

        def gpu_run():
            result, t = run_dedup(parquet_batches([path], gpu_batch), params, backend)
            return t["total"], result, t

        gpu_run()  # warm-up
        s, (_, result, t) = timed(gpu_run, args.repeat)
        report["gpu_parquet"] = {"device": args.device, "batch": gpu_batch, "seconds": s, "docs_per_s": n / s,
                                 "timings": t, "backend": backend.describe(), "identical": identical(result, want)}
        # the asset's own path on the device: DedupIndexBuilder, signatures on disk (batches: the file's row groups
        # read gpu_batch documents at a time)
        s, (_, result) = timed(lambda: run_builder_parquet(path, params, backend, gpu_batch), args.repeat)
        report["gpu_builder_parquet"] = {"device": args.device, "batch": gpu_batch, "seconds": s, "docs_per_s": n / s,
                                         "identical": identical(result, want)}
    for name in ("gpu_parquet", "gpu_builder_parquet"):
        for ref in ("cpu_parquet", "cpu_workers_parquet"):
            if ref in report:
                report[f"ratio_{name}_vs_{ref}"] = report[name]["docs_per_s"] / report[ref]["docs_per_s"]
    return ["gpu_parquet", "gpu_builder_parquet"]


def identical(result, want) -> dict:
    return {name: bool(np.array_equal(getattr(result, name), getattr(want, name)))
            for name in ("exact_dup_of", "cluster", "keep")}


def timed(fn, repeat: int) -> tuple:
    runs = [fn() for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), runs[-1]
