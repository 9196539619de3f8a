"""The fine-tuning tests' tiny base model (one per test module) and synthetic conversations."""

import pytest

from llm_pipeline_assets.formatters.synthetic_sft import synthetic_sft
from llm_pipeline_tests.conftest import build_tiny_model


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("ft"), num_docs=300, vocab_size=1024, model_name="base").parent


def conversations(n, seed):
    return [r["messages"] for r in synthetic_sft(n, seed)]
