"""dagster.yaml.example, loaded the way the CLI, webserver and daemon load it (DAGSTER_HOME), takes effect."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_tests.orchestration.conftest import data_config

EXAMPLE = Path(__file__).resolve().parents[2] / "dagster.yaml.example"


@pytest.fixture
def instance(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(EXAMPLE, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    inst = dg.DagsterInstance.get()
    try:
        yield inst
    finally:
        inst.dispose()


def test_run_retries_and_run_monitoring_are_on(instance):
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
    # a failed step or gate fails again the same way: only a run whose worker died is relaunched
    assert instance.run_retries_retry_on_asset_or_op_failure is False
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_runtime_seconds == 14 * 24 * 3600  # asset-graph launches of a 7b run
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4


def test_gpu_pool_admits_one_step_at_a_time(instance):
    pools = instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == 1 and pools.pool_granularity.value == "op"

    storage = instance.event_log_storage
    assert storage.supports_global_concurrency_limits
    storage.initialize_concurrency_limit_to_default("gpu")  # what the run coordinator does on first use
    assert storage.get_concurrency_info("gpu").slot_count == 1
    first = storage.claim_concurrency_slot("gpu", "run-a", "pretrained_checkpoint")
    second = storage.claim_concurrency_slot("gpu", "run-b", "eval_report")
    assert first.slot_status.value == "CLAIMED" and second.slot_status.value == "BLOCKED"
    storage.free_concurrency_slots_for_run("run-a")
    assert storage.claim_concurrency_slot("gpu", "run-b", "eval_report").slot_status.value == "CLAIMED"


def test_gpu_is_the_only_pool_so_the_default_limit_is_the_gpu_limit(monkeypatch):
    monkeypatch.setattr("llm_pipeline_assets.assets.dedup.nvidia_device_present", lambda: True)  # a GPU machine
    graph = build_definitions(data_config(), root="unused").resolve_asset_graph()
    pools = {k.to_user_string(): graph.get(k).pools for k in graph.get_all_asset_keys() if graph.get(k).pools}
    assert set(pools) == {"base_model", "pretrained_checkpoint", "sft_checkpoint", "dpo_checkpoint",
                          "lora_adapter", "eval_report", "dedup_index"}  # dedup: backend auto, NVIDIA device
    assert all(p == {"gpu"} for p in pools.values())


@pytest.mark.parametrize("deploy", ["ecs", "k8s"])
def test_deploy_instances_retry_and_monitor_runs_like_the_example(deploy, tmp_path, monkeypatch):
    """The ECS and Kubernetes instance files (Postgres storage, so loaded here with the example's storage) re-launch
    only dead runs and give unlabelled runs the same ceiling (they re-launched failed gates and stopped a 7b
    "Materialize" at 48 h)."""
    import yaml

    deployed = yaml.safe_load((EXAMPLE.parent / "deploy" / deploy / "dagster.yaml").read_text())
    example = yaml.safe_load(EXAMPLE.read_text())
    home = tmp_path / "home"
    home.mkdir()
    merged = {**example, "run_retries": deployed["run_retries"], "run_monitoring": deployed["run_monitoring"]}
    (home / "dagster.yaml").write_text(yaml.safe_dump(merged))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as inst:
        assert inst.run_retries_enabled and inst.run_retries_retry_on_asset_or_op_failure is False
        assert inst.run_monitoring_max_runtime_seconds == 14 * 24 * 3600
