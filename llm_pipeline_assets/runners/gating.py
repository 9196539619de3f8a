"""Evaluation helpers for the Pipes children: held-out task items + packed validation tokens -> metrics,
and the promotion gate of the checkpoint a child just wrote, reported as a blocking asset check."""

from __future__ import annotations

import json
import math
from pathlib import Path

EVAL_METRICS_FILE = "eval_metrics.json"
EVAL_INPUTS_FILE = "eval_inputs.txt"  # assets.gating.eval_params' "inputs": what those metrics were measured on


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
                               max_new_tokens=ev.get("max_new_tokens", 48), max_val_tokens=ev["max_val_tokens"])


def metric_metadata(metrics: dict) -> dict:
    """Finite numeric metrics as ``eval/<name>`` metadata (plotted over runs in the UI); counts stay integers."""
    return {f"eval/{k}": v if isinstance(v, int) else float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


def saved_metrics(model_dir: str | Path) -> dict | None:
    """The metrics a gate evaluation stored next to a checkpoint, or None."""
    path = Path(model_dir) / EVAL_METRICS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def metrics_measured_on(model_dir: str | Path, inputs: str) -> dict | None:
    """The stored metrics of ``model_dir`` if they were measured on ``inputs`` (the same eval items, validation
    tokens and settings), else None."""
    path = Path(model_dir) / EVAL_INPUTS_FILE
    if not inputs or not path.exists() or path.read_text().strip() != inputs:
        return None
    return saved_metrics(model_dir)


def general_score(metrics: dict | None) -> float | None:
    """Mean of the general task suite (math, choice, tool success, refusals); None if any part is missing."""
    if not metrics:
        return None
    parts = [metrics.get(k) for k in ("gsm8k_accuracy", "mc_accuracy", "function_call_success",
                                      "safety_refusal_rate")]
    if any(p is None or (isinstance(p, float) and math.isnan(p)) for p in parts):
        return None
    return sum(parts) / len(parts)


def general_delta(metrics: dict | None, base_metrics: dict | None) -> dict:
    """LoRA's regression check: the general suite's score of ``metrics`` and of the checkpoint it adapted, and
    their difference (None when either is missing, which fails the gate)."""
    now, base = general_score(metrics), general_score(base_metrics)
    return {"general_score": now, "general_score_base": base,
            "general_delta": None if now is None or base is None else now - base}


def run_gate(pipes, gate: dict, model_dir: str | Path, derive=None) -> dict:
    """Evaluate ``model_dir``, store its metrics beside it, report the gate check; returns the metrics.

    ``gate`` is the ``gate`` extras built by the asset (name, asset, thresholds, eval inputs); ``derive``
    maps the evaluated metrics to extra ones (e.g. a delta against the base checkpoint).
    """
    from llm_pipeline_assets.evaluation.gates import Threshold, evaluate_gate, thresholds_table_markdown

    metrics = evaluate_model(str(model_dir), gate, pipes.log.info)
    metrics.update(derive(metrics) if derive else {})
    (Path(model_dir) / EVAL_METRICS_FILE).write_text(json.dumps(metrics, indent=1, sort_keys=True, default=str))
    (Path(model_dir) / EVAL_INPUTS_FILE).write_text(str(gate.get("inputs", "")))
    thresholds = [Threshold(**t) for t in gate["thresholds"]]
    result = evaluate_gate(gate["name"], metrics, thresholds)
    for failure in result.failures:
        pipes.log.warning(failure)
    pipes.log.info(f"gate {gate['name']} ({gate['preset']} thresholds): {'PASSED' if result.passed else 'FAILED'}")
    pipes.report_asset_check(
        check_name=gate["name"], asset_key=gate["asset"], passed=result.passed, severity="ERROR",
        metadata={"thresholds": {"raw_value": thresholds_table_markdown(thresholds, metrics), "type": "md"},
                  "failures": "\n".join(result.failures) or "none", "missing_metrics": len(result.missing),
                  "preset": gate["preset"], **metric_metadata({t.metric: metrics.get(t.metric) for t in thresholds})})
    return metrics
