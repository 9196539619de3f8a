"""A tokenizer + tiny random Llama checkpoint shared by the scoring and suite tests (built once, seconds)."""

import pytest

from llm_pipeline_assets.formatters.synthetic_sft import synthetic_sft
from llm_pipeline_assets.sources.synthetic import generate_documents
from llm_pipeline_assets.tokens.tokenizer import train_bpe
from llm_pipeline_assets.training.shapes import init_base_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_model")
    texts = [d.text for d in generate_documents("w", 200, seed=1)] + \
        [m["content"] for r in synthetic_sft(200, 9) for m in r["messages"] if m["content"]]
    train_bpe(texts, 512).save_pretrained(str(root / "tok"))
    init_base_model("tiny", root / "tok", root / "model", seed=0, max_position_embeddings=256)
    return root / "model"
