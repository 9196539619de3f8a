"""Document masking with transformers 5.24, boundary labels, batches and the resumable data order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llm_pipeline_assets.tokens.packing import document_mask as numpy_document_mask
from llm_pipeline_assets.training.data import (CurriculumData, attention_kwargs, block_causal_mask, collate,
                                               count_targets, document_labels, eval_indices, micro_batches,
                                               model_inputs, open_split, token_loss_sum)
from llm_pipeline_assets.training.shapes import llama_config

from .conftest import SEQ_LENS


def _model(implementation: str):
    """A tiny Llama with large random weights, so cross-document attention changes the logits a lot."""
    from transformers import LlamaForCausalLM

    config = llama_config("tiny", 512)
    config._attn_implementation = implementation
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                p.normal_(0.0, 0.3)
    return model


def _packed_row():
    """Two documents (7 and 9 tokens) and 4 pad tokens in one row of 20."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(3, 512, (7,), generator=g), torch.randint(3, 512, (9,), generator=g)
    row = torch.cat([a, b, torch.full((4,), 2)])[None]
    seg = torch.tensor([[0] * 7 + [1] * 9 + [-1] * 4])
    pos = torch.cat([torch.arange(7), torch.arange(9), torch.arange(4)])[None]
    return a, b, row, seg, pos


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_second_document_sees_only_itself(implementation):
    model = _model(implementation)
    a, b, row, seg, pos = _packed_row()
    with torch.no_grad():
        alone_b = model(input_ids=b[None]).logits[0]
        alone_a = model(input_ids=a[None]).logits[0]
        packed = model(input_ids=row, use_cache=False, **attention_kwargs(seg, pos, implementation)).logits[0]
        leaky = model(input_ids=row, position_ids=pos, attention_mask=torch.ones_like(row)).logits[0]
        default_cache = model(input_ids=row, position_ids=pos).logits[0]  # no mask, use_cache=True
    assert (packed[7:16] - alone_b).abs().max() < 1e-4
    assert (packed[:7] - alone_a).abs().max() < 1e-4
    assert (leaky[7:16] - alone_b).abs().max() > 1e-1  # without the mask document 2 attends to document 1
    assert (default_cache[7:16] - alone_b).abs().max() > 1e-1  # restarting positions alone are not enough


def test_mask_forms_per_implementation():
    _, _, _, seg, pos = _packed_row()
    sdpa = attention_kwargs(seg, pos, "sdpa")
    assert sdpa["attention_mask"].dtype == torch.bool and sdpa["attention_mask"].shape == (1, 1, 20, 20)
    eager = attention_kwargs(seg, pos, "eager")["attention_mask"]
    assert eager.dtype == torch.float32
    assert torch.equal(eager == 0, sdpa["attention_mask"]) and eager.min() == torch.finfo(torch.float32).min
    flash = attention_kwargs(seg, pos, "flash_attention_2")  # varlen sequences (test_flash_varlen.py)
    assert flash["cu_seq_lens_q"].tolist() == [0, 7, 16, 20] and flash["max_length_q"] == 9
    with pytest.raises(ValueError, match="no document masking"):
        attention_kwargs(seg, pos, "paged_attention")


def test_flex_block_mask_is_the_same_rule_and_attends_like_sdpa():
    """The BlockMask's mask_mod gives block_causal_mask exactly; torch's (eager) flex_attention under it
    computes what SDPA computes under the boolean mask (the CUDA model-level check is in tests/gpu)."""
    from torch.nn.attention.flex_attention import create_mask, flex_attention

    seg = torch.tensor([[0] * 50 + [1] * 60 + [2] * 100 + [-1] * 46, [0] * 256])
    pos = torch.arange(256).repeat(2, 1)
    block = attention_kwargs(seg, pos, "flex_attention")["attention_mask"]
    dense = create_mask(block.mask_mod, 2, 1, 256, 256, device="cpu")
    assert torch.equal(dense, block_causal_mask(seg))
    assert block.shape[-2:] == (256, 256)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 256, 16, generator=g) for _ in range(3))
    out = flex_attention(q, k, v, block_mask=block)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=block_causal_mask(seg))
    assert (out - ref).abs().max() < 1e-5


def test_mask_matches_the_numpy_packing_helper(packed_corpus):
    packed = open_split(packed_corpus.packed_dir, "train", SEQ_LENS[0])
    rows = [i for i in range(len(packed)) if len(packed.sequence_segments(i)) > 1][:4]
    assert rows, "the fixture should pack several documents into a row"
    batch = collate(packed, rows)
    mask = block_causal_mask(batch["segment_ids"])
    for k, i in enumerate(rows):
        expected = numpy_document_mask(packed.sequence_segments(i), packed.seq_len)
        np.testing.assert_array_equal(mask[k, 0].numpy(), expected)
        assert mask[k, 0].any(dim=-1).all()  # no query row is empty (padding attends padding)


def test_labels_mask_padding_and_document_starts():
    ids = torch.tensor([[10, 11, 12, 20, 21, 30, 31, 2]])
    seg = torch.tensor([[0, 0, 0, 1, 1, 2, 2, -1]])
    labels = document_labels(ids, seg)
    assert labels.tolist() == [[10, 11, 12, -100, 21, -100, 31, -100]]
    assert count_targets(labels) == 4  # position 0 is never a target (the model shifts)
    logits = torch.randn(1, 8, 40)
    expected = torch.nn.functional.cross_entropy(logits[0, [0, 1, 3, 5]], torch.tensor([11, 12, 21, 31]),
                                                 reduction="sum")
    assert torch.allclose(token_loss_sum(logits, labels), expected)


def test_batches_carry_boundary_labels_and_masks(packed_corpus):
    packed = open_split(packed_corpus.packed_dir, "train", SEQ_LENS[0])
    batches = micro_batches(packed, [0, 1, 2, 3, 4], micro_batch=2)
    assert [b["input_ids"].shape[0] for b in batches] == [2, 2, 1]
    for b in batches:
        seg, labels = b["segment_ids"], b["labels"]
        starts = torch.zeros_like(seg, dtype=torch.bool)
        starts[:, 1:] = seg[:, 1:] != seg[:, :-1]
        assert (labels[starts] == -100).all() and (labels[seg < 0] == -100).all()
        keep = ~starts & (seg >= 0)
        assert torch.equal(labels[keep], b["input_ids"][keep])
        assert b["targets"] == count_targets(labels) and b["tokens"] == int((seg >= 0).sum())
        inputs = model_inputs(b, "cpu", "sdpa", torch.float32)
        assert inputs["use_cache"] is False and inputs["attention_mask"].shape[-1] == SEQ_LENS[0]
    assert open_split(packed_corpus.packed_dir, "test", SEQ_LENS[0]) is None
    assert len(eval_indices(packed, 10**6)) == len(packed) == len(set(eval_indices(packed, len(packed))))
    # spread over the split, both ends included (the first ones are the long documents' chunks under BFD packing)
    picked = eval_indices(packed, 5)
    assert picked[0] == 0 and picked[-1] == len(packed) - 1 and picked == sorted(set(picked)) and len(picked) == 5


def test_data_order_is_a_seeded_permutation_per_epoch(packed_corpus):
    data = CurriculumData(packed_corpus.packed_dir, list(SEQ_LENS), seed=3)
    n = len(data.sets[128])
    first = data.take(128, n)
    assert sorted(first) == list(range(n)) and first != list(range(n))
    assert data.position[128] == {"epoch": 1, "cursor": 0}
    second = data.take(128, n)
    assert sorted(second) == list(range(n)) and second != first  # a fresh order each epoch
    assert data.position[64] == {"epoch": 0, "cursor": 0}  # lengths are independent
    again = CurriculumData(packed_corpus.packed_dir, list(SEQ_LENS), seed=3)
    assert again.take(128, n) == first
    assert CurriculumData(packed_corpus.packed_dir, list(SEQ_LENS), seed=4).take(128, n) != first


def test_data_position_resumes_exactly(packed_corpus):
    ref = CurriculumData(packed_corpus.packed_dir, list(SEQ_LENS), seed=0)
    n = len(ref.sets[64])
    expected = [ref.take(64, 48) for _ in range(n // 48 + 3)]  # crosses an epoch boundary
    run = CurriculumData(packed_corpus.packed_dir, list(SEQ_LENS), seed=0)
    got = [run.take(64, 48) for _ in range(n // 48)]
    state = run.state_dict()
    resumed = CurriculumData(packed_corpus.packed_dir, list(SEQ_LENS), seed=0)
    resumed.load_state_dict(state)
    got += [resumed.take(64, 48) for _ in range(3)]
    assert got == expected
    with pytest.raises(ValueError, match="seed"):
        CurriculumData(packed_corpus.packed_dir, list(SEQ_LENS), seed=1).load_state_dict(state)
    with pytest.raises(FileNotFoundError, match="no packed train sequences of length 96"):
        CurriculumData(packed_corpus.packed_dir, [96], seed=0)
