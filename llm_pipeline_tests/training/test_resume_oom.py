"""Resume after a crash equals an uninterrupted run; atomic checkpoints; OOM back-off keeps the trajectory."""

from __future__ import annotations

import shutil

import pytest
import torch

from llm_pipeline_assets.training import checkpoint
from llm_pipeline_assets.training.checkpoint import (complete_checkpoints, latest_checkpoint, load_trainer_state,
                                                     prune_checkpoints, write_checkpoint)
from llm_pipeline_assets.training.oom import back_off, is_oom
from llm_pipeline_assets.training.pretrain import PretrainSettings, pretrain

from .conftest import quiet


def small(**kw) -> PretrainSettings:
    base = dict(max_steps=12, lr=1e-2, min_lr=1e-3, warmup_steps=2, micro_batch=4, grad_accum=1,
                curriculum=[(64, 6), (128, 12)], eval_every=6, eval_batches=1, save_every=6, keep_last=3,
                log_every=100, seed=5)
    base.update(kw)
    return PretrainSettings(**base)


class Crash(RuntimeError):
    pass


def _crash_after(step: int):
    def on_metrics(record: dict) -> None:
        if record["kind"] == "train" and record["step"] == step:
            raise Crash(f"simulated crash at step {step}")
    return on_metrics


def _final_weights(out) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / "final" / "model.safetensors"))


def _assert_same_run(a: dict, b: dict, out_a, out_b, atol: float = 1e-6) -> None:
    import json

    ha = json.loads((out_a / "metrics.json").read_text())
    hb = json.loads((out_b / "metrics.json").read_text())
    assert [r["step"] for r in ha["history"]] == [r["step"] for r in hb["history"]]
    assert [r["seq_len"] for r in ha["history"]] == [r["seq_len"] for r in hb["history"]]
    assert [r["loss"] for r in ha["history"]] == pytest.approx([r["loss"] for r in hb["history"]], abs=atol)
    assert a["steps"] == b["steps"] and a["tokens_seen"] == b["tokens_seen"]
    wa, wb = _final_weights(out_a), _final_weights(out_b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=atol), k


def test_resume_after_a_crash_equals_an_uninterrupted_run(packed_corpus, tmp_path):
    # the checkpoint is mid-phase (step 4 of the 64-token phase that ends at 6): resuming must restore the data
    # position too (a checkpoint at a phase boundary restarts every position at 0 and would pass without it)
    settings = small(save_every=4)
    straight = pretrain(settings, packed_corpus.packed_dir, packed_corpus.init_dir, tmp_path / "a", log=quiet)
    with pytest.raises(Crash):
        pretrain(settings, packed_corpus.packed_dir, packed_corpus.init_dir, tmp_path / "b", log=quiet,
                 on_metrics=_crash_after(5))
    root = tmp_path / "b" / "checkpoints"
    assert [s for s, _ in complete_checkpoints(root)] == [4]
    # debris a crash mid-save could leave: a temp folder and a step folder without the COMPLETE marker
    shutil.copytree(root / "step-4", root / ".tmp-step-5-999")
    shutil.copytree(root / "step-4", root / "step-5")
    (root / "step-5" / checkpoint.MARKER).unlink()
    assert latest_checkpoint(root) == root / "step-4"

    logs = []
    resumed = pretrain(settings, packed_corpus.packed_dir, packed_corpus.init_dir, tmp_path / "b", log=logs.append)
    assert resumed["resumed_from"] == str(root / "step-4")
    assert any("resumed from" in m and "at step 4" in m for m in logs)
    assert not (root / ".tmp-step-5-999").exists()  # stale temp folders are cleared
    _assert_same_run(straight, resumed, tmp_path / "a", tmp_path / "b")
    assert resumed["val_loss"] == pytest.approx(straight["val_loss"], abs=1e-6)
    assert resumed["first_train_loss"] == straight["first_train_loss"]  # the loss curve is continuous


def test_a_failed_save_leaves_no_checkpoint(packed_corpus, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(packed_corpus.init_dir), local_files_only=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    root = tmp_path / "checkpoints"
    write_checkpoint(root, 2, model, opt, {"note": "ok"}, keep_last=5)
    real_save = torch.save

    def save_then_die(obj, path, *a, **kw):
        if str(path).endswith(checkpoint.STATE_FILE):
            raise OSError("disk full")
        return real_save(obj, path, *a, **kw)

    monkeypatch.setattr(checkpoint.torch, "save", save_then_die)
    with pytest.raises(OSError, match="disk full"):
        write_checkpoint(root, 4, model, opt, {"note": "lost"}, keep_last=5)
    monkeypatch.undo()
    assert latest_checkpoint(root) == root / "step-2" and not (root / "step-4").exists()
    assert load_trainer_state(root / "step-2")["note"] == "ok"
    for step in (4, 6, 8):
        write_checkpoint(root, step, model, opt, {}, keep_last=5)
    assert prune_checkpoints(root, 2) == [root / "step-2", root / "step-4"]
    assert [s for s, _ in complete_checkpoints(root)] == [6, 8]
    write_checkpoint(root, 8, model, opt, {"note": "again"}, keep_last=2)  # re-saving a step replaces it
    assert load_trainer_state(root / "step-8")["note"] == "again" and len(complete_checkpoints(root)) == 2


def test_oom_recovery_halves_the_micro_batch_and_keeps_the_trajectory(packed_corpus, tmp_path):
    logs = []
    recovered = pretrain(small(micro_batch=4, grad_accum=1, simulate_oom_above=2, max_steps=8, save_every=4),
                         packed_corpus.packed_dir, packed_corpus.init_dir, tmp_path / "oom", log=logs.append)
    assert recovered["oom_recoveries"] == 1 and (recovered["micro_batch"], recovered["grad_accum"]) == (2, 2)
    assert recovered["steps"] == 8
    assert any("out of memory at step 1" in m and "micro_batch 4->2, grad_accum 1->2" in m for m in logs)
    baseline = pretrain(small(micro_batch=2, grad_accum=2, max_steps=8, save_every=4),
                        packed_corpus.packed_dir, packed_corpus.init_dir, tmp_path / "base", log=quiet)
    assert baseline["oom_recoveries"] == 0
    _assert_same_run(recovered, baseline, tmp_path / "oom", tmp_path / "base")
    state = load_trainer_state(latest_checkpoint(tmp_path / "oom" / "checkpoints"))
    assert (state["micro_batch"], state["grad_accum"]) == (2, 2)  # a resume keeps the smaller micro-batch
    assert state["recoveries"][0]["step"] == 1 and "simulated out of memory" in state["recoveries"][0]["error"]


def test_oom_at_micro_batch_one_gives_up_clearly(packed_corpus, tmp_path):
    logs = []
    with pytest.raises(RuntimeError, match="cannot back off further"):
        pretrain(small(micro_batch=2, simulate_oom_above=0, max_steps=2), packed_corpus.packed_dir,
                 packed_corpus.init_dir, tmp_path / "x", log=logs.append)
    assert sum("out of memory at step 1" in m for m in logs) == 1  # 2 -> 1, then no further


def test_oom_classification_and_back_off():
    assert is_oom(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_oom(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried... Out Of Memory"))
    assert not is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_oom(ValueError("out of memory"))
    assert back_off(8, 1, "") == (4, 2) and back_off(2, 4, "") == (1, 8)
    assert back_off(3, 1, "") == (2, 2)  # 3 samples in chunks of 2 and 1
    with pytest.raises(RuntimeError, match="micro_batch=1"):
        back_off(1, 16, "boom")


@pytest.mark.parametrize("variant", [dict(gradient_checkpointing=True), dict(attn_implementation="eager")])
def test_gradient_checkpointing_and_eager_attention_match_sdpa(packed_corpus, tmp_path, variant):
    common = dict(max_steps=3, save_every=0, eval_batches=0, curriculum=[(64, 3)])
    ref = pretrain(small(**common), packed_corpus.packed_dir, packed_corpus.init_dir, tmp_path / "ref", log=quiet)
    other = pretrain(small(**common, **variant), packed_corpus.packed_dir, packed_corpus.init_dir, tmp_path / "var",
                     log=quiet)
    _assert_same_run(ref, other, tmp_path / "ref", tmp_path / "var", atol=1e-4)
    assert other["val_loss"] is None  # eval_batches=0 skips validation
