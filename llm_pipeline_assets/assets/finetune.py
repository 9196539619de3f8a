"""sft_dataset, dpo_dataset and the fine-tuning checkpoints: sft_checkpoint -> dpo_checkpoint -> lora_adapter."""

import json
import random
import shutil
from collections import Counter

import dagster as dg

from llm_pipeline_assets.assets.checks import check_spec, recorded, checked_inputs
from llm_pipeline_assets.assets.gating import gate_extras, gate_spec, refuse_a_failed_upstream
from llm_pipeline_assets.assets.metadata import count_table
from llm_pipeline_assets.assets.policies import code_version
from llm_pipeline_assets.assets.training import FINETUNE_MODULE, RETRY, point_adapter_at, publish_dir, run_key
from llm_pipeline_assets.config import PipelineConfig
from llm_pipeline_assets.resources.compute import ComputeResource
from llm_pipeline_assets.resources.store import ArtifactStore


def _dataset_asset(kind: str, cfg_section, seed: int):
    # 2: synthetic rows drawn per task stream, math held out by problem; sft 4: real sources' rows carry the task
    # they teach (formatters.sft.SFT_TASKS: what lora.mix draws by), not their format's name
    version = code_version({"sft": "sft-data-4", "dpo": "dpo-data-3"}[kind], data=cfg_section.sources,
                           val_fraction=cfg_section.val_fraction, seed=seed)

    @dg.asset(name=f"{kind}_dataset", group_name="training_data", code_version=version, kinds={"json"},
              check_specs=[check_spec("both_splits_non_empty", f"{kind}_dataset")])
    def dataset(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
        from llm_pipeline_assets.finetune.chat_data import build_chat_dataset

        extra: dict = {}
        with store.publish(f"{kind}_dataset", extra=extra) as staging:
            stats = build_chat_dataset(kind, cfg_section.sources, staging, cfg_section.val_fraction, seed,
                                       log=context.log.info)
            checks = [dg.AssetCheckResult(check_name="both_splits_non_empty",
                                          passed=stats.split["train"] > 0 and stats.split["val"] > 0)]
            extra.update(recorded(checks))
        manifest = store.read_manifest(f"{kind}_dataset")
        return dg.MaterializeResult(
            metadata={"train": stats.split["train"], "val": stats.split["val"],
                      "rejected": sum(stats.rejected.values()), "examples_by_source": count_table(stats.kept, "source"),
                      "rejected_by_source": count_table(stats.rejected, "source"),
                      "rejection_reasons": count_table(stats.reasons), "tasks": count_table(stats.tasks, "task"),
                      "uri": dg.MetadataValue.path(store.partition_dir(f"{kind}_dataset"))},
            data_version=dg.DataVersion(manifest.data_version),
            check_results=checks)

    dataset.__doc__ = {"sft": "Chat conversations (system/user/assistant/tool) from every configured SFT source.",
                       "dpo": "Preference pairs (prompt, chosen, rejected), invalid pairs rejected with a reason."}[kind]
    return dataset


def mix_by_task(rows: list[dict], mix: dict[str, float], total: int, seed: int, split: str = "train",
                log=None) -> list[dict]:
    """``total`` rows drawn so each task's share equals ``mix``: distinct rows while a task has enough; a short
    task repeats all of its rows evenly (each row ``k`` or ``k + 1`` times).

    A task the train split lacks is an error; the val split (a few percent of the rows, split by prompt hash) may
    lack a small task: the others share its place, with a warning through ``log``."""
    rng = random.Random(f"lora-mix:{seed}")
    by_task: dict[str, list[dict]] = {}
    for r in rows:
        by_task.setdefault(r.get("task", ""), []).append(r)
    missing = [t for t, share in mix.items() if share > 0 and t not in by_task]
    if missing and (split == "train" or len(missing) == sum(share > 0 for share in mix.values())):
        raise ValueError(f"lora.mix names tasks {missing} that sft_dataset's {split} split does not have "
                         f"(it has {sorted(by_task)})")
    if missing and log is not None:
        log(f"lora_adapter: sft_dataset's {split} split has no rows of lora.mix tasks {missing}; the other tasks "
            "share their place (raise sft.val_fraction or the sources' sizes to validate on them)")
    out = []
    counts = apportion({t: share for t, share in mix.items() if t in by_task}, total)
    for task, count in sorted(counts.items()):
        pool = by_task[task]
        # a short task: every row the same number of times (+1 for some)
        whole, rest = divmod(count, len(pool))
        out += pool * whole + rng.sample(pool, rest)
    rng.shuffle(out)
    return out


def apportion(shares: dict[str, float], total: int) -> dict[str, int]:
    """Whole counts in proportion to ``shares`` that add up to ``total`` (largest remainders: rounding each share
    on its own drew 24 rows of 25 and dropped a 10 % task from small sets)."""
    weight = sum(shares.values())
    if total <= 0 or weight <= 0:
        return {t: 0 for t in shares}
    exact = {t: total * share / weight for t, share in shares.items()}
    counts = {t: int(x) for t, x in exact.items()}
    by_remainder = sorted(shares, key=lambda t: (-(exact[t] - counts[t]), t))
    for t in by_remainder[:total - sum(counts.values())]:
        counts[t] += 1
    return counts


def build_finetune_assets(cfg: PipelineConfig) -> list:
    gpu = {"group_name": "training", "kinds": {"pytorch"}, "pool": "gpu", "retry_policy": RETRY}
    sft_dataset, dpo_dataset = _dataset_asset("sft", cfg.sft, cfg.seed), _dataset_asset("dpo", cfg.dpo, cfg.seed)
    # logic version + the trainer settings (the data they read carries its own DataVersion)
    versions = {k: code_version(f"{k}-2", settings=getattr(cfg, k).model_dump(exclude={"sources", "val_fraction",
                                                                                  "save_every"}))
                for k in ("sft", "dpo", "lora")}

    def launch(context, store, compute, asset, stage, model_asset, data_dir, settings,
               scratch=()) -> dg.MaterializeResult:
        runtime = compute.runtime(cfg.compute)
        placement = {"device": runtime.device, "dtype": runtime.dtype, "seed": cfg.seed}
        if stage == "lora":  # LoRA's trainer knobs live in its nested SFT settings
            settings = {**settings, "sft": {**settings["sft"], **placement}}
        else:
            settings = {**settings, **placement}
        model_dir, model_m = store.local_dir(model_asset)
        refuse_a_failed_upstream(cfg, asset, model_asset, model_dir)
        out = store.work_dir(asset, run_key(settings, model_m.data_version, str(data_dir)))
        from llm_pipeline_assets.runners.finetune import FINISHED  # (light imports; kept out of the code location's)

        if not (out / "final" / FINISHED).exists():  # a finished training (same key) is only evaluated
            shutil.rmtree(out / "final", ignore_errors=True)
        result = compute.run(context, FINETUNE_MODULE, {"stage": stage, "settings": settings, "data_dir": str(data_dir),
                                                         "model_dir": str(model_dir), "out_dir": str(out),
                                                         **gate_extras(cfg, store, asset)}, runtime)
        base = None
        if stage == "lora":  # the adapter names its base by its published version, which the base's asset keeps
            base = {"base_asset": model_asset, "base_version": model_m.version}
            point_adapter_at(out / "final" / "adapter", f"{store.partition_dir(model_asset)}/{model_m.version}")
        return publish_dir(store, asset, out / "final", result, work=[out, *scratch], extra=base)

    def sft_settings(section) -> dict:
        return {"max_steps": section.max_steps, "lr": section.lr, "micro_batch": section.micro_batch,
                "grad_accum": section.grad_accum, "max_length": section.max_length, "eval_every": section.eval_every,
                "save_every": section.save_every,
                "extra": {"gradient_checkpointing": section.gradient_checkpointing}}

    @dg.asset(deps=["pretrained_checkpoint", sft_dataset, "eval_sets"], code_version=versions["sft"],
              check_specs=[check_spec("val_loss_decreased", "sft_checkpoint"),
                           gate_spec("sft_checkpoint")], **gpu)
    def sft_checkpoint(context: dg.AssetExecutionContext, store: ArtifactStore,
                       compute: ComputeResource) -> dg.MaterializeResult:
        """TRL SFTTrainer on sft_dataset: chat template, loss on assistant tokens only, padding-free packing."""
        [(data_dir, _)] = checked_inputs(store, "sft_checkpoint", [("sft_dataset", None)])
        return launch(context, store, compute, "sft_checkpoint", "sft", "pretrained_checkpoint", data_dir,
                      sft_settings(cfg.sft))

    @dg.asset(deps=[sft_checkpoint, dpo_dataset, "eval_sets"], code_version=versions["dpo"],
              check_specs=[check_spec("val_loss_decreased", "dpo_checkpoint"),
                           gate_spec("dpo_checkpoint")], **gpu)
    def dpo_checkpoint(context: dg.AssetExecutionContext, store: ArtifactStore,
                       compute: ComputeResource) -> dg.MaterializeResult:
        """TRL DPOTrainer against an explicit frozen reference (the SFT checkpoint); β and loss type from config."""
        [(data_dir, _)] = checked_inputs(store, "dpo_checkpoint", [("dpo_dataset", None)])
        d = cfg.dpo
        settings = {**sft_settings(d), "beta": d.beta, "loss_type": d.loss_type,
                    "precompute_ref_log_probs": d.precompute_ref_log_probs, "label_smoothing": d.label_smoothing,
                    "sft_loss_weight": d.sft_loss_weight}
        return launch(context, store, compute, "dpo_checkpoint", "dpo", "sft_checkpoint", data_dir, settings)

    @dg.asset(deps=[dpo_checkpoint, sft_dataset, "eval_sets"], code_version=versions["lora"],
              check_specs=[check_spec("val_loss_decreased", "lora_adapter"),
                           gate_spec("lora_adapter")], **gpu)
    def lora_adapter(context: dg.AssetExecutionContext, store: ArtifactStore,
                     compute: ComputeResource) -> dg.MaterializeResult:
        """PEFT LoRA on a task mix with real ratios (lora.mix); the adapter plus a merged model."""
        [(src, manifest)] = checked_inputs(store, "lora_adapter", [("sft_dataset", None)])
        lo = cfg.lora
        mixed = store.work_dir("lora_adapter", run_key("mix", manifest.data_version, lo.mix, lo.examples,
                                                       lo.val_examples)) / "data"
        mixed.mkdir(exist_ok=True)
        for split, total in (("train", lo.examples), ("val", lo.val_examples)):
            rows = [json.loads(line) for line in (src / f"{split}.jsonl").read_text().splitlines() if line.strip()]
            left_out = Counter(r.get("task", "") for r in rows if lo.mix.get(r.get("task", ""), 0) <= 0)
            if left_out and split == "train":
                context.log.warning(f"lora_adapter: lora.mix {lo.mix} draws none of sft_dataset's {dict(left_out)} "
                                    f"(task: {split} rows); give those tasks a share in lora.mix to train on them")
            with open(mixed / f"{split}.jsonl", "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r) + "\n"
                              for r in mix_by_task(rows, lo.mix, total, cfg.seed, split, context.log.warning))
        settings = {"r": lo.r, "alpha": lo.alpha, "dropout": lo.dropout, "target_modules": list(lo.target_modules),
                    "sft": sft_settings(lo)}
        return launch(context, store, compute, "lora_adapter", "lora", "dpo_checkpoint", mixed, settings,
                      scratch=[mixed.parent])

    return [sft_dataset, dpo_dataset, sft_checkpoint, dpo_checkpoint, lora_adapter]
