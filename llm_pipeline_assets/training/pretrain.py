"""``pretrain()``: train a base model on packed tokens, resumable and OOM-tolerant; final HF folder + metrics.

Torch-free at import (torch, transformers and the loop modules are imported inside the functions),
so ``from llm_pipeline_assets.training.pretrain import PretrainSettings`` stays cheap.

Outputs under ``out_dir``::

    checkpoints/step-<N>/   resumable checkpoints (atomic; the newest keep_last are kept)
    final/                  HF model (safetensors) + tokenizer + generation config
    metrics.json            per-step loss/lr/seq_len, validation history, tokens, throughput, OOM recoveries
    loss_curve.png          only when matplotlib is importable
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

from llm_pipeline_assets.work_units import atomic_write_text

from .settings import PretrainSettings, lr_at, seq_len_at

__all__ = ["PretrainSettings", "pretrain", "lr_at", "seq_len_at", "write_final", "plot_loss_curve"]

FINAL_DIR = "final"
METRICS_FILE = "metrics.json"
LOSS_CURVE = "loss_curve.png"


def write_final(model, init_dir: Path, final_dir: Path, state_dict: dict | None = None) -> Path:
    """Save ``model`` with the tokenizer and generation config of ``init_dir`` to ``final_dir`` (atomically).

    ``state_dict``: the full weights gathered from a sharded (FSDP) model, saved instead of its own shards.
    """
    from transformers import AutoTokenizer, GenerationConfig

    from .shapes import generation_config_for

    final_dir = Path(final_dir)
    for stale in final_dir.parent.glob(f".tmp-{final_dir.name}-*"):  # left by a crash mid-write
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final_dir.with_name(f".tmp-{final_dir.name}-{os.getpid()}")
    tokenizer = AutoTokenizer.from_pretrained(str(init_dir), local_files_only=True)
    if (Path(init_dir) / "generation_config.json").exists():
        gen = GenerationConfig.from_pretrained(str(init_dir), local_files_only=True)
    else:
        gen = generation_config_for(tokenizer, model.config.vocab_size)
    use_cache = model.config.use_cache
    model.config.use_cache = True  # the final model is for generation
    model.generation_config = gen
    try:
        model.save_pretrained(str(tmp), safe_serialization=True, state_dict=state_dict)
    finally:
        model.config.use_cache = use_cache
    tokenizer.save_pretrained(str(tmp))
    if final_dir.exists():
        shutil.rmtree(final_dir)
    os.replace(tmp, final_dir)
    return final_dir


def plot_loss_curve(history: list[dict], val_history: list[dict], path: Path) -> Path | None:
    """Train/val loss against step as a PNG, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot([r["step"] for r in history], [r["loss"] for r in history], label="train", linewidth=1)
    if val_history:
        ax.plot([r["step"] for r in val_history], [r["val_loss"] for r in val_history], "o-", label="val")
    for r0, r1 in zip(history, history[1:]):
        if r0["seq_len"] != r1["seq_len"]:
            ax.axvline(r1["step"], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))


def pretrain(settings: PretrainSettings, packed_dir: Path, init_dir: Path, out_dir: Path,
             log: Callable[[str], None] = print, on_metrics: Callable[[dict], None] | None = None) -> dict:
    """Pretrain the model in ``init_dir`` on ``packed_dir`` (the packed_tokens output) into ``out_dir``.

    Resumes from the newest complete checkpoint in ``out_dir/checkpoints`` when there is one (the
    result equals an uninterrupted run). ``on_metrics`` receives every step's record
    (``kind="train"``) and every validation (``kind="eval"``); an exception it raises stops the run
    like a crash would. Returns a summary dict (see the keys below).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    from .loop import Trainer
    from .shapes import count_parameters

    hf_logging.disable_progress_bar()  # the run logs through ``log``; no tqdm bars on stderr

    packed_dir, init_dir, out_dir = Path(packed_dir), Path(init_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(settings, packed_dir, init_dir, out_dir, log, on_metrics)
    log(f"pretrain: {count_parameters(trainer.model):,} parameters, {settings.max_steps} steps of "
        f"{trainer.samples_per_step} sequences, curriculum {trainer.curriculum}, device {settings.device}, "
        f"dtype {settings.dtype}, attention {settings.attn_implementation}"
        + (f", resuming at step {trainer.step}" if trainer.resumed_from else ""))
    trainer.run()
    from . import distributed

    full_weights = trainer.final_weights  # FSDP: gathered by the final checkpoint, when this run wrote it
    if trainer.sharded and full_weights is None:  # collective: every rank takes part in gathering the weights
        from .fsdp import full_state_dicts

        full_weights, _ = full_state_dicts(trainer.model)
    if not trainer.dist.is_main:  # rank 0 writes the final model and metrics
        distributed.barrier(trainer.dist)
        distributed.teardown(trainer.dist)
        return {"final_dir": str(out_dir / FINAL_DIR), "steps": trainer.step, "rank": trainer.dist.rank}
    final_dir = write_final(trainer.model, init_dir, out_dir / FINAL_DIR, state_dict=full_weights)
    history, val_history = trainer.history, trainer.val_history
    last_val = val_history[-1] if val_history else {}
    tokens_per_second = trainer.tokens_seen / max(trainer.train_seconds, 1e-9)
    summary = {
        "final_dir": str(final_dir), "steps": trainer.step,
        "first_train_loss": history[0]["loss"] if history else None,
        "final_train_loss": history[-1]["loss"] if history else None,
        "val_loss": last_val.get("val_loss"), "val_perplexity": last_val.get("val_perplexity"),
        "tokens_seen": trainer.tokens_seen, "tokens_per_second": tokens_per_second,
        "steps_per_second": len(history) / max(trainer.train_seconds, 1e-9),
        "oom_recoveries": len(trainer.recoveries), "micro_batch": trainer.micro_batch,
        "grad_accum": trainer.grad_accum, "resumed_from": trainer.resumed_from,
        "parameters": count_parameters(trainer.model), "world_size": trainer.dist.world,
    }
    metrics = {**summary, "settings": settings.to_dict(), "curriculum": [list(c) for c in trainer.curriculum],
               "seq_lens_trained": sorted({r["seq_len"] for r in history}), "train_seconds": trainer.train_seconds,
               "history": history, "val_history": val_history, "recoveries": trainer.recoveries}
    _write_json(out_dir / METRICS_FILE, metrics)
    curve = plot_loss_curve(history, val_history, out_dir / LOSS_CURVE)
    summary["metrics_path"] = str(out_dir / METRICS_FILE)
    summary["loss_curve"] = str(curve) if curve else None
    distributed.barrier(trainer.dist)
    distributed.teardown(trainer.dist)
    log(f"pretrain: done at step {trainer.step}: train loss {summary['first_train_loss']:.4f} -> "
        f"{summary['final_train_loss']:.4f}, val loss {summary['val_loss']}, {tokens_per_second:.0f} tok/s, "
        f"{len(trainer.recoveries)} OOM recoveries" if history else f"pretrain: nothing to do at step {trainer.step}")
    return summary
