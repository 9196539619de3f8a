"""packed_problems (the packed_tokens blocking checks): a real packed folder passes, each corruption is reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llm_pipeline_assets.config import PackingConfig
from llm_pipeline_assets.shards import ShardWriter
from llm_pipeline_assets.sources.synthetic import generate_documents
from llm_pipeline_assets.tokens.pack_stage import build_packed_tokens
from llm_pipeline_assets.tokens.tokenizer import train_bpe
from llm_pipeline_assets.tokens.verify import packed_problems

SEQ_LENS = (64, 128)


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("packed")
    docs = [d for d in generate_documents("web", 120, seed=1, corpus_seed=7) if d.label == "clean"]
    writer = ShardWriter(root / "shards", max_docs=50)
    writer.write_many({"id": d.id, "text": d.text, "source": d.source} for d in docs)
    files = writer.close()
    tok = train_bpe((d.text for d in docs), vocab_size=400, model_max_length=512)
    tok.save_pretrained(str(root / "tok"))
    build_packed_tokens(files, root / "tok", root / "packed", PackingConfig(seq_lens=SEQ_LENS, val_fraction=0.2),
                        seed=0, log=lambda m: None)
    return root / "packed", int(tok.eos_token_id)


def _copy(packed_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(packed_dir, out)
    return out


def _only(problems: dict, name: str) -> None:
    assert problems[name], problems
    assert all(not v for k, v in problems.items() if k != name), problems


def test_a_freshly_packed_folder_has_no_problems(packed):
    out, eos = packed
    index = json.loads((out / "index.json").read_text())
    assert set(index["streams"]) == {"train", "val"}
    assert packed_problems(out, eos) == {"no_tokens_dropped": [], "eos_between_documents": [], "splits_disjoint": []}


def test_a_document_whose_final_eos_was_overwritten_is_reported(packed, tmp_path):
    out, eos = _copy(packed[0], tmp_path), packed[1]
    meta = json.loads((out / "train.json").read_text())
    offsets = np.load(out / "train.docs.npy")
    tokens = np.memmap(out / "train.bin", dtype=np.dtype(meta["dtype"]), mode="r+")
    last = int(offsets[3]) - 1  # the final token of the third document
    assert tokens[last] == eos
    tokens[last] = eos + 1 if eos + 1 < meta["vocab_size"] else eos - 1
    tokens.flush()
    del tokens
    problems = packed_problems(out, eos)
    _only(problems, "eos_between_documents")
    assert any(p.startswith("train") for p in problems["eos_between_documents"])


@pytest.mark.parametrize("how", ["drop_row", "truncated"])
def test_a_packed_length_that_lost_tokens_is_reported(packed, tmp_path, how):
    out, eos = _copy(packed[0], tmp_path), packed[1]
    L = SEQ_LENS[-1]
    if how == "drop_row":
        segments = np.load(out / f"train-{L}.segments.npy")
        assert len(segments) > 1
        np.save(out / f"train-{L}.segments.npy", segments[1:])
    else:
        info_path = out / f"train-{L}.json"
        info = json.loads(info_path.read_text())
        info["truncated_tokens"] = 5
        info_path.write_text(json.dumps(info))
    problems = packed_problems(out, eos)
    _only(problems, "no_tokens_dropped")
    assert any(f"train@{L}" in p for p in problems["no_tokens_dropped"]), problems


def test_a_document_in_both_splits_is_reported(packed, tmp_path):
    out, eos = _copy(packed[0], tmp_path), packed[1]
    train = pq.read_table(out / "train-documents.parquet")
    val = pq.read_table(out / "val-documents.parquet")
    assert train.num_rows and val.num_rows
    leaked = pa.concat_tables([val, train.slice(0, 1).cast(val.schema)])  # a train document also in val
    pq.write_table(leaked, out / "val-documents.parquet")
    problems = packed_problems(out, eos)
    _only(problems, "splits_disjoint")
    assert "1 documents in both splits" in problems["splits_disjoint"][0]

