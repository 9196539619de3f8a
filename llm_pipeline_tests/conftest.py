"""Shared fixtures: offline Hugging Face, a temporary artifact store, small pipeline configs."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402

from llm_pipeline_assets.config import parse_config  # noqa: E402
from llm_pipeline_assets.resources.store import ArtifactStore  # noqa: E402


@pytest.fixture
def store(tmp_path) -> ArtifactStore:
    return ArtifactStore(root=str(tmp_path / "artifacts"))


def small_config(**overrides):
    """Two synthetic sources sharing a duplicate pool: small enough for a unit test, real work for every stage."""
    data = {
        "name": "test",
        "sources": [
            {"name": "web", "kind": "synthetic", "num_docs": 240, "seed": 1, "corpus_seed": 7},
            {"name": "news", "kind": "synthetic", "num_docs": 160, "seed": 2, "corpus_seed": 7},
        ],
        "shards": {"max_docs": 100, "read_batch_docs": 100},
        "cleaning": {"pii_check_sample": 200},
    }
    data.update(overrides)
    return parse_config(data, origin="test-config")


@pytest.fixture
def small_cfg():
    return small_config()


def build_tiny_model(root, num_docs: int, vocab_size: int, model_name: str = "model"):
    """A BPE tokenizer (web docs + synthetic chat text) and a random tiny Llama under ``root``; the model dir."""
    from pathlib import Path

    from llm_pipeline_assets.formatters.synthetic_sft import synthetic_sft
    from llm_pipeline_assets.sources.synthetic import generate_documents
    from llm_pipeline_assets.tokens.tokenizer import train_bpe
    from llm_pipeline_assets.training.shapes import init_base_model

    root = Path(root)
    texts = [d.text for d in generate_documents("w", num_docs, seed=1)] + \
        [m["content"] for r in synthetic_sft(200, 9) for m in r["messages"] if m["content"]]
    train_bpe(texts, vocab_size).save_pretrained(str(root / "tok"))
    init_base_model("tiny", root / "tok", root / model_name, seed=0, max_position_embeddings=256)
    return root / model_name
