"""Fused projections for Llama pretraining: one GEMM for q/k/v and one for gate/up (``compute.fuse_projections``).

A transformers Llama layer runs three GEMMs on the same input for q, k and v, and two for gate and up. In
the backward pass each of them writes its own input gradient, which autograd then adds up: at 124m (hidden
768, 32 x 1024 tokens) that is 3 extra full-width tensors written and summed per layer. Fused, the layer
concatenates the weights (a few MB, once per forward) and runs one GEMM with the summed width, whose input
gradient is a single GEMM too; on small widths the wider GEMM also runs closer to the tensor cores' peak.

Nothing about the model changes: the parameters stay ``q_proj.weight`` ... ``up_proj.weight`` (checkpoints
are the Hugging Face layout ``from_pretrained`` loads), and the results are those of the unfused layers up
to float summation order (tests compare logits, gradients and training losses). Only the ``forward`` of
each attention / MLP instance is replaced; a model whose projections are not plain ``nn.Linear`` (FP8's
``Float8Linear``, PEFT's LoRA layers) is left alone, so FP8 and LoRA keep their own kernels.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F

_CACHE_KWARGS = ("past_key_values", "cache", "cache_position")


def _fused_linear(x: torch.Tensor, layers) -> list:
    """``[layer(x) for layer in layers]`` as one GEMM over the concatenated weights (and biases)."""
    weight = torch.cat([layer.weight for layer in layers])
    bias = None if layers[0].bias is None else torch.cat([layer.bias for layer in layers])
    return list(F.linear(x, weight, bias).split([layer.out_features for layer in layers], dim=-1))


def _attention_forward(self, hidden_states, position_embeddings=None, attention_mask=None, **kwargs):
    """``LlamaAttention.forward`` for training (no KV cache) with q/k/v from one GEMM."""
    from transformers.models.llama import modeling_llama

    for name in _CACHE_KWARGS:
        if kwargs.pop(name, None) is not None and name != "cache_position":
            raise RuntimeError("fused projections are a training path: they take no KV cache (use_cache=False)")
    input_shape = hidden_states.shape[:-1]
    hidden_shape = (*input_shape, -1, self.head_dim)
    query, key, value = (t.view(hidden_shape).transpose(1, 2) for t in
                         _fused_linear(hidden_states, (self.q_proj, self.k_proj, self.v_proj)))
    cos, sin = position_embeddings
    query, key = modeling_llama.apply_rotary_pos_emb(query, key, cos, sin)
    implementation = self.config._attn_implementation
    attend = (modeling_llama.eager_attention_forward if implementation == "eager"
              else modeling_llama.ALL_ATTENTION_FUNCTIONS[implementation])
    out, weights = attend(self, query, key, value, attention_mask,
                          dropout=0.0 if not self.training else self.attention_dropout, scaling=self.scaling, **kwargs)
    return self.o_proj(out.reshape(*input_shape, -1).contiguous()), weights


def _mlp_forward(self, x):
    """``LlamaMLP.forward`` with gate and up from one GEMM."""
    gate, up = _fused_linear(x, (self.gate_proj, self.up_proj))
    return self.down_proj(self.act_fn(gate) * up)


def _plain(*layers) -> bool:
    return all(type(layer) is torch.nn.Linear for layer in layers)


def fuse_projections(model) -> int:
    """Give every decoder layer of a transformers Llama fused q/k/v and gate/up GEMMs; returns how many
    attention + MLP modules were changed (0: not a Llama, or its projections are not plain Linear layers)."""
    if getattr(getattr(model, "config", None), "model_type", None) != "llama":
        return 0
    changed = 0
    for layer in getattr(getattr(model, "model", None), "layers", []):
        attn, mlp = layer.self_attn, layer.mlp
        if _plain(attn.q_proj, attn.k_proj, attn.v_proj):
            attn.forward = types.MethodType(_attention_forward, attn)
            changed += 1
        if _plain(mlp.gate_proj, mlp.up_proj):
            mlp.forward = types.MethodType(_mlp_forward, mlp)
            changed += 1
    return changed
