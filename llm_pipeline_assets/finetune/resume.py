"""Fine-tuning that survives a retry and an out-of-memory error (SFT, DPO, LoRA).

The trainers write a checkpoint (weights or adapter, optimizer, scheduler, RNG, trainer state) every
``save_every`` steps into the run's work folder (``store.work_dir``, keyed by the settings, the model and the
data, so a retry of the same run finds it), keeping the latest one only; ``train_resuming`` starts from the
latest complete one. An out-of-memory error (``training.oom.is_oom``) is recovered, not only counted: the
trainer is rebuilt with the micro-batch divided by its smallest factor and accumulation multiplied by it (the
same samples per optimizer step, exactly), and training continues from the latest checkpoint. Checkpoints hold
no pickles: the Trainer's ``training_args.bin`` is removed as each one is written (resuming does not read it).
Under torchrun an OOM is raised, not backed off (the other ranks wait in a collective of the old step); the
step's retry then resumes from the latest checkpoint.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Callable

from transformers import TrainerCallback

Logger = Callable[[str], None]
TRAINER_STATE = "trainer_state.json"  # written last into a checkpoint: a folder without it is incomplete


def checkpoint_args(save_every: int) -> dict:
    """TrainingArguments of the periodic checkpoints (the latest kept)."""
    return {"save_strategy": "steps", "save_steps": int(save_every), "save_total_limit": 1}


def latest_checkpoint(trainer_dir) -> str | None:
    """The highest-step complete ``checkpoint-N`` folder in ``trainer_dir`` (None: start from the model)."""
    folder = Path(trainer_dir)
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*") if p.name[11:].isdigit() and (p / TRAINER_STATE).is_file()]
    return str(max(done, key=lambda p: int(p.name[11:]))) if done else None


class PickleFreeCheckpoints(TrainerCallback):
    """Removes the pickled ``training_args.bin`` from each checkpoint, and skips the Trainer's extra checkpoint at
    the last step (the stage saves its final model right after: optimizer state there is only disk and time)."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_save = False
        return control

    def on_save(self, args, state, control, **kwargs):
        (Path(args.output_dir) / f"checkpoint-{state.global_step}" / "training_args.bin").unlink(missing_ok=True)
        return control


def smaller_batch(micro_batch: int, grad_accum: int) -> tuple[int, int]:
    """``(micro_batch / k, grad_accum * k)`` for the smallest factor k > 1 of ``micro_batch``: the same samples
    per optimizer step. RuntimeError at micro-batch 1."""
    if micro_batch <= 1:
        raise RuntimeError(f"out of memory at micro_batch 1 (grad_accum {grad_accum}): nothing left to halve; "
                           "lower max_length, set gradient_checkpointing: true, or train on a larger GPU")
    k = next(f for f in range(2, micro_batch + 1) if micro_batch % f == 0)
    return micro_batch // k, grad_accum * k


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def train_resuming(build: Callable[[int, int], object], micro_batch: int, grad_accum: int, stage: str, log: Logger,
                   before: Callable[[object], object] | None = None) -> tuple[object, dict, object]:
    """``trainer.train()`` from the latest checkpoint in the trainer's output folder, backing off on OOM.

    ``build(micro_batch, grad_accum)`` makes a trainer of the run (again, at a smaller batch, after an OOM): this
    function holds the only reference to it, so an OOM frees the old model, optimizer and activations before the
    new ones load. ``before(trainer)`` runs once before any training (the starting validation loss). Returns
    ``(the trainer that finished, {"resumed_from", "oom_backoffs", "micro_batch", "grad_accum", "seconds"},
    before's result)``. Under torchrun an OOM is raised, not backed off (its peers wait in a collective of the
    old step): the step's retry resumes from the latest checkpoint.
    """
    import torch

    from llm_pipeline_assets.training.oom import is_oom

    trainer = build(micro_batch, grad_accum)
    measured = before(trainer) if before else None
    info = {"resumed_from": None, "oom_backoffs": 0, "micro_batch": micro_batch, "grad_accum": grad_accum}
    started = time.perf_counter()
    while True:
        resume = latest_checkpoint(trainer.args.output_dir)
        if resume:
            info["resumed_from"] = info["resumed_from"] or Path(resume).name
            log(f"{stage}: resuming from {resume}")
        try:
            trainer.train(resume_from_checkpoint=resume)
            return trainer, {**info, "seconds": time.perf_counter() - started}, measured
        except Exception as exc:  # noqa: BLE001 - only an OOM is recovered, anything else goes on up
            if not is_oom(exc) or _distributed():
                raise
            why = str(exc)
        step = trainer.state.global_step
        micro_batch, grad_accum = smaller_batch(micro_batch, grad_accum)
        info.update(oom_backoffs=info["oom_backoffs"] + 1, micro_batch=micro_batch, grad_accum=grad_accum)
        log(f"{stage}: out of memory at step {step} ({why}); continuing from the latest checkpoint with "
            f"micro_batch {micro_batch} x grad_accum {grad_accum} (the same samples per step)")
        trainer.model.zero_grad(set_to_none=True)
        trainer = None  # the only reference: the old model, optimizer and activations go before the new ones load
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        trainer = build(micro_batch, grad_accum)
