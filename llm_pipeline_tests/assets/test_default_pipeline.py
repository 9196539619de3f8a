"""The default tiny pipeline, exactly as `make run` builds it: its gates pass, the untrained model fails them,
the report records every gate, and lm-evaluation-harness agrees with the pipeline's own score."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from llm_pipeline_assets.assets.gating import gate_thresholds
from llm_pipeline_assets.config import load_config
from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.evaluation.gates import Threshold, evaluate_gate, gate_for_asset
from llm_pipeline_assets.materialize import run
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_tests.assets.conftest import asset_metadata

GATES = gate_for_asset  # checkpoint asset -> its promotion gate


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("default")
    cfg = load_config("tiny")
    defs = build_definitions(cfg, root=str(root))
    results = run(defs, instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)
    return cfg, ArtifactStore(root=str(root)), results


def test_default_trained_pipeline_passes_every_gate(default_run):
    _, _, results = default_run
    assert all(r.success for r in results)
    checks = {(c.asset_key.to_user_string(), c.check_name): c for r in results for c in r.get_asset_check_evaluations()}
    for asset, gate in GATES.items():
        assert checks[(asset, gate)].passed, (asset, checks[(asset, gate)].metadata["failures"].value)


def test_untrained_base_model_fails_every_gate_on_measured_metrics(default_run):
    cfg, store, _ = default_run
    report_dir, _ = store.local_dir("eval_report")
    base = json.loads((report_dir / "metrics.json").read_text())["base"]
    for gate, thresholds in gate_thresholds(cfg).items():
        result = evaluate_gate(gate, base, [Threshold(**t) for t in thresholds])
        measured_failures = [t["metric"] for t in thresholds if t["metric"] not in result.missing
                             and not Threshold(**t).passes(base[t["metric"]])]
        assert not result.passed and measured_failures, (gate, result.checked)


def test_report_records_every_gate(default_run):
    _, store, results = default_run
    md = asset_metadata(results, "eval_report")
    assert md["stages_evaluated"] == 5 and md["gates"] == 4 and md["gates_passed"] == 4  # the promotion gates
    assert md["base_fails_pretrain_gate"] is True  # the untrained model: the reference, not counted among them
    for gate in GATES.values():
        assert gate in md["report"]
    path, _ = store.local_dir("eval_report")
    assert (path / "evaluation_report.html").exists() and (path / "evaluation_report.md").exists()


def test_lm_evaluation_harness_agrees_with_the_pipeline(default_run, tmp_path):
    """lm-eval (--model hf) on the SFT checkpoint, offline, over the project's own eval JSONL: multiple choice and
    math (the same generation budget, from the checkpoint's tokenizer, and the same answer rule)."""
    from llm_pipeline_assets.evaluation.lm_eval_tasks import write_lm_eval_tasks

    _, store, _ = default_run
    sft, _ = store.local_dir("sft_checkpoint")
    sets, _ = store.local_dir("eval_sets")
    write_lm_eval_tasks(sets / "tasks", tmp_path / "tasks", sft)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={sft},dtype=float32",
           "--include_path", str(tmp_path / "tasks"), "--tasks", "llm_pipeline_choice,llm_pipeline_math",
           "--apply_chat_template", "--device", "cpu", "--batch_size", "1", "--output_path", str(tmp_path / "out"),
           "--log_samples"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())["results"]
    ours = json.loads((sft / "eval_metrics.json").read_text())
    assert ours["n_choice"] == sum(1 for _ in (sets / "tasks" / "choice.jsonl").open())
    assert results["llm_pipeline_choice"]["acc,none"] == pytest.approx(ours["mc_accuracy"], abs=1e-6)
    assert results["llm_pipeline_math"]["exact_match,strict-match"] == pytest.approx(ours["gsm8k_accuracy"], abs=1e-6)
