"""Gradient accumulation weighs every target token of the step alike; grad_clip bounds the update."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from llm_pipeline_assets.training.pretrain import PretrainSettings, pretrain

from .conftest import quiet

SEQ = 128


@pytest.fixture(scope="module")
def uneven_corpus(tmp_path_factory):
    """Packed sequences whose target counts differ a lot: documents of ~60 or ~125 tokens, one per sequence."""
    from llm_pipeline_assets.config import PackingConfig
    from llm_pipeline_assets.shards import ShardWriter
    from llm_pipeline_assets.sources.synthetic import generate_documents
    from llm_pipeline_assets.tokens.pack_stage import build_packed_tokens
    from llm_pipeline_assets.tokens.tokenizer import train_bpe
    from llm_pipeline_assets.training.shapes import init_base_model

    root = tmp_path_factory.mktemp("uneven")
    docs = [d for d in generate_documents("web", 120, seed=1, corpus_seed=7) if d.label == "clean"]
    tok = train_bpe((d.text for d in docs), vocab_size=512, model_max_length=512)
    tok.save_pretrained(str(root / "tok"))
    words = " ".join(d.text for d in docs).split()
    rows, pos = [], 0
    for i in range(48):
        want = 60 if i % 3 else 125  # tokens including EOS; two short ones never share a 128-token sequence
        text = []
        while len(tok(" ".join(text + [words[pos % len(words)]]))["input_ids"]) + 1 <= want:
            text.append(words[pos % len(words)])
            pos += 1
        rows.append({"id": f"d{i}", "text": " ".join(text), "source": "web"})
    writer = ShardWriter(root / "shards", max_docs=100)
    writer.write_many(rows)
    files = writer.close()
    build_packed_tokens(files, root / "tok", root / "packed", PackingConfig(seq_lens=(SEQ,), val_fraction=0.15),
                        seed=0, log=lambda m: None)
    segments = np.load(root / "packed" / f"train-{SEQ}.segments.npy")
    used = np.bincount(segments[:, 0], weights=segments[:, 2])
    assert used.min() < 75 and used.max() > 115, used  # the premise: sequences with very unequal target counts
    init_base_model("tiny", root / "tok", root / "init", seed=0)
    return root / "packed", root / "init"


def _run(corpus, out, **kw) -> tuple[dict, list[float], dict]:
    settings = dict(max_steps=6, lr=1e-2, min_lr=1e-3, warmup_steps=1, micro_batch=4, grad_accum=1,
                    grad_clip=0.0, eval_every=0, eval_batches=1, save_every=0, log_every=100, seed=3)
    settings.update(kw)
    result = pretrain(PretrainSettings(**settings), corpus[0], corpus[1], out, log=quiet)
    losses = [r["loss"] for r in json.loads((out / "metrics.json").read_text())["history"]]
    return result, losses, load_file(str(out / "final" / "model.safetensors"))


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_two_micro_batches_equal_one_batch_of_the_same_sequences(uneven_corpus, tmp_path):
    one, losses_one, w_one = _run(uneven_corpus, tmp_path / "one", micro_batch=4, grad_accum=1)
    two, losses_two, w_two = _run(uneven_corpus, tmp_path / "two", micro_batch=2, grad_accum=2)
    assert len(losses_one) == 6 and one["tokens_seen"] == two["tokens_seen"]
    # float summation order differs; a loss normalised per micro-batch instead of per step is off by ~1e-2
    assert losses_two == pytest.approx(losses_one, abs=1e-4)
    assert _max_diff(w_one, w_two) < 1e-3


def test_grad_clip_limits_the_update(uneven_corpus, tmp_path):
    init = load_file(str(uneven_corpus[1] / "model.safetensors"))
    _, _, free = _run(uneven_corpus, tmp_path / "free", max_steps=2, grad_clip=0.0)
    _, _, clipped = _run(uneven_corpus, tmp_path / "clipped", max_steps=2, grad_clip=1e-7)
    # a gradient clipped to norm 1e-7 is below Adam's eps: the clipped run barely moves the weights
    assert _max_diff(free, clipped) > 1e-3
    assert _max_diff(clipped, init) < 0.5 * _max_diff(free, init)
