"""FP8 training: which library, and only where it is measured to be faster on the actual model shape.

Recipes, in order of preference: ``transformer_engine`` (Transformer Engine through accelerate: decoder
Linear layers -> ``te.Linear``, forward wrapped in ``fp8_autocast`` with a delayed-scaling HYBRID recipe)
when importable, else ``torchao`` (``Float8Linear`` via ``convert_float8``).  Both need a GPU
of compute capability >= 8.9 to be fast; torchao also runs (emulated, slowly) on CPU, which is what the
CPU tests use.

FP8 is not always faster: at small hidden sizes the per-tensor scaling and casts cost more than the
FP8 GEMMs save, and torchao's float8 needs ``torch.compile`` to fuse them.  So before training,
``fp8_speed_check`` times a few forward+backward steps of the real shape (same batch, sequence length,
compile setting) in bf16 autocast and in FP8, and ``decide_fp8`` keeps FP8 only when
``bf16_seconds / fp8_seconds >= min_speedup`` (default 1.05: a gain below 5 % is not worth FP8's
numerics).  The decision (choice, recipe, ratio, both timings) is returned for the run's metrics;
``gpu.fp8_choice.resolve_fp8`` applies it to ``PretrainSettings`` and caches it next to the checkpoints, so a resumed run
does not re-measure (and cannot flip precision mid-run) and every torchrun rank takes rank 0's decision.

CLI (used by ``bench/gpu_check.sh``)::

    python -m llm_pipeline_assets.gpu.fp8 --shape 1b --seq-len 2048 --batch 4 --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.util
import json
import math
import statistics
import time
from pathlib import Path
from typing import Optional


__all__ = ["FP8_RECIPES", "DEFAULT_MIN_SPEEDUP", "Fp8Decision", "available_fp8_recipes", "decide_fp8", "apply_fp8",
           "convert_float8", "step_seconds", "fp8_speed_check"]

FP8_RECIPES = ("transformer_engine", "torchao")
DEFAULT_MIN_SPEEDUP = 1.05


@dataclasses.dataclass
class Fp8Decision:
    precision: str  # "fp8" | "bf16"
    recipe: Optional[str]  # the FP8 recipe measured (None: none available)
    ratio: Optional[float]  # bf16 step seconds / fp8 step seconds (> 1: FP8 faster)
    bf16_step_seconds: Optional[float]
    fp8_step_seconds: Optional[float]
    min_speedup: float
    shape: dict
    device: str
    compiled: bool
    fp8_layers: int = 0
    reason: str = ""
    error: Optional[str] = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def available_fp8_recipes() -> list:
    """Importable FP8 recipes in preference order (no import: a missing package is never an error)."""
    found = []
    if importlib.util.find_spec("transformer_engine") is not None and importlib.util.find_spec("accelerate"):
        found.append("transformer_engine")
    if importlib.util.find_spec("torchao") is not None:
        found.append("torchao")
    return found


def decide_fp8(bf16_seconds: Optional[float], fp8_seconds: Optional[float],
               min_speedup: float = DEFAULT_MIN_SPEEDUP) -> tuple:
    """Pure policy: ``(use_fp8, ratio, reason)`` from two measured step times (None = not measured)."""
    if min_speedup <= 0:
        raise ValueError(f"min_speedup must be > 0, got {min_speedup}")
    for name, value in (("bf16", bf16_seconds), ("fp8", fp8_seconds)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} step time must be a positive finite number, got {value}")
    if bf16_seconds is None or fp8_seconds is None:
        return False, None, "fp8 step time not measured: bf16"
    ratio = bf16_seconds / fp8_seconds
    if ratio >= min_speedup:
        return True, ratio, f"fp8 is {ratio:.2f}x bf16 (>= {min_speedup:.2f}x): fp8"
    return False, ratio, f"fp8 is {ratio:.2f}x bf16 (< {min_speedup:.2f}x): bf16"


def convert_float8(model) -> int:
    """Swap every Linear whose dims are multiples of 16 (not the LM head) for torchao's Float8Linear."""
    import torch
    from torchao.float8 import convert_to_float8_training

    def eligible(module, fqn: str) -> bool:
        return (isinstance(module, torch.nn.Linear) and module.in_features % 16 == 0
                and module.out_features % 16 == 0 and "lm_head" not in fqn)

    convert_to_float8_training(model, module_filter_fn=eligible)
    return sum(type(m).__name__ == "Float8Linear" for m in model.modules())


def apply_fp8(model, recipe: str) -> int:
    """Convert ``model`` in place for FP8 training with ``recipe``; returns the number of FP8 layers."""
    if recipe == "torchao":
        return convert_float8(model)
    if recipe == "transformer_engine":
        from accelerate.utils import TERecipeKwargs
        from accelerate.utils.transformer_engine import apply_fp8_autowrap, convert_model

        # decoder layers only: converting lm_head would copy (and so untie) a tied embedding
        for layer in model.model.layers:
            convert_model(layer, to_transformer_engine=True, _convert_ln=False)
        apply_fp8_autowrap(model, TERecipeKwargs(fp8_format="HYBRID", amax_history_len=16, amax_compute_algo="max"))
        return sum(type(m).__module__.startswith("transformer_engine") for m in model.modules())
    raise ValueError(f"fp8 recipe must be one of {FP8_RECIPES}, got {recipe!r}")


def _sync(device: str) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def step_seconds(model, micro_batch: int, seq_len: int, device: str, steps: int = 3, warmup: int = 1,
                 seed: int = 0) -> tuple:
    """``(median seconds per step, warm-up seconds)`` of forward + loss + backward under bf16 autocast."""
    import torch
    import torch.nn.functional as F

    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (micro_batch, seq_len + 1), generator=gen).to(device)
    inputs, labels = ids[:, :-1], ids[:, 1:]
    dev_type = torch.device(device).type
    times = []
    for i in range(warmup + steps):
        _sync(device)
        start = time.perf_counter()
        with torch.autocast(device_type=dev_type, dtype=torch.bfloat16):
            logits = model(input_ids=inputs).logits
        loss = F.cross_entropy(logits.float().reshape(-1, vocab), labels.reshape(-1))
        loss.backward()
        model.zero_grad(set_to_none=True)
        del logits, loss
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[warmup:]), sum(times[:warmup])


def _fresh_model(config, device: str, seed: int, gradient_checkpointing: bool = False):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=torch.float32)
    model.config.use_cache = False
    if gradient_checkpointing:  # as the loop trains it (the 1b/7b presets): recomputed activations, less memory
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model.train()


def _release(device: str) -> None:
    gc.collect()
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def fp8_speed_check(config, seq_len: int, micro_batch: int, device: str = "cuda", recipe: Optional[str] = None,
                    steps: int = 3, warmup: int = 1, compile=False,
                    min_speedup: float = DEFAULT_MIN_SPEEDUP, seed: int = 0,
                    gradient_checkpointing: bool = False) -> Fp8Decision:
    """Time bf16 vs FP8 training steps of ``config``'s shape on ``device`` and decide (see module doc).

    ``compile``: False, True (= "full") or a ``gpu.kernels.compile_model`` scope ("regional" / "full"),
    the way the training loop will run.
    """
    from llm_pipeline_assets.gpu.kernels import compile_model

    scope = "full" if compile is True else (compile or None)
    shape = {"hidden_size": config.hidden_size, "num_hidden_layers": config.num_hidden_layers,
             "intermediate_size": config.intermediate_size, "vocab_size": config.vocab_size,
             "seq_len": int(seq_len), "micro_batch": int(micro_batch),
             "gradient_checkpointing": bool(gradient_checkpointing)}
    recipes = available_fp8_recipes()
    recipe = recipe or (recipes[0] if recipes else None)
    decision = Fp8Decision("bf16", recipe, None, None, None, min_speedup, shape, str(device), bool(scope))
    timed = {}
    for mode in ("bf16", "fp8"):
        if mode == "fp8" and recipe is None:
            decision.reason = "no fp8 library (transformer_engine / torchao) importable: bf16"
            break
        model = _fresh_model(config, device, seed, gradient_checkpointing)
        try:
            if mode == "fp8":
                decision.fp8_layers = apply_fp8(model, recipe)
            runner = compile_model(model, scope) if scope else model
            timed[mode], timed[f"{mode}_warmup"] = step_seconds(runner, micro_batch, seq_len, device, steps, warmup,
                                                                seed)
        except Exception as exc:  # an FP8 failure (old GPU, broken install) means bf16, with the reason kept
            if mode == "bf16":
                raise
            decision.error = f"{type(exc).__name__}: {exc}"[:500]
        finally:
            del model
            _release(device)
    decision.bf16_step_seconds, decision.fp8_step_seconds = timed.get("bf16"), timed.get("fp8")
    if recipe is not None:
        use, decision.ratio, decision.reason = decide_fp8(decision.bf16_step_seconds, decision.fp8_step_seconds,
                                                          min_speedup)
        decision.precision = "fp8" if use else "bf16"
        if decision.error:
            decision.reason = f"fp8 ({recipe}) failed: {decision.error}; bf16"
    return decision


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="bf16 vs FP8 forward+backward step time on a model shape")
    ap.add_argument("--shape", default="tiny")
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--recipe", choices=FP8_RECIPES, default=None)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--compile", nargs="?", const="full", default=None, choices=("regional", "full"),
                    help="torch.compile both models: the whole model (full, the default of a bare --compile) or "
                         "each decoder layer (regional)")
    ap.add_argument("--min-speedup", type=float, default=DEFAULT_MIN_SPEEDUP)
    ap.add_argument("--gradient-checkpointing", action="store_true", help="as the 1b/7b presets train")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from llm_pipeline_assets.training.shapes import llama_config

    config = llama_config(args.shape, args.vocab, max_position_embeddings=max(args.seq_len, 8))
    decision = fp8_speed_check(config, args.seq_len, args.batch, args.device, args.recipe, args.steps, args.warmup,
                               args.compile, args.min_speedup, gradient_checkpointing=args.gradient_checkpointing)
    report = {"shape_name": args.shape, **decision.to_dict()}
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
