"""Data parallelism across ``torchrun`` processes: every rank trains on its slice of each step's samples.

Each rank draws the same step samples (same seed, same data position), keeps ``indices[rank::world]``,
scales its loss by the step's GLOBAL target-token count, and the gradients are summed with all-reduce —
so the update equals the single-process one whatever the world size (tested with 2 CPU processes on
gloo). OOM handling stays collective: if any rank runs out of memory, every rank backs off and redoes
the step. Rank 0 alone writes checkpoints, the final model and metrics. For shapes that do not fit one
device, ``settings.fsdp`` shards the model itself instead of replicating it (``fsdp.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> DistInfo:
    """Join the process group torchrun describes (RANK/WORLD_SIZE/LOCAL_RANK); a no-op for one process."""
    info = DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                    int(os.environ.get("LOCAL_RANK", 0)))
    if info.enabled and not dist.is_initialized():
        if device == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    return info


def shard(indices: list[int], info: DistInfo) -> list[int]:
    return indices[info.rank::info.world] if info.enabled else indices


def all_sum(value: float, info: DistInfo, device: str) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item())


def any_rank(flag: bool, info: DistInfo, device: str) -> bool:
    return all_sum(1.0 if flag else 0.0, info, device) > 0


def sum_gradients(model, info: DistInfo) -> None:
    """Sum every gradient over ranks (each rank already divided by the global target count).

    A rank that drew no sample this step (fewer samples per step than ranks) has no gradients: it contributes
    zeros, so every rank joins the same all-reduces (skipping them left the other ranks waiting forever).
    """
    if not info.enabled:
        return
    for p in model.parameters():
        if p.requires_grad:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
