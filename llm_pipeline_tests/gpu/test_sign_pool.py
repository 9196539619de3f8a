"""Device worker processes (gpu/sign_pool.py): each batch signed whole in a spawned process == the CPU path."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llm_pipeline_assets.dedup import DedupParams, fuzzy_dedup_result
from llm_pipeline_assets.gpu.dedup_backend import CpuDedupBackend, TorchDedupBackend
from llm_pipeline_assets.gpu.dedup_run import parquet_batches, run_dedup
from llm_pipeline_assets.gpu.sign_pool import _started, sign_batch, sign_pool
from llm_pipeline_tests.gpu.helpers import cuda_only, shared_corpus, unicode_mess


def _same(got, want):
    for name in ("exact_dup_of", "cluster", "keep"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert got.stats["verified_pairs"] == want.stats["verified_pairs"]
    assert got.stats["candidate_pairs"] == want.stats["candidate_pairs"]


@pytest.fixture(scope="module")
def corpus():
    return shared_corpus() + unicode_mess(40)  # near-duplicates, and text that NFKC / case folding changes


@pytest.fixture(scope="module")
def pool():
    pool = sign_pool(2, device="cpu")  # torch's CPU device: the same code as on CUDA, in two processes
    yield pool
    pool.shutdown()


def test_two_warm_workers_sign_like_the_cpu_path(corpus, pool, tmp_path):
    # the workers answering are children of this process, each with its backend up (the initializer ran)
    answered = set(pool.map(_started, range(8)))
    assert None not in answered and answered <= {p.pid for p in multiprocessing.active_children()}
    params = DedupParams()
    want = fuzzy_dedup_result(corpus, params)
    assert want.stats["fuzzy_removed"] > 0 and want.stats["exact_removed"] > 0
    backend = TorchDedupBackend("cpu", text_on_device=True)
    got, timings = run_dedup(corpus, params, backend, batch_size=23, sign_pool=pool)  # many batches, both workers
    _same(got, want)
    assert timings["prepare"] > timings["prepare_host"] > 0 and timings["signatures"] < timings["prepare"]
    path = tmp_path / "docs.parquet"  # batches read in the workers: only the path and row groups travel
    pq.write_table(pa.table({"text": corpus}), path, row_group_size=17)
    got, _ = run_dedup(parquet_batches([str(path)], 40), DedupParams(), backend, sign_pool=pool)
    _same(got, want)
    got, _ = run_dedup(pa.array(corpus), params, backend, batch_size=50, sign_pool=pool)  # an Arrow column
    _same(got, want)


def test_what_a_sign_pool_refuses(corpus, pool):
    with pytest.raises(ValueError, match="verify 'signature'"):
        run_dedup(corpus, DedupParams(verify="jaccard"), TorchDedupBackend("cpu", text_on_device=True),
                  sign_pool=pool)
    with pytest.raises(ValueError, match="prepares text on its device"):
        run_dedup(corpus, DedupParams(), CpuDedupBackend(), sign_pool=pool)
    with pytest.raises(RuntimeError, match="sign_pool worker"):
        sign_batch(corpus[:3], (112, 3, 42))  # in this process: no backend was started here
    with pytest.raises(ValueError, match="at least one worker"):
        sign_pool(0)


def test_a_worker_that_cannot_start_fails_the_pool_with_its_reason():
    """Every worker must be warm before sign_pool returns; one that fails its start-up stops it with its error."""
    import time

    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="did not start its dedup backend: .*meta"):
        sign_pool(2, device="meta")  # torch's meta device has no data: the warm-up fails in the worker
    assert time.perf_counter() - start < 120


@cuda_only
def test_cuda_sign_pool_equals_cpu():
    corpus = shared_corpus() + unicode_mess(40)
    pool = sign_pool(2, device="cuda")
    try:
        got, _ = run_dedup(corpus, DedupParams(), TorchDedupBackend("cuda"), batch_size=31, sign_pool=pool)
    finally:
        pool.shutdown()
    _same(got, fuzzy_dedup_result(corpus, DedupParams()))
