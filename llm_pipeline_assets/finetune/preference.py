"""DPO with TRL's DPOTrainer and LoRA with PEFT, on top of an SFT checkpoint.

DPO gets an explicit, frozen reference model loaded from the same checkpoint (TRL's default reference
rebuild fails for in-memory models), or precomputed reference log-probs; β and ``loss_type`` (sigmoid,
ipo, hinge, …) come from the config; reward accuracy and margins are read from TRL's evaluation.
LoRA trains an adapter with SFTTrainer + ``peft_config`` on a domain mix, saves the adapter (loadable with
``PeftModel.from_pretrained``) and a merged model (``merge_and_unload``) as plain HF checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from llm_pipeline_assets.finetune.sft import SftSettings, arrow_safe, build_sft_trainer, save_checkpoint, train_and_measure
from llm_pipeline_assets.finetune.sft import trainer_precision
from llm_pipeline_assets.finetune.resume import PickleFreeCheckpoints, checkpoint_args, train_resuming

Logger = Callable[[str], None]


@dataclass
class DpoSettings:
    max_steps: int = 40
    lr: float = 5e-4
    beta: float = 0.1
    loss_type: str = "sigmoid"
    micro_batch: int = 8
    grad_accum: int = 1
    max_length: int = 256
    precompute_ref_log_probs: bool = False
    label_smoothing: float = 0.0  # robust DPO: the assumed probability that a preference label is flipped
    sft_loss_weight: float = 0.0  # > 0: plus this weight times the NLL of the chosen replies (RPO)
    eval_every: int = 20
    save_every: int = 200  # steps between checkpoints (finetune.resume)
    seed: int = 42
    device: str = "cpu"
    dtype: str = "float32"
    extra: dict = field(default_factory=dict)  # passed through to DPOConfig (e.g. gradient_checkpointing)


@dataclass
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    sft: SftSettings = field(default_factory=SftSettings)


def _pairs(rows: Sequence[dict]):
    from datasets import Dataset

    def safe(value):
        return arrow_safe(value) if isinstance(value, list) else value

    return Dataset.from_list([{k: safe(r[k]) for k in ("prompt", "chosen", "rejected")} for r in rows])


def _dpo_eval(trainer) -> dict:
    m = trainer.evaluate()
    return {"loss": float(m["eval_loss"]), "reward_accuracy": float(m.get("eval_rewards/accuracies", float("nan"))),
            "reward_margin": float(m.get("eval_rewards/margins", float("nan")))}


def _losses(settings: DpoSettings) -> dict:
    """DPOConfig's loss_type (and loss_weights): the preference loss, plus the chosen replies' NLL when weighted."""
    if settings.sft_loss_weight > 0:
        return {"loss_type": [settings.loss_type, "sft"], "loss_weights": [1.0, settings.sft_loss_weight]}
    return {"loss_type": [settings.loss_type]}


def build_dpo_trainer(settings: DpoSettings, model_dir: Path, train: Sequence[dict], val: Sequence[dict],
                      out_dir: Path, callbacks: list | None = None):
    """The DPOTrainer run_dpo uses, with its tokenizer: the policy and an explicit frozen reference (or
    precomputed reference log-probs) loaded from ``model_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(settings.seed)
    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
    ref = None if settings.precompute_ref_log_probs else AutoModelForCausalLM.from_pretrained(
        str(model_dir), local_files_only=True)
    args = DPOConfig(
        output_dir=str(Path(out_dir) / "trainer"), max_steps=settings.max_steps, learning_rate=settings.lr,
        beta=settings.beta, label_smoothing=settings.label_smoothing, **_losses(settings),
        per_device_train_batch_size=settings.micro_batch,
        per_device_eval_batch_size=settings.micro_batch, gradient_accumulation_steps=settings.grad_accum,
        max_length=settings.max_length, precompute_ref_log_probs=settings.precompute_ref_log_probs,
        eval_strategy="steps", eval_steps=settings.eval_every, logging_steps=max(1, settings.eval_every // 4),
        report_to="none", seed=settings.seed, disable_tqdm=True, **checkpoint_args(settings.save_every),
        **trainer_precision(settings.device, settings.dtype), **settings.extra,
    )
    trainer = DPOTrainer(model=model, ref_model=ref, args=args, train_dataset=_pairs(train),
                         eval_dataset=_pairs(val), processing_class=tok,
                         callbacks=[PickleFreeCheckpoints(), *(callbacks or [])])
    return trainer, tok


def run_dpo(settings: DpoSettings, model_dir: Path, train: Sequence[dict], val: Sequence[dict], out_dir: Path,
            log: Logger = print, callbacks: list | None = None) -> dict:
    """DPO from ``model_dir``; resumes from the latest checkpoint in ``out_dir``, backs off on OOM."""
    made: dict = {}

    def build(micro_batch: int, grad_accum: int):
        trainer, made["tok"] = build_dpo_trainer(replace(settings, micro_batch=micro_batch, grad_accum=grad_accum),
                                                 model_dir, train, val, out_dir, callbacks)
        return trainer

    trainer, resumed, before = train_resuming(build, settings.micro_batch, settings.grad_accum, "dpo", log,
                                              before=_dpo_eval)
    seconds = resumed.pop("seconds")
    after = _dpo_eval(trainer)
    log(f"dpo: eval loss {before['loss']:.4f} -> {after['loss']:.4f}, reward accuracy "
        f"{before['reward_accuracy']:.3f} -> {after['reward_accuracy']:.3f}, margin {after['reward_margin']:.4f}")
    final = Path(out_dir) / "final"
    save_checkpoint(trainer, made["tok"], final)
    history = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    return {"final_dir": str(final), "steps": trainer.state.global_step, "seconds": seconds,
            "val_loss_start": before["loss"], "val_loss": after["loss"],
            "reward_accuracy_start": before["reward_accuracy"], "reward_accuracy": after["reward_accuracy"],
            "reward_margin": after["reward_margin"], "loss_history": history, "beta": settings.beta,
            "loss_type": settings.loss_type, "label_smoothing": settings.label_smoothing,
            "sft_loss_weight": settings.sft_loss_weight, "train_pairs": len(train),
            "val_pairs": len(val), **resumed}


def run_lora(settings: LoraSettings, model_dir: Path, train: Sequence[list[dict]], val: Sequence[list[dict]],
             out_dir: Path, log: Logger = print, callbacks: list | None = None) -> dict:
    from peft import LoraConfig

    peft_config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                             target_modules=list(settings.target_modules), bias="none", task_type="CAUSAL_LM")

    made: dict = {}

    def build(micro_batch: int, grad_accum: int):
        trainer, made["tok"] = build_sft_trainer(replace(settings.sft, micro_batch=micro_batch, grad_accum=grad_accum),
                                                 model_dir, train, val, out_dir, callbacks, peft_config=peft_config)
        return trainer

    trainer, summary = train_and_measure(build, settings.sft, "lora", log)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in trainer.model.parameters())
    adapter, merged = save_lora(trainer, made["tok"], Path(out_dir) / "final")
    return {"adapter_dir": str(adapter), "merged_dir": str(merged), "trainable_parameters": trainable,
            "total_parameters": total, "r": settings.r, "alpha": settings.alpha, **summary,
            "train_examples": len(train), "val_examples": len(val)}


def save_lora(trainer, tok, final: Path) -> tuple[Path, Path]:
    """``final/adapter`` (PEFT adapter + tokenizer) and ``final/merged`` (the adapter merged: an HF checkpoint),
    written by the main process only (under torchrun every rank reaches here)."""
    adapter, merged = Path(final) / "adapter", Path(final) / "merged"
    if not trainer.args.should_save:
        return adapter, merged
    trainer.model.save_pretrained(str(adapter))
    tok.save_pretrained(str(adapter))
    merged_model = trainer.model.merge_and_unload()
    merged_model.config.use_cache = True  # Trainer turned it off for training; the merged model is for generation
    merged_model.save_pretrained(str(merged), safe_serialization=True)
    tok.save_pretrained(str(merged))
    if getattr(merged_model, "generation_config", None) is not None:
        merged_model.generation_config.save_pretrained(str(merged))
    return adapter, merged
