"""Evaluation helpers for the Pipes children: held-out task items + packed validation tokens -> metrics."""

from __future__ import annotations

import math
from pathlib import Path


def load_val_tokens(packed_dir: str, limit: int):
    from llm_pipeline_assets.tokens.stream import TokenStream

    prefix = Path(packed_dir) / "val"
    if not prefix.with_suffix(".bin").exists():
        return None
    return TokenStream(prefix).tokens[:limit]


def evaluate_model(model_dir: str, ev: dict, log) -> dict:
    from llm_pipeline_assets.evaluation.suite import evaluate_checkpoint, read_eval_jsonl

    items = read_eval_jsonl(ev["eval_dir"])
    val = load_val_tokens(ev["packed_dir"], ev["max_val_tokens"])
    return evaluate_checkpoint(model_dir, items, val, window=ev["window"], stride=ev["stride"], log=log,
                               max_new_tokens=ev.get("max_new_tokens", 48))


def metric_metadata(metrics: dict) -> dict:
    """Finite numeric metrics as ``eval/<name>`` metadata (plotted over runs in the UI)."""
    return {f"eval/{k}": float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
