"""Promotion gates are blocking checks on the checkpoints: a failed or unmeasurable gate stops training."""

import dagster as dg

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.evaluation.gates import gate_for_asset
from llm_pipeline_assets.materialize import run
from llm_pipeline_tests.assets.conftest import SHORT_RUN_GATES, asset_metadata, tiny_training_config

GATES = gate_for_asset  # checkpoint asset -> its promotion gate


def _checks(results) -> dict:
    return {(c.asset_key.to_user_string(), c.check_name): c for r in results for c in r.get_asset_check_evaluations()}


def test_every_checkpoint_reports_its_gate_with_measured_metrics(trained):
    _, results, defs, _ = trained
    checks = _checks(results)
    graph = defs.resolve_asset_graph()
    for asset, gate in GATES.items():
        spec = next(s for s in graph.get(dg.AssetKey(asset)).check_keys if s.name == gate)
        assert graph.get_check_spec(spec).blocking, asset
        evaluation = checks[(asset, gate)]
        assert evaluation.passed, (asset, evaluation.metadata["failures"].value)
        assert evaluation.metadata["missing_metrics"].value == 0
        assert "| metric | op | threshold | value | status |" in evaluation.metadata["thresholds"].value
    pre = asset_metadata(results, "pretrained_checkpoint")
    assert 1 < pre["eval/perplexity"] <= 1000  # the gate's own number, also on the checkpoint for the UI
    assert isinstance(pre["eval/n_math"], int) and pre["eval/n_math"] > 0  # a count shows as a count, not 4.0
    assert asset_metadata(results, "dpo_checkpoint")["eval/reward_accuracy"] >= 0
    assert "eval/general_delta" in asset_metadata(results, "lora_adapter")  # LoRA merged vs its DPO base


def test_a_failed_gate_stops_downstream_training_in_the_same_run(trained, tmp_path):
    """A failing gate blocks SFT in the same run. (A gate naming a metric the evaluation does not produce is refused
    when the config loads now: test_config; evaluate_gate still fails a missing metric: evaluation/test_gates.)"""
    store, _, _, _ = trained
    gates = {**SHORT_RUN_GATES, "gate_overrides": {"pretrain_to_sft": {"perplexity": {"op": "<=", "value": 1.0}}}}
    cfg = tiny_training_config(eval={**gates, "items_per_task": 4, "max_new_tokens": 8},
                               pretrain={"max_steps": 4, "warmup_steps": 1, "eval_every": 4, "save_every": 4,
                                         "micro_batch": 4})
    defs = build_definitions(cfg, root=str(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    run(defs, "+key:packed_tokens or +key:eval_sets", instance=instance, echo=lambda m: None)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=[
        dg.AssetKey(a) for a in ("base_model", "pretrained_checkpoint", "sft_checkpoint")])
    assert not result.success
    gate = _checks([result])[("pretrained_checkpoint", "pretrain_to_sft")]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    assert gate.metadata["missing_metrics"].value == 0 and "perplexity" in gate.metadata["failures"].value
    assert gate.metadata["eval/perplexity"].value > 1  # the measured metric is still reported
    done = {e.materialization.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "pretrained_checkpoint" in done and "sft_checkpoint" not in done
    assert instance.get_latest_materialization_event(dg.AssetKey("sft_checkpoint")) is None


def test_a_renamed_production_config_keeps_its_shapes_gates(tmp_path):
    """A copy of 7b.yaml named "7b-prod" must not fall back to the lenient CPU thresholds."""
    from llm_pipeline_assets.assets.gating import gate_thresholds, gates_preset
    from llm_pipeline_assets.config import PRESETS_DIR, load_config

    renamed = tmp_path / "prod.yaml"
    renamed.write_text((PRESETS_DIR / "7b.yaml").read_text().replace('name: "7b"', 'name: "7b-prod"'))
    cfg = load_config(str(renamed))
    assert cfg.name == "7b-prod" and gates_preset(cfg) == "7b"
    assert gate_thresholds(cfg) == gate_thresholds(load_config("7b"))
    assert {"metric": "perplexity", "op": "<=", "value": 15.0} in gate_thresholds(cfg)["pretrain_to_sft"]


def test_gate_thresholds_come_from_the_preset_and_overrides():
    from llm_pipeline_assets.assets.gating import gate_thresholds, gates_preset
    from llm_pipeline_tests.conftest import small_config

    cfg = small_config(eval={"gate_overrides": {"sft_to_dpo": {"repetition_rate": {"op": "<=", "value": 0.1}}}})
    assert gates_preset(cfg) == "tiny"  # a config named after no preset gets its model shape's gates (tiny)
    sft = {t["metric"]: t for t in gate_thresholds(cfg)["sft_to_dpo"]}
    assert sft["repetition_rate"]["value"] == 0.1 and sft["function_call_valid_json"]["op"] == ">="
    assert set(gate_thresholds(cfg)) == set(GATES.values())


def test_a_fine_tuning_stage_run_again_after_loosening_its_gate_only_evaluates(trained, tmp_path):
    """After a failed gate, materializing the checkpoint again with a loosened threshold re-evaluates the training
    its work folder finished (same inputs and settings) instead of training again (DPO and LoRA, shorter than
    save_every, trained again from step 0)."""
    import shutil

    store, _, _, _ = trained
    root = tmp_path / "copy"
    shutil.copytree(store.root, root)
    impossible = {"dpo_to_production": {"reward_accuracy": {"op": ">=", "value": 1.5}}}
    instance = dg.DagsterInstance.ephemeral()

    def dpo(gate_overrides):
        cfg = tiny_training_config(eval={**tiny_training_config().eval.model_dump(),
                                         "gate_overrides": {**SHORT_RUN_GATES["gate_overrides"], **gate_overrides}})
        job = build_definitions(cfg, root=str(root)).resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(instance=instance, raise_on_error=False,
                                        asset_selection=[dg.AssetKey("dpo_checkpoint")])
        return result, asset_metadata(result, "dpo_checkpoint"), _checks([result])[("dpo_checkpoint", GATES["dpo_checkpoint"])]

    failed, first, gate = dpo(impossible)
    assert not failed.success and not gate.passed
    passed, again, gate = dpo({})
    assert passed.success and gate.passed
    # the same training, read back: not a second one (which would take its own time)
    assert again["seconds"] == first["seconds"] and again["steps"] == first["steps"] == 12
    logs = [e.message for e in instance.all_logs(passed.run_id) if e.message]
    assert any("training finished earlier" in m and "not training again" in m for m in logs), logs[-20:]
