"""FSDP2 sharding for pretraining over several ranks (``torch.distributed.fsdp.fully_shard``).

With ``settings.fsdp`` and more than one rank, every decoder layer and then the whole model are wrapped with
``fully_shard``: each rank keeps 1/world of the parameters, gradients and AdamW state, and all-gathers a
layer's weights just for its forward/backward. Gradients are reduce-scattered as a SUM (divide factor 1),
because each rank scales its loss by the step's GLOBAL target-token count (``distributed.py``) times the world
size (FSDP averages over ranks; gloo has no pre-multiplied sum), so the update equals the single-process one, as
with the replicated path. Every rank must run the same number of forward/backward passes (each one is a
collective), so a step's samples must split evenly over the ranks.

Checkpoints stay the same Hugging Face folders: the full model and optimizer state dicts are gathered
(collectively, offloaded to CPU, only rank 0 receives them) and rank 0 writes them. Resuming loads the full
weights before sharding, then hands the full optimizer state to every rank, which keeps its own shard.
Works on CPU (gloo) as on GPU (nccl).
"""

from __future__ import annotations

import torch


def shard_model(model) -> int:
    """Wrap each decoder layer, then the root, with ``fully_shard``; returns the number of sharded units."""
    from torch.distributed.fsdp import fully_shard

    layers = list(getattr(getattr(model, "model", None), "layers", None) or [])
    if not layers:
        raise ValueError(f"fsdp: {type(model).__name__} has no model.layers to shard")
    for layer in layers:
        fully_shard(layer)
    fully_shard(model)
    return len(layers) + 1


def check_even_split(samples_per_step: int, world: int) -> None:
    """FSDP needs the same number of micro-batches on every rank: the step's samples must divide evenly."""
    if samples_per_step % world or samples_per_step < world:
        raise ValueError(f"fsdp: micro_batch * grad_accum = {samples_per_step} samples per step do not split "
                         f"evenly over {world} ranks; make it a multiple of {world}")


def _options(**extra):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True, **extra)


def full_state_dicts(model, optimizer=None) -> tuple[dict, dict | None]:
    """Collective: the unsharded model (and optimizer) state dicts, on CPU; complete on rank 0 only."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    model_state = get_model_state_dict(model, options=_options())
    optim_state = get_optimizer_state_dict(model, optimizer, options=_options()) if optimizer is not None else None
    return model_state, optim_state


def load_full_optimizer_state(model, optimizer, state: dict) -> None:
    """Every rank passes the same full optimizer state (as ``full_state_dicts`` gathered it) and keeps its shard."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, optim_state_dict=state, options=_options())


def as_float(value) -> float:
    """A scalar tensor (a DTensor under FSDP, e.g. the clipped gradient norm) as a Python float."""
    full = getattr(value, "full_tensor", None)
    return float(full() if callable(full) else value) if isinstance(value, torch.Tensor) else float(value)
