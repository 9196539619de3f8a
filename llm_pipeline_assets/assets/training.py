"""Training assets: base_model -> pretrained_checkpoint -> sft_checkpoint -> dpo_checkpoint -> lora_adapter.

Each step stays thin: it resolves inputs from the artifact store, asks the compute resource to run a
training child through Dagster Pipes, and publishes the child's Hugging Face directory. A retry resumes:
the child's work folder is keyed by a hash of the step's inputs and settings, so only an identical
re-run picks up its checkpoints.
"""

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import dagster as dg

from llm_pipeline_assets.assets.checks import check_spec, checked_inputs
from llm_pipeline_assets.assets.gating import gate_extras, gate_spec
from llm_pipeline_assets.assets.policies import code_version
from llm_pipeline_assets.config import PipelineConfig
from llm_pipeline_assets.resources.compute import ComputeResource
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.training.settings import use_fsdp
from llm_pipeline_assets.work_units import json_digest

RETRY = dg.RetryPolicy(max_retries=1, delay=5)
PRETRAIN_MODULE = "llm_pipeline_assets.runners.pretrain"
FINETUNE_MODULE = "llm_pipeline_assets.runners.finetune"


def run_key(*parts) -> str:
    return json_digest(parts)


def curriculum(cfg: PipelineConfig) -> list[tuple[int, int]]:
    """Configured stages, or the packed lengths split evenly over max_steps (short first)."""
    if cfg.pretrain.curriculum:
        return [(c.seq_len, c.until_step) for c in cfg.pretrain.curriculum]
    lens, steps = cfg.packing.seq_lens, cfg.pretrain.max_steps
    return [(L, steps if i == len(lens) - 1 else max(1, steps * (i + 1) // len(lens))) for i, L in enumerate(lens)]


def _last_passed(store: ArtifactStore, asset: str) -> str | None:
    """The newest version of ``asset`` whose checks passed: the current one if it did (or predates the record),
    else the one it kept."""
    if not store.has(asset):
        return None
    current = store.read_manifest(asset)
    return current.version if current.extra.get("checks_passed", True) else current.extra.get("last_passed")


def point_adapter_at(adapter: Path, base_uri: str) -> None:
    """Set a PEFT adapter's ``base_model_name_or_path`` to ``base_uri`` (the base's published version: the child
    wrote the local folder it read, an S3 root's cache path on the training machine)."""
    config = Path(adapter) / "adapter_config.json"
    if config.exists():
        data = json.loads(config.read_text())
        data["base_model_name_or_path"] = base_uri
        config.write_text(json.dumps(data, indent=2, sort_keys=True))


def _bases_in_use(store: ArtifactStore, asset: str) -> tuple:
    """The versions of ``asset`` that the current version of an adapter names as its base (lora_adapter's
    ``base_version``): republishing the base must not delete the weights the published adapter applies to."""
    keep = []
    for dependent in ("lora_adapter",):
        if store.has(dependent):
            extra = store.read_manifest(dependent).extra
            if extra.get("base_asset") == asset and extra.get("base_version"):
                keep.append(extra["base_version"])
    return tuple(keep)


def publish_dir(store: ArtifactStore, asset: str, src, result: dg.MaterializeResult, work=(),
                extra: dict | None = None) -> dg.MaterializeResult:
    """Copy the child's output folder into the store; return its metadata with the published URI.

    Metadata paths into ``src`` (the child's ``final_dir``, ``adapter_dir``, ...) are rewritten to the published
    copy. When every check the child reported passed, the step's scratch folders ``work`` (checkpoints with
    optimizer state, kept so that a retry resumes) are removed: nothing retries a passed step, and for a large
    model they are several times its size. After a failed check they stay (a retry resumes from them)."""
    passed = all(check.passed for check in result.check_results or [])
    previous = _last_passed(store, asset) if not passed else None
    # checks failed: the last version that passed them stays on disk (after two failures in a row too)
    extra = {"checks_passed": passed, "last_passed": previous, **(extra or {})}
    keep = tuple(v for v in (previous, *_bases_in_use(store, asset)) if v)
    with store.publish(asset, extra=extra, also_keep=keep) as staging:
        shutil.copytree(src, staging, dirs_exist_ok=True)
    _, manifest = store.local_dir(asset)
    published = f"{store.partition_dir(asset)}/{manifest.version}"  # this version's files
    folders = [str(w) for w in ([work] if isinstance(work, (str, Path)) else work)]
    metadata = {key: _published(value, str(src), published, folders)
                for key, value in (result.metadata or {}).items()}
    metadata["checkpoint_uri"] = dg.MetadataValue.path(store.partition_dir(asset))  # its manifest names the version
    if previous:  # the checks failed: the last version that passed them stays beside this one
        metadata["last_passed_version"] = dg.MetadataValue.path(f"{store.partition_dir(asset)}/{previous}")
    if extra.get("base_version"):  # an adapter: the base it applies to
        metadata["base_version"] = dg.MetadataValue.path(
            f"{store.partition_dir(extra['base_asset'])}/{extra['base_version']}")
    if passed:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(manifest.data_version),
                                check_results=result.check_results)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _published(value, src: str, published: str, scratch: list[str]):
    """A metadata path into ``src`` -> the same path in the published copy; a path elsewhere in a scratch folder
    -> the published file of the same name where one was copied (metrics.json)."""
    text = getattr(value, "value", value)
    if not isinstance(text, str):
        return value
    if _under(text, src):
        return dg.MetadataValue.path(published + text[len(src):])
    if any(_under(text, folder) for folder in scratch) and (Path(src) / Path(text).name).exists():
        return dg.MetadataValue.path(f"{published}/{Path(text).name}")
    return value  # e.g. resumed_from: where the run picked up, a record rather than a link


def build_training_assets(cfg: PipelineConfig) -> list:
    gpu = {"group_name": "training", "kinds": {"pytorch"}, "pool": "gpu", "retry_policy": RETRY}

    # the context joins the version only where fine-tuning lengths raised it (others keep theirs: nothing changed)
    raised = cfg.model_context != (cfg.model.max_position_embeddings or max(cfg.packing.seq_lens))
    base_version = code_version("base-1", model=cfg.model, seed=cfg.seed,
                                **({"context": cfg.model_context} if raised else {}))

    @dg.asset(deps=["tokenizer", "packed_tokens"], code_version=base_version, **gpu)
    def base_model(context: dg.AssetExecutionContext, store: ArtifactStore,
                   compute: ComputeResource) -> dg.MaterializeResult:
        """A Llama model initialised from the preset's shape; vocab from the tokenizer, padded to a multiple of 64."""
        [(tok_dir, tok_manifest)] = checked_inputs(store, "base_model", [("tokenizer", None)])
        extras = {"stage": "init", "shape": cfg.model.shape, "tokenizer_dir": str(tok_dir), "seed": cfg.seed,
                  "max_position_embeddings": cfg.model_context}
        work = store.work_dir("base_model", run_key(extras, tok_manifest.data_version)) / "model"
        shutil.rmtree(work, ignore_errors=True)
        result = compute.run(context, PRETRAIN_MODULE, {**extras, "out_dir": str(work)}, compute.runtime(cfg.compute))
        return publish_dir(store, "base_model", work, result, work=work.parent)

    pretrain_version = code_version("pretrain-2", pretrain=cfg.pretrain, curriculum=curriculum(cfg),
                                    compute=cfg.compute, seed=cfg.seed)

    @dg.asset(deps=[base_model, "packed_tokens", "eval_sets"], code_version=pretrain_version,
              check_specs=[check_spec("loss_decreased", "pretrained_checkpoint"),
                           gate_spec("pretrained_checkpoint")], **gpu)
    def pretrained_checkpoint(context: dg.AssetExecutionContext, store: ArtifactStore,
                              compute: ComputeResource) -> dg.MaterializeResult:
        """Causal-LM pretraining over the packed curriculum (resumes from its latest checkpoint on retry)."""
        runtime = compute.runtime(cfg.compute)
        init_dir, init_m = store.local_dir("base_model")
        [(packed_dir, packed_m)] = checked_inputs(store, "pretrained_checkpoint", [("packed_tokens", None)])
        p = cfg.pretrain
        settings = {"max_steps": p.max_steps, "lr": p.lr, "min_lr": p.min_lr, "warmup_steps": p.warmup_steps,
                    "weight_decay": p.weight_decay, "grad_clip": p.grad_clip, "micro_batch": p.micro_batch,
                    "grad_accum": p.grad_accum, "gradient_checkpointing": p.gradient_checkpointing,
                    "curriculum": curriculum(cfg), "eval_every": p.eval_every, "eval_batches": p.eval_batches,
                    "save_every": p.save_every, "keep_last": p.keep_last, "seed": cfg.seed,
                    "device": runtime.device, "dtype": runtime.dtype, "compile": runtime.compile,
                    "compile_scope": cfg.compute.compile_scope,
                    "compile_mode": cfg.compute.compile_mode, "residual_dtype": runtime.residual_dtype,
                    "liger_kernels": runtime.liger_kernels, "fuse_projections": cfg.compute.fuse_projections,
                    "attn_implementation": runtime.attn_implementation, "fused_adamw": runtime.fused_adamw,
                    "simulate_oom_above": p.simulate_oom_above, "sync_every": p.sync_every,
                    "fp8": runtime.fp8,  # None | "torchao" (select_runtime never picks another recipe)
                    "fsdp": use_fsdp(cfg.compute.sharding, runtime.nproc, p.micro_batch * p.grad_accum)}
        out = store.work_dir("pretrained_checkpoint", run_key(settings, init_m.data_version, packed_m.data_version))
        context.log.info(f"pretraining in {out} with {asdict(runtime)}")
        result = compute.run(context, PRETRAIN_MODULE, {"stage": "pretrain", "settings": settings,
                                                        "packed_dir": str(packed_dir), "init_dir": str(init_dir),
                                                        "out_dir": str(out),
                                                        **gate_extras(cfg, store, "pretrained_checkpoint")}, runtime)
        for extra in ("metrics.json", "loss_curve.png"):
            if (out / extra).exists():
                shutil.copy2(out / extra, out / "final" / extra)
        return publish_dir(store, "pretrained_checkpoint", out / "final", result, work=out)

    return [base_model, pretrained_checkpoint]
