"""Asset jobs: the data refresh, the whole training chain, and one job per training stage.

The data side mixes per-source partitions (raw_corpus, cleaned_shards, deduped_shards) with global assets
(dedup_index, tokenizer, packed_tokens). Dagster 1.13 accepts such a job when it is partitioned by source:
a run for partition ``web`` runs the partitioned steps for ``web`` and the unpartitioned steps once,
after them. That makes ``data_refresh`` the "this one source changed" job: the source's shards, the global
dedup over all sources (the other sources' cleaned shards are read, not rewritten), this source's
deduped shard, the tokenizer and the packed tokens. Other sources' deduped shards are stale only if the
index's content changed (the instance's staleness says so); the automation sensor reruns them after it.

Refreshing every source is not one job run: dedup_index must wait for *every* source and deduped_shards
for the index, which a one-partition run cannot express (and a partition-range run would give every
source's shards the same DataVersion). It is an asset backfill over all partitions instead, which runs
each step once in dependency order: the UI's "Materialize" over all partitions, the automation sensor's
weekly waves (automation.py), or ``python -m llm_pipeline_assets.materialize --select 'group:data or
group:tokens'`` without a daemon. ``source_refresh`` is the per-source half alone (safe to run for all
sources at once), launched by data_refresh_schedule.
"""

from __future__ import annotations

import dagster as dg

from llm_pipeline_assets.config import PipelineConfig

DATA_ASSETS = ("raw_corpus", "cleaned_shards", "dedup_index", "deduped_shards", "tokenizer", "packed_tokens")
SOURCE_ASSETS = ("raw_corpus", "cleaned_shards")
# One job per training stage, in order; a stage job also builds the data it reads that no earlier stage built
# (pretraining's gate reads eval_sets, whose contamination check reads sft_dataset), so the stage jobs run one
# after another on a store that has the data side.
STAGE_JOBS = {
    "train_base_model": ("base_model",),
    "train_pretrained_checkpoint": ("sft_dataset", "eval_sets", "pretrained_checkpoint"),
    "train_sft_checkpoint": ("sft_dataset", "sft_checkpoint"),
    "train_dpo_checkpoint": ("dpo_dataset", "dpo_checkpoint"),
    "train_lora_adapter": ("lora_adapter",),
    "evaluate": ("eval_sets", "eval_report"),
}
TRAINING_GROUPS = ("training_data", "training", "evaluation")
MAX_RUNTIME_TAG = "dagster/max_runtime"  # seconds; enforced by run_monitoring (dagster.yaml)


def training_tags(cfg: PipelineConfig) -> dict[str, str]:
    return {MAX_RUNTIME_TAG: str(int(cfg.orchestration.training_max_runtime_hours * 3600))}


def build_jobs(cfg: PipelineConfig, partitions: dg.PartitionsDefinition) -> dict[str, dg.UnresolvedAssetJobDefinition]:
    """Every job of the code location by name. Selecting an asset selects its asset checks too."""
    jobs = {
        "data_refresh": dg.define_asset_job(
            "data_refresh", selection=dg.AssetSelection.assets(*DATA_ASSETS), partitions_def=partitions,
            description="One source's raw and cleaned shards, the global dedup index, that source's deduped "
                        "shards, the tokenizer and the packed tokens. All sources: backfill the data assets "
                        "(the automation sensor does so every cron tick)."),
        "source_refresh": dg.define_asset_job(
            "source_refresh", selection=dg.AssetSelection.assets(*SOURCE_ASSETS), partitions_def=partitions,
            description="Re-ingest and clean one source; touches nothing another source or a global step "
                        "owns, so every source can run at once. The global steps follow through automation."),
        "train_all": dg.define_asset_job(
            "train_all", selection=dg.AssetSelection.groups(*TRAINING_GROUPS), tags=training_tags(cfg),
            description="Every stage from base_model to lora_adapter plus evaluation, on the current packed "
                        "tokens; a failed gate (blocking check) stops the stages after it."),
    }
    for name, assets in STAGE_JOBS.items():
        jobs[name] = dg.define_asset_job(
            name, selection=dg.AssetSelection.assets(*assets), tags=training_tags(cfg),
            description=f"Only {' and '.join(assets)}, from the latest materialization of its inputs.")
    return jobs
