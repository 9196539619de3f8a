"""Pipes child for eval_report: metrics of every stage (reusing each checkpoint's eval_metrics.json)."""

from __future__ import annotations

import json
from pathlib import Path

from llm_pipeline_assets.runners.gating import evaluate_model, metric_metadata
from llm_pipeline_assets.runners.session import pipes_session


def main() -> None:
    with pipes_session() as pipes:
        x = pipes.extras
        metrics = {}
        for stage, model_dir in x["stages"].items():
            saved = Path(model_dir) / "eval_metrics.json"
            if not saved.exists() and Path(model_dir).name == "merged":
                saved = Path(model_dir).parent / "merged" / "eval_metrics.json"
            if saved.exists():
                metrics[stage] = json.loads(saved.read_text())
            else:
                pipes.log.info(f"evaluating {stage} ({model_dir})")
                metrics[stage] = evaluate_model(model_dir, x, pipes.log.info)
        Path(x["out_dir"], "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True, default=str))
        flat = {}
        for stage, m in metrics.items():
            flat.update({f"{stage}/{k[5:]}": v for k, v in metric_metadata(m).items()})
        pipes.report_asset_materialization(metadata={**flat, "stages_evaluated": len(metrics)})


if __name__ == "__main__":
    main()
