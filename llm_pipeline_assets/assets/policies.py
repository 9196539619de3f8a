"""What the data assets share about *when* they run and *what counts as a change*.

- ``source_data_condition``: raw data is re-ingested on the configured cron (``orchestration``).
- ``derived_data_condition``: cheap derived data follows its upstream's data (eager on a changed DataVersion),
  but never past a failed upstream blocking check; ``after_index_condition`` the same, triggered by the global
  index only.
  Checkpoints get none: training starts only when someone asks for it.
- ``code_version``: the code version of an asset is its logic version plus a hash of the config settings
  that shape its output, so editing a rule in the config marks the asset stale ("has a new code version")
  just like editing its code. Whether *downstream* turns stale then depends only on the content-hash
  ``DataVersion`` the re-materialization reports: identical output keeps downstream fresh.
"""

import dagster as dg

from llm_pipeline_assets.config import PipelineConfig
from llm_pipeline_assets.work_units import json_digest


def source_data_condition(cfg: PipelineConfig) -> dg.AutomationCondition | None:
    """on_cron for raw data, unless the config hands the weekly re-ingest to data_refresh_schedule."""
    o = cfg.orchestration
    if o.data_refresh_trigger != "automation":
        return None
    return dg.AutomationCondition.on_cron(o.data_refresh_cron, o.timezone)


def _data_changed() -> dg.AutomationCondition:
    """A dependency's content-hash DataVersion changed (a re-materialization with identical output is no change),
    or it will be requested this tick (so a wave of same-partition steps still starts together, as eager does)."""
    AC = dg.AutomationCondition
    return AC.any_deps_match(AC.data_version_changed() | AC.will_be_requested())


def derived_data_condition() -> dg.AutomationCondition:
    """Recompute once upstream data changed (nothing upstream missing or in progress), if its gates passed.

    ``eager`` reacts to any upstream materialization; here only a new DataVersion counts, so a weekly re-ingest
    that reproduces the same bytes recomputes nothing downstream (no MinHash over the corpus, no BPE training).
    """
    eager_on_change = dg.AutomationCondition.eager().replace("any_deps_updated", _data_changed())
    return eager_on_change.with_label("eager_on_data_change") & dg.AutomationCondition.all_deps_blocking_checks_passed()


def after_index_condition(index: str) -> dg.AutomationCondition:
    """``derived_data_condition`` that only an update of the global ``index`` triggers.

    A per-source shard filtered by a global index (deduped_shards) depends on its cleaned shard AND the index;
    plain eager would rerun it as soon as the cleaned shard lands, against the old index, and again once the
    index is rebuilt. Cross-partition requests never join one tick in Dagster 1.13 (``will_be_requested``
    only spans assets with the same partitioning), so it waits for the index instead, which every cleaned
    update triggers and whose DataVersion covers the cleaned shards it read (``assets/dedup.py``): a corrected
    document that changes no duplicate still reaches the deduplicated shards.
    """
    trigger = _data_changed().allow(dg.AssetSelection.assets(index))
    eager_on_index = dg.AutomationCondition.eager().replace("any_deps_updated", trigger)
    return eager_on_index.with_label(f"eager_after_{index}") & dg.AutomationCondition.all_deps_blocking_checks_passed()


def code_version(logic_version: str, **settings) -> str:
    """``logic_version`` plus a short hash of the output-shaping settings (pydantic sections or plain values)."""
    plain = {k: v.model_dump(mode="json") if hasattr(v, "model_dump") else v for k, v in settings.items()}
    return f"{logic_version}-{json_digest(plain, 12)}"


def shard_layout(cfg: PipelineConfig) -> dict:
    """The shard settings that change which documents land in which file (not the read batch size)."""
    return {"max_docs": cfg.shards.max_docs, "max_bytes": cfg.shards.max_bytes}
