"""torch_varlen document attention (cu_seqlens + FlashAttention varlen; CPU: per-sequence SDPA) and the
bf16 residual stream, driven through the loop's own model inputs and pretrain()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from llm_pipeline_assets.training import varlen
from llm_pipeline_assets.training.data import attention_kwargs, block_causal_mask, model_inputs
from llm_pipeline_assets.training.pretrain import PretrainSettings, pretrain
from llm_pipeline_tests.training.conftest import quiet
from llm_pipeline_tests.training.test_attention import _model, _packed_row

SETTINGS = {"max_steps": 3, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 1, "micro_batch": 4, "grad_accum": 1,
            "curriculum": [[64, 3]], "eval_every": 0, "eval_batches": 1, "save_every": 0, "seed": 0}


def test_cu_seqlens_are_the_runs_of_each_row():
    seg = torch.tensor([[0, 0, 0, 1, 1, -1], [0, 0, 0, 0, 0, 0], [3, 3, 4, 4, 4, 4]])
    cu, longest = varlen.cu_seqlens(seg)
    assert cu.dtype == torch.int32
    assert cu.tolist() == [0, 3, 5, 6, 12, 14, 18]  # a row never continues into the next; padding is its own run
    assert longest == 6


def test_cu_seqlens_give_the_block_causal_rule():
    """Attending causally inside each run is block_causal_mask, token pair by token pair."""
    g = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(3):
        cuts = sorted(torch.randint(1, 40, (3,), generator=g).tolist())
        ids = torch.zeros(40, dtype=torch.long)
        for k, c in enumerate(cuts):
            ids[c:] = k + 1
        ids[36:] = -1
        rows.append(ids)
    seg = torch.stack(rows)
    cu, _ = varlen.cu_seqlens(seg)
    run = torch.zeros(seg.numel(), dtype=torch.long)
    run[cu[1:-1].long()] = 1
    run = run.cumsum(0).reshape(seg.shape)
    rule = (run[:, :, None] == run[:, None, :]) & torch.ones(40, 40, dtype=torch.bool).tril()
    assert torch.equal(rule[:, None], block_causal_mask(seg))


def test_varlen_model_attends_within_documents_like_the_sdpa_mask():
    varlen.register()
    model = _model("sdpa")
    a, b, row, seg, pos = _packed_row()
    batch = {"input_ids": row, "segment_ids": seg, "position_ids": pos}
    with torch.no_grad():
        ref = model(input_ids=row, use_cache=False, **attention_kwargs(seg, pos, "sdpa")).logits[0]
        alone_b = model(input_ids=b[None]).logits[0]
        model.set_attn_implementation(varlen.NAME)
        packed = model(**model_inputs(batch, "cpu", varlen.NAME, torch.float32)).logits[0]
    assert (packed - ref).abs().max() < 1e-4
    assert (packed[7:16] - alone_b).abs().max() < 1e-4
    with pytest.raises(ValueError, match="doc_cu_seqlens"):
        model(input_ids=row, position_ids=pos, use_cache=False)


def test_kernel_arguments_follow_the_installed_signature():
    def old(q, k, v, cu_q, cu_k, max_q, max_k, is_causal=False, return_aux=None):
        pass

    def new(q, k, v, cu_q, cu_k, max_q, max_k, *, return_aux=None, scale=None, window_size=(-1, -1)):
        pass

    assert varlen._kernel_kwargs(old, 64 ** -0.5, 64) == {"is_causal": True}
    assert varlen._kernel_kwargs(new, 0.2, 64) == {"window_size": (-1, 0), "scale": 0.2}
    with pytest.raises(ValueError, match="no scale argument"):
        varlen._kernel_kwargs(old, 0.2, 64)


def _losses(packed_corpus, tmp_path, name, **overrides):
    summary = pretrain(PretrainSettings(**{**SETTINGS, **overrides}), packed_corpus.packed_dir,
                       packed_corpus.init_dir, tmp_path / name, log=quiet)
    return [h["loss"] for h in json.loads(Path(summary["metrics_path"]).read_text())["history"]]


def test_pretraining_with_torch_varlen_matches_the_sdpa_mask(packed_corpus, tmp_path):
    sdpa = _losses(packed_corpus, tmp_path, "sdpa")
    ours = _losses(packed_corpus, tmp_path, "varlen", attn_implementation=varlen.NAME)
    assert ours == pytest.approx(sdpa, rel=1e-5) and ours[-1] < ours[0]


def test_bf16_residual_stream(packed_corpus, tmp_path, monkeypatch):
    """residual_dtype=bfloat16: the decoder layers receive bf16 hidden states, and training stays on course."""
    from llm_pipeline_assets.training import loop

    seen = []
    original = loop.load_model

    def spying(settings, path):
        model = original(settings, path)
        model.model.layers[1].register_forward_pre_hook(lambda m, args, kwargs: seen.append(args[0].dtype),
                                                        with_kwargs=True)
        return model

    monkeypatch.setattr(loop, "load_model", spying)
    wide = _losses(packed_corpus, tmp_path, "fp32", dtype="bfloat16")
    assert set(seen) == {torch.float32}  # autocast alone keeps the residual stream in fp32
    seen.clear()
    narrow = _losses(packed_corpus, tmp_path, "bf16", dtype="bfloat16", residual_dtype="bfloat16")
    assert set(seen) == {torch.bfloat16}
    assert narrow == pytest.approx(wide, rel=2e-2) and narrow[-1] < narrow[0]
    with pytest.raises(ValueError, match="residual_dtype"):
        PretrainSettings(**SETTINGS, residual_dtype="bfloat16")  # needs bf16 autocast
    with pytest.raises(ValueError, match="liger_kernels are Triton kernels"):
        PretrainSettings(**SETTINGS, liger_kernels=True)  # device cpu
