"""Learning-rate schedule: linear warmup from 0, then cosine decay to a real ``min_lr``.

``lr_at(s)`` is the rate of the update that completes step ``s`` (1-based), so ``lr_at(0) == 0``
(the start), ``lr_at(warmup_steps) == lr`` (the peak) and ``lr_at(max_steps) == min_lr`` (the last
update really trains at ``min_lr``; the predecessor's schedule ignored it).
"""

from __future__ import annotations

import math


def lr_at(step: int, settings) -> float:
    """Pure function of ``step`` and ``settings.lr/min_lr/warmup_steps/max_steps``."""
    lr, min_lr = float(settings.lr), float(settings.min_lr)
    warmup, total = int(settings.warmup_steps), int(settings.max_steps)
    step = max(0, min(int(step), total))
    if warmup > 0 and step < warmup:
        return lr * step / warmup
    if total <= warmup:
        return lr
    progress = (step - warmup) / (total - warmup)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def scheduler_state(step: int, settings) -> dict:
    """What a checkpoint records of the schedule (it is stateless: the step determines the rate)."""
    return {"kind": "warmup_cosine", "step": int(step), "lr": lr_at(step, settings),
            "peak_lr": float(settings.lr), "min_lr": float(settings.min_lr),
            "warmup_steps": int(settings.warmup_steps), "max_steps": int(settings.max_steps)}
