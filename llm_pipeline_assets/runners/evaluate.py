"""Pipes child for eval_report: metrics of every stage, side by side on the same eval inputs.

A checkpoint's stored gate metrics (``eval_metrics.json``) are reused only when they were measured on the
current inputs (eval items, validation tokens, eval settings: ``eval_inputs.txt``); otherwise the stage is
evaluated again, so the table never mixes item sets. Metrics its training measured (DPO's held-out reward
accuracy) carry over; LoRA's change against its base is recomputed from the two stages' current metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

from llm_pipeline_assets.runners.gating import (evaluate_model, general_delta, metric_metadata, metrics_measured_on,
                                                saved_metrics)
from llm_pipeline_assets.runners.session import pipes_session

TRAINING_METRICS = ("reward_accuracy",)  # measured by the stage's trainer, not by the eval items


def main() -> None:
    with pipes_session() as pipes:
        x = pipes.extras
        metrics, evaluated = {}, []
        for stage, model_dir in x["stages"].items():
            reused = metrics_measured_on(model_dir, x.get("inputs", ""))
            if reused is not None:
                metrics[stage] = reused
                continue
            saved = saved_metrics(model_dir) or {}
            why = "stored metrics were measured on other eval inputs" if saved else "no stored metrics"
            pipes.log.info(f"evaluating {stage} ({model_dir}): {why}")
            metrics[stage] = evaluate_model(model_dir, x, pipes.log.info)
            metrics[stage].update({k: saved[k] for k in TRAINING_METRICS if k in saved})
            evaluated.append(stage)
        if "lora_merged" in metrics and "dpo" in metrics:  # LoRA's regression check, on these same inputs
            metrics["lora_merged"].update(general_delta(metrics["lora_merged"], metrics["dpo"]))
        Path(x["out_dir"], "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True, default=str))
        flat = {}
        for stage, m in metrics.items():
            flat.update({f"{stage}/{k[5:]}": v for k, v in metric_metadata(m).items()})
        pipes.report_asset_materialization(metadata={**flat, "stages_evaluated": len(metrics),
                                                     "stages_evaluated_again": ", ".join(evaluated) or "none"})


if __name__ == "__main__":
    main()
