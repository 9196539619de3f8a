"""Llama model shapes, their ``LlamaConfig`` and a randomly initialised base model on disk.

transformers/torch are imported inside the functions: the module itself is torch-free.
"""

from __future__ import annotations

import json
from pathlib import Path

VOCAB_MULTIPLE = 64

# hidden, layers, heads, kv heads, FFN, context, tied input/output embeddings. "tiny" is untied: at
# hidden 64 a tied embedding makes the direct embed->unembed path symmetric and the model sits on the
# unigram plateau far longer (measured: 60 steps reach 0.82x the initial loss tied, 0.75x untied).
# "mini" (4 x 128, 1.8M parameters) is the tiny preset's model; "tiny" (2 x 64) serves unit tests. At 2 x 64 the
# SFT model's valid tool-call JSON depended on the data seed (0.79 / 0.13 / 0.21 over SFT seeds 0, 1, 2: the
# tiny gates passed on the default seed only); at 4 x 128 0.79 / 0.79 / 0.96, for 1.4x the SFT time on 2 cores.
MODEL_SHAPES: dict[str, dict] = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=172, max_position_embeddings=512, tie_word_embeddings=False),
    "mini": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=344, max_position_embeddings=512, tie_word_embeddings=False),
    "124m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=12,
                 intermediate_size=2048, max_position_embeddings=2048, tie_word_embeddings=True),
    "350m": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=16,
                 intermediate_size=2816, max_position_embeddings=2048, tie_word_embeddings=True),
    "1b": dict(hidden_size=2048, num_hidden_layers=24, num_attention_heads=16, num_key_value_heads=4,
               intermediate_size=5504, max_position_embeddings=4096, tie_word_embeddings=True),
    "3b": dict(hidden_size=3072, num_hidden_layers=26, num_attention_heads=24, num_key_value_heads=8,
               intermediate_size=8192, max_position_embeddings=4096, tie_word_embeddings=True),
    "7b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=11008, max_position_embeddings=4096, tie_word_embeddings=False),
}


def padded_vocab_size(vocab_size: int, multiple: int = VOCAB_MULTIPLE) -> int:
    """``vocab_size`` rounded UP to a multiple of ``multiple`` (tensor-core friendly embedding/lm_head)."""
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    return -(-int(vocab_size) // multiple) * multiple


def _shape(shape: str) -> dict:
    if shape not in MODEL_SHAPES:
        raise ValueError(f"unknown model shape {shape!r}; expected one of {sorted(MODEL_SHAPES)}")
    return dict(MODEL_SHAPES[shape])


def llama_config(shape: str, vocab_size: int, max_position_embeddings: int | None = None,
                 tie_word_embeddings: bool | None = None, bos_token_id: int | None = None,
                 eos_token_id: int | list[int] | None = None, pad_token_id: int | None = None):
    """A ``transformers.LlamaConfig`` for ``shape`` with the vocabulary padded up to a multiple of 64.

    RMSNorm eps 1e-5, RoPE theta 10000, SiLU MLP, no dropout, no biases, init std 0.02.
    """
    from transformers import LlamaConfig

    spec = _shape(shape)
    if max_position_embeddings is not None:
        spec["max_position_embeddings"] = int(max_position_embeddings)
    if tie_word_embeddings is not None:
        spec["tie_word_embeddings"] = bool(tie_word_embeddings)
    return LlamaConfig(
        vocab_size=padded_vocab_size(vocab_size), hidden_act="silu", rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, attention_dropout=0.0,
        attention_bias=False, mlp_bias=False, initializer_range=0.02, use_cache=True,
        bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id, **spec)


def count_parameters(model_or_config) -> int:
    """Unique parameters of a module (tied weights once), or the same number computed from a LlamaConfig."""
    if hasattr(model_or_config, "parameters"):
        return sum(p.numel() for p in model_or_config.parameters())  # parameters() yields a tied tensor once
    c = model_or_config
    d, heads, kv = c.hidden_size, c.num_attention_heads, c.num_key_value_heads
    head_dim = getattr(c, "head_dim", None) or d // heads
    attn = d * heads * head_dim + 2 * d * kv * head_dim + heads * head_dim * d
    mlp = 3 * d * c.intermediate_size
    per_layer = attn + mlp + 2 * d  # two RMSNorm weights
    embed = c.vocab_size * d
    head = 0 if c.tie_word_embeddings else c.vocab_size * d
    return c.num_hidden_layers * per_layer + d + embed + head


def generation_config_for(tokenizer, vocab_size: int | None = None):
    """GenerationConfig stopping at EOS and at the token that ends an assistant turn in the chat template (``<|end|>``
    in ours, an adopted template's own otherwise). Ids of a vocabulary padded past the tokenizer (``vocab_size``)
    are suppressed: they decode to nothing, and an untrained or lightly trained model can sample them."""
    from transformers import GenerationConfig

    from llm_pipeline_assets.tokens.specials import end_of_turn

    eos = [tokenizer.eos_token_id]
    marker = end_of_turn(tokenizer)
    end = tokenizer.convert_tokens_to_ids(marker) if marker is not None else None
    if end is not None and end not in eos:
        eos.append(end)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    padded = list(range(len(tokenizer), vocab_size)) if vocab_size and vocab_size > len(tokenizer) else None
    return GenerationConfig(eos_token_id=eos, pad_token_id=pad, bos_token_id=tokenizer.bos_token_id,
                            suppress_tokens=padded)


def init_base_model(shape: str, tokenizer_dir: Path, out_dir: Path, seed: int,
                    max_position_embeddings: int | None = None) -> dict:
    """Randomly initialised ``LlamaForCausalLM`` + tokenizer + generation config in ``out_dir`` (safetensors).

    Deterministic: ``torch.manual_seed(seed)`` precedes construction, so the same arguments give the
    same tensors (and the same safetensors bytes). Both ``AutoModelForCausalLM.from_pretrained`` and
    ``AutoTokenizer.from_pretrained`` load ``out_dir`` offline.
    """
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"tokenizer at {tokenizer_dir} has no eos token")
    vocab = len(tokenizer)
    gen = generation_config_for(tokenizer, padded_vocab_size(vocab))
    config = llama_config(shape, vocab, max_position_embeddings, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=gen.eos_token_id, pad_token_id=gen.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = gen
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.model_max_length = config.max_position_embeddings  # the model's context, not the tokenizer's default
    tokenizer.save_pretrained(str(out_dir))
    info = {
        "shape": shape, "seed": int(seed), "parameters": count_parameters(model),
        "non_embedding_parameters": count_parameters(model) - model.get_input_embeddings().weight.numel(),
        "vocab_size": vocab, "padded_vocab_size": config.vocab_size,
        "max_position_embeddings": config.max_position_embeddings, "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers, "tie_word_embeddings": config.tie_word_embeddings,
        "eos_token_id": gen.eos_token_id, "pad_token_id": gen.pad_token_id, "out_dir": str(out_dir),
    }
    (out_dir / "init_info.json").write_text(json.dumps(info, indent=1, sort_keys=True))
    return info
