"""Document-masked attention on CUDA: flex_attention's BlockMask and torch_varlen's cu_seqlens give what SDPA's
boolean mask gives.

CPU checks of the same rule (mask_mod == block_causal_mask, eager flex == SDPA) are in
``llm_pipeline_tests/training/test_attention.py``; here the whole transformers model runs on the GPU
through ``attention_kwargs`` (the code path of the training loop), forward and backward.
"""

from __future__ import annotations

import pytest

from llm_pipeline_tests.gpu.helpers import cuda_only


DOCUMENT_ATTENTION = ("flex_attention", "torch_varlen")


def _models(device, other="flex_attention"):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from llm_pipeline_assets.training import varlen

    varlen.register()
    models = {}
    for impl in ("sdpa", other):  # one config each: the model keeps (and reads) its config object
        config = LlamaConfig(vocab_size=512, hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, intermediate_size=512, max_position_embeddings=512)
        config._attn_implementation = impl
        torch.manual_seed(0)
        models[impl] = LlamaForCausalLM(config).to(device).train()
    return models


def _packed(device):
    import torch

    g = torch.Generator().manual_seed(0)
    lengths = [[100, 156, 200, 56], [512]]
    ids, seg, pos = [], [], []
    for row in lengths:
        ids.append(torch.randint(3, 512, (sum(row),), generator=g))
        seg.append(torch.cat([torch.full((n,), i) for i, n in enumerate(row[:-1])] + [torch.full((row[-1],), -1)])
                   if len(row) > 1 else torch.zeros(row[0], dtype=torch.long))
        pos.append(torch.cat([torch.arange(n) for n in row]))
    return [torch.stack(t).to(device) for t in (ids, seg, pos)]


def _inputs(impl, seg, pos):
    """What training.data.model_inputs passes for ``impl`` (varlen: cu_seqlens from the host copy)."""
    from llm_pipeline_assets.training.data import attention_kwargs
    from llm_pipeline_assets.training.varlen import varlen_kwargs

    if impl == "torch_varlen":
        return {"position_ids": pos, **varlen_kwargs(seg.cpu(), str(seg.device))}
    return attention_kwargs(seg, pos, impl)


@cuda_only
@pytest.mark.parametrize("other", DOCUMENT_ATTENTION)
def test_cuda_document_attention_matches_sdpa_forward_and_backward(other):
    import torch

    from llm_pipeline_assets.training.data import document_labels, token_loss_sum

    models = _models("cuda", other)
    ids, seg, pos = _packed("cuda")
    labels = document_labels(ids, seg)
    out = {}
    for impl, model in models.items():
        logits = model(input_ids=ids, use_cache=False, **_inputs(impl, seg, pos)).logits
        loss = token_loss_sum(logits, labels)
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        out[impl] = (logits.detach(), loss.detach(), grads)
    (la, lossa, ga), (lb, lossb, gb) = out["sdpa"], out[other]
    assert torch.isfinite(lb).all()
    tol = 1e-3 if other == "flex_attention" else 2e-2  # FlashAttention varlen runs in bf16 even for an fp32 model
    assert (la - lb).abs().max() / la.abs().max() < tol
    assert abs(float(lossa - lossb)) / float(lossa) < tol / 10
    assert (ga - gb).norm() / ga.norm() < tol
    # the second document of row 0 attends only to itself: equal to running it alone
    with torch.no_grad():
        packed = models[other](input_ids=ids, use_cache=False, **_inputs(other, seg, pos)).logits
        alone = models["sdpa"](input_ids=ids[:1, 100:256], use_cache=False).logits
    assert (packed[0, 100:256] - alone[0]).abs().max() / alone.abs().max() < tol


@cuda_only
@pytest.mark.parametrize("other", DOCUMENT_ATTENTION)
def test_cuda_document_attention_under_autocast_and_compile(other):
    """The training loop's setting: bf16 autocast around a torch.compile'd model."""
    import torch

    from llm_pipeline_assets.training.data import document_labels, token_loss_sum

    models = _models("cuda", other)
    ids, seg, pos = _packed("cuda")
    labels = document_labels(ids, seg)
    losses = {}
    for impl, model in models.items():
        compiled = torch.compile(model)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = compiled(input_ids=ids, use_cache=False, **_inputs(impl, seg, pos)).logits
        losses[impl] = float(token_loss_sum(logits, labels)) / int((labels[:, 1:] != -100).sum())
    assert losses[other] == pytest.approx(losses["sdpa"], rel=1e-2)


def _default_runtime_settings(runtime, **overrides):
    """PretrainSettings as the pretrained_checkpoint asset builds them from the compute policy's runtime."""
    from llm_pipeline_assets.config import ComputeConfig
    from llm_pipeline_assets.training.settings import PretrainSettings

    base = dict(max_steps=8, lr=3e-3, min_lr=3e-4, warmup_steps=1, micro_batch=8, curriculum=[(64, 4), (128, 8)],
                eval_every=4, eval_batches=1, save_every=4, seed=0, device=runtime.device, dtype=runtime.dtype,
                compile=runtime.compile, compile_scope=ComputeConfig().compile_scope,
                attn_implementation=runtime.attn_implementation, fused_adamw=runtime.fused_adamw,
                residual_dtype=runtime.residual_dtype, liger_kernels=runtime.liger_kernels)
    base.update(overrides)
    return PretrainSettings(**base)


@cuda_only
def test_cuda_pretrain_with_the_default_gpu_runtime(tmp_path):
    """The GPU defaults together inside pretrain(): bf16, fused AdamW, flex document masks, regional compile,
    a curriculum step (new sequence length), periodic eval and checkpoints, then a resume that continues."""
    import json
    from pathlib import Path

    from llm_pipeline_assets.config import ComputeConfig
    from llm_pipeline_assets.resources.compute import probe_device, select_runtime
    from llm_pipeline_assets.training.pretrain import pretrain
    from llm_pipeline_tests.training.conftest import build_corpus

    runtime = select_runtime(probe_device(), ComputeConfig())
    assert (runtime.device, runtime.dtype, runtime.compile) == ("cuda", "bfloat16", True)
    assert runtime.attn_implementation in ("flex_attention", "flash_attention_2")
    corpus = build_corpus(tmp_path / "corpus", num_docs=400)
    summary = pretrain(_default_runtime_settings(runtime, max_steps=6), corpus.packed_dir, corpus.init_dir,
                       tmp_path / "run", log=print)
    resumed = pretrain(_default_runtime_settings(runtime), corpus.packed_dir, corpus.init_dir, tmp_path / "run",
                       log=print)
    history = json.loads(Path(resumed["metrics_path"]).read_text())["history"]
    assert summary["steps"] == 6 and resumed["steps"] == 8 and resumed["resumed_from"]
    assert [h["step"] for h in history] == list(range(1, 9)) and {h["seq_len"] for h in history} == {64, 128}
    assert history[-1]["loss"] < history[0]["loss"] and resumed["val_loss"] is not None


@cuda_only
def test_cuda_pretrain_with_liger_kernels(tmp_path):
    """compute.liger_kernels: Liger's RoPE / RMSNorm / SwiGLU inside the regionally compiled layers train like
    torch.compile's own fusions (same data, same seed)."""
    import importlib.util
    import json
    from pathlib import Path

    from llm_pipeline_assets.config import ComputeConfig
    from llm_pipeline_assets.resources.compute import probe_device, select_runtime
    from llm_pipeline_assets.training.pretrain import pretrain
    from llm_pipeline_tests.training.conftest import build_corpus

    if importlib.util.find_spec("liger_kernel") is None:
        pytest.skip("liger-kernel is not installed (bench/fetch_gpu_wheels.sh carries it)")
    runtime = select_runtime(probe_device(), ComputeConfig(liger_kernels=True))
    assert runtime.liger_kernels
    corpus = build_corpus(tmp_path / "corpus", num_docs=400)
    losses = {}
    for name, liger in (("inductor", False), ("liger", True)):
        summary = pretrain(_default_runtime_settings(runtime, max_steps=6, liger_kernels=liger), corpus.packed_dir,
                           corpus.init_dir, tmp_path / name, log=print)
        losses[name] = [h["loss"] for h in json.loads(Path(summary["metrics_path"]).read_text())["history"]]
    assert losses["liger"] == pytest.approx(losses["inductor"], rel=2e-2)
    assert losses["liger"][-1] < losses["liger"][0]
