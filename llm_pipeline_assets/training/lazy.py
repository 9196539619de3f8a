"""Deferred step records (``PretrainSettings.sync_every > 1``): the host does not wait for the GPU each step.

With ``sync_every == 1`` every step ends with ``float(loss)``, ``float(grad_norm)`` and
``torch.cuda.synchronize()`` (exact per-step seconds, metrics at once). Each of those waits drains the
GPU's queue, and the next step's host work (collating the batch, copying it, building masks, launching
the compiled graphs) then runs with the GPU idle. With ``sync_every = N`` the step's loss and gradient
norm stay device tensors; the loop reads a group of records back in one transfer every N steps (and at
every step that logs, evaluates or checkpoints) and gives each step of the group the group's wall time
divided evenly. Losses, weights and the data order are unchanged: only when numbers reach the host.
Single process only (several ranks already meet in collectives every step).
"""

from __future__ import annotations

import time

import torch

__all__ = ["StepRecords"]


class StepRecords:
    """Steps recorded with device tensors for ``loss``/``grad_norm``, turned into floats in groups."""

    def __init__(self, device: str):
        self.device = device
        self.pending: list[dict] = []
        self.group_start = time.perf_counter()

    def restart_clock(self) -> None:
        """Start timing the next group now (after evaluation or a checkpoint, which are not step time)."""
        self.group_start = time.perf_counter()

    def add(self, record: dict) -> None:
        self.pending.append(record)

    def flush(self) -> tuple[list[dict], float]:
        """Fill in ``loss``, ``grad_norm``, ``seconds``, ``tokens_per_second`` of the pending records (one
        device sync); returns them and the group's wall seconds."""
        if not self.pending:
            return [], 0.0
        if self.device == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - self.group_start
        group, self.pending = self.pending, []
        values = torch.stack([torch.stack([torch.as_tensor(r[k], dtype=torch.float64).reshape(())
                                           for k in ("loss", "grad_norm")]) for r in group]).tolist()
        per_step = wall / len(group)
        for record, (loss, grad_norm) in zip(group, values):
            record.update(loss=loss, grad_norm=grad_norm, seconds=per_step,
                          tokens_per_second=record["tokens"] / max(per_step, 1e-9))
        self.group_start = time.perf_counter()
        return group, wall
