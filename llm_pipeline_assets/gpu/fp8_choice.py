"""Which precision a pretraining run trains in: ``gpu.fp8``'s measured decision, applied once and cached.

``resolve_fp8`` is called by the pretraining child before it builds the model. It keeps ``settings.fp8`` only if
``fp8.fp8_speed_check`` measured FP8 faster on this shape, caches the decision as ``fp8_check.json`` next to the
checkpoints (a resumed run neither re-measures nor flips precision mid-run), and makes every torchrun rank take
rank 0's decision.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Callable, Optional

from llm_pipeline_assets.gpu import fp8
from llm_pipeline_assets.work_units import atomic_write_text

__all__ = ["CACHE_FILE", "resolve_fp8", "unmeasured_decision"]

CACHE_FILE = "fp8_check.json"


def _read_record(cache: Optional[Path], key: dict) -> Optional[dict]:
    if cache is None or not cache.exists():
        return None
    record = json.loads(cache.read_text())
    return record if record.get("key") == key else None


def unmeasured_decision(recipe: str, exc: BaseException) -> dict:
    """The decision when the check itself fails (run on one GPU, unsharded, it can exceed that GPU's memory).

    Out of memory: the shape is larger than one GPU holds for training without FSDP, i.e. larger than the
    shapes where FP8 was measured faster (1b on an H100: 1.14x at micro-batch 8, 1.17x at 12), so the
    requested FP8 is kept and the log says it was not measured. Any other failure: bf16, with the error.
    """
    from llm_pipeline_assets.training.oom import is_oom

    message = f"{type(exc).__name__}: {exc}"[:500]
    oom = is_oom(exc)
    reason = (f"fp8 kept unmeasured: the speed check ran out of memory on one GPU ({message})" if oom else
              f"fp8 speed check failed ({message}): bf16")
    return {"precision": "fp8" if oom else "bf16", "recipe": recipe, "ratio": None, "reason": reason,
            "error": message}


def resolve_fp8(settings, model_dir: Path, seq_len: int, log: Callable[[str], None] = print,
                cache_dir: Optional[Path] = None, rank: Optional[int] = None, world_size: Optional[int] = None,
                wait_seconds: float = 1800.0) -> tuple:
    """Keep ``settings.fp8`` only if FP8 measured faster on this shape: ``(settings, decision dict)``.

    The decision is cached as ``cache_dir/fp8_check.json`` (reused while recipe, shape, sequence length and
    batch match), so a resumed run neither re-measures nor changes precision.  With several ranks
    (``RANK`` / ``WORLD_SIZE`` from torchrun unless given) only rank 0 measures; the others wait for its
    cached decision, so every rank trains in the same precision (``cache_dir`` is then required).
    """
    if settings.fp8 is None:
        return settings, {"precision": settings.dtype, "reason": "fp8 not requested"}
    from transformers import AutoConfig

    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    if world_size > 1 and cache_dir is None:
        raise ValueError("resolve_fp8 with several ranks needs a shared cache_dir")
    config = AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
    cache = Path(cache_dir) / CACHE_FILE if cache_dir is not None else None
    key = {"recipe": settings.fp8, "seq_len": int(seq_len), "micro_batch": settings.micro_batch,
           "hidden_size": config.hidden_size, "num_hidden_layers": config.num_hidden_layers,
           "compile": settings.compile_scope if settings.compile else None,
           "gradient_checkpointing": settings.gradient_checkpointing}
    record = _read_record(cache, key)
    if record is None and rank != 0:
        deadline = time.monotonic() + wait_seconds
        while record is None and time.monotonic() < deadline:
            time.sleep(1.0)
            record = _read_record(cache, key)
        if record is None:
            raise TimeoutError(f"rank {rank}: no fp8 decision from rank 0 in {cache} after {wait_seconds:.0f}s")
    if record is None:
        try:
            decision = fp8.fp8_speed_check(config, seq_len, settings.micro_batch, settings.device, settings.fp8,
                                       compile=settings.compile_scope if settings.compile else False,
                                       gradient_checkpointing=settings.gradient_checkpointing).to_dict()
        except Exception as exc:  # rank 0 must still write a decision: the other ranks are waiting for it
            decision = unmeasured_decision(settings.fp8, exc)
        record = {"key": key, **decision}
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cache, json.dumps(record, indent=1))  # a waiting rank never reads half a file
    log(f"fp8 check ({settings.fp8}, seq {seq_len} x batch {settings.micro_batch}): {record['reason']}")
    return (settings if record["precision"] == "fp8" else dataclasses.replace(settings, fp8=None)), record
