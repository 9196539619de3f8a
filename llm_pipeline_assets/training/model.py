"""The model and optimizer a pretraining run starts from (child-process module: imports torch).

``load_model`` applies the run's settings in order: attention implementation (registering
``torch_varlen`` with transformers), gradient checkpointing, the device, Liger's kernels, fused
projections (not under FP8), the bf16 residual stream, FP8 Linear layers. Compile and FSDP sharding come later, in ``loop.Trainer``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from llm_pipeline_assets.gpu.fp8 import convert_float8
from llm_pipeline_assets.gpu.kernels import apply_liger_kernels

from . import varlen
from .fused import fuse_projections
from .settings import PretrainSettings, lr_at


def load_model(settings: PretrainSettings, path: Path):
    """``AutoModelForCausalLM`` from an HF folder (fp32 master weights) on the settings' device."""
    from transformers import AutoModelForCausalLM

    if settings.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("settings.device is 'cuda' but torch sees no CUDA device")
    if settings.attn_implementation == varlen.NAME:
        if settings.device == "cuda" and not varlen.available():
            raise RuntimeError(f"attn_implementation {varlen.NAME!r} needs torch >= 2.10 (torch.nn.attention.varlen); "
                               f"this torch is {torch.__version__}: use flex_attention or sdpa")
        varlen.register()
    model = AutoModelForCausalLM.from_pretrained(
        str(path), dtype=torch.float32, attn_implementation=settings.attn_implementation, local_files_only=True)
    model.config.use_cache = False
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = model.to(settings.device).train()
    if settings.liger_kernels and not apply_liger_kernels(model, settings.device):
        raise RuntimeError("liger_kernels requested, but Liger could not patch this model (liger-kernel missing, or "
                           f"model_type {model.config.model_type!r} is not llama)")
    # FP8 swaps the projections for Float8Linear below: fused GEMMs would bypass them, so FP8 runs unfused
    if settings.fuse_projections and settings.fp8 is None and not fuse_projections(model):
        raise RuntimeError(f"fuse_projections requested, but model_type {model.config.model_type!r} has no Llama "
                           "layers with plain Linear projections to fuse")
    if settings.residual_dtype == "bfloat16":  # the layers' adds and norms then read and write bf16
        model.get_input_embeddings().register_forward_hook(lambda module, args, out: out.to(torch.bfloat16))
    if settings.fp8 == "torchao":
        convert_float8(model)
    return model


def build_optimizer(model, settings: PretrainSettings) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices/embeddings (>= 2-D) only, never on norms or biases."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": settings.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    fused = bool(settings.fused_adamw and settings.device == "cuda")
    return torch.optim.AdamW(groups, lr=lr_at(1, settings), betas=settings.betas, eps=settings.eps,
                             fused=fused or None)
