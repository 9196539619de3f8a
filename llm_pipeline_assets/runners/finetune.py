"""Pipes child: SFT, DPO or LoRA on top of a checkpoint, data read from the dataset assets' JSONL files."""

from __future__ import annotations

import json
import math
from pathlib import Path

from llm_pipeline_assets.runners.gating import (evaluate_model, general_delta, metric_metadata,
                                                metrics_measured_on, run_gate)
from llm_pipeline_assets.runners.report import loss_curve_markdown
from llm_pipeline_assets.runners.session import global_rank, pipes_session

FINISHED = "train_metrics.json"  # written into final/ when training ends: its presence means "trained"


def read_jsonl(path: Path) -> list:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _scalars(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if isinstance(v, (int, float, str)) and v is not None
            and not (isinstance(v, float) and math.isnan(v))}


def _derived(stage: str, summary: dict, base_dir: Path, gate: dict, log):
    """Gate metrics that are not generation scores: DPO's held-out reward accuracy, and LoRA's change on
    the general suite against the checkpoint it adapted: that checkpoint's stored gate metrics when they were
    measured on the same eval inputs, else it is evaluated again here (new eval items since it was trained must
    not be compared with the adapter's scores on the new ones)."""
    def derive(metrics: dict) -> dict:
        if stage == "dpo":
            return {"reward_accuracy": summary.get("reward_accuracy")}
        if stage != "lora":
            return {}
        base = metrics_measured_on(base_dir, gate.get("inputs", ""))
        if base is None:
            log(f"lora: {base_dir} was evaluated on other eval inputs; evaluating it again for general_delta")
            base = evaluate_model(str(base_dir), gate, log)
        return general_delta(metrics, base)
    return derive


def _train(pipes, x: dict, stage: str, data: Path, out: Path) -> tuple[dict, str, str]:
    """(summary, uri, asset key) of the stage's training; a training this work folder already finished (same
    inputs and settings: the folder is keyed by them, ``train_metrics.json`` is written when it ends) is not run
    again: after a failed gate's threshold is loosened, materializing the checkpoint again only evaluates."""
    asset = {"sft": "sft_checkpoint", "dpo": "dpo_checkpoint", "lora": "lora_adapter"}[stage]
    done = out / "final" / FINISHED
    if done.exists():
        summary = json.loads(done.read_text())
        pipes.log.info(f"{stage}: training finished earlier in {out} (same inputs and settings, step "
                       f"{summary.get('steps')}): evaluating it, not training again")
        return summary, summary["adapter_dir" if stage == "lora" else "final_dir"], asset
    train, val = read_jsonl(data / "train.jsonl"), read_jsonl(data / "val.jsonl")
    if stage == "sft":
        from llm_pipeline_assets.finetune.sft import SftSettings, run_sft

        summary = run_sft(SftSettings(**x["settings"]), Path(x["model_dir"]), [r["messages"] for r in train],
                          [r["messages"] for r in val], out, log=pipes.log.info)
        return summary, summary["final_dir"], asset
    if stage == "dpo":
        from llm_pipeline_assets.finetune.preference import DpoSettings, run_dpo

        summary = run_dpo(DpoSettings(**x["settings"]), Path(x["model_dir"]), train, val, out, log=pipes.log.info)
        return summary, summary["final_dir"], asset
    from llm_pipeline_assets.finetune.preference import LoraSettings, run_lora
    from llm_pipeline_assets.finetune.sft import SftSettings

    s = dict(x["settings"])
    s["sft"] = SftSettings(**s["sft"])
    summary = run_lora(LoraSettings(**s), Path(x["model_dir"]), [r["messages"] for r in train],
                       [r["messages"] for r in val], out, log=pipes.log.info)
    return summary, summary["adapter_dir"], asset


def main() -> None:
    with pipes_session() as pipes:
        x = pipes.extras
        stage, data, out = x["stage"], Path(x["data_dir"]), Path(x["out_dir"])
        summary, uri, asset = _train(pipes, x, stage, data, out)
        if global_rank() != 0:  # rank 0 writes the metrics, evaluates and reports; the others only trained
            return
        history = [{"step": s, "loss": loss} for s, loss in summary.get("loss_history", [])]
        final = Path(summary["merged_dir"]).parent if stage == "lora" else Path(summary["final_dir"])
        (final / FINISHED).write_text(json.dumps(summary, indent=1, default=str))
        evaluated = Path(summary["merged_dir"]) if stage == "lora" else final
        derive = _derived(stage, summary, Path(x["model_dir"]), x["gate"], pipes.log.info)
        metrics = run_gate(pipes, x["gate"], evaluated, derive)
        metadata = {**_scalars(summary), **metric_metadata(metrics), "checkpoint_uri": uri,
                    "loss_curve": {"raw_value": loss_curve_markdown(history, f"{stage} training loss"), "type": "md"}}
        pipes.report_asset_materialization(metadata=metadata)
        pipes.report_asset_check(check_name="val_loss_decreased", asset_key=asset,
                                 passed=bool(summary["val_loss"] < summary["val_loss_start"]),
                                 metadata={"before": summary["val_loss_start"], "after": summary["val_loss"]})


if __name__ == "__main__":
    main()
