"""Backend selection (dedup.backend) and full dedup through the torch backend == the CPU path."""

from __future__ import annotations

import numpy as np
import pytest

from llm_pipeline_assets.config import DedupConfig
from llm_pipeline_assets.dedup import DedupIndexBuilder, DedupParams, fuzzy_dedup_result
from llm_pipeline_assets.dedup.components import connected_components
from llm_pipeline_assets.dedup.engine import dedup_arrays
from llm_pipeline_assets.dedup.minhash import MinHasher
from llm_pipeline_assets.dedup.normalize import exact_keys
from llm_pipeline_assets.gpu import dedup_backend as db
from llm_pipeline_assets.gpu.dedup_run import run_dedup
from llm_pipeline_tests.gpu.helpers import cuda_only, one_torch_thread, shared_corpus  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _survivor(result):
    return np.where(result.exact_dup_of >= 0, result.cluster[np.maximum(result.exact_dup_of, 0)], result.cluster)


def _assert_same(got, want):
    for name in ("exact_dup_of", "cluster", "keep"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert np.array_equal(_survivor(got), _survivor(want))
    assert got.stats["verified_pairs"] == want.stats["verified_pairs"]


@pytest.fixture(scope="module")
def corpus():
    return shared_corpus()


# --- selection -------------------------------------------------------------------------------------------


def test_explicit_cpu_never_probes():
    def probe():
        raise AssertionError("cpu must not probe for CUDA")

    assert isinstance(db.select_dedup_backend("cpu", probe), db.CpuDedupBackend)


def test_auto_follows_cuda_and_gpu_without_cuda_fails_clearly():
    assert isinstance(db.select_dedup_backend("auto", False), db.CpuDedupBackend)
    gpu = db.select_dedup_backend("auto", True)
    assert isinstance(gpu, db.TorchDedupBackend) and gpu.name == "gpu" and gpu.device == "cuda"
    assert isinstance(db.select_dedup_backend("gpu", True), db.TorchDedupBackend)
    with pytest.raises(RuntimeError, match="dedup.backend is 'gpu'.*no CUDA"):
        db.select_dedup_backend("gpu", False)
    with pytest.raises(ValueError, match="dedup.backend must be one of"):
        db.select_dedup_backend("tpu", True)
    with pytest.raises(ValueError, match="dedup.gpu_minhash"):
        db.select_dedup_backend("auto", True, signature_engine="minhashlsh")


def test_probe_consulted_only_where_an_nvidia_device_exists(monkeypatch):
    calls = []

    def probe():
        calls.append(1)
        return True

    monkeypatch.setattr(db, "nvidia_device_present", lambda: False)
    assert isinstance(db.select_dedup_backend("auto", probe), db.CpuDedupBackend) and not calls
    monkeypatch.setattr(db, "nvidia_device_present", lambda: True)
    assert isinstance(db.select_dedup_backend("auto", probe), db.TorchDedupBackend) and calls == [1]
    monkeypatch.undo()
    for hidden in ("", "-1"):  # CUDA hidden from this process: no probe either
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert db.nvidia_device_present() is False


def test_backend_from_config_defaults_and_cudf_opt_in(monkeypatch):
    assert isinstance(db.backend_from_config(DedupConfig(threshold=0.8), False), db.CpuDedupBackend)
    with pytest.raises(RuntimeError, match="dedup.backend"):
        db.backend_from_config(DedupConfig(backend="gpu"), False)
    monkeypatch.setattr(db.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="dedup.gpu_minhash is 'cudf'"):
        db.backend_from_config(DedupConfig(backend="gpu", gpu_minhash="cudf"), True)


# --- identical results -----------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [DedupParams(), DedupParams(threshold=0.5, verify="jaccard"),
                                    DedupParams(num_perm=64, ngram=5, exact=False, verify="none")],
                         ids=["default", "jaccard", "no-exact"])
def test_torch_backend_dedup_equals_cpu(corpus, params, tmp_path):
    want = fuzzy_dedup_result(corpus, params)
    assert want.stats["fuzzy_removed"] > 0  # the corpus has near-duplicates to find
    backend = db.TorchDedupBackend("cpu", memory_budget=16 * params.num_perm * 4096, lsh_on_device=True)
    got, timings = run_dedup(corpus, params, backend, batch_size=37)  # batches cut through the edge cases
    _assert_same(got, want)
    assert got.stats["candidate_pairs"] == want.stats["candidate_pairs"]
    assert backend.describe() == {"backend": "torch-cpu", "device": "cpu", "signatures": "torch",
                                  "components": "torch", "text": "cpu", "lsh": "device", "minhash": "segment_reduce"}
    assert timings["total"] >= timings["signatures"] > 0
    builder = DedupIndexBuilder(tmp_path, params)
    builder.add_batch(corpus)
    _assert_same(builder.finish(), want)  # and the disk-backed pipeline builder agrees too


def test_worker_processes_give_the_same_result(corpus):
    params = DedupParams()
    want = fuzzy_dedup_result(corpus, params)
    got, timings = run_dedup(corpus, params, db.CpuDedupBackend(), workers=1, batch_size=64)
    _assert_same(got, want)
    assert timings["prepare"] > 0 and timings["signatures"] < timings["prepare"]  # signatures came from the worker
    with pytest.raises(ValueError, match="workers"):
        run_dedup(corpus, params, workers=-1)


def test_engine_components_hook_is_used(corpus):
    params = DedupParams()
    signatures = MinHasher(params.num_perm, params.ngram, params.seed).signatures(corpus)
    keys = exact_keys(corpus)
    calls = []

    def spy(n, edges):
        calls.append((n, len(edges)))
        return connected_components(n, edges)

    _assert_same(dedup_arrays(keys, signatures, params, components=spy), dedup_arrays(keys, signatures, params))
    assert len(calls) == 1 and calls[0][1] > 0
    split = dedup_arrays(keys, signatures, params, components=lambda n, e: np.arange(n))  # ignores every edge
    assert split.stats["fuzzy_removed"] == 0


@cuda_only
def test_cuda_backend_dedup_equals_cpu(corpus):
    params = DedupParams()
    backend = db.select_dedup_backend("gpu")
    got, _ = run_dedup(corpus, params, backend)
    _assert_same(got, fuzzy_dedup_result(corpus, params))
    assert backend.describe()["backend"] == "gpu" and backend.describe()["text"] == "device"
    assert backend.describe()["lsh"] == "device"
