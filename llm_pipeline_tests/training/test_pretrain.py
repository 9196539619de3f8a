"""An end-to-end tiny pretraining run: the loss drops, the curriculum switches in-run, outputs load."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

from llm_pipeline_assets.training.checkpoint import complete_checkpoints, latest_checkpoint, load_trainer_state
from llm_pipeline_assets.training.pretrain import PretrainSettings, lr_at, pretrain

SETTINGS = dict(max_steps=60, lr=1e-2, min_lr=1e-3, warmup_steps=5, micro_batch=16, grad_accum=1,
                curriculum=[(64, 30), (128, 60)], eval_every=30, eval_batches=2, save_every=20, keep_last=2,
                log_every=10, seed=0)


@pytest.fixture(scope="module")
def tiny_run(packed_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain")
    logs, events = [], []
    settings = PretrainSettings(**SETTINGS)
    summary = pretrain(settings, packed_corpus.packed_dir, packed_corpus.init_dir, out, log=logs.append,
                       on_metrics=events.append)
    return {"out": out, "summary": summary, "logs": logs, "events": events, "settings": settings,
            "metrics": json.loads((out / "metrics.json").read_text())}


def test_loss_drops_clearly(tiny_run):
    s = tiny_run["summary"]
    assert s["steps"] == 60 and s["first_train_loss"] > 6.0  # ~ln(512) at the start
    assert s["final_train_loss"] < 0.8 * s["first_train_loss"]
    val = tiny_run["metrics"]["val_history"]
    assert [v["step"] for v in val] == [30, 60] and val[-1]["val_loss"] < val[0]["val_loss"]
    assert s["val_loss"] == val[-1]["val_loss"] and s["val_perplexity"] == pytest.approx(math.exp(s["val_loss"]))
    assert s["val_loss"] < 0.8 * s["first_train_loss"]


def test_curriculum_switches_without_stopping(tiny_run):
    history = tiny_run["metrics"]["history"]
    assert [r["step"] for r in history] == list(range(1, 61))
    assert {r["seq_len"] for r in history if r["step"] <= 30} == {64}
    assert {r["seq_len"] for r in history if r["step"] > 30} == {128}
    assert tiny_run["metrics"]["seq_lens_trained"] == [64, 128]
    assert [v["seq_len"] for v in tiny_run["metrics"]["val_history"]] == [64, 128]  # evaluated at the current length
    assert any("curriculum moves from seq_len 64 to 128 at step 31" in m for m in tiny_run["logs"])


def test_metrics_record_schedule_tokens_and_throughput(tiny_run):
    m, settings = tiny_run["metrics"], tiny_run["settings"]
    for r in m["history"]:
        assert r["lr"] == pytest.approx(lr_at(r["step"], settings))
        assert r["micro_batch"] * r["grad_accum"] == 16 and r["grad_norm"] > 0
    assert m["history"][-1]["lr"] == pytest.approx(settings.min_lr)
    assert m["history"][4]["lr"] == pytest.approx(settings.lr)  # the peak right after warmup
    assert m["tokens_seen"] == sum(r["tokens"] for r in m["history"]) > 60 * 16 * 32
    assert m["tokens_per_second"] > 0 and m["train_seconds"] > 0 and m["recoveries"] == []
    assert m["oom_recoveries"] == 0 and m["resumed_from"] is None and m["settings"] == settings.to_dict()
    train = [e for e in tiny_run["events"] if e["kind"] == "train"]
    evals = [e for e in tiny_run["events"] if e["kind"] == "eval"]
    assert len(train) == 60 and [e["step"] for e in evals] == [30, 60]
    assert train[-1]["loss"] == m["history"][-1]["loss"]


def test_checkpoints_are_complete_and_pruned(tiny_run):
    root = tiny_run["out"] / "checkpoints"
    assert [step for step, _ in complete_checkpoints(root)] == [40, 60]  # keep_last=2 of 20, 40, 60
    assert not list(root.glob(".tmp-*"))
    state = load_trainer_state(latest_checkpoint(root))  # weights_only=True load of plain data
    assert state["step"] == 60 and state["micro_batch"] == 16 and state["grad_accum"] == 1
    assert state["data"]["position"]["128"]["cursor"] > 0 and len(state["history"]) == 60
    assert (latest_checkpoint(root) / "model.safetensors").exists()


def test_final_model_loads_and_generates(tiny_run):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = tiny_run["out"] / "final"
    assert tiny_run["summary"]["final_dir"] == str(final)
    assert (final / "model.safetensors").exists() and not list(final.glob("*.bin"))
    tok = AutoTokenizer.from_pretrained(str(final), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(final), local_files_only=True)
    assert model.config.use_cache is True and model.generation_config.pad_token_id == 2
    ids = tok("The history of the", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=2)
    assert out.shape[1] > ids.shape[1] and torch.equal(out[0, :ids.shape[1]], ids[0])
    assert isinstance(tok.decode(out[0]), str)


def test_loss_curve_only_when_matplotlib_is_installed(tiny_run):
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    png = tiny_run["out"] / "loss_curve.png"
    assert png.exists() == has_matplotlib
    assert tiny_run["summary"]["loss_curve"] == (str(png) if has_matplotlib else None)
    if has_matplotlib:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerunning_a_finished_run_trains_nothing(tiny_run, packed_corpus):
    logs = []
    again = pretrain(tiny_run["settings"], packed_corpus.packed_dir, packed_corpus.init_dir, tiny_run["out"],
                     log=logs.append)
    assert again["steps"] == 60 and again["resumed_from"].endswith("step-60")
    assert again["final_train_loss"] == tiny_run["summary"]["final_train_loss"]
    assert again["val_loss"] == pytest.approx(tiny_run["summary"]["val_loss"])
    assert not any("pretrain: step " in m and "/60" in m for m in logs)
