"""Pipes child: initialise the base model, or pretrain from it (resuming from the latest checkpoint)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from llm_pipeline_assets.runners.gating import metric_metadata, run_gate
from llm_pipeline_assets.runners.report import loss_curve_markdown
from llm_pipeline_assets.runners.session import global_rank, pipes_session


def run_init(pipes, x: dict) -> None:
    from llm_pipeline_assets.training.shapes import init_base_model

    info = init_base_model(x["shape"], Path(x["tokenizer_dir"]), Path(x["out_dir"]), seed=x["seed"],
                           max_position_embeddings=x.get("max_position_embeddings"))
    pipes.log.info(f"base_model: {info}")
    pipes.report_asset_materialization(metadata={**{k: v for k, v in info.items() if isinstance(v, (int, float, str))},
                                                 "checkpoint_uri": str(x["out_dir"])})


def run_pretrain(pipes, x: dict) -> None:
    from llm_pipeline_assets.training.pretrain import pretrain
    from llm_pipeline_assets.training.settings import PretrainSettings

    from llm_pipeline_assets.gpu.fp8_choice import resolve_fp8

    settings = PretrainSettings(**x["settings"])
    # FP8 only where it measured faster on this shape (bf16 otherwise); cached in out_dir so a resume keeps it
    longest = max((length for length, _ in settings.curriculum), default=0)
    settings, fp8_check = resolve_fp8(settings, Path(x["init_dir"]), longest, pipes.log.info,
                                      cache_dir=Path(x["out_dir"]))
    every = max(1, settings.log_every)

    def on_metrics(m: dict) -> None:
        if m.get("step", 0) % every == 0:
            pipes.log.info(json.dumps({k: v for k, v in m.items() if isinstance(v, (int, float, str))}))

    summary = pretrain(settings, Path(x["packed_dir"]), Path(x["init_dir"]), Path(x["out_dir"]),
                       log=pipes.log.info, on_metrics=on_metrics)
    metrics_file = Path(x["out_dir"]) / "metrics.json"
    history = json.loads(metrics_file.read_text()).get("history", []) if metrics_file.exists() else []
    scalars = {k: v for k, v in summary.items() if isinstance(v, (int, float, str)) and v is not None
               and not (isinstance(v, float) and math.isnan(v))}
    if global_rank() != 0:  # rank 0 evaluates and reports; the others only trained
        return
    metrics = run_gate(pipes, x["gate"], summary["final_dir"])
    metadata = {**scalars, **metric_metadata(metrics), "checkpoint_uri": summary["final_dir"],
                "precision": fp8_check.get("precision"), "precision_reason": str(fp8_check.get("reason")),
                "loss_curve": {"raw_value": loss_curve_markdown(history, "pretraining loss"), "type": "md"}}
    pipes.report_asset_materialization(metadata=metadata)
    first, last = summary.get("first_train_loss"), summary.get("final_train_loss")
    pipes.report_asset_check(check_name="loss_decreased", asset_key="pretrained_checkpoint",
                             passed=bool(first is not None and last is not None and last < first),
                             metadata={"first_train_loss": first, "final_train_loss": last})


def main() -> None:
    with pipes_session() as pipes:
        x = pipes.extras
        {"init": run_init, "pretrain": run_pretrain}[x["stage"]](pipes, x)


if __name__ == "__main__":
    main()
