"""Shared fixtures: a tiny tokenizer + packed tokens built from ~200 synthetic documents, a tiny base model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from llm_pipeline_tests.torch_threads import one_torch_thread  # noqa: E402,F401

SEQ_LENS = (64, 128)
VOCAB = 512


@dataclass(frozen=True)
class Corpus:
    tokenizer_dir: Path
    packed_dir: Path
    init_dir: Path
    init_info: dict


def build_corpus(root: Path, num_docs: int = 200) -> Corpus:
    from llm_pipeline_assets.config import PackingConfig
    from llm_pipeline_assets.shards import ShardWriter
    from llm_pipeline_assets.sources.synthetic import generate_documents
    from llm_pipeline_assets.tokens.pack_stage import build_packed_tokens
    from llm_pipeline_assets.tokens.tokenizer import train_bpe
    from llm_pipeline_assets.training.shapes import init_base_model

    docs = [d for d in generate_documents("web", num_docs, seed=1, corpus_seed=7) if d.label == "clean"]
    writer = ShardWriter(root / "shards", max_docs=100)
    writer.write_many({"id": d.id, "text": d.text, "source": d.source} for d in docs)
    files = writer.close()
    tok = train_bpe((d.text for d in docs), vocab_size=VOCAB, model_max_length=512)
    tok.save_pretrained(str(root / "tokenizer"))
    build_packed_tokens(files, root / "tokenizer", root / "packed",
                        PackingConfig(seq_lens=SEQ_LENS, val_fraction=0.1), seed=0, log=lambda m: None)
    info = init_base_model("tiny", root / "tokenizer", root / "init", seed=0)
    return Corpus(root / "tokenizer", root / "packed", root / "init", info)


@pytest.fixture(scope="session", autouse=True)
def _training_on_one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="session")
def packed_corpus(tmp_path_factory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("packed_corpus"))


def quiet(message: str) -> None:
    """A log sink for tests (keeps pytest output short)."""
