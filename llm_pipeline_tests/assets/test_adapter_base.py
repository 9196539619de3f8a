"""A published LoRA adapter keeps the base it applies to: republishing dpo_checkpoint deleted the version folder
the adapter's ``base_model_name_or_path`` named, and ``AutoPeftModelForCausalLM`` could no longer load it."""

from __future__ import annotations

import json

import dagster as dg

from llm_pipeline_assets.assets.training import point_adapter_at, publish_dir
from llm_pipeline_assets.resources.store import ArtifactStore


def _publish_checkpoint(store: ArtifactStore, tmp_path, asset: str, weights: str, extra: dict | None = None) -> str:
    src = tmp_path / f"{asset}-{weights}"
    (src / "adapter").mkdir(parents=True)
    (src / "model.safetensors").write_text(weights)
    (src / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/scratch/x"}))
    if extra:
        point_adapter_at(src / "adapter", f"{store.partition_dir(extra['base_asset'])}/{extra['base_version']}")
    publish_dir(store, asset, src, dg.MaterializeResult(metadata={}), extra=extra)
    return store.read_manifest(asset).version


def test_republishing_the_base_keeps_the_version_the_current_adapter_names(tmp_path):
    store = ArtifactStore(root=str(tmp_path / "artifacts"))
    first = _publish_checkpoint(store, tmp_path, "dpo_checkpoint", "one")
    _publish_checkpoint(store, tmp_path, "lora_adapter", "adapter",
                        extra={"base_asset": "dpo_checkpoint", "base_version": first})
    lora, manifest = store.local_dir("lora_adapter")
    named = json.loads((lora / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert named == f"{store.partition_dir('dpo_checkpoint')}/{first}" and manifest.extra["base_version"] == first

    second = _publish_checkpoint(store, tmp_path, "dpo_checkpoint", "two")
    third = _publish_checkpoint(store, tmp_path, "dpo_checkpoint", "three")
    versions = sorted(p.name for p in (tmp_path / "artifacts" / "dpo_checkpoint" / "all").glob("v-*"))
    assert versions == sorted([first, third]) and second not in versions  # only the named base stays
    assert (tmp_path / "artifacts" / "dpo_checkpoint" / "all" / first / "model.safetensors").read_text() == "one"

    # the adapter rebuilt on the current base: the old one is no longer needed and goes with the next publish
    _publish_checkpoint(store, tmp_path, "lora_adapter", "adapter2",
                        extra={"base_asset": "dpo_checkpoint", "base_version": third})
    fourth = _publish_checkpoint(store, tmp_path, "dpo_checkpoint", "four")
    versions = sorted(p.name for p in (tmp_path / "artifacts" / "dpo_checkpoint" / "all").glob("v-*"))
    assert versions == sorted([third, fourth])
