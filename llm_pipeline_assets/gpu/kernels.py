"""Training kernels beyond the defaults: what is installed, what actually runs, and Liger on Llama.

``resources.compute.select_runtime`` decides compile / fused AdamW / attention implementation from a
device probe; this module supplies the pieces it and the training child need that must *run* to be
known:

* ``nvidia_device_present()``: whether this process may see an NVIDIA GPU, from the driver's device nodes (no
  torch import: the code location asks it at load);
* ``optional_packages()``: import guards (``find_spec``, nothing imported) for Transformer Engine,
  torchao, flash-attn, Liger, cuDF, cuGraph;
* ``sdpa_backends(device)``: which ``scaled_dot_product_attention`` kernels (flash, memory-efficient,
  cuDNN, math) run on ``device`` for a causal call and for a call with an explicit boolean mask (the
  document mask of packed sequences: flash kernels refuse explicit masks, so this says what the masked
  path really gets);
* ``fused_adamw_runs(device)``: one fused AdamW step on ``device``;
* ``apply_liger_kernels(model, device)``: Liger's Triton RoPE / RMSNorm / SwiGLU on a Llama model when
  ``liger_kernel`` is installed and the device is CUDA (its fused linear-cross-entropy is left off: the
  loop computes a summed token loss from logits itself);
* ``kernel_report(device)``: all of the above as one JSON-able dict for a run's metrics or a benchmark;
* ``compile_model(model, scope)``: ``torch.compile`` of each decoder layer (``regional``: the layers
  share one compiled graph, so warm-up is a fraction of compiling the whole model) or of the whole
  model (``full``); ``compile_loss(fn)``: the loss function compiled for fixed shapes.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Dict, List

__all__ = ["OPTIONAL_PACKAGES", "nvidia_device_present", "optional_packages", "sdpa_backends", "fused_adamw_runs", "apply_liger_kernels",
           "kernel_report", "compile_model", "compile_loss"]

OPTIONAL_PACKAGES = ("transformer_engine", "torchao", "flash_attn", "liger_kernel", "cudf", "cugraph")
LIGER_PATCHES = ("rope", "rms_norm", "swiglu")


def nvidia_device_present() -> bool:
    """False when this process certainly cannot see an NVIDIA GPU (no driver nodes, or hidden by env)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")


def optional_packages() -> Dict[str, bool]:
    """Which optional accelerator packages are importable (checked without importing them)."""
    out = {}
    for name in OPTIONAL_PACKAGES:
        try:
            out[name] = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken package
            out[name] = False
    return out


def sdpa_backends(device: str = "cpu", head_dim: int = 64, seq_len: int = 128) -> Dict[str, Dict[str, bool]]:
    """``{backend: {"causal": runs, "masked": runs}}`` for each SDPA backend on ``device`` (bf16 on CUDA)."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, seq_len, head_dim, generator=gen).to(device, dtype) for _ in range(3))
    half = seq_len // 2  # two packed documents: block-diagonal causal mask
    doc = torch.arange(seq_len) >= half
    mask = (doc[:, None] == doc[None, :]) & torch.ones(seq_len, seq_len, dtype=torch.bool).tril()
    mask = mask.to(device)
    report = {}
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION,
                    SDPBackend.MATH):
        runs = {}
        for case, kwargs in (("causal", {"is_causal": True}), ("masked", {"attn_mask": mask})):
            try:
                with warnings.catch_warnings(), sdpa_kernel(backend):
                    warnings.simplefilter("ignore")
                    out = F.scaled_dot_product_attention(q, k, v, **kwargs)
                runs[case] = bool(torch.isfinite(out).all())
            except RuntimeError:
                runs[case] = False
        report[backend.name.lower()] = runs
    return report


def fused_adamw_runs(device: str = "cpu") -> bool:
    """Does ``torch.optim.AdamW(fused=True)`` take a step on ``device`` (and move the parameter)?"""
    import torch

    param = torch.nn.Parameter(torch.ones(16, device=device))
    param.grad = torch.full_like(param, 0.5)
    try:
        torch.optim.AdamW([param], lr=0.1, fused=True).step()
    except (RuntimeError, TypeError):
        return False
    return bool((param.detach() < 1).all())


def apply_liger_kernels(model, device: str) -> List[str]:
    """Patch ``model`` (a transformers Llama) with Liger kernels; returns the patches applied ([] = none).

    Only on CUDA (Liger is Triton) and only for ``model_type == "llama"``; a no-op without liger_kernel.
    """
    if not str(device).startswith("cuda") or not optional_packages()["liger_kernel"]:
        return []
    if getattr(getattr(model, "config", None), "model_type", None) != "llama":
        return []
    from liger_kernel.transformers import apply_liger_kernel_to_llama

    apply_liger_kernel_to_llama(rope=True, rms_norm=True, swiglu=True, cross_entropy=False,
                                fused_linear_cross_entropy=False, model=model)
    return list(LIGER_PATCHES)


def kernel_report(device: str = "cpu") -> dict:
    """Installed packages, SDPA backends that run, fused AdamW, and the device's name/capability."""
    import torch

    info = {"device": str(device), "torch": torch.__version__, "packages": optional_packages(),
            "sdpa": sdpa_backends(device), "fused_adamw": fused_adamw_runs(device)}
    if str(device).startswith("cuda"):
        dev = torch.device(device)
        info.update(device_name=torch.cuda.get_device_name(dev),
                    capability=list(torch.cuda.get_device_capability(dev)),
                    fp8_capable=torch.cuda.get_device_capability(dev) >= (8, 9))
    return info


#: ``compute.compile_mode`` -> ``torch.compile`` keywords. ``tune-pointwise``: inductor times launch configs of its own
#: Triton pointwise / reduction kernels (the memory-bound fusions: ~20 of 66 ms of a 124m step on an H100) by
#: coordinate descent, and leaves the GEMMs to cuBLAS (max-autotune's Triton GEMMs were slower there)
COMPILE_MODE_KWARGS = {
    "default": {},
    "max-autotune-no-cudagraphs": {"mode": "max-autotune-no-cudagraphs"},
    "tune-pointwise": {"options": {"coordinate_descent_tuning": True, "max_autotune_pointwise": True}},
}


def _mode_kwargs(mode: str) -> dict:
    """``torch.compile`` keywords for a ``compute.compile_mode`` (``default`` passes none)."""
    if mode not in COMPILE_MODE_KWARGS:
        raise ValueError(f"compile mode must be one of {list(COMPILE_MODE_KWARGS)}, got {mode!r}")
    return dict(COMPILE_MODE_KWARGS[mode])


def compile_model(model, scope: str = "regional", mode: str = "default"):
    """``torch.compile`` ``model`` by ``scope`` (and ``mode``); returns what to call for the forward pass.

    ``regional`` compiles every decoder layer in place (``module.compile()``; with nn-module inlining
    the identical layers reuse one graph) and the final norm, and returns ``model`` itself; call it before
    FSDP sharding.
    ``full`` returns ``torch.compile(model)``. Measured on an H100 (1b shape, seq 2048 x 4, bf16):
    regional 0.142 s/step after 10.6 s of warm-up, full 0.170 s/step after 56.6 s.
    """
    import torch

    kwargs = _mode_kwargs(mode)
    if scope == "full":
        return torch.compile(model, **kwargs)
    if scope != "regional":
        raise ValueError(f"compile scope must be 'regional' or 'full', got {scope!r}")
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None:
        raise ValueError(f"regional compile needs decoder layers at model.model.layers ({type(model).__name__})")
    for layer in layers:
        layer.compile(**kwargs)
    norm = getattr(model.model, "norm", None)  # the final RMSNorm: eager, it is ~6 kernels over the activations
    if isinstance(norm, torch.nn.Module):
        norm.compile(**kwargs)
    return model


def compile_loss(fn, mode: str = "default"):
    """``torch.compile`` of a ``(logits, labels) -> loss`` function (``training.data.token_loss_sum``).

    Eager, the shifted slice ``.float()`` copies the bf16 logits to fp32 before cross-entropy, and the
    backward writes fp32 gradients of the same size (at 124m, 32 x 1024 x 32,000: 4.2 GB each); compiled,
    the upcast, log-softmax and gather fuse into kernels that read the bf16 logits once and write bf16
    gradients. ``dynamic=False``: a few sequence lengths and micro-batch sizes, each its own kernels.
    """
    import torch

    return torch.compile(fn, dynamic=False, **_mode_kwargs(mode))
