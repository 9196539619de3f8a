"""Promotion gates as blocking asset checks on the checkpoints.

Each checkpoint asset declares one blocking check named after its gate (``pretrain_to_sft`` on
``pretrained_checkpoint``, ``sft_to_dpo`` on ``sft_checkpoint``, ``dpo_to_production`` on
``dpo_checkpoint``, ``lora_promotion`` on ``lora_adapter``). The training child evaluates the checkpoint it
just wrote on the held-out ``eval_sets`` and reports the check (ERROR severity): a failing gate fails the
step, so downstream training in the same run is skipped, and automation waits through
``all_deps_blocking_checks_passed``. A metric the evaluation did not produce fails its gate. A stage run on
its own refuses an upstream checkpoint whose gate fails (``refuse_a_failed_upstream``), and a checkpoint that
fails its gate keeps the version it replaced on disk (``publish_dir``).
"""

import dagster as dg

from llm_pipeline_assets.config import PipelineConfig
from llm_pipeline_assets.evaluation.gates import gate_for_asset
from llm_pipeline_assets.resources.store import ArtifactStore

GATE_DESCRIPTIONS = {
    "pretrain_to_sft": "May this pretrained checkpoint go on to SFT? (held-out perplexity)",
    "sft_to_dpo": "May this SFT checkpoint go on to DPO? (tool calls, safety, repetition)",
    "dpo_to_production": "May this DPO checkpoint be promoted? (reward accuracy, safety)",
    "lora_promotion": "May this LoRA adapter be promoted? (task skill, no regression against its base)",
}


def gates_preset(cfg: PipelineConfig) -> str:
    """``eval.gates_preset``, else the config's name when it is a preset, else its model shape's preset: a copy of
    7b.yaml renamed "7b-prod" keeps the 7b thresholds (it used to fall back to the lenient tiny ones)."""
    from llm_pipeline_assets.evaluation.gates import available_presets

    return cfg.eval.gates_preset or (cfg.name if cfg.name in available_presets() else cfg.model.shape)


def gate_thresholds(cfg: PipelineConfig) -> dict[str, list[dict]]:
    """{gate: [{metric, op, value}]} for the config's preset (plus overrides), as plain data for the children."""
    from llm_pipeline_assets.evaluation.gates import load_gates, merge_overrides

    gates = merge_overrides(load_gates(gates_preset(cfg)), cfg.eval.gate_overrides)
    return {g: [{"metric": t.metric, "op": t.op, "value": t.value} for t in ts] for g, ts in gates.items()}


def eval_params(cfg: PipelineConfig, store: ArtifactStore) -> dict:
    """What an evaluation child needs: the held-out task files, the packed val split and the eval settings."""
    from llm_pipeline_assets.assets.policies import code_version

    eval_dir, sets = store.local_dir("eval_sets")
    packed_dir, packed = store.local_dir("packed_tokens")
    e = cfg.eval
    settings = {"window": e.window, "stride": e.stride, "max_val_tokens": e.max_val_tokens,
                "max_new_tokens": e.max_new_tokens}
    # what a stored evaluation was measured on: eval_report reuses a checkpoint's metrics only when this matches
    inputs = code_version("eval-inputs", tasks=sets.content_version("tasks"), val=packed.data_version, **settings)
    return {"eval_dir": str(eval_dir / "tasks"), "packed_dir": str(packed_dir), "inputs": inputs, **settings}


def gate_spec(asset: str) -> dg.AssetCheckSpec:
    gate = gate_for_asset[asset]
    return dg.AssetCheckSpec(gate, asset=asset, blocking=True, description=GATE_DESCRIPTIONS[gate])


def gate_extras(cfg: PipelineConfig, store: ArtifactStore, asset: str) -> dict:
    """The ``gate`` extras of a training child: which gate to report, its thresholds and the eval inputs."""
    gate = gate_for_asset[asset]
    return {"gate": {"name": gate, "asset": asset, "preset": gates_preset(cfg),
                     "thresholds": gate_thresholds(cfg)[gate], **eval_params(cfg, store)}}


def refuse_a_failed_upstream(cfg: PipelineConfig, asset: str, upstream: str, model_dir) -> None:
    """Raise ``dg.Failure`` (no retry) when ``upstream``'s current version fails its promotion gate, measured by its
    stored metrics against the current thresholds: a stage run on its own (its job, ``--select key:...``) no longer
    trains from a checkpoint its gate stopped (the gate held only inside one run). Loosened thresholds let it go."""
    from llm_pipeline_assets.evaluation.gates import Threshold, evaluate_gate
    from llm_pipeline_assets.runners.gating import EVAL_METRICS_FILE, saved_metrics

    gate = gate_for_asset.get(upstream)
    if gate is None:
        return
    metrics = saved_metrics(model_dir)
    if metrics is None:  # published before gate metrics were stored with checkpoints: nothing to judge it by
        raise dg.Failure(description=f"{asset} trains from {upstream}, whose current version has no stored gate "
                                     f"metrics ({EVAL_METRICS_FILE}: it predates them): re-materialize {upstream}",
                         allow_retries=False)
    failures = evaluate_gate(gate, metrics, [Threshold(**t) for t in gate_thresholds(cfg)[gate]]).failures
    if failures:
        raise dg.Failure(
            description=f"{asset} trains from {upstream}, whose current version fails its promotion gate {gate}: "
                        f"{'; '.join(failures)}. Retrain {upstream}, or change eval.gate_overrides.{gate} if its "
                        "thresholds are wrong", allow_retries=False)
