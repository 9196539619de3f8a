"""dedup.workers: the dedup_index stage hashing its shards in worker processes gives the in-process index."""

from __future__ import annotations

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
    import numpy as np
    import pyarrow.parquet as pq

    from llm_pipeline_assets.dedup.stage import _exact_dups_among_kept, count_exact_duplicates
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


def test_what_dedup_workers_refuse(tmp_path):
    with pytest.raises(ValueError, match="dedup.workers > 0 with dedup.backend 'gpu'"):
        DedupConfig(workers=2, backend="gpu", verify="jaccard")
    with pytest.raises(ValueError, match="dedup.workers > 0 with dedup.backend 'gpu'"):
        DedupConfig(workers=2, backend="gpu", gpu_minhash="cudf")
    jaccard = DedupIndexBuilder(tmp_path / "a", params_from_config(DedupConfig(verify="jaccard")),
                                backend=TorchDedupBackend("cpu", text_on_device=True))
    with pytest.raises(ValueError, match="verify 'signature' or 'none'"):  # backend auto on a GPU machine
        ShardHashPool(jaccard, 2, 100)
    with pytest.raises(ValueError, match="must be >= 1"):
        ShardHashPool(jaccard, 0, 100)


def test_the_workers_bench_compares_against_one_process(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "dedup_workers.json"
    proc = subprocess.run([sys.executable, "bench/dedup_workers.py", "--docs", "600", "--workers", "2",
                           "--shard-docs", "100", "--json", str(out)], cwd=root, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["identical_index"] and report["shards"] == 6 and report["workers"]["workers"] == 2
    assert report["ratio"] == report["workers"]["docs_per_s"] / report["baseline_one_process"]["docs_per_s"]
    assert "workers / one process" in proc.stdout
