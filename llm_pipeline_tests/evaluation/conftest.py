"""A tokenizer + tiny random Llama checkpoint shared by the scoring and suite tests (built once, seconds)."""

import pytest

from llm_pipeline_tests.conftest import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("eval_model"), num_docs=200, vocab_size=512)
