"""The weekly data refresh: the schedule's run requests and the declarative conditions, evaluated tick by tick.

Upstream updates are recorded on a temporary instance as runless materializations / check results, so the
conditions are evaluated exactly as the daemon would, without running the assets.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from llm_pipeline_assets.automation import REFRESH_TAG
from llm_pipeline_assets.config import ConfigError
from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_tests.orchestration.conftest import data_config

MONDAY = datetime(2026, 1, 5, tzinfo=timezone.utc)  # the default cron: Mondays 03:00 UTC
SOURCES = ["web", "news"]


class Ticks:
    """Evaluates the code location's automation conditions like successive daemon ticks (cursor carried)."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.defs, self.instance, self.cursor, self.versions = defs, instance, None, 0
        self.graph = defs.resolve_asset_graph()

    def materialize(self, asset: str, partitions=(None,), checks_pass: bool = True, version: str | None = None) -> None:
        """As the assets report it: a content-hash DataVersion, new each time unless ``version`` repeats one."""
        for partition in partitions:
            self.versions += 1
            tags = {"dagster/data_version": version or f"v{self.versions}"}
            self.instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition, tags=tags))
        for check in self.graph.get(dg.AssetKey(asset)).check_keys:
            self.instance.report_runless_asset_event(dg.AssetCheckEvaluation(
                asset_key=check.asset_key, check_name=check.name, passed=checks_pass))

    def everything(self) -> None:
        for asset in ("raw_corpus", "cleaned_shards", "dedup_index", "deduped_shards", "tokenizer",
                      "packed_tokens", "base_model", "pretrained_checkpoint"):
            self.materialize(asset, SOURCES if self.graph.get(dg.AssetKey(asset)).partitions_def else (None,))

    def requested(self, at: datetime) -> dict[str, list[str] | bool]:
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, evaluation_time=at,
                                                   cursor=self.cursor)
        self.cursor = result.cursor
        out = {}
        for res in result.results:
            if isinstance(res.key, dg.AssetKey) and res.true_subset.size:
                partitions = result.get_requested_partitions(res.key)
                out[res.key.to_user_string()] = sorted(partitions) if partitions != {None} else True
        return out


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_weekly_refresh_runs_each_step_once_in_waves_and_never_a_checkpoint(instance):
    ticks = Ticks(build_definitions(data_config(), root="unused"), instance)
    ticks.everything()
    assert ticks.requested(MONDAY.replace(hour=2)) == {}  # first evaluation: nothing is new
    assert ticks.requested(MONDAY.replace(hour=2, minute=59)) == {}

    wave1 = ticks.requested(MONDAY.replace(hour=3, minute=1))  # the cron tick
    assert wave1 == {"raw_corpus": ["news", "web"], "cleaned_shards": ["news", "web"]}
    assert ticks.requested(MONDAY.replace(hour=3, minute=2)) == {}  # once per tick

    ticks.materialize("raw_corpus", SOURCES)
    ticks.materialize("cleaned_shards", SOURCES)
    assert ticks.requested(MONDAY.replace(hour=3, minute=10)) == {"dedup_index": True}
    ticks.materialize("dedup_index")
    # deduped_shards waited for the new index rather than filtering against the old one at the tick
    assert ticks.requested(MONDAY.replace(hour=3, minute=11)) == {"deduped_shards": ["news", "web"]}
    ticks.materialize("deduped_shards", SOURCES)
    assert ticks.requested(MONDAY.replace(hour=3, minute=12)) == {"tokenizer": True, "packed_tokens": True}
    ticks.materialize("tokenizer")
    ticks.materialize("packed_tokens")
    # fresh packed tokens do not start training: checkpoints are never requested by automation
    assert ticks.requested(MONDAY.replace(hour=3, minute=13)) == {}
    assert ticks.requested(MONDAY + timedelta(days=1)) == {}


def test_refresh_that_reproduces_the_same_data_recomputes_nothing_downstream(instance):
    """A weekly re-ingest whose bytes did not change must not start MinHash over the corpus or BPE training."""
    ticks = Ticks(build_definitions(data_config(), root="unused"), instance)
    for asset in ("raw_corpus", "cleaned_shards", "deduped_shards"):
        ticks.materialize(asset, SOURCES, version=f"{asset}-same")
    for asset in ("dedup_index", "tokenizer", "packed_tokens", "base_model", "pretrained_checkpoint"):
        ticks.materialize(asset, version=f"{asset}-same")
    ticks.requested(MONDAY.replace(hour=2))
    assert ticks.requested(MONDAY.replace(hour=3, minute=1)) == {"raw_corpus": ["news", "web"],
                                                                 "cleaned_shards": ["news", "web"]}
    ticks.materialize("raw_corpus", SOURCES, version="raw_corpus-same")
    ticks.materialize("cleaned_shards", SOURCES, version="cleaned_shards-same")
    assert ticks.requested(MONDAY.replace(hour=3, minute=10)) == {}
    ticks.materialize("cleaned_shards", ["web"], version="cleaned_shards-new")  # one source did change
    assert ticks.requested(MONDAY.replace(hour=3, minute=11)) == {"dedup_index": True}
    # ... and its index's DataVersion covers the cleaned shards (a corrected document that changes no duplicate
    # still has to reach deduped_shards), so both sources are filtered again; only web's output is new
    ticks.materialize("dedup_index", version="dedup_index-over-new-web")
    assert ticks.requested(MONDAY.replace(hour=3, minute=12)) == {"deduped_shards": ["news", "web"]}
    ticks.materialize("deduped_shards", ["news"], version="deduped_shards-same")
    ticks.materialize("deduped_shards", ["web"], version="deduped_shards-new")
    assert ticks.requested(MONDAY.replace(hour=3, minute=13)) == {"tokenizer": True, "packed_tokens": True}


def test_failed_blocking_check_holds_back_the_global_dedup(instance):
    ticks = Ticks(build_definitions(data_config(), root="unused"), instance)
    ticks.everything()
    ticks.requested(MONDAY.replace(hour=5))
    ticks.materialize("cleaned_shards", ["web"], checks_pass=False)  # e.g. PII found in the sample
    assert ticks.requested(MONDAY.replace(hour=5, minute=1)) == {}
    ticks.materialize("cleaned_shards", ["web"], checks_pass=True)  # fixed and re-cleaned
    assert ticks.requested(MONDAY.replace(hour=5, minute=2)) == {"dedup_index": True}


def test_failed_index_check_holds_back_the_deduplicated_shards(instance):
    ticks = Ticks(build_definitions(data_config(), root="unused"), instance)
    ticks.everything()
    ticks.requested(MONDAY.replace(hour=5))
    ticks.materialize("dedup_index", checks_pass=False)  # an exact duplicate kept: the index is wrong
    assert ticks.requested(MONDAY.replace(hour=5, minute=1)) == {}
    ticks.materialize("dedup_index", checks_pass=True)
    assert ticks.requested(MONDAY.replace(hour=5, minute=2)) == {"deduped_shards": ["news", "web"]}


def test_sensor_covers_every_automated_asset_and_runs_by_default():
    defs = build_definitions(data_config(), root="unused")
    sensor = defs.resolve_sensor_def("data_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = defs.resolve_asset_graph()
    automated = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).automation_condition}
    target = {k.to_user_string() for k in sensor.asset_selection.resolve(graph)}
    assert automated == target == {"raw_corpus", "cleaned_shards", "dedup_index", "deduped_shards", "tokenizer", "packed_tokens"}


def test_schedule_launches_one_source_refresh_per_source_on_the_configured_cron(instance):
    cfg = data_config(orchestration={"data_refresh_cron": "30 4 * * 2", "timezone": "Europe/Berlin",
                                     "data_refresh_trigger": "schedule"})
    defs = build_definitions(cfg, root="unused")
    schedule = defs.resolve_schedule_def("data_refresh_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 4 * * 2", "Europe/Berlin")
    assert schedule.job_name == "source_refresh" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    requests = {}
    for week in (0, 1):
        tick = datetime(2026, 1, 6, 3, 30, tzinfo=timezone.utc) + timedelta(weeks=week)
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                            repository_def=defs.get_repository_def())
        data = schedule.evaluate_tick(context)  # resolves each request against the job's partitions
        assert [r.partition_key for r in data.run_requests] == SOURCES
        assert {r.tags[REFRESH_TAG] for r in data.run_requests} == {tick.isoformat()}
        requests[week] = {r.run_key for r in data.run_requests}
    assert len(requests[0] | requests[1]) == 4  # a run key per source and tick: next week is not deduplicated

    # with the schedule in charge, raw_corpus has no on_cron (never ingested twice); the rest still follows
    ticks = Ticks(defs, instance)
    ticks.everything()
    ticks.requested(datetime(2026, 1, 6, 3, 0, tzinfo=timezone.utc))
    assert ticks.requested(datetime(2026, 1, 6, 3, 31, tzinfo=timezone.utc)) == {}
    ticks.materialize("raw_corpus", SOURCES)  # what the schedule's source_refresh runs write
    ticks.materialize("cleaned_shards", SOURCES)
    assert ticks.requested(datetime(2026, 1, 6, 3, 50, tzinfo=timezone.utc)) == {"dedup_index": True}


def test_default_config_leaves_the_schedule_off_and_refreshes_weekly():
    defs = build_definitions(data_config(), root="unused")
    schedule = defs.resolve_schedule_def("data_refresh_schedule")
    assert schedule.cron_schedule == "0 3 * * 1"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # the sensor's on_cron does it


@pytest.mark.parametrize("section, match", [
    ({"data_refresh_cron": "0 3 * *"}, "orchestration.data_refresh_cron"),
    ({"data_refresh_cron": "61 3 * * 1"}, "orchestration.data_refresh_cron"),
    ({"timezone": "Mars/Olympus"}, "orchestration.timezone"),
    ({"data_refresh_trigger": "cron"}, "orchestration.data_refresh_trigger"),
    ({"training_max_runtime_hours": 0}, "orchestration.training_max_runtime_hours"),
])
def test_bad_orchestration_settings_fail_at_load(section, match):
    with pytest.raises(ConfigError, match=match):
        data_config(orchestration=section)
