"""Evaluate a freshly trained checkpoint in its training child and report its promotion gate.

The gate is a blocking ERROR asset check on the checkpoint: a failed gate stops downstream training in
the same run. A metric the evaluation did not produce fails the gate (never skipped). The metrics are
written next to the weights (``eval_metrics.json``) so eval_report and the next stage can read them.
"""

from __future__ import annotations

import json
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
    return evaluate_checkpoint(model_dir, items, val, window=ev["window"], stride=ev["stride"], log=log)


def gate_metrics(pipes, model_dir: str, ev: dict, asset: str, extra: dict | None = None) -> dict:
    """Evaluate, write eval_metrics.json, report the gate check; returns the metrics."""
    from llm_pipeline_assets.evaluation.gates import Threshold, evaluate_gate

    metrics = {**evaluate_model(model_dir, ev, pipes.log.info), **(extra or {})}
    (Path(model_dir) / "eval_metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    result = evaluate_gate(ev["gate"], metrics, [Threshold(**t) for t in ev["thresholds"]])
    pipes.report_asset_check(
        check_name=ev["gate"], asset_key=asset, passed=bool(result.passed), severity="ERROR",
        metadata={"failures": {"raw_value": list(result.failures), "type": "json"},
                  "missing": {"raw_value": list(result.missing), "type": "json"},
                  "thresholds": {"raw_value": ev["thresholds"], "type": "json"}})
    return metrics


def metric_metadata(metrics: dict) -> dict:
    """Finite numeric metrics as ``eval/<name>`` metadata (plotted over runs in the UI)."""
    return {f"eval/{k}": float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
