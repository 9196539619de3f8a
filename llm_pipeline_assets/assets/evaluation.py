"""eval_sets (held-out task files + contamination check) and eval_report (all stages side by side).

The promotion gates themselves are blocking checks on the checkpoints (see ``assets/gating.py``): each
training child evaluates its checkpoint and stores ``eval_metrics.json`` beside it. eval_report reuses those
metrics, evaluates what has none (the untrained base model), shows every gate's verdict side by side (the
base model against the pretraining gate, as the reference that must fail) and renders a Markdown + HTML
report with plots, attached to the asset's metadata so the UI shows it.
"""

import json

import dagster as dg

from llm_pipeline_assets.assets.gating import eval_params, gate_thresholds
from llm_pipeline_assets.assets.policies import code_version
from llm_pipeline_assets.config import PipelineConfig
from llm_pipeline_assets.resources.compute import ComputeResource
from llm_pipeline_assets.resources.store import ArtifactStore, ArtifactMissing
from llm_pipeline_assets.shards import iter_batches, shard_files

EVAL_MODULE = "llm_pipeline_assets.runners.evaluate"
STAGES = {"base": "base_model", "pretrained": "pretrained_checkpoint", "sft": "sft_checkpoint",
          "dpo": "dpo_checkpoint", "lora_merged": "lora_adapter"}


def _training_texts(cfg: PipelineConfig, store: ArtifactStore):
    for name in cfg.source_names:
        directory, _ = store.local_dir("deduped_shards", name)
        for batch in iter_batches(shard_files(directory), 1000, columns=("text",)):
            yield from (r["text"] for r in batch)
    sft_dir, _ = store.local_dir("sft_dataset")
    for line in (sft_dir / "train.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            yield _conversation_text(json.loads(line)["messages"])


def _conversation_text(messages: list) -> str:
    """What the contamination check compares: the turns without system messages (a tool prompt's function list
    is the same template in training and evaluation: it made every tool item look copied)."""
    return " ".join(m.get("content") or "" for m in messages if m.get("role") != "system")


def _item_text(item: dict) -> str:
    if "messages" in item:
        return _conversation_text(item["messages"])
    return str(item.get("question") or item.get("prompt") or "")


def build_evaluation_assets(cfg: PipelineConfig) -> list:
    deduped_all = dg.AssetDep("deduped_shards", partition_mapping=dg.AllPartitionMapping())

    # the settings that shape the sets: changing one marks every gate's input (and so the gates) stale
    # (4: each set's first safety item is harmful and its second harmless)
    sets_version = code_version("eval-sets-4", eval=cfg.eval.model_dump(
        mode="json", include={"items_per_task", "seed", "contamination_ngram"}))
    report_version = code_version("eval-report-2", eval=cfg.eval.model_dump(mode="json"), gates=gate_thresholds(cfg))

    @dg.asset(deps=[deduped_all, "sft_dataset"], group_name="evaluation", code_version=sets_version,
              kinds={"json"})
    def eval_sets(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
        """Held-out task files (lm-evaluation-harness-readable JSONL) and their n-gram contamination check."""
        from llm_pipeline_assets.evaluation.metrics import contamination_report
        from llm_pipeline_assets.evaluation.suite import write_eval_jsonl
        from llm_pipeline_assets.formatters.synthetic_sft import synthetic_eval_items

        items = synthetic_eval_items(cfg.eval.items_per_task * 4, cfg.eval.seed)
        report = contamination_report({i: _item_text(it) for i, it in enumerate(items)},
                                      _training_texts(cfg, store), n=cfg.eval.contamination_ngram)
        with store.publish("eval_sets") as staging:
            write_eval_jsonl(items, staging / "tasks")
            (staging / "contamination.json").write_text(json.dumps(report, indent=1, default=str))
        _, manifest = store.local_dir("eval_sets")
        counts = {}
        for it in items:
            counts[it["task"]] = counts.get(it["task"], 0) + 1
        if report.get("flagged"):
            context.log.warning(f"eval_sets: {report['flagged']} items overlap the training data")
        return dg.MaterializeResult(
            metadata={"items": len(items), "items_per_task": dg.MetadataValue.json(counts),
                      "contaminated_items": int(report.get("flagged", 0)),
                      "max_ngram_overlap": float(report.get("max_overlap", 0.0)),
                      "contamination": dg.MetadataValue.json(report)},
            # the items only: the contamination summary changes with the SFT data, the items (the gates' input) not
            data_version=dg.DataVersion(manifest.content_version("tasks")))

    @dg.asset(deps=[eval_sets, *STAGES.values(), "dedup_index",
                    dg.AssetDep("cleaned_shards", partition_mapping=dg.AllPartitionMapping())],
              group_name="evaluation", code_version=report_version, kinds={"pytorch"}, pool="gpu")
    def eval_report(context: dg.AssetExecutionContext, store: ArtifactStore,
                    compute: ComputeResource) -> dg.MaterializeResult:
        """Every checkpoint evaluated side by side, gate results, curation funnel, dedup clusters, loss curves."""
        from llm_pipeline_assets.evaluation.gates import Threshold, evaluate_gate, gate_for_asset

        dirs = {}
        for stage, asset in STAGES.items():
            path, _ = store.local_dir(asset)
            dirs[stage] = str(path / "merged") if stage == "lora_merged" else str(path)
        extras = {"stages": dirs, **eval_params(cfg, store)}
        with store.publish("eval_report") as staging:
            result = compute.run(context, EVAL_MODULE, {**extras, "out_dir": str(staging)},
                                 compute.runtime(cfg.compute), required=("stages_evaluated",))
            metrics = json.loads((staging / "metrics.json").read_text())
            thresholds = gate_thresholds(cfg)
            gates = {}
            for stage, asset in STAGES.items():
                gate = gate_for_asset.get(asset)
                if gate:
                    res = evaluate_gate(gate, metrics.get(stage, {}), [Threshold(**t) for t in thresholds[gate]])
                    gates[f"{stage}: {gate}"] = res
            passed = sum(1 for r in gates.values() if r.passed)  # the promotion gates
            # the base model's run of the first gate: a reference that must fail, reported beside them
            base_gate = evaluate_gate("pretrain_to_sft", metrics.get("base", {}),
                                      [Threshold(**t) for t in thresholds["pretrain_to_sft"]])
            sections = {"metrics": metrics, "gates": {**gates, "base: pretrain_to_sft": base_gate}, "funnel": _funnels(cfg, store),
                        "cluster_sizes": _cluster_sizes(store), "loss_curves": _loss_curves(store),
                        "contamination": json.loads((store.local_dir("eval_sets")[0] / "contamination.json")
                                                    .read_text())}
            from llm_pipeline_assets.evaluation.report import write_report

            md_path, _ = write_report(sections, staging)
            markdown = md_path.read_text(encoding="utf-8")
        return dg.MaterializeResult(
            metadata={**(result.metadata or {}), "report": dg.MetadataValue.md(markdown),
                      "gates_passed": passed, "gates": len(gates),
                      "base_fails_pretrain_gate": not base_gate.passed,
                      "uri": dg.MetadataValue.path(store.partition_dir("eval_report"))})

    return [eval_sets, eval_report]


def _funnels(cfg: PipelineConfig, store: ArtifactStore) -> dict:
    out = {}
    for name in cfg.source_names:
        try:
            path, _ = store.local_dir("cleaned_shards", name)
            out[name] = json.loads((path / "funnel.json").read_text())["funnel"]
        except (ArtifactMissing, FileNotFoundError):
            continue
    return out


def _cluster_sizes(store: ArtifactStore) -> dict:
    try:
        path, _ = store.local_dir("dedup_index")
        return {int(k): v for k, v in json.loads((path / "stats.json").read_text())["cluster_sizes"].items()}
    except (ArtifactMissing, FileNotFoundError):
        return {}


def _loss_curves(store: ArtifactStore) -> dict:
    curves = {}
    for stage, asset in STAGES.items():
        try:
            path, _ = store.local_dir(asset)
        except ArtifactMissing:
            continue
        if (path / "metrics.json").exists():
            curves[stage] = [(h["step"], h["loss"]) for h in json.loads((path / "metrics.json").read_text())["history"]]
        elif (path / "train_metrics.json").exists():
            curves[stage] = [tuple(x) for x in json.loads((path / "train_metrics.json").read_text())["loss_history"]]
    return curves
