"""Out-of-memory recovery helpers of the pretraining loop: detect, free, back off (and a test hook).

Recovery keeps the step's samples: the micro-batch halves and accumulation doubles, so the update is
the one the configured batch would give (see ``loop.Trainer.train_step``).
"""

from __future__ import annotations

import gc

import torch


def is_oom(exc: BaseException) -> bool:
    """A CUDA/CPU allocator failure: ``torch.OutOfMemoryError`` or a RuntimeError saying "out of memory"."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def maybe_simulate_oom(micro_batch: int, simulate_oom_above: int | None) -> None:
    """Test hook called right before the forward pass: raise a real ``torch.OutOfMemoryError``."""
    if simulate_oom_above is not None and micro_batch > simulate_oom_above:
        raise torch.OutOfMemoryError(
            f"simulated out of memory: micro-batch {micro_batch} > simulate_oom_above {simulate_oom_above}")


def free_memory(model, device: str) -> None:
    """Drop gradients and cached allocator blocks after an OOM."""
    model.zero_grad(set_to_none=True)
    gc.collect()
    if device == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


def back_off(micro_batch: int, grad_accum: int, message: str) -> tuple[int, int]:
    """Halve the micro-batch and double accumulation, keeping the step's sample count.

    The step always takes ``micro_batch * grad_accum`` samples as configured; after the back-off they
    are split into ``ceil(micro_batch / 2)``-sized chunks, ``grad_accum`` of them (exactly double for
    an even micro-batch; an odd one leaves a smaller last chunk). Raises RuntimeError when the
    micro-batch is already 1.
    """
    if micro_batch <= 1:
        raise RuntimeError(f"out of memory with micro_batch=1 (grad_accum={grad_accum}); cannot back off "
                           f"further: use a smaller model/sequence length, gradient checkpointing or bfloat16. "
                           f"Last error: {message}")
    samples = micro_batch * grad_accum
    smaller = (micro_batch + 1) // 2
    return smaller, -(-samples // smaller)
