"""Document attention through variable-length FlashAttention: ``attn_implementation: torch_varlen``.

A packed row holds several documents; each must attend causally within itself only. Instead of a
mask, every run of equal ``segment_ids`` in a row becomes one sequence of a variable-length batch
(``cu_seqlens``: cumulative starts over the flattened ``B * L`` tokens), and torch's own
FlashAttention varlen kernel (``torch.nn.attention.varlen.varlen_attn``, torch >= 2.10, CUDA) runs
causal attention inside each: no (B, 1, L, L) mask, no BlockMask, no flash-attn package. Padding at
the end of a row is a run of its own (it attends earlier padding, as in ``data.block_causal_mask``;
its labels are -100).

The attention function is registered with transformers' ``AttentionInterface`` under
``torch_varlen``; the model receives ``doc_cu_seqlens`` / ``doc_max_len`` as forward keyword arguments,
which transformers hands to every attention layer. ``cu_seqlens`` is built on the host from the
collated CPU batch, so building it never waits for the GPU. On a CPU the same function runs causal
SDPA on each sequence in turn (slow, exact): the tests compare it with the block mask there, and
the CUDA kernel with SDPA on a GPU.
"""

from __future__ import annotations

import inspect

import torch

NAME = "torch_varlen"


def cu_seqlens(segment_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(int32 cumulative starts of every same-segment run of every row, longest run) from (B, L) ids."""
    seg = segment_ids.cpu()
    batch, length = seg.shape
    starts = torch.ones(batch, length, dtype=torch.bool)
    starts[:, 1:] = seg[:, 1:] != seg[:, :-1]
    begin = torch.nonzero(starts.reshape(-1)).flatten()
    cu = torch.cat([begin, torch.tensor([batch * length])]).to(torch.int32)
    return cu, int((cu[1:] - cu[:-1]).max())


def varlen_kwargs(segment_ids: torch.Tensor, device: str, implementation: str = NAME) -> dict:
    """The model keyword arguments that give ``implementation`` the documents as variable-length sequences over
    the flattened ``B * L`` tokens (built from the CPU segment ids: no wait for the GPU).

    ``torch_varlen`` reads ``doc_cu_seqlens`` / ``doc_max_len``. ``flash_attention_2`` gets transformers' own
    ``cu_seq_lens_q/k`` and ``max_length_q/k``, with which it runs flash-attn's varlen kernel on the flattened
    batch; from restarting ``position_ids`` alone it infers documents only for a batch of ONE row (5.24:
    ``_is_packed_sequence``), so a micro-batch of several rows would attend across documents."""
    from .data import to_device

    cu, longest = cu_seqlens(segment_ids)
    cu = to_device(cu, device)
    if implementation == "flash_attention_2":
        return {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": longest, "max_length_k": longest}
    if implementation != NAME:
        raise ValueError(f"no variable-length document attention for attn_implementation {implementation!r}")
    return {"doc_cu_seqlens": cu, "doc_max_len": longest}


def _kernel_kwargs(fn, scaling: float, head_dim: int) -> dict:
    """Causal + scale arguments in the spelling of the installed ``varlen_attn`` (its API moved in 2.11/2.12)."""
    params = inspect.signature(fn).parameters
    kwargs = {"is_causal": True} if "is_causal" in params else {"window_size": (-1, 0)}
    if "scale" in params:
        kwargs["scale"] = scaling
    elif abs(scaling - head_dim ** -0.5) > 1e-9:
        raise ValueError(f"this torch's varlen_attn has no scale argument; the model needs {scaling}")
    return kwargs


def _reference(q, k, v, cu: torch.Tensor, scaling: float) -> torch.Tensor:
    """Causal SDPA on each sequence of the packed batch, one after another (CPU path and test oracle)."""
    out = torch.empty_like(q)
    bounds = cu.tolist()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        piece = [t[lo:hi].transpose(0, 1) for t in (q, k, v)]  # (H, n, D)
        out[lo:hi] = torch.nn.functional.scaled_dot_product_attention(
            *piece, is_causal=True, scale=scaling).transpose(0, 1)
    return out


def varlen_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers attention function: (B, H, L, D) q/k/v -> ((B, L, H, D) output, None)."""
    if "doc_cu_seqlens" not in kwargs:
        raise ValueError(f"attn_implementation {NAME!r} needs doc_cu_seqlens/doc_max_len model inputs "
                         "(training.data.model_inputs builds them)")
    cu, longest = kwargs["doc_cu_seqlens"], int(kwargs["doc_max_len"])
    batch, heads, length, head_dim = query.shape
    scaling = head_dim ** -0.5 if scaling is None else float(scaling)
    if key.shape[1] != heads:  # grouped-query attention: every query head reads its group's key/value head
        key, value = (t.repeat_interleave(heads // key.shape[1], dim=1) for t in (key, value))
    dtype = torch.bfloat16 if query.is_cuda and query.dtype == torch.float32 else query.dtype
    # contiguous: with fused projections q/k/v are strided views of one GEMM's output (a copy then, else free)
    q, k, v = (t.transpose(1, 2).reshape(batch * length, heads, head_dim).to(dtype).contiguous()
               for t in (query, key, value))
    if q.is_cuda:
        from torch.nn.attention.varlen import varlen_attn

        out = varlen_attn(q, k, v, cu, cu, longest, longest, **_kernel_kwargs(varlen_attn, scaling, head_dim))
    else:
        out = _reference(q, k, v, cu, scaling)
    # FlashAttention computes in bf16: hand back the caller's dtype (an fp32 model without autocast)
    return out.reshape(batch, length, heads, head_dim).to(query.dtype), None


def register() -> str:
    """Make ``torch_varlen`` a transformers attention implementation (idempotent); returns the name."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, varlen_attention)
    return NAME


def available() -> bool:
    """Does this torch ship ``torch.nn.attention.varlen`` (2.10+)?"""
    import importlib.util

    return importlib.util.find_spec("torch.nn.attention.varlen") is not None
