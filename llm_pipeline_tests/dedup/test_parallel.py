"""dedup.workers: the dedup_index stage hashing its shards in worker processes gives the in-process index."""

from __future__ import annotations

import numpy as np
import pytest

from llm_pipeline_assets.config import DedupConfig
from llm_pipeline_assets.dedup.index import DedupIndexBuilder
from llm_pipeline_assets.dedup.parallel import ShardHashPool
from llm_pipeline_assets.dedup.stage import build_dedup_index, hash_unit, params_from_config
from llm_pipeline_assets.gpu.dedup_backend import TorchDedupBackend
from llm_pipeline_assets.work_units import WorkUnits
from llm_pipeline_tests.reliability.conftest import synthetic_shards, tree_bytes


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    return [("web", synthetic_shards(root / "web", "web", 70, 1)),
            ("news", synthetic_shards(root / "news", "news", 50, 2))]


@pytest.mark.parametrize("verify", ["signature", "jaccard"])
def test_cpu_workers_give_the_in_process_index_and_resume(inputs, tmp_path, verify):
    one = DedupConfig(verify=verify, batch_docs=7)
    fresh = build_dedup_index(inputs, tmp_path / "fresh", one, log=lambda m: None)
    assert fresh.exact_removed + fresh.fuzzy_removed > 0 and fresh.cross_source_removed > 0
    logs = []
    par = build_dedup_index(inputs, tmp_path / "par", one.model_copy(update={"workers": 2}), log=logs.append)
    assert tree_bytes(tmp_path / "par") == tree_bytes(tmp_path / "fresh") != {}
    assert any("hashing 9 of 9 shards in 2 CPU worker processes" in m for m in logs)
    # a work folder where two shards are done: the pool hashes only the seven others, the index is the same
    units = WorkUnits(tmp_path / "work")
    builder = DedupIndexBuilder(tmp_path / "scratch", params_from_config(one))
    for tag, path in [("web-00001", inputs[0][1][1]), ("news-00002", inputs[1][1][2])]:
        hash_unit(units, tag, path, builder, one.batch_docs)
    builder.close()
    logs.clear()
    resumed = build_dedup_index(inputs, tmp_path / "resumed", one.model_copy(update={"workers": 2}), log=logs.append,
                                work_dir=units.root)
    assert resumed.resumed_units == 2 and any("hashing 7 of 9 shards" in m for m in logs)
    assert tree_bytes(tmp_path / "resumed") == tree_bytes(tmp_path / "fresh")


def test_device_workers_give_the_in_process_index(inputs, tmp_path):
    """The GPU path's device processes (gpu.sign_pool), here on torch's CPU device: the same code as on CUDA."""
    cfg = DedupConfig(batch_docs=20, workers=2)
    fresh = build_dedup_index(inputs, tmp_path / "fresh", cfg.model_copy(update={"workers": 0}), log=lambda m: None)
    logs = []
    backend = TorchDedupBackend("cpu", text_on_device=True)
    got = build_dedup_index(inputs, tmp_path / "dev", cfg, log=logs.append, backend=backend)
    assert tree_bytes(tmp_path / "dev") == tree_bytes(tmp_path / "fresh") and got.kept == fresh.kept
    assert any("2 device worker processes" in m for m in logs)


def test_the_kept_duplicates_check_in_worker_processes(inputs):
    """The blocking check's independent pass (exact keys re-derived from the kept texts) gives the same count in
    the pool as in this process: every duplicate when all are kept, none when only the index's survivors are."""
    import pyarrow.parquet as pq

    from llm_pipeline_assets.dedup.filtering import count_exact_duplicates
    from llm_pipeline_assets.dedup.stage import _exact_dups_among_kept
    from llm_pipeline_assets.gpu.dedup_run import worker_pool

    files = [path for _, group in inputs for path in group]
    n = sum(pq.ParquetFile(path).metadata.num_rows for path in files)
    everything = np.ones(n, dtype=bool)
    want = count_exact_duplicates(files)
    assert want > 0
    pool = worker_pool(2)
    try:
        assert _exact_dups_among_kept(inputs, everything, 7, pool) == _exact_dups_among_kept(inputs, everything, 7)
        assert _exact_dups_among_kept(inputs, everything, 7, pool) == want
        first_copies = everything.copy()
        first_copies[n // 2:] = False  # a mask of another length per shard still lines up shard by shard
        assert (_exact_dups_among_kept(inputs, first_copies, 5, pool)
                == _exact_dups_among_kept(inputs, first_copies, 5))
    finally:
        pool.shutdown()


def test_what_dedup_workers_refuse_or_route(inputs, tmp_path):
    with pytest.raises(ValueError, match="dedup.workers > 0 needs dedup.gpu_minhash 'torch'"):
        DedupConfig(workers=2, backend="gpu", gpu_minhash="cudf")
    with pytest.raises(ValueError, match="must be >= 1"):
        ShardHashPool(DedupIndexBuilder(tmp_path / "a"), 0, 100)
    # cuDF's MinHash (backend auto on a GPU machine): the pool is not used, and the log says so
    cudf = TorchDedupBackend("cpu", signature_engine="cudf")
    assert "hashes in this process only" in ShardHashPool.refusal(DedupIndexBuilder(tmp_path / "b", backend=cudf))
    # the GPU backend with verify jaccard: CPU hashing workers (its shingle sets go to the host anyway), same index
    cfg = DedupConfig(verify="jaccard", batch_docs=20)
    fresh = build_dedup_index(inputs, tmp_path / "fresh", cfg, log=lambda m: None)
    logs = []
    build_dedup_index(inputs, tmp_path / "jac", cfg.model_copy(update={"workers": 2}), log=logs.append,
                      backend=TorchDedupBackend("cpu", text_on_device=True))
    assert tree_bytes(tmp_path / "jac") == tree_bytes(tmp_path / "fresh") and fresh.kept > 0
    assert any("2 CPU worker processes" in m for m in logs)


def test_cpu_workers_hash_a_large_shard_in_bounded_chunks(tmp_path, monkeypatch):
    """A shard written as one row group: a CPU worker hashes it params.batch_size documents at a time, as the
    in-process path does (not the whole shard at once), with the same hashes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from llm_pipeline_assets.dedup.index import hash_on_host
    from llm_pipeline_assets.dedup.minhash import MinHasher
    from llm_pipeline_assets.dedup.parallel import hash_rows
    from llm_pipeline_assets.gpu.dedup_run import ParquetBatch

    texts = [f"document {i} " + "word " * (i % 37) for i in range(1300)]
    path = tmp_path / "one.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=len(texts))
    import llm_pipeline_assets.dedup.parallel as parallel

    seen = []

    def counted(column, hasher, jaccard):
        seen.append(len(column))
        return hash_on_host(column, hasher, jaccard)

    monkeypatch.setattr(parallel, "hash_on_host", counted)
    parts = hash_rows(ParquetBatch(str(path), (0,)), (112, 3, 42), 512, True)
    assert seen == [512, 512, 276] and [len(p.keys) for p in parts] == seen
    want = hash_on_host(texts, MinHasher(112, 3, 42), True)
    for name in ("keys", "signatures", "set_sizes", "shingles"):
        assert (np.concatenate([getattr(p, name) for p in parts]) == getattr(want, name)).all(), name
