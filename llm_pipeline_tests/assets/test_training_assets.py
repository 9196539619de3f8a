"""End-to-end: the whole graph with training through Dagster Pipes children, on a tiny configuration."""

import json

import dagster as dg
import pytest
import torch

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.materialize import run
from llm_pipeline_tests.assets.conftest import TRAINING, asset_metadata as _md, tiny_training_config

def test_every_stage_trains_and_passes_its_checks(trained):
    _, results, _, _ = trained
    assert all(r.success for r in results)
    checks = {(c.asset_key.to_user_string(), c.check_name): c.passed for r in results
              for c in r.get_asset_check_evaluations()}
    for asset in TRAINING[1:]:
        name = "loss_decreased" if asset == "pretrained_checkpoint" else "val_loss_decreased"
        assert checks[(asset, name)] is True, asset
    pre = _md(results, "pretrained_checkpoint")
    assert pre["final_train_loss"] < pre["first_train_loss"] and pre["steps"] == 24 and pre["oom_recoveries"] == 0
    assert "data:image/png;base64," in pre["loss_curve"]  # the loss curve is visible in the UI
    assert _md(results, "dpo_checkpoint")["reward_accuracy"] > 0.5
    assert _md(results, "base_model")["padded_vocab_size"] % 64 == 0


def test_checkpoints_are_standard_hugging_face_directories(trained):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    store, _, _, _ = trained
    for asset in TRAINING[:4]:
        path, _ = store.local_dir(asset)
        assert (path / "model.safetensors").exists() and not list(path.rglob("*.bin")), asset
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        assert tok.chat_template and model.config.vocab_size >= len(tok)
    for asset in TRAINING[2:4]:  # Trainer turned the KV cache off for training: the saved models have it on
        assert json.loads((store.local_dir(asset)[0] / "config.json").read_text())["use_cache"] is True, asset
    lora, manifest = store.local_dir("lora_adapter")
    assert json.loads((lora / "merged" / "config.json").read_text())["use_cache"] is True
    # the adapter names its base by the published version (which dpo_checkpoint keeps while the adapter is current)
    named = json.loads((lora / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"]
    dpo_dir, dpo = store.local_dir("dpo_checkpoint")
    assert named == str(dpo_dir) and manifest.extra["base_version"] == dpo.version
    base = AutoModelForCausalLM.from_pretrained(named)
    adapted = PeftModel.from_pretrained(base, str(lora / "adapter"))
    merged = AutoModelForCausalLM.from_pretrained(str(lora / "merged"))
    x = torch.tensor([[3, 10, 11, 12, 13]])
    with torch.no_grad():
        assert torch.allclose(adapted(x).logits, merged(x).logits, atol=1e-4)


def test_a_passed_step_leaves_no_scratch_and_its_metadata_paths_open(trained):
    """Checkpoints with optimizer state stay in the work folder only while a retry may need them; the paths in
    the UI point at the published copies, which exist."""
    from pathlib import Path

    store, results, _, _ = trained
    for asset in TRAINING:
        scratch = Path(store.root) / "_work" / asset
        assert not scratch.exists() or not any(scratch.iterdir()), (asset, list(scratch.iterdir()))
        version, _ = store.local_dir(asset)
        paths = {k: v for k, v in _md(results, asset).items() if k.endswith(("_dir", "_path"))}
        assert _md(results, asset)["checkpoint_uri"] == store.partition_dir(asset)
        for key, path in paths.items():
            assert str(path).startswith(str(version)) and Path(path).exists(), (asset, key, path)
    assert {"final_dir", "metrics_path"} <= set(_md(results, "pretrained_checkpoint"))
    assert {"adapter_dir", "merged_dir"} <= set(_md(results, "lora_adapter"))


def test_curriculum_moved_on_by_itself(trained):
    store, _, _, _ = trained
    path, _ = store.local_dir("pretrained_checkpoint")
    metrics = json.loads((path / "metrics.json").read_text())
    lens = [h["seq_len"] for h in metrics["history"]]
    assert lens[0] == 64 and lens[-1] == 128 and lens.index(128) == 12  # switched at step 13, no restart


def test_training_assets_are_gpu_pool_with_retries_and_code_versions(trained):
    _, _, defs, _ = trained
    graph = defs.resolve_asset_graph()
    for asset in TRAINING + ("sft_checkpoint",):
        node = graph.get(dg.AssetKey(asset))
        assert node.pools == {"gpu"} and node.code_version, asset
        assert node.assets_def.op.retry_policy.max_retries >= 1


def test_simulated_oom_recovers_through_the_asset(tmp_path):
    cfg = tiny_training_config(pretrain={"max_steps": 6, "eval_every": 6, "save_every": 6, "micro_batch": 4,
                                         "simulate_oom_above": 2})
    results = run(build_definitions(cfg, root=str(tmp_path)), "*pretrained_checkpoint",
                  instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)
    md = _md(results, "pretrained_checkpoint")
    assert md["oom_recoveries"] == 1 and md["micro_batch"] == 2 and md["grad_accum"] == 2  # effective batch kept


def test_eval_report_compares_stages_and_reports_gates(trained):
    store, results, _, _ = trained
    md = _md(results, "eval_report")
    assert md["stages_evaluated"] == 5 and md["gates"] == 4  # the four promotion gates (base: a reference)
    assert md["stages_evaluated_again"] == "base"  # the others' gate metrics were measured on these same inputs
    assert md["base_fails_pretrain_gate"] is True  # the untrained model fails the perplexity gate
    assert "base/perplexity" in md and md["base/perplexity"] > md["pretrained/perplexity"]
    report = md["report"]
    for stage in ("base", "pretrained", "sft", "dpo", "lora_merged"):
        assert stage in report
    assert "data:image/png;base64," in report
    path, _ = store.local_dir("eval_report")
    assert (path / "evaluation_report.html").read_text().startswith("<!DOCTYPE html>")
    sets, _ = store.local_dir("eval_sets")
    assert {p.stem for p in (sets / "tasks").glob("*.jsonl")} >= {"math", "choice", "tool", "safety"}
    sets_md = _md(results, "eval_sets")
    assert sets_md["items"] == 4 * 12 and sets_md["contamination"]["checked"] == sets_md["items"]


def test_eval_report_evaluates_again_what_was_measured_on_other_inputs(trained, tmp_path):
    """Stored gate metrics are reused only when measured on the current eval inputs: after an eval setting changes,
    every stage is evaluated again (one table mixed item sets and settings before), DPO's reward accuracy carries
    over, and LoRA's change against its base is recomputed on the new numbers."""
    import shutil

    from llm_pipeline_assets.resources.store import ArtifactStore

    store, _, _, _ = trained
    root = tmp_path / "copy"
    shutil.copytree(store.root, root)
    cfg = tiny_training_config()
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"max_val_tokens": 640})})
    results = run(build_definitions(cfg, root=str(root)), "key:eval_report", instance=dg.DagsterInstance.ephemeral(),
                  echo=lambda m: None)
    md = _md(results, "eval_report")
    assert md["stages_evaluated_again"] == "base, pretrained, sft, dpo, lora_merged"
    report, _ = ArtifactStore(root=str(root)).local_dir("eval_report")
    metrics = json.loads((report / "metrics.json").read_text())
    assert {m["n_val_tokens"] for m in metrics.values()} == {640}  # every stage on the same tokens
    old_dpo, _ = store.local_dir("dpo_checkpoint")
    assert metrics["dpo"]["reward_accuracy"] == json.loads((old_dpo / "eval_metrics.json").read_text())["reward_accuracy"]
    lora = metrics["lora_merged"]
    assert lora["general_delta"] == pytest.approx(lora["general_score"] - lora["general_score_base"])


def test_lora_compares_with_its_base_on_the_same_eval_items(trained, tmp_path):
    """LoRA's gate metric general_delta subtracts its base's general score: after the eval items change, the base
    (the DPO checkpoint, evaluated on the old items when it was trained) is evaluated again on the new ones (the
    training child subtracted the old items' score from the new ones')."""
    import shutil

    from llm_pipeline_assets.resources.store import ArtifactStore
    from llm_pipeline_assets.runners.gating import general_score

    store, _, _, _ = trained
    root = tmp_path / "copy"
    shutil.copytree(store.root, root)
    cfg = tiny_training_config()
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"items_per_task": 7})})
    results = run(build_definitions(cfg, root=str(root)), "key:eval_sets or key:lora_adapter or key:eval_report",
                  instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)
    lora = _md(results, "lora_adapter")
    report, _ = ArtifactStore(root=str(root)).local_dir("eval_report")
    dpo_now = json.loads((report / "metrics.json").read_text())["dpo"]  # eval_report: the DPO model, new items
    assert dpo_now["n_math"] == 7
    assert lora["eval/general_score_base"] == pytest.approx(general_score(dpo_now))
    assert lora["eval/general_delta"] == pytest.approx(lora["eval/general_score"] - lora["eval/general_score_base"])


def test_new_sft_data_leaves_the_eval_items_and_so_the_gates_fresh(trained, tmp_path):
    """eval_sets' data version is its items': new SFT data changes the contamination summary, not the items the
    gates measure, so the checkpoints downstream do not turn stale (pretraining showed stale after an SFT edit)."""
    import shutil

    store, results, _, _ = trained
    root = tmp_path / "copy"
    shutil.copytree(store.root, root)
    cfg = tiny_training_config()
    more = [s.model_copy(update={"num": s.num * 2}) for s in cfg.sft.sources]
    cfg = cfg.model_copy(update={"sft": cfg.sft.model_copy(update={"sources": tuple(more)})})
    again = run(build_definitions(cfg, root=str(root)), "key:sft_dataset or key:eval_sets",
                instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)

    def version(res):
        (event,) = [e for r in res for e in r.get_asset_materialization_events()
                    if e.materialization.asset_key.to_user_string() == "eval_sets"]
        return event.materialization.tags["dagster/data_version"]

    assert _md(again, "sft_dataset")["train"] > _md(results, "sft_dataset")["train"]
    assert version(again) == version(results)


def test_a_stage_run_alone_refuses_a_checkpoint_its_gate_failed_and_a_failed_one_keeps_the_passed(trained, tmp_path):
    """The gate held only inside one run: SFT run on its own (its job, --select key:sft_checkpoint) trained from a
    pretrained checkpoint whose gate had failed, and publishing the failed checkpoint deleted the passing one."""
    import shutil

    from llm_pipeline_assets.resources.store import ArtifactStore

    store, _, _, _ = trained
    root = tmp_path / "copy"
    shutil.copytree(store.root, root)
    copy = ArtifactStore(root=str(root))
    sft_before = copy.read_manifest("sft_checkpoint").version
    strict = tiny_training_config(eval={**tiny_training_config().eval.model_dump(),
                                        "gate_overrides": {"pretrain_to_sft": {"perplexity": {"op": "<=",
                                                                                              "value": 1.0}}}})
    defs = build_definitions(strict, root=str(root))
    with pytest.raises(SystemExit, match=r"stopped at sft_checkpoint: step failed: sft_checkpoint trains from "
                                         r"pretrained_checkpoint, whose current version fails its promotion gate "
                                         r"pretrain_to_sft: .*perplexity"):
        run(defs, "key:sft_checkpoint", instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)
    assert copy.read_manifest("sft_checkpoint").version == sft_before  # nothing trained, nothing published
    passed = copy.read_manifest("pretrained_checkpoint").version
    with pytest.raises(SystemExit, match="stopped at pretrained_checkpoint: failed checks:\n  pretrain_to_sft"):
        run(defs, "key:pretrained_checkpoint", instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)
    failed = copy.read_manifest("pretrained_checkpoint").version
    assert failed != passed and (root / "pretrained_checkpoint" / "all" / passed / "model.safetensors").exists()
    with pytest.raises(SystemExit, match="stopped at pretrained_checkpoint: failed checks:\n  pretrain_to_sft"):
        run(defs, "key:pretrained_checkpoint", instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)
    versions = {p.name for p in (root / "pretrained_checkpoint" / "all").glob("v-*")}
    assert passed in versions and failed not in versions and len(versions) == 2  # twice failed: the passed stays
    assert copy.read_manifest("pretrained_checkpoint").extra == {"checks_passed": False, "last_passed": passed}
    # thresholds loosened again: the same step re-runs only the evaluation (its work folder stayed after the failed
    # gate, so training resumes at its last step) and publishes a passing version
    loose = build_definitions(tiny_training_config(), root=str(root))
    instance = dg.DagsterInstance.ephemeral()
    run(loose, "key:pretrained_checkpoint", instance=instance, echo=lambda m: None)
    event = instance.get_latest_materialization_event(dg.AssetKey("pretrained_checkpoint"))
    meta = {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}
    assert meta["resumed_from"].endswith(f"step-{meta['steps']}"), meta  # nothing trained again
    assert meta["oom_recoveries"] == 0 and meta["eval/perplexity"] > 1.0
    assert copy.read_manifest("pretrained_checkpoint").extra == {"checks_passed": True, "last_passed": None}
