"""torch.compile scopes of the training loop: regional (each decoder layer) and full (the whole model)."""

import json
from pathlib import Path

import pytest
import torch

from llm_pipeline_assets.gpu.kernels import compile_model
from llm_pipeline_assets.training.pretrain import PretrainSettings, pretrain
from llm_pipeline_assets.training.shapes import llama_config
from llm_pipeline_tests.training.conftest import quiet

SETTINGS = {"max_steps": 4, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 1, "micro_batch": 4, "grad_accum": 1,
            "curriculum": [[64, 4]], "eval_every": 0, "eval_batches": 1, "save_every": 0, "seed": 0}


def _tiny():
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(llama_config("tiny", 256))


def test_compile_scopes_wrap_what_they_say():
    model = _tiny()
    assert compile_model(model, "regional") is model  # in place: the loop keeps calling the model itself
    assert all(layer._compiled_call_impl is not None for layer in model.model.layers)
    assert model.model.norm._compiled_call_impl is not None  # the final RMSNorm too
    assert model._compiled_call_impl is None and model.lm_head._compiled_call_impl is None  # embedding / head eager
    full = compile_model(_tiny(), "full")
    assert type(full).__name__ == "OptimizedModule"
    with pytest.raises(ValueError, match="'regional' or 'full'"):
        compile_model(_tiny(), "everything")
    with pytest.raises(ValueError, match="model.model.layers"):
        compile_model(torch.nn.Linear(4, 4), "regional")
    with pytest.raises(ValueError, match="compile_scope must be one of"):
        PretrainSettings(**{**SETTINGS, "compile_scope": "layers"})
    with pytest.raises(ValueError, match="compile_mode must be one of"):
        PretrainSettings(**{**SETTINGS, "compile_mode": "reduce-overhead"})  # CUDA graphs: not with varying masks
    with pytest.raises(ValueError, match="compile mode must be"):
        compile_model(_tiny(), "regional", "max-autotune")


def test_regionally_compiled_pretraining_matches_eager(packed_corpus, tmp_path):
    """The loop's compiled path (CPU inductor here) trains the same model as eager, step for step; so does
    compute.compile_mode max-autotune-no-cudagraphs (Triton/C++ GEMM templates timed against the library's) and
    tune-pointwise (inductor's options dict: coordinate-descent tuning of its own kernels)."""
    import torch._dynamo

    losses = {}
    for name, compiled, mode in (("eager", False, "default"), ("regional", True, "default"),
                                 ("autotune", True, "max-autotune-no-cudagraphs"), ("tune", True, "tune-pointwise")):
        torch._dynamo.reset()
        summary = pretrain(PretrainSettings(**SETTINGS, compile=compiled, compile_mode=mode), packed_corpus.packed_dir,
                           packed_corpus.init_dir, tmp_path / name, log=quiet)
        losses[name] = [h["loss"] for h in json.loads(Path(summary["metrics_path"]).read_text())["history"]]
        if compiled:
            from torch._dynamo.utils import counters

            assert counters["stats"]["unique_graphs"] >= 1  # something was really compiled
    assert len(losses["regional"]) == 4
    assert losses["regional"] == pytest.approx(losses["eager"], rel=2e-3)
    assert losses["autotune"] == pytest.approx(losses["eager"], rel=2e-3)
    assert losses["tune"] == pytest.approx(losses["eager"], rel=2e-3)
    assert losses["regional"][-1] < losses["regional"][0]


def test_compiled_loss_matches_eager_on_bf16_logits():
    """The compiled token loss (the loop's default with compile) gives eager's fp32 loss and bf16 gradient."""
    import torch._dynamo

    from llm_pipeline_assets.gpu.kernels import compile_loss
    from llm_pipeline_assets.training.data import IGNORE_INDEX, token_loss_sum

    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(0)
    base = (torch.randn(3, 40, 96, generator=gen) * 4).to(torch.bfloat16)
    labels = torch.randint(0, 96, (3, 40), generator=gen)
    labels[0, 5:9] = IGNORE_INDEX  # a segment start / padding: not counted
    results = []
    for fn in (token_loss_sum, compile_loss(token_loss_sum)):
        logits = base.clone().requires_grad_(True)
        loss = fn(logits, labels)
        loss.backward()
        assert loss.dtype == torch.float32 and logits.grad.dtype == torch.bfloat16
        results.append((loss.detach(), logits.grad))
    (eager, eager_grad), (compiled, compiled_grad) = results
    assert float(compiled) == pytest.approx(float(eager), rel=1e-5)
    assert torch.allclose(compiled_grad.float(), eager_grad.float(), atol=1e-2, rtol=1e-2)
    assert float(eager_grad[0, 4:8].abs().sum()) == 0.0  # positions whose next label is ignored get no gradient
    assert float(eager_grad[:, -1].abs().sum()) == 0.0  # the last position predicts nothing
