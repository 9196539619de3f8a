"""When the data refresh runs: the declarative automation sensor and the run-based schedule.

The conditions live on the assets (assets/policies.py): raw_corpus ``on_cron`` (cron from the config's
``orchestration`` section), cleaned_shards / dedup_index / tokenizer / packed_tokens
``eager() & all_deps_blocking_checks_passed()``, deduped_shards the same but triggered by dedup_index only,
checkpoints none at all (training starts only when asked for).

- ``data_automation`` (running by default) evaluates them. In Dagster 1.13 one evaluation only chains
  requests across assets with the same partitioning, so a weekly refresh goes in waves, each step once:
  cron tick -> raw_corpus + cleaned_shards for every source (one backfill); once no cleaned partition is
  in progress -> dedup_index; once it landed -> every deduped shard; then tokenizer + packed_tokens (one
  run). A failed blocking check stops the wave behind it. Between ticks it propagates manual reruns.
- ``data_refresh_schedule`` is the run-based alternative, on when ``orchestration.data_refresh_trigger`` is
  "schedule" (raw_corpus then has no on_cron, so nothing is ingested twice): one ``source_refresh`` run
  per source each tick (independent, so they run side by side); the sensor takes over from dedup_index
  on exactly as above. A schedule cannot do the global part itself: it emits runs, a run holds one
  partition, and dedup_index must wait for every source.
"""

from __future__ import annotations

import dagster as dg

from llm_pipeline_assets.config import PipelineConfig
from llm_pipeline_assets.jobs import DATA_ASSETS

REFRESH_TAG = "llm_pipeline/data_refresh_tick"


def build_data_automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "data_automation", target=dg.AssetSelection.assets(*DATA_ASSETS),
        default_status=dg.DefaultSensorStatus.RUNNING, emit_backfills=True, minimum_interval_seconds=60,
        description="Weekly re-ingest (raw_corpus on_cron) and eager propagation through the data assets; "
                    "never requests a checkpoint.")


def build_data_refresh_schedule(cfg: PipelineConfig, source_job: dg.UnresolvedAssetJobDefinition
                                ) -> dg.ScheduleDefinition:
    o = cfg.orchestration
    status = dg.DefaultScheduleStatus.RUNNING if o.data_refresh_trigger == "schedule" \
        else dg.DefaultScheduleStatus.STOPPED
    sources = list(cfg.source_names)

    @dg.schedule(name="data_refresh_schedule", job=source_job, cron_schedule=o.data_refresh_cron,
                 execution_timezone=o.timezone, default_status=status,
                 description="One source_refresh run per source; dedup_index onwards follow via data_automation. "
                             "Runs by default when orchestration.data_refresh_trigger is 'schedule'.")
    def data_refresh_schedule(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time.isoformat()
        for name in sources:
            # run_key per (source, tick): a daemon restart re-evaluating the tick launches nothing twice.
            yield dg.RunRequest(run_key=f"{name}@{tick}", partition_key=name, tags={REFRESH_TAG: tick})

    return data_refresh_schedule
