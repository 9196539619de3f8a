"""Atomic, resumable checkpoints: ``<out>/checkpoints/step-<N>/``.

A checkpoint holds the model (``save_pretrained``, safetensors), ``optimizer.pt`` (the optimizer
state dict) and ``trainer_state.pt`` (step, schedule, RNG states, data position, histories,
micro_batch/grad_accum in force, settings). The ``.pt`` files contain only tensors, lists, dicts,
ints, floats, strings, bools and None, and are read with ``torch.load(..., weights_only=True)``.

Atomicity: everything is written into ``.tmp-step-<N>-<pid>/``, a ``COMPLETE`` marker is written
last, then the folder is renamed to ``step-<N>``. :func:`latest_checkpoint` only considers
``step-<N>`` folders that have the marker, so a crash mid-save never yields a checkpoint that
resume would pick.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import torch

CHECKPOINTS = "checkpoints"
MARKER = "COMPLETE"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "trainer_state.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_root(out_dir: Path) -> Path:
    return Path(out_dir) / CHECKPOINTS


def complete_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint under ``root``, by step."""
    root = Path(root)
    found = []
    if root.is_dir():
        for p in root.iterdir():
            m = _STEP_DIR.match(p.name)
            if m and p.is_dir() and (p / MARKER).is_file() and (p / STATE_FILE).is_file():
                found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(root: Path) -> Path | None:
    """The complete checkpoint with the highest step, or None (temp and unmarked folders are ignored)."""
    found = complete_checkpoints(root)
    return found[-1][1] if found else None


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def remove_stale_temps(root: Path) -> None:
    """Delete half-written ``.tmp-*`` folders left by a crash."""
    if Path(root).is_dir():
        for p in Path(root).glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def write_checkpoint(root: Path, step: int, model, optimizer, state: dict, keep_last: int,
                     model_state: dict | None = None, optimizer_state: dict | None = None) -> Path:
    """Write checkpoint ``step`` atomically, then keep only the newest ``keep_last`` complete ones.

    ``model_state`` / ``optimizer_state``: full state dicts gathered from a sharded (FSDP) model, written
    instead of the model's and optimizer's own (which would hold only this rank's shard).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{int(step)}"
    tmp = root / f".tmp-step-{int(step)}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    model.save_pretrained(str(tmp), safe_serialization=True, state_dict=model_state)
    torch.save(optimizer.state_dict() if optimizer_state is None else optimizer_state, tmp / OPTIMIZER_FILE)
    torch.save({**state, "step": int(step), "rng": rng_state()}, tmp / STATE_FILE)
    (tmp / MARKER).write_text(f"{int(step)}\n")
    if final.exists():  # re-saving a step (a run resumed from it): swap, then drop the old copy
        old = root / f".tmp-old-step-{int(step)}-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    prune_checkpoints(root, keep_last)
    return final


def prune_checkpoints(root: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` complete checkpoints; returns the deleted paths."""
    found = complete_checkpoints(root)
    doomed = [p for _, p in found[:max(0, len(found) - int(keep_last))]]
    for p in doomed:
        shutil.rmtree(p, ignore_errors=True)
    return doomed


def load_trainer_state(path: Path) -> dict:
    return torch.load(Path(path) / STATE_FILE, map_location="cpu", weights_only=True)


def load_optimizer_state(path: Path, optimizer, model=None) -> None:
    """Restore the optimizer; with a sharded ``model`` the file holds the full state and each rank keeps its shard."""
    state = torch.load(Path(path) / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
    if model is not None:
        from .fsdp import load_full_optimizer_state

        load_full_optimizer_state(model, optimizer, state)
    else:
        optimizer.load_state_dict(state)
