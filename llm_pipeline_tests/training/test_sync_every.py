"""Deferred step records (sync_every > 1): the same training, metrics read back in groups."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from llm_pipeline_assets.training.lazy import StepRecords
from llm_pipeline_assets.training.pretrain import PretrainSettings, pretrain

SETTINGS = {"max_steps": 7, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 1, "micro_batch": 4, "grad_accum": 1,
            "curriculum": [[64, 3], [128, 7]], "eval_every": 5, "eval_batches": 1, "save_every": 4, "seed": 0,
            "log_every": 100}


def _run(packed_corpus, out: Path, **overrides):
    lines, metrics = [], []
    summary = pretrain(PretrainSettings(**{**SETTINGS, **overrides}), packed_corpus.packed_dir,
                       packed_corpus.init_dir, out, log=lines.append, on_metrics=metrics.append)
    history = json.loads(Path(summary["metrics_path"]).read_text())["history"]
    return summary, history, lines, metrics


def test_deferred_records_train_the_same_model(packed_corpus, tmp_path):
    ref, ref_hist, _, ref_metrics = _run(packed_corpus, tmp_path / "sync")
    got, hist, lines, metrics = _run(packed_corpus, tmp_path / "deferred", sync_every=3)
    assert [h["step"] for h in hist] == list(range(1, 8))
    for a, b in zip(hist, ref_hist):
        assert isinstance(a["loss"], float) and isinstance(a["grad_norm"], float)
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6) and a["grad_norm"] == pytest.approx(b["grad_norm"], abs=1e-6)
        assert a["seconds"] > 0 and a["tokens_per_second"] == pytest.approx(a["tokens"] / a["seconds"])
    # groups end at steps 3 (sync_every), 4 (save), 5 (eval), 6 (sync_every), 7 (end): one share per group
    assert hist[0]["seconds"] == hist[1]["seconds"] == hist[2]["seconds"]
    assert got["tokens_per_second"] > 0 and got["val_loss"] == pytest.approx(ref["val_loss"], abs=1e-6)
    a = load_file(tmp_path / "sync" / "final" / "model.safetensors")
    b = load_file(tmp_path / "deferred" / "final" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    train = [m for m in metrics if m["kind"] == "train"]
    assert [m["step"] for m in train] == list(range(1, 8)) and all(isinstance(m["loss"], float) for m in train)
    assert len(metrics) == len(ref_metrics)
    assert any("step 1/7" in line for line in lines) and any("step 7/7" in line for line in lines)


def test_deferred_checkpoint_resumes(packed_corpus, tmp_path):
    from llm_pipeline_assets.training.checkpoint import load_trainer_state

    _run(packed_corpus, tmp_path / "run", sync_every=3, max_steps=4)
    state = load_trainer_state(tmp_path / "run" / "checkpoints" / "step-4")
    assert [h["step"] for h in state["history"]] == [1, 2, 3, 4]
    assert all(isinstance(h["loss"], float) for h in state["history"])  # no device tensor in a checkpoint
    resumed, hist, _, _ = _run(packed_corpus, tmp_path / "run", sync_every=3)
    assert resumed["resumed_from"] and [h["step"] for h in hist] == list(range(1, 8))
    assert all(isinstance(h["loss"], float) for h in hist)


def test_step_records_flush_groups():
    records = StepRecords("cpu")
    for i in range(3):
        records.add({"loss": torch.tensor(float(i)), "grad_norm": torch.tensor(0.5), "tokens": 10})
    group, wall = records.flush()
    assert wall > 0 and records.pending == [] and [r["loss"] for r in group] == [0.0, 1.0, 2.0]
    assert all(r["seconds"] == pytest.approx(wall / 3) for r in group)
    assert records.flush() == ([], 0.0)
    with pytest.raises(ValueError, match="sync_every must be >= 1"):
        PretrainSettings(**{**SETTINGS, "sync_every": 0})
