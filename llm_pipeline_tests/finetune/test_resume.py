"""Fine-tuning survives a crash and an out-of-memory error: checkpoints in the run's folder, resume from the latest,
OOM back-off that keeps the samples per step (finetune.resume through run_sft / run_dpo / run_lora)."""

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from llm_pipeline_assets.finetune.preference import DpoSettings, LoraSettings, run_dpo, run_lora
from llm_pipeline_assets.finetune.resume import latest_checkpoint, smaller_batch
from llm_pipeline_assets.finetune.sft import SftSettings, run_sft
from llm_pipeline_assets.formatters.dpo import synthetic_dpo
from llm_pipeline_tests.finetune.conftest import conversations as _convs


class CrashAt(TrainerCallback):
    """The process dies after ``step`` (a pre-emption, a kill): an error that is not an OOM."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise RuntimeError(f"simulated crash after step {state.global_step}")


class OomAbove(TrainerCallback):
    """A real ``torch.OutOfMemoryError`` from the step after ``step`` while the micro-batch is above ``size``."""

    def __init__(self, size, step):
        self.size, self.step, self.raised = size, step, 0

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step >= self.step and args.per_device_train_batch_size > self.size:
            self.raised += 1
            raise torch.OutOfMemoryError(f"simulated out of memory at micro-batch {args.per_device_train_batch_size}")


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_sft_resumed_after_a_crash_ends_where_an_uninterrupted_run_ends(base):
    settings = SftSettings(max_steps=8, save_every=3, eval_every=8, micro_batch=4)
    train, val = _convs(120, 3), _convs(12, 4)
    whole = run_sft(settings, base / "base", train, val, base / "whole", log=lambda m: None)
    kept = [p.name for p in (base / "whole" / "trainer").glob("checkpoint-*")]
    assert whole["resumed_from"] is None and kept == ["checkpoint-6"]  # the latest only; none at the last step
    with pytest.raises(RuntimeError, match="simulated crash after step 5"):
        run_sft(settings, base / "base", train, val, base / "cut", log=lambda m: None, callbacks=[CrashAt(5)])
    ckpt = latest_checkpoint(base / "cut" / "trainer")
    assert ckpt.endswith("checkpoint-3") and not list((base / "cut").rglob("training_args.bin"))  # no pickles
    logs = []
    again = run_sft(settings, base / "base", train, val, base / "cut", log=logs.append)
    assert again["resumed_from"] == "checkpoint-3" and again["steps"] == 8 and any("resuming from" in m for m in logs)
    assert [s for s, _ in again["loss_history"]] == [s for s, _ in whole["loss_history"]]  # history kept across
    want, got = _weights(base / "whole" / "final"), _weights(base / "cut" / "final")
    assert all(torch.allclose(want[k], got[k], atol=1e-5) for k in want)  # the same run, interrupted or not


def test_sft_out_of_memory_backs_off_keeping_the_samples_per_step(base):
    oom = OomAbove(size=2, step=4)
    logs = []
    got = run_sft(SftSettings(max_steps=8, save_every=2, eval_every=8, micro_batch=4, grad_accum=1), base / "base",
                  _convs(120, 3), _convs(12, 4), base / "oom", log=logs.append, callbacks=[oom])
    assert oom.raised == 1 and got["oom_backoffs"] == 1 and got["steps"] == 8
    assert (got["micro_batch"], got["grad_accum"]) == (2, 2)  # 4 x 1 -> 2 x 2: the same samples per step
    assert got["resumed_from"] == "checkpoint-4"  # continued from the checkpoint before the OOM, not from step 0
    assert any("out of memory at step 4" in m and "micro_batch 2 x grad_accum 2" in m for m in logs)
    assert got["val_loss"] < got["val_loss_start"]


def test_dpo_and_lora_resume_and_back_off_too(base):
    pairs = synthetic_dpo(80, 5)
    dpo = run_dpo(DpoSettings(max_steps=4, save_every=2, eval_every=4, micro_batch=4), base / "base", pairs[:70],
                  pairs[70:], base / "dpo", log=lambda m: None, callbacks=[OomAbove(size=1, step=2)])
    assert (dpo["oom_backoffs"], dpo["micro_batch"], dpo["grad_accum"], dpo["steps"]) == (2, 1, 4, 4)  # 4 -> 2 -> 1
    assert dpo["resumed_from"] == "checkpoint-2"
    lora = LoraSettings(r=2, alpha=4, sft=SftSettings(max_steps=4, save_every=2, eval_every=4))
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_lora(lora, base / "base", _convs(40, 6), _convs(8, 7), base / "lora", log=lambda m: None,
                 callbacks=[CrashAt(3)])
    done = run_lora(lora, base / "base", _convs(40, 6), _convs(8, 7), base / "lora", log=lambda m: None)
    assert done["resumed_from"] == "checkpoint-2" and done["steps"] == 4
    assert (base / "lora" / "final" / "adapter" / "adapter_config.json").exists()


def test_the_back_off_divides_by_the_smallest_factor():
    assert smaller_batch(8, 1) == (4, 2) and smaller_batch(6, 2) == (3, 4) and smaller_batch(3, 1) == (1, 3)
    with pytest.raises(RuntimeError, match="out of memory at micro_batch 1 .*gradient_checkpointing"):
        smaller_batch(1, 16)


def test_an_oom_frees_the_old_trainer_before_the_new_one_is_built(tmp_path):
    """train_resuming holds the only reference to the trainer it built: when it rebuilds after an OOM, the old model
    and optimizer are gone (the callers kept theirs before, so a GPU held two models at the rebuild)."""
    import weakref
    from types import SimpleNamespace

    from llm_pipeline_assets.finetune.resume import train_resuming

    alive_at_rebuild, made = [], []

    class Trainer:
        def __init__(self, micro_batch):
            self.args = SimpleNamespace(output_dir=str(tmp_path), per_device_train_batch_size=micro_batch)
            self.state = SimpleNamespace(global_step=0)
            self.model = torch.nn.Linear(2, 2)

        def train(self, resume_from_checkpoint=None):
            if self.args.per_device_train_batch_size > 2:
                raise torch.OutOfMemoryError("simulated")

    def build(micro_batch, grad_accum):
        alive_at_rebuild.extend(ref() is not None for ref in made)
        trainer = Trainer(micro_batch)
        made.append(weakref.ref(trainer))
        return trainer

    trainer, info, before = train_resuming(build, 8, 1, "sft", lambda m: None, before=lambda t: "measured")
    assert (info["micro_batch"], info["grad_accum"], info["oom_backoffs"]) == (2, 4, 2) and before == "measured"
    assert alive_at_rebuild == [False, False, False]  # every earlier trainer was gone when the next was built
