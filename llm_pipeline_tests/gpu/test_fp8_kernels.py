"""FP8 choice (pure policy + a real speed check on CPU torch), kernel probes and import guards."""

from __future__ import annotations

import importlib
import json
import math
import sys

import pytest

from llm_pipeline_assets.gpu import fp8, fp8_choice, kernels
from llm_pipeline_tests.gpu.helpers import cuda_only, one_torch_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny_config(vocab: int = 256):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)


@pytest.mark.parametrize("bf16,fp8_s,min_speedup,use,ratio", [
    (1.0, 0.5, 1.05, True, 2.0),
    (1.0, 1.0, 1.05, False, 1.0),  # equal speed: not worth FP8's numerics
    (1.0, 0.96, 1.05, False, 1 / 0.96),  # 4 % faster is under the 5 % bar
    (1.0, 0.96, 1.0, True, 1 / 0.96),
    (0.8, 1.0, 1.0, False, 0.8),  # FP8 slower: bf16
    (1.0, None, 1.05, False, None),  # FP8 not measured (failed): bf16
])
def test_decide_fp8(bf16, fp8_s, min_speedup, use, ratio):
    got_use, got_ratio, reason = fp8.decide_fp8(bf16, fp8_s, min_speedup)
    assert got_use is use and ("fp8" if use else "bf16") in reason.split(": ")[-1]
    assert got_ratio == pytest.approx(ratio) if ratio is not None else got_ratio is None


@pytest.mark.parametrize("args", [(0.0, 1.0), (1.0, -1.0), (float("nan"), 1.0), (1.0, float("inf"))])
def test_decide_fp8_rejects_bad_timings(args):
    with pytest.raises(ValueError):
        fp8.decide_fp8(*args)
    with pytest.raises(ValueError, match="min_speedup"):
        fp8.decide_fp8(1.0, 1.0, 0.0)


def test_speed_check_runs_on_cpu_and_is_consistent():
    decision = fp8.fp8_speed_check(_tiny_config(), seq_len=32, micro_batch=2, device="cpu", recipe="torchao",
                                   steps=2, warmup=1)
    d = decision.to_dict()
    json.dumps(d)  # JSON-able for metrics
    assert d["recipe"] == "torchao" and d["device"] == "cpu" and d["error"] is None
    assert d["fp8_layers"] == 14  # 7 Linear per decoder layer x 2 (the lm_head is kept in bf16)
    assert d["bf16_step_seconds"] > 0 and d["fp8_step_seconds"] > 0
    assert d["ratio"] == pytest.approx(d["bf16_step_seconds"] / d["fp8_step_seconds"])
    use, _, _ = fp8.decide_fp8(d["bf16_step_seconds"], d["fp8_step_seconds"], d["min_speedup"])
    assert d["precision"] == ("fp8" if use else "bf16")
    assert d["shape"] == {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128, "vocab_size": 256,
                          "seq_len": 32, "micro_batch": 2, "gradient_checkpointing": False}


def test_speed_check_without_fp8_library_or_with_a_failing_one(monkeypatch):
    monkeypatch.setattr(fp8, "available_fp8_recipes", lambda: [])
    none = fp8.fp8_speed_check(_tiny_config(), 16, 1, "cpu", steps=1, warmup=0)
    assert none.precision == "bf16" and none.recipe is None and none.fp8_step_seconds is None
    assert none.bf16_step_seconds > 0 and "no fp8 library" in none.reason

    def broken(model, recipe):
        raise RuntimeError("float8 needs sm_89")

    monkeypatch.setattr(fp8, "apply_fp8", broken)
    failed = fp8.fp8_speed_check(_tiny_config(), 16, 1, "cpu", recipe="torchao", steps=1, warmup=0)
    assert failed.precision == "bf16" and "sm_89" in failed.error and "failed" in failed.reason


def test_resolve_fp8_applies_and_caches_the_decision(tmp_path, monkeypatch):
    from llm_pipeline_assets.training.settings import PretrainSettings

    _tiny_config().save_pretrained(tmp_path / "model")
    settings = PretrainSettings(fp8="torchao", micro_batch=2)
    measured = fp8.Fp8Decision("bf16", "torchao", 0.5, 1.0, 2.0, 1.05, {}, "cpu", False, reason="fp8 is 0.50x bf16")
    monkeypatch.setattr(fp8, "fp8_speed_check", lambda *a, **k: measured)
    logs = []
    out, record = fp8_choice.resolve_fp8(settings, tmp_path / "model", 32, logs.append, cache_dir=tmp_path / "run")
    assert out.fp8 is None and settings.fp8 == "torchao" and record["precision"] == "bf16" and logs
    assert json.loads((tmp_path / "run" / fp8_choice.CACHE_FILE).read_text())["ratio"] == 0.5

    def must_not_measure(*a, **k):
        raise AssertionError("a cached decision for the same shape is reused; ranks > 0 never measure")

    monkeypatch.setattr(fp8, "fp8_speed_check", must_not_measure)
    assert fp8_choice.resolve_fp8(settings, tmp_path / "model", 32, logs.append, cache_dir=tmp_path / "run")[0].fp8 is None
    # rank 1 of 2 takes rank 0's decision from the shared cache, and times out when there is none
    same = fp8_choice.resolve_fp8(settings, tmp_path / "model", 32, logs.append, tmp_path / "run", rank=1, world_size=2)
    assert same[0].fp8 is None and same[1]["ratio"] == 0.5
    with pytest.raises(TimeoutError, match="rank 1"):
        fp8_choice.resolve_fp8(settings, tmp_path / "model", 64, logs.append, tmp_path / "run", rank=1, world_size=2,
                        wait_seconds=0.0)
    with pytest.raises(ValueError, match="cache_dir"):
        fp8_choice.resolve_fp8(settings, tmp_path / "model", 64, logs.append, rank=0, world_size=2)
    faster = fp8.Fp8Decision("fp8", "torchao", 1.3, 1.3, 1.0, 1.05, {}, "cpu", False, reason="fp8 is 1.30x bf16")
    monkeypatch.setattr(fp8, "fp8_speed_check", lambda *a, **k: faster)
    assert fp8_choice.resolve_fp8(settings, tmp_path / "model", 64, logs.append)[0].fp8 == "torchao"
    plain = PretrainSettings()
    assert fp8_choice.resolve_fp8(plain, tmp_path / "model", 64)[0] is plain


def test_speed_check_measures_with_the_runs_gradient_checkpointing(tmp_path, monkeypatch):
    """The 1b/7b presets train with gradient checkpointing: the check must time (and fit) that, not a model
    that keeps every activation; the cached decision is keyed by it."""
    from llm_pipeline_assets.training.settings import PretrainSettings

    built = []
    original = fp8._fresh_model

    def spying(*args, **kwargs):
        model = original(*args, **kwargs)
        built.append(model.is_gradient_checkpointing)
        return model

    monkeypatch.setattr(fp8, "_fresh_model", spying)
    decision = fp8.fp8_speed_check(_tiny_config(), 16, 1, "cpu", recipe="torchao", steps=1, warmup=0,
                                   gradient_checkpointing=True)
    assert built == [True, True] and decision.shape["gradient_checkpointing"] is True
    _tiny_config().save_pretrained(tmp_path / "model")
    plain = PretrainSettings(fp8="torchao", micro_batch=1)
    for checkpointing in (False, True):
        built.clear()
        settings = PretrainSettings(fp8="torchao", micro_batch=1, gradient_checkpointing=checkpointing)
        record = fp8_choice.resolve_fp8(settings, tmp_path / "model", 16, lambda m: None, cache_dir=tmp_path / "run")[1]
        assert built == [checkpointing, checkpointing]  # measured again: a decision for the other setting is not reused
        assert record["key"]["gradient_checkpointing"] is checkpointing
    assert plain.gradient_checkpointing is False


def test_a_failing_speed_check_still_leaves_rank_0s_decision(tmp_path, monkeypatch):
    """Rank 0 measures on one GPU, unsharded: if that runs out of memory (a shape that needs FSDP), the other
    ranks must not wait 30 minutes for a decision that never comes. OOM keeps FP8 (unmeasured, said so);
    any other failure of the check means bf16."""
    import torch

    from llm_pipeline_assets.training.settings import PretrainSettings

    _tiny_config().save_pretrained(tmp_path / "model")
    settings = PretrainSettings(fp8="torchao", micro_batch=2)
    for error, precision, cached in ((torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9 GiB"), "fp8",
                                      "kept unmeasured"), (RuntimeError("no kernel image"), "bf16", "check failed")):
        def failing(*a, **k):
            raise error

        monkeypatch.setattr(fp8, "_fresh_model", failing)  # the bf16 model of the check itself
        run = tmp_path / precision
        out, record = fp8_choice.resolve_fp8(settings, tmp_path / "model", 32, lambda m: None, cache_dir=run, rank=0,
                                      world_size=2)
        assert record["precision"] == precision and cached in record["reason"] and str(error) in record["error"]
        assert out.fp8 == ("torchao" if precision == "fp8" else None)
        other = fp8_choice.resolve_fp8(settings, tmp_path / "model", 32, lambda m: None, cache_dir=run, rank=1,
                                world_size=2, wait_seconds=0.0)
        assert other[0].fp8 == out.fp8  # rank 1 found the decision at once


def test_import_guards_without_optional_packages(monkeypatch):
    for name in ("transformer_engine", "liger_kernel", "cudf", "cugraph", "flash_attn"):
        monkeypatch.setitem(sys.modules, name, None)  # "not installed", whatever this machine has
    for module in ("llm_pipeline_assets.gpu.fp8", "llm_pipeline_assets.gpu.fp8_choice", "llm_pipeline_assets.gpu.kernels", "llm_pipeline_assets.gpu.minhash",
                   "llm_pipeline_assets.gpu.components", "llm_pipeline_assets.gpu.dedup_backend"):
        importlib.reload(importlib.import_module(module))
    from llm_pipeline_assets.gpu import components, fp8 as fp8_mod, kernels as kernels_mod

    found = kernels_mod.optional_packages()
    assert not any(found[n] for n in ("transformer_engine", "liger_kernel", "cudf", "cugraph", "flash_attn"))
    assert "transformer_engine" not in fp8_mod.available_fp8_recipes()
    assert components.cugraph_available() is False
    assert kernels_mod.apply_liger_kernels(object(), "cuda") == []
    assert kernels_mod.apply_liger_kernels(object(), "cpu") == []


def test_transformer_engine_is_preferred_when_importable(monkeypatch):
    real = fp8.importlib.util.find_spec
    present = ("transformer_engine", "torchao", "accelerate")
    monkeypatch.setattr(fp8.importlib.util, "find_spec", lambda name: object() if name in present else real(name))
    assert fp8.available_fp8_recipes() == ["transformer_engine", "torchao"]
    with pytest.raises(ValueError, match="fp8 recipe"):
        fp8.apply_fp8(object(), "msamp")


def test_kernel_probes_on_cpu():
    report = kernels.kernel_report("cpu")
    json.dumps(report)
    assert set(report["sdpa"]) == {"flash_attention", "efficient_attention", "cudnn_attention", "math"}
    assert report["sdpa"]["math"] == {"causal": True, "masked": True}  # the reference kernel always runs
    assert report["sdpa"]["cudnn_attention"] == {"causal": False, "masked": False}  # CUDA-only kernel
    assert report["fused_adamw"] is True  # torch >= 2.4 has a fused CPU AdamW
    assert set(report["packages"]) == {"transformer_engine", "torchao", "flash_attn", "liger_kernel", "cudf", "cugraph"}
    assert report["packages"]["torchao"] is True and report["packages"]["cudf"] is False  # as installed here


@cuda_only
def test_cuda_fp8_speed_check_and_kernels():
    from llm_pipeline_assets.training.shapes import llama_config

    report = kernels.kernel_report("cuda")
    assert report["sdpa"]["math"]["masked"] and report["fused_adamw"]
    decision = fp8.fp8_speed_check(llama_config("124m", 8192, 512), 512, 4, "cuda", steps=3, warmup=2)
    assert decision.bf16_step_seconds > 0 and math.isfinite(decision.ratio or 1.0)
    if report["fp8_capable"] and decision.recipe:
        assert decision.error is None and decision.fp8_layers > 0
