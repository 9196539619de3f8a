"""Supervised fine-tuning with TRL's SFTTrainer: chat template, loss on assistant tokens only, packing.

Conversations (lists of chat messages) are rendered with the tokenizer's chat template, whose
``{% generation %}`` markers let TRL compute the loss on assistant tokens only (the predecessor trained on
prompt tokens too). Packing uses best-fit decreasing with splitting (``bfd_split``: nothing truncated) and
is padding-free: examples sit end to end in one row with position ids restarting per example, and
transformers builds a block-diagonal attention mask from those position ids — no cross-example attention.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from llm_pipeline_assets.finetune.resume import PickleFreeCheckpoints, checkpoint_args, train_resuming

Logger = Callable[[str], None]


@dataclass
class SftSettings:
    max_steps: int = 60
    lr: float = 1e-3
    micro_batch: int = 8
    grad_accum: int = 1
    max_length: int = 256
    warmup_steps: int = 3
    weight_decay: float = 0.0
    eval_every: int = 20
    save_every: int = 200  # steps between checkpoints (finetune.resume: a retry resumes, an OOM backs off)
    seed: int = 42
    device: str = "cpu"
    dtype: str = "float32"
    packing: bool = True
    extra: dict = field(default_factory=dict)  # passed through to SFTConfig (e.g. gradient_checkpointing)


def arrow_safe(messages: list[dict]) -> list[dict]:
    """Tool-call arguments as JSON strings: an Arrow column merges dicts with different keys and fills the
    gaps with nulls, which the chat template would render into the training text. The template prints a
    string argument verbatim, so the rendered text is the same as for the original dict."""
    out = []
    for m in messages:
        calls = m.get("tool_calls")
        if calls:
            m = {**m, "tool_calls": [{**c, "function": {**c["function"], "arguments": json.dumps(
                c["function"].get("arguments", {}), ensure_ascii=False)}} if "function" in c else c for c in calls]}
        out.append(m)
    return out


def _conversational(rows: Sequence[list[dict]]):
    from datasets import Dataset

    return Dataset.from_list([{"messages": arrow_safe(m)} for m in rows])


def trainer_precision(device: str, dtype: str) -> dict:
    return {"use_cpu": device == "cpu", "bf16": dtype == "bfloat16" and device != "cpu"}


def evaluate_loss(trainer) -> float:
    """Validation loss on the trainer's own (already prepared) eval set. Not ``evaluate(eval_dataset=...)``: TRL
    prepares a dataset passed there again, and packing already-packed rows drops their ``seq_lengths``, so the
    examples of a row would attend to each other."""
    return float(trainer.evaluate()["eval_loss"])


def build_sft_trainer(settings: SftSettings, model_dir: Path, train: Sequence[list[dict]],
                      val: Sequence[list[dict]], out_dir: Path, callbacks: list | None = None, peft_config=None):
    """The SFTTrainer run_sft uses (exposed so tests can inspect its collated batches)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(settings.seed)
    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="sdpa")
    args = SFTConfig(
        output_dir=str(Path(out_dir) / "trainer"), max_steps=settings.max_steps, learning_rate=settings.lr,
        per_device_train_batch_size=settings.micro_batch, per_device_eval_batch_size=settings.micro_batch,
        gradient_accumulation_steps=settings.grad_accum, max_length=settings.max_length,
        packing=settings.packing, packing_strategy="bfd", assistant_only_loss=True,
        lr_scheduler_type="cosine", warmup_steps=settings.warmup_steps, weight_decay=settings.weight_decay,
        eval_strategy="steps", eval_steps=settings.eval_every, logging_steps=max(1, settings.eval_every // 4),
        report_to="none", seed=settings.seed, dataloader_num_workers=0, disable_tqdm=True,
        **checkpoint_args(settings.save_every), **trainer_precision(settings.device, settings.dtype), **settings.extra,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=_conversational(train),
                         eval_dataset=_conversational(val), processing_class=tok,
                         callbacks=[PickleFreeCheckpoints(), *(callbacks or [])], peft_config=peft_config)
    return trainer, tok


def run_sft(settings: SftSettings, model_dir: Path, train: Sequence[list[dict]], val: Sequence[list[dict]],
            out_dir: Path, log: Logger = print, callbacks: list | None = None) -> dict:
    """Fine-tune ``model_dir`` on ``train`` conversations; save an HF checkpoint to ``out_dir/final``. Resumes
    from the latest checkpoint in ``out_dir`` and backs off on OOM (``finetune.resume``)."""
    made: dict = {}

    def build(micro_batch: int, grad_accum: int):
        trainer, made["tok"] = build_sft_trainer(replace(settings, micro_batch=micro_batch, grad_accum=grad_accum),
                                                 model_dir, train, val, out_dir, callbacks)
        return trainer

    trainer, summary = train_and_measure(build, settings, "sft", log)
    final = Path(out_dir) / "final"
    save_checkpoint(trainer, made["tok"], final)
    return {"final_dir": str(final), **summary, "train_examples": len(train), "val_examples": len(val)}


def train_and_measure(build, settings: SftSettings, stage: str, log: Logger) -> tuple[object, dict]:
    """Validation loss before and after training (``resume.train_resuming``: from the latest checkpoint, backing
    off on OOM; ``build(micro_batch, grad_accum)`` makes the trainer), the training-loss history and the time;
    returns the trainer that finished and the summary."""
    def starting_loss(trainer) -> float:
        loss = evaluate_loss(trainer)
        log(f"{stage}: validation loss before training {loss:.4f}")
        return loss

    trainer, resumed, start_loss = train_resuming(build, settings.micro_batch, settings.grad_accum, stage, log,
                                                  before=starting_loss)
    seconds = resumed.pop("seconds")
    val_loss = evaluate_loss(trainer)
    history = [h for h in trainer.state.log_history if "loss" in h]
    log(f"{stage}: validation loss {start_loss:.4f} -> {val_loss:.4f} in {seconds:.1f}s")
    return trainer, {"steps": trainer.state.global_step, "val_loss_start": start_loss, "val_loss": val_loss,
                     "val_perplexity": math.exp(min(val_loss, 50)), "seconds": seconds,
                     "train_loss_first": history[0]["loss"] if history else None,
                     "train_loss_last": history[-1]["loss"] if history else None,
                     "loss_history": [(h["step"], h["loss"]) for h in history], **resumed}


def save_checkpoint(trainer, tok, final: Path) -> None:
    """An HF directory (safetensors, config, generation config, tokenizer with chat template). Every rank calls
    it (a sharded model is gathered for the save); only the main process writes."""
    trainer.model.config.use_cache = True  # Trainer turned it off for training; the saved model is for generation
    trainer.save_model(str(final))
    if not trainer.args.should_save:  # another torchrun rank: its unlink could race the main process's write
        return
    # Trainer pickles its arguments to training_args.bin: keep them as JSON instead (no pickles in artifacts).
    (Path(final) / "training_args.bin").unlink(missing_ok=True)
    (Path(final) / "training_args.json").write_text(trainer.args.to_json_string())
    tok.save_pretrained(str(final))
    model = trainer.model
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(str(final))
