"""What the asset definitions tell Dagster: code versions that follow the settings shaping an asset's output (so
the UI marks the right assets stale), pools, and run time limits."""

import dagster as dg
import pytest

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_tests.conftest import small_config

SOURCES = small_config().model_dump(mode="json")["sources"]


def versions(**overrides) -> dict[str, str]:
    graph = build_definitions(small_config(**overrides), root="/tmp/unused-root").resolve_asset_graph()
    return {key.to_user_string(): graph.get(key).code_version for key in graph.materializable_asset_keys}


@pytest.fixture(scope="module")
def default():
    return versions()


@pytest.mark.parametrize("overrides, stale", [
    # an edited source re-ingests (a new num_docs, path, dataset or max_samples is new data)
    ({"sources": [{**SOURCES[0], "num_docs": 500}, SOURCES[1]]}, {"raw_corpus"}),
    # a removed source: the other sources' deduped shards lose the verdicts against it (they showed fresh)
    ({"sources": [SOURCES[1]]}, {"raw_corpus", "dedup_index", "deduped_shards", "tokenizer", "packed_tokens"}),
    # the held-out sets, and so every gate that reads them, follow the evaluation settings
    ({"eval": {"items_per_task": 12}}, {"eval_sets", "eval_report"}),
    ({"eval": {"seed": 8}}, {"eval_sets", "eval_report"}),
    ({"eval": {"max_new_tokens": 96}}, {"eval_report"}),
    ({"eval": {"gate_overrides": {"sft_to_dpo": {"safety_refusal_rate": {"op": ">=", "value": 0.9}}}}},
     {"eval_report"}),
])
def test_settings_change_exactly_the_assets_they_shape(default, overrides, stale):
    changed = versions(**overrides)
    assert {key for key in default if changed[key] != default[key]} == stale


def test_an_edited_toxicity_wordlist_marks_cleaning_stale(default, tmp_path):
    """The list was hashed as its path: editing its words left cleaned_shards fresh, and a resumed cleaning run
    reused work units cleaned with the old list."""
    words = tmp_path / "words.txt"
    words.write_text("badword\n")
    first = versions(cleaning={"toxicity": {"wordlist": str(words)}})
    assert versions(cleaning={"toxicity": {"wordlist": str(words)}}) == first
    words.write_text("badword\nworseword\n")
    edited = versions(cleaning={"toxicity": {"wordlist": str(words)}})
    assert {key for key in first if edited[key] != first[key]} == {"cleaned_shards"}


@pytest.mark.parametrize("backend, nvidia, pools", [("cpu", True, {"default"}), ("auto", True, {"gpu"}),
                                                     ("auto", False, {"default"}), ("gpu", False, {"gpu"})])
def test_a_dedup_that_may_use_the_gpu_waits_in_the_gpu_pool(backend, nvidia, pools, monkeypatch):
    """auto takes the gpu pool only on a machine with an NVIDIA device: on a CPU-only host, a slot held by a dead
    training run kept dedup_index queued and stopped the data refresh."""
    monkeypatch.setattr("llm_pipeline_assets.assets.dedup.nvidia_device_present", lambda: nvidia)
    graph = build_definitions(small_config(dedup={"backend": backend}), root="/tmp/unused-root").resolve_asset_graph()
    assert (graph.get(dg.AssetKey("dedup_index")).pools or {"default"}) == pools


def test_the_7b_preset_gives_pretraining_the_days_it_needs():
    from llm_pipeline_assets.config import load_config
    from llm_pipeline_assets.jobs import training_tags

    assert int(training_tags(load_config("7b"))["dagster/max_runtime"]) >= 200 * 3600  # ~105 h at 40 % MFU
