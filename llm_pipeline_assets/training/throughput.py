"""Training FLOPs per token and model FLOPs utilisation (MFU), for benchmarks.

The PaLM paper (appendix B) / nanoGPT ``estimate_mfu`` formula::

    flops_per_token = 6 * N + 12 * L * H * S

* ``6 * N``: a matmul weight of N parameters costs 2 FLOPs per token forward and 4 backward.
  N counts the weights that take part in matmuls: every transformer layer's projections plus the
  output head (``vocab * hidden``); the input-embedding lookup is not a matmul, so an UNTIED input
  embedding is left out (a tied one is counted once, as the head). RMSNorm weights are negligible
  and left out.
* ``12 * L * H * S``: attention scores ``QK^T`` and ``softmax @ V`` — 2 matmuls of ``H * S`` per
  token per layer, 2 FLOPs each forward, x3 for forward + backward, with L layers, H = heads x
  head_dim (the hidden size) and S the sequence length. As in PaLM, the causal mask's halving is not
  credited (this is the convention MFU numbers are quoted with).

``mfu = tokens_per_second * flops_per_token / peak_flops`` (e.g. 989e12 dense BF16 for an H100 SXM).
"""

from __future__ import annotations


def matmul_parameters(config) -> int:
    """N of the formula: parameters used in matmuls per token (see the module docstring)."""
    d, heads, kv = config.hidden_size, config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or d // heads
    attn = d * heads * head_dim + 2 * d * kv * head_dim + heads * head_dim * d
    mlp = 3 * d * config.intermediate_size
    return config.num_hidden_layers * (attn + mlp) + config.vocab_size * d


def attention_flops_per_token(config, seq_len: int) -> int:
    """The ``12 * L * H * S`` term: QK^T and softmax @ V, forward + backward, no causal discount."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return 12 * config.num_hidden_layers * heads * head_dim * int(seq_len)


def model_flops_per_token(config, seq_len: int) -> int:
    """Training (forward + backward) FLOPs per token: ``6 * N + 12 * L * H * S``."""
    return 6 * matmul_parameters(config) + attention_flops_per_token(config, seq_len)


def mfu(tokens_per_second: float, flops_per_token: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s over the hardware peak (a fraction, not %)."""
    if peak_flops <= 0:
        raise ValueError(f"peak_flops must be positive, got {peak_flops}")
    return float(tokens_per_second) * float(flops_per_token) / float(peak_flops)


# Dense (no sparsity) BF16 tensor-core peaks from the vendors' datasheets, FLOP/s.
PEAK_BF16_FLOPS: dict[str, float] = {
    "H200": 989e12,        # SXM
    "H100 PCIe": 756e12,
    "H100": 989e12,        # SXM; other variants (NVL, ...) differ: pass peak_flops explicitly
    "A100": 312e12,
}


def peak_flops_for(device_name: str) -> float | None:
    """Peak dense BF16 FLOP/s for a ``torch.cuda.get_device_name()`` string, or None when unknown.

    The most specific key that occurs in the name wins ("NVIDIA H100 PCIe" -> "H100 PCIe").
    """
    name = device_name.upper()
    hits = [k for k in PEAK_BF16_FLOPS if k.upper() in name]
    return PEAK_BF16_FLOPS[max(hits, key=len)] if hits else None


def throughput_report(config, seq_len: int, tokens_per_second: float, peak_flops: float | None = None) -> dict:
    """FLOPs per token, achieved model FLOP/s and MFU (None without a peak) for a benchmark record.

    ``tokens_per_second`` should count every position processed (padding included) when the point is
    hardware utilisation; with real tokens only, the number is a "useful" MFU.
    """
    per_token = model_flops_per_token(config, seq_len)
    attention = attention_flops_per_token(config, seq_len)
    achieved = float(tokens_per_second) * per_token
    return {
        "seq_len": int(seq_len), "matmul_parameters": matmul_parameters(config),
        "flops_per_token": per_token, "attention_flops_fraction": attention / per_token,
        "tokens_per_second": float(tokens_per_second), "model_flops_per_second": achieved,
        "peak_flops": peak_flops, "mfu": mfu(tokens_per_second, per_token, peak_flops) if peak_flops else None,
    }
