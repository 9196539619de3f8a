"""The code location: one ``Definitions`` built from the pipeline config (LLM_PIPELINE_CONFIG).

``dagster dev`` (via workspace.yaml or pyproject's [tool.dagster]) and
``dagster asset materialize -m llm_pipeline_assets.definitions`` both load ``defs`` from here.
"""

from __future__ import annotations

import os

import dagster as dg

from llm_pipeline_assets.assets.corpus import build_corpus_assets
from llm_pipeline_assets.assets.dedup import build_dedup_assets
from llm_pipeline_assets.assets.evaluation import build_evaluation_assets
from llm_pipeline_assets.assets.finetune import build_finetune_assets
from llm_pipeline_assets.assets.tokens import build_token_assets
from llm_pipeline_assets.assets.training import build_training_assets
from llm_pipeline_assets.automation import build_data_automation_sensor, build_data_refresh_schedule
from llm_pipeline_assets.config import PipelineConfig, artifact_root, load_config
from llm_pipeline_assets.jobs import build_jobs
from llm_pipeline_assets.resources.compute import ComputeResource
from llm_pipeline_assets.resources.store import ArtifactStore

S3_ENDPOINT_ENV = "LLM_PIPELINE_S3_ENDPOINT"
CACHE_ENV = "LLM_PIPELINE_CACHE_DIR"  # local folder for S3 downloads and training work (default: a temp dir)


def source_partitions(cfg: PipelineConfig) -> dg.StaticPartitionsDefinition:
    """One partition per configured data source, in config order."""
    return dg.StaticPartitionsDefinition(cfg.source_names)


def build_assets(cfg: PipelineConfig) -> list:
    partitions = source_partitions(cfg)
    return (build_corpus_assets(cfg, partitions) + build_dedup_assets(cfg, partitions) + build_token_assets(cfg)
            + build_training_assets(cfg) + build_finetune_assets(cfg) + build_evaluation_assets(cfg))


def default_resources(root: str | None = None, cfg: PipelineConfig | None = None) -> dict:
    """store + compute; with an s3:// root also ``s3`` (dagster-aws ``S3Resource``, credentials from the
    environment), the client the store commits manifests and lists versions with."""
    from llm_pipeline_assets.resources.s3_objects import s3_resource

    root = root or artifact_root()
    endpoint = os.environ.get(S3_ENDPOINT_ENV) or None
    resources: dict = {}
    if root.startswith("s3://"):
        resources["s3"] = s3_resource(endpoint)
    resources["store"] = ArtifactStore(root=root, s3_endpoint_url=endpoint, cache_dir=os.environ.get(CACHE_ENV) or None,
                                       s3=resources.get("s3"))
    resources["compute"] = ComputeResource(launcher=cfg.launcher) if cfg is not None else ComputeResource()
    return resources


def build_definitions(cfg: PipelineConfig | None = None, root: str | None = None) -> dg.Definitions:
    cfg = cfg or load_config()
    jobs = build_jobs(cfg, source_partitions(cfg))
    return dg.Definitions(assets=build_assets(cfg), jobs=list(jobs.values()),
                          schedules=[build_data_refresh_schedule(cfg, jobs["source_refresh"])],
                          sensors=[build_data_automation_sensor()], resources=default_resources(root, cfg))


defs = build_definitions()
