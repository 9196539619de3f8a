"""Code versions follow the settings that shape each asset: editing one stage's settings marks exactly that
asset changed (Dagster then flags its downstream assets as stale through lineage); run-only knobs change nothing."""

import pytest

from llm_pipeline_tests.conftest import small_config
from llm_pipeline_tests.orchestration.test_asset_definitions import default, versions  # noqa: F401 (fixture)


@pytest.mark.parametrize("overrides, stale", [
    ({"packing": {"strategy": "concat"}}, {"packed_tokens"}),
    ({"pretrain": {"lr": 1e-3}}, {"pretrained_checkpoint"}),
    ({"dedup": {"threshold": 0.7}}, {"dedup_index"}),
    ({"sft": {"lr": 5e-5}}, {"sft_checkpoint"}),
    ({"dpo": {"beta": 0.2}}, {"dpo_checkpoint"}),
    # knobs that do not change what is produced
    ({"dedup": {"batch_docs": 1234, "workers": 1}}, set()),
    ({"sft": {"save_every": 7}}, set()),
    ({"pretrain": {"lr": small_config().pretrain.lr}}, set()),
])
def test_a_stage_setting_changes_exactly_that_stages_code_version(default, overrides, stale):
    changed = versions(**overrides)
    assert set(changed) == set(default)
    assert {key for key in default if changed[key] != default[key]} == stale
