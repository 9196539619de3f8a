"""The jobs, executed: what each one materializes, and a rerun of one source that leaves the other alone."""

from __future__ import annotations

import dagster as dg
import pytest

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.jobs import STAGE_JOBS, build_jobs
from llm_pipeline_assets.materialize import run
from llm_pipeline_tests.orchestration.conftest import DATA_SELECTION, Built, data_config

pytestmark = pytest.mark.slow  # builds the data side and trains the base model once

TRAINING_ASSETS = {"base_model", "pretrained_checkpoint", "sft_dataset", "sft_checkpoint", "dpo_dataset",
                   "dpo_checkpoint", "lora_adapter", "eval_sets", "eval_report"}
DATA_CHECKS = {"no_pii_in_sample", "cleaned_schema_valid", "no_exact_duplicates_kept", "deduped_schema_valid",
               "no_exact_duplicates", "roundtrip_lossless", "specials_single_id", "no_tokens_dropped",
               "eos_between_documents", "splits_disjoint"}


def materialized(result) -> set[str]:
    out = set()
    for event in result.get_asset_materialization_events():
        m = event.materialization
        out.add(m.asset_key.to_user_string() + (f"[{m.partition}]" if m.partition else ""))
    return out


def shard_state(store, asset: str, partition: str) -> dict:
    """(inode, mtime_ns) of every published file of one partition, plus the manifest's version."""
    directory, manifest = store.local_dir(asset, partition)
    files = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(directory.rglob("*")) if p.is_file()}
    return {"version": manifest.version, "files": files}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Data side of both sources built, then the base model trained through its stage job."""
    with dg.instance_for_test() as instance:
        b = Built(data_config(), tmp_path_factory.mktemp("artifacts"), instance)
        assert all(r.success for r in run(b.defs, DATA_SELECTION, instance=instance, echo=lambda m: None))
        yield b, b.execute("train_base_model")


def test_each_job_selects_its_stage_and_training_jobs_carry_a_runtime_ceiling():
    cfg = data_config(orchestration={"training_max_runtime_hours": 6})
    defs = build_definitions(cfg, root="unused")
    keys = {name: {k.to_user_string() for k in defs.resolve_job_def(name).asset_layer.executable_asset_keys}
            for name in build_jobs(cfg, dg.StaticPartitionsDefinition(cfg.source_names))}
    assert keys["data_refresh"] == {"raw_corpus", "cleaned_shards", "dedup_index", "deduped_shards", "tokenizer", "packed_tokens"}
    assert keys["source_refresh"] == {"raw_corpus", "cleaned_shards"}
    assert keys["train_all"] == TRAINING_ASSETS
    assert {a for name in STAGE_JOBS for a in keys[name]} == TRAINING_ASSETS  # every training asset in a stage
    # run in order on a store with the data side, each stage job finds every input it reads already built
    graph, built = defs.resolve_asset_graph(), set(keys["data_refresh"])
    for name in STAGE_JOBS:
        for asset in keys[name]:
            parents = {k.to_user_string() for k in graph.get(dg.AssetKey(asset)).parent_keys}
            assert parents <= built | keys[name], (name, asset, parents - built - keys[name])
        built |= keys[name]
    for name in ("data_refresh", "source_refresh"):
        assert defs.resolve_job_def(name).partitions_def.get_partition_keys() == ["web", "news"]
    for name in ("train_all", *STAGE_JOBS):
        job = defs.resolve_job_def(name)
        assert job.partitions_def is None and job.tags["dagster/max_runtime"] == str(6 * 3600)


def test_stage_job_trains_only_its_stage(pipeline):
    b, result = pipeline
    assert materialized(result) == {"base_model"}
    assert b.instance.get_run_by_id(result.run_id).tags["dagster/max_runtime"] == str(48 * 3600)
    model_dir, _ = b.store.local_dir("base_model")
    assert (model_dir / "config.json").exists()


def test_rerun_of_one_source_recomputes_its_shards_and_the_global_steps_only(pipeline):
    b, base_result = pipeline
    before_news = {a: shard_state(b.store, a, "news") for a in ("raw_corpus", "cleaned_shards", "deduped_shards")}
    before_web = {a: b.store.read_manifest(a, "web").version for a in ("raw_corpus", "cleaned_shards",
                                                                        "deduped_shards")}
    before_global = {a: b.store.read_manifest(a).version for a in ("dedup_index", "tokenizer", "packed_tokens")}
    news_runs = {a: b.latest_run_id(a, "news") for a in before_news}

    result = b.execute("data_refresh", partition="web")

    assert materialized(result) == {"raw_corpus[web]", "cleaned_shards[web]", "dedup_index", "deduped_shards[web]",
                                    "tokenizer", "packed_tokens"}
    assert {e.check_name for e in result.get_asset_check_evaluations()} == DATA_CHECKS
    for asset, state in before_news.items():  # the other source: same files, same inodes, same mtimes
        assert shard_state(b.store, asset, "news") == state, asset
        assert b.latest_run_id(asset, "news") == news_runs[asset]
    for asset, version in before_web.items():  # this source and every global step: published anew
        assert b.store.read_manifest(asset, "web").version != version and b.latest_run_id(asset, "web") == result.run_id
    for asset, version in before_global.items():
        assert b.store.read_manifest(asset).version != version and b.latest_run_id(asset) == result.run_id
    # Identical input gave identical content hashes: nothing downstream is stale, the model needs no rebuild.
    status = b.status()
    assert status("deduped_shards", "news") == "FRESH" and status("base_model") == "FRESH"
    assert b.latest_run_id("base_model") == base_result.run_id
