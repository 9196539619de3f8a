"""``flash_attention_2`` keeps attention inside documents for a micro-batch of several packed rows.

flash-attn needs CUDA, so its two kernels are replaced by exact CPU equivalents (causal SDPA on the whole row /
on each variable-length sequence) underneath transformers' own flash path (``_flash_attention_forward``: the
code that decides between the plain and the varlen kernel is the real one). The model receives what the
pretraining loop gives it (``data.model_inputs``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llm_pipeline_assets.training.data import attention_kwargs, model_inputs
from llm_pipeline_tests.training.test_attention import _model

LENGTH = 24


def _sdpa_causal(q, k, v, scale):
    """(B, L, H, D) causal attention, grouped-query heads expanded."""
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    k, v = (t.repeat_interleave(q.shape[1] // t.shape[1], dim=1) for t in (k, v))
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale).transpose(1, 2)


def fake_flash(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False):
    assert causal
    return _sdpa_causal(q, k, v, softmax_scale)


def fake_flash_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p=0.0,
                      softmax_scale=None, causal=False):
    assert causal and torch.equal(cu_seqlens_q, cu_seqlens_k) and max_seqlen_q == max_seqlen_k
    bounds = cu_seqlens_q.tolist()
    assert bounds[0] == 0 and bounds[-1] == q.shape[0]
    assert max_seqlen_q == max(b - a for a, b in zip(bounds[:-1], bounds[1:]))
    out = torch.empty_like(q)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        out[lo:hi] = _sdpa_causal(q[None, lo:hi], k[None, lo:hi], v[None, lo:hi], softmax_scale)[0]
    return out


def _use_fake_flash(monkeypatch):
    from transformers import modeling_flash_attention_utils as fa

    def lazy_imports(implementation, attention_wrapper=None, allow_all_kernels=False):
        assert implementation == "flash_attention_2"
        return fake_flash, fake_flash_varlen, None, fa._pad_input, fa._unpad_input

    monkeypatch.setattr(fa, "_lazy_imports", lazy_imports)
    monkeypatch.setattr(fa, "_loaded_implementation", None)


def _batch():
    """Two rows of 24 tokens: documents of 5, 11, 8 and of 13, 7 + 4 padding."""
    g = torch.Generator().manual_seed(1)
    seg = torch.tensor([[0] * 5 + [1] * 11 + [2] * 8, [0] * 13 + [1] * 7 + [-1] * 4])
    pos = torch.zeros_like(seg)
    for r in range(2):
        for s in seg[r].unique():
            where = seg[r] == s
            pos[r, where] = torch.arange(int(where.sum()))
    ids = torch.randint(3, 512, (2, LENGTH), generator=g)
    return {"input_ids": ids, "segment_ids": seg, "position_ids": pos}


def test_several_rows_attend_within_documents_like_the_sdpa_mask(monkeypatch):
    _use_fake_flash(monkeypatch)
    batch = _batch()
    model = _model("sdpa")
    with torch.no_grad():
        ref = model(input_ids=batch["input_ids"], use_cache=False,
                    **attention_kwargs(batch["segment_ids"], batch["position_ids"], "sdpa")).logits
        model.config._attn_implementation = "flash_attention_2"
        got = model(**model_inputs(batch, "cpu", "flash_attention_2", torch.float32)).logits
        # the earlier inputs: restarting position ids only; transformers infers documents from them for ONE row
        positions_only = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        one_row = model(input_ids=batch["input_ids"][:1], position_ids=batch["position_ids"][:1],
                        use_cache=False).logits
    real = batch["segment_ids"] >= 0  # padding attends earlier padding: not compared
    assert (got - ref)[real].abs().max() < 1e-4
    assert (one_row[0] - ref[0]).abs().max() < 1e-4
    assert (positions_only - ref)[real].abs().max() > 1e-1  # several rows: documents attended to each other


def test_attention_kwargs_give_flash_the_same_sequences():
    batch = _batch()
    kwargs = attention_kwargs(batch["segment_ids"], batch["position_ids"], "flash_attention_2")
    assert kwargs["cu_seq_lens_q"].tolist() == [0, 5, 16, 24, 37, 44, 48]
    assert kwargs["max_length_q"] == 13 and torch.equal(kwargs["position_ids"], batch["position_ids"])
    assert kwargs["cu_seq_lens_k"] is kwargs["cu_seq_lens_q"]
