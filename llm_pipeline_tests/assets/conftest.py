"""Shared by the asset tests: a short-training tiny configuration and one trained graph per session."""

import dagster as dg
import pytest

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.materialize import run
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_tests.conftest import small_config
from llm_pipeline_tests.reliability.helpers import asset_metadata  # noqa: F401  (the asset tests import it from here)

TRAINING = ("base_model", "pretrained_checkpoint", "sft_checkpoint", "dpo_checkpoint", "lora_adapter")
# A few training steps cannot meet the tiny preset's gates: the short runs use the "smoke" thresholds
# (any value passes, a missing metric still fails) with the real pretraining perplexity gate kept.
SHORT_RUN_GATES = {"gates_preset": "smoke",
                   "gate_overrides": {"pretrain_to_sft": {"perplexity": {"op": "<=", "value": 1000.0}}}}


def tiny_training_config(**overrides):
    base = dict(packing={"seq_lens": [64, 128]}, tokenizer={"vocab_size": 1024},
                pretrain={"max_steps": 24, "eval_every": 12, "save_every": 12, "micro_batch": 4, "lr": 5e-3},
                sft={"max_steps": 24, "eval_every": 12},
                dpo={"max_steps": 12, "eval_every": 12, "lr": 2e-3},
                lora={"max_steps": 12, "eval_every": 12, "examples": 120},
                eval={**SHORT_RUN_GATES, "items_per_task": 12, "max_new_tokens": 24})
    base.update(overrides)
    return small_config(**base)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(tiny_training_config(), root=str(root))
    return ArtifactStore(root=str(root)), run(defs, instance=instance, echo=lambda m: None), defs, instance
