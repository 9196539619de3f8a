"""Data-parallel pretraining: 2 torchrun processes (gloo, CPU) give the single-process result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from llm_pipeline_assets.training.pretrain import PretrainSettings, pretrain
from llm_pipeline_tests.training.conftest import quiet

SETTINGS = {"max_steps": 4, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 1, "micro_batch": 4, "grad_accum": 1,
            "curriculum": [[64, 2], [128, 4]], "eval_every": 0, "eval_batches": 1, "save_every": 2, "seed": 0}


def _torchrun(packed_corpus, out: Path, settings: dict) -> dict:
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": repo, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([torchrun, "--standalone", "--nproc-per-node=2", "-m", "llm_pipeline_tests.training.ddp_worker",
                           str(packed_corpus.packed_dir), str(packed_corpus.init_dir), str(out),
                           json.dumps(settings)], env=env, cwd=repo, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def _assert_same_run(single: dict, metrics: dict, single_dir: Path, other_dir: Path) -> None:
    assert metrics["world_size"] == 2 and metrics["steps"] == 4
    ours = [h["loss"] for h in metrics["history"]]
    ref = [h["loss"] for h in json.loads(Path(single["metrics_path"]).read_text())["history"]]
    assert len(ours) == len(ref) and max(abs(a - b) for a, b in zip(ours, ref)) < 1e-4  # same update as one process
    a, b = load_file(single_dir / "final" / "model.safetensors"), load_file(other_dir / "final" / "model.safetensors")
    assert sorted(a) == sorted(b) and all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)


def test_two_ranks_match_one_process(packed_corpus, tmp_path):
    single = pretrain(PretrainSettings(**SETTINGS), packed_corpus.packed_dir, packed_corpus.init_dir,
                      tmp_path / "single", log=quiet)
    metrics = _torchrun(packed_corpus, tmp_path / "ddp", SETTINGS)
    _assert_same_run(single, metrics, tmp_path / "single", tmp_path / "ddp")
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").iterdir() if p.name.startswith("step")) != []


def test_fewer_samples_than_ranks_still_trains_like_one_process(packed_corpus, tmp_path):
    """One sample per step over two replicated ranks: the idle rank joins the gradient all-reduce with zeros (it
    skipped it, and gloo failed with 'collective mismatch'; NCCL would hang until its timeout)."""
    settings = {**SETTINGS, "micro_batch": 1, "save_every": 0}
    single = pretrain(PretrainSettings(**settings), packed_corpus.packed_dir, packed_corpus.init_dir,
                      tmp_path / "single", log=quiet)
    _assert_same_run(single, _torchrun(packed_corpus, tmp_path / "ddp", settings), tmp_path / "single",
                     tmp_path / "ddp")


def test_fsdp_two_ranks_match_one_process_and_resume(packed_corpus, tmp_path):
    """FSDP2 (sharded parameters, gradients, optimizer state) on 2 gloo ranks: the same losses and final weights
    as one process; a checkpoint holds the FULL model + optimizer, and a resume from it ends in the same place."""
    import shutil

    settings = {**SETTINGS, "fsdp": True}
    single = pretrain(PretrainSettings(**SETTINGS), packed_corpus.packed_dir, packed_corpus.init_dir,
                      tmp_path / "single", log=quiet)
    out = tmp_path / "fsdp"
    _assert_same_run(single, _torchrun(packed_corpus, out, settings), tmp_path / "single", out)
    ckpt = out / "checkpoints" / "step-2"
    full = load_file(tmp_path / "single" / "final" / "model.safetensors")
    assert sorted(load_file(ckpt / "model.safetensors")) == sorted(full)  # full tensors, not one rank's shard
    saved = torch.load(ckpt / "optimizer.pt", weights_only=True)
    assert saved["state"] and all(v["exp_avg"].shape == full[k].shape for k, v in saved["state"].items()
                                  if k in full)
    shutil.rmtree(out / "checkpoints" / "step-4")
    shutil.rmtree(out / "final")
    resumed = _torchrun(packed_corpus, out, settings)
    assert resumed["resumed_from"].endswith("step-2")
    _assert_same_run(single, resumed, tmp_path / "single", out)
    # the final weights come from the final checkpoint's gather; a finished run started again (no new
    # checkpoint, so nothing gathered yet) gathers them itself and writes the same model
    shutil.rmtree(out / "final")
    again = _torchrun(packed_corpus, out, settings)
    assert again["resumed_from"].endswith("step-4")
    _assert_same_run(single, again, tmp_path / "single", out)


def test_sharding_policy_picks_fsdp_only_where_it_can_run():
    from llm_pipeline_assets.training.settings import use_fsdp

    assert use_fsdp("auto", 2, 8) and use_fsdp("fsdp", 4, 8)
    assert not use_fsdp("auto", 3, 8)  # 8 samples do not split over 3 ranks: replicate instead
    assert not use_fsdp("auto", 1, 8) and not use_fsdp("fsdp", 1, 8) and not use_fsdp("replicate", 2, 8)


def test_fp8_torchao_path_trains(packed_corpus, tmp_path):
    """The float8 code path (torchao Float8Linear, emulated on CPU) runs end to end and learns."""
    from llm_pipeline_assets.gpu.fp8 import convert_float8
    from llm_pipeline_assets.training.model import load_model

    settings = PretrainSettings(**{**SETTINGS, "max_steps": 6, "save_every": 0, "fp8": "torchao"})
    model = load_model(PretrainSettings(**SETTINGS), packed_corpus.init_dir)
    assert convert_float8(model) > 0
    summary = pretrain(settings, packed_corpus.packed_dir, packed_corpus.init_dir, tmp_path / "fp8", log=quiet)
    assert summary["final_train_loss"] < summary["first_train_loss"]


def test_torchrun_child_under_pipes_every_rank_gets_its_extras(packed_corpus, tmp_path):
    """The real launch path: ComputeResource -> torchrun (2 ranks, FSDP) -> runners.pretrain, Pipes on rank 0 only."""
    import dataclasses

    import dagster as dg

    from llm_pipeline_assets.config import ComputeConfig
    from llm_pipeline_assets.resources.compute import ComputeResource, DeviceInfo, select_runtime

    from llm_pipeline_assets.evaluation.suite import write_eval_jsonl
    from llm_pipeline_assets.formatters.synthetic_sft import synthetic_eval_items

    cpu = select_runtime(DeviceInfo(cuda=False, gpus=0, names=(), capability=None), ComputeConfig())
    runtime = dataclasses.replace(cpu, nproc=2)
    write_eval_jsonl(synthetic_eval_items(8, 0), tmp_path / "tasks")
    gate = {"name": "pretrain_to_sft", "asset": "pretrained_checkpoint", "preset": "test",
            "thresholds": [{"metric": "perplexity", "op": "<=", "value": 1e9}], "eval_dir": str(tmp_path / "tasks"),
            "packed_dir": str(packed_corpus.packed_dir), "window": 32, "stride": 16, "max_val_tokens": 512,
            "max_new_tokens": 4}
    extras = {"stage": "pretrain", "settings": {**SETTINGS, "save_every": 0, "fsdp": True}, "packed_dir": str(packed_corpus.packed_dir),
              "init_dir": str(packed_corpus.init_dir), "out_dir": str(tmp_path / "out"), "gate": gate}
    specs = [dg.AssetCheckSpec(name, asset="pretrained_checkpoint") for name in ("loss_decreased", "pretrain_to_sft")]

    @dg.asset(name="pretrained_checkpoint", check_specs=specs)
    def two_ranks(context: dg.AssetExecutionContext, compute: ComputeResource) -> dg.MaterializeResult:
        return compute.run(context, "llm_pipeline_assets.runners.pretrain", extras, runtime)

    result = dg.materialize([two_ranks], resources={"compute": ComputeResource()},
                            instance=dg.DagsterInstance.ephemeral())
    md = result.asset_materializations_for_node("pretrained_checkpoint")[0].metadata
    assert md["world_size"].value == 2 and md["steps"].value == 4
    gate_result = [e for e in result.get_asset_check_evaluations() if e.check_name == "pretrain_to_sft"]
    assert len(gate_result) == 1 and gate_result[0].passed  # reported once (rank 0), from a real evaluation
    assert md["eval/perplexity"].value > 1
    assert (tmp_path / "out" / "final" / "model.safetensors").exists()
