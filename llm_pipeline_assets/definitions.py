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
from llm_pipeline_assets.config import PipelineConfig, artifact_root, load_config
from llm_pipeline_assets.resources.compute import ComputeResource
from llm_pipeline_assets.resources.store import ArtifactStore

S3_ENDPOINT_ENV = "LLM_PIPELINE_S3_ENDPOINT"


def source_partitions(cfg: PipelineConfig) -> dg.StaticPartitionsDefinition:
    """One partition per configured data source, in config order."""
    return dg.StaticPartitionsDefinition(cfg.source_names)


def build_assets(cfg: PipelineConfig) -> list:
    partitions = source_partitions(cfg)
    return (build_corpus_assets(cfg, partitions) + build_dedup_assets(cfg, partitions) + build_token_assets(cfg)
            + build_training_assets(cfg) + build_finetune_assets(cfg) + build_evaluation_assets(cfg))


def default_resources(root: str | None = None) -> dict:
    return {"store": ArtifactStore(root=root or artifact_root(),
                                   s3_endpoint_url=os.environ.get(S3_ENDPOINT_ENV) or None),
            "compute": ComputeResource()}


def build_definitions(cfg: PipelineConfig | None = None, root: str | None = None) -> dg.Definitions:
    cfg = cfg or load_config()
    return dg.Definitions(assets=build_assets(cfg), resources=default_resources(root))


defs = build_definitions()
