"""Scale-out settings: where training children run (``launcher``) and who cleans shards (``cleaning.executor``).

Imported by ``config.py`` (one config namespace). Nothing here changes what an asset produces, so none of it
is part of a code version: moving training to ECS or cleaning to Slurm leaves every asset fresh.

- ``launcher``: ``subprocess`` (default: a child of the step's process, torchrun for several GPUs), ``ecs``
  (dagster-aws ``PipesECSClient``) or ``k8s`` (dagster-k8s ``PipesK8sClient``). These are ``dg.Config``
  classes because ``ComputeResource`` takes them as its own resource config; ``extra="forbid"`` makes a
  misspelled key fail when the code location loads, like every other section.
- ``cleaning.executor``: datatrove's ``local`` (the default path: a process pool in the step), ``slurm``
  (``SlurmPipelineExecutor``, one array task per shard) or ``ray`` (``RayPipelineExecutor``).
"""

from __future__ import annotations

import importlib.util
import re
from typing import Annotated, Literal, Optional, Union

import dagster as dg
from pydantic import ConfigDict, Field, field_validator, model_validator

from llm_pipeline_assets.config_base import _Strict

IMAGE_FEATURES = ("transformer_engine", "torchao", "flash_attn", "liger_kernel")
_SLURM_TIME = re.compile(r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$")


class EcsLaunchConfig(dg.Config):
    """One ECS task per training run (``ecs:RunTask``); the task definition's container runs the project image."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cluster: str = Field(min_length=1)
    task_definition: str = Field(min_length=1)  # family[:revision] or ARN
    container_name: str = Field(min_length=1)  # the container that runs the training module
    launch_type: Literal["EC2", "FARGATE"] = "EC2"  # GPUs need EC2 capacity (Fargate has none)
    capacity_provider: Optional[str] = None  # a capacity provider instead of launch_type
    subnets: list[str] = []  # awsvpc networking (required on Fargate)
    security_groups: list[str] = []
    assign_public_ip: bool = False
    python: str = "python"  # the interpreter inside the image
    region_name: Optional[str] = None  # None: AWS_REGION / AWS_DEFAULT_REGION
    poll_seconds: int = Field(default=15, ge=1, le=3600)  # how often the step asks whether the task stopped


class K8sLaunchConfig(dg.Config):
    """One pod per training run; ``shared_volume_claim`` is mounted at ``launcher.shared_dir``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    image: str = Field(min_length=1)
    namespace: str = Field(default="default", min_length=1)
    shared_volume_claim: str = Field(min_length=1)  # a ReadWriteMany PVC holding the step's cache_dir
    service_account: Optional[str] = None
    python: str = "python"
    pod_wait_timeout_hours: float = Field(default=72.0, gt=0)  # dagster-k8s' default (24 h) is short for pretraining


class TrainingLauncherConfig(dg.Config):
    """Where ``ComputeResource`` runs training children, and the hardware they get there."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["subprocess", "ecs", "k8s"] = "subprocess"
    # ecs/k8s: a folder the step's process and the training container both mount at this same path (EFS, a
    # ReadWriteMany volume). The store's cache_dir (LLM_PIPELINE_CACHE_DIR) must lie under it: the children
    # read their inputs and write checkpoints there, and the step publishes them to the artifact root.
    shared_dir: Optional[str] = None
    # The remote hardware cannot be probed from the step's machine, so it is declared (subprocess: probed).
    gpus: int = Field(default=0, ge=0, le=64)
    gpu_compute_capability: Optional[float] = Field(default=None, ge=1.0)  # e.g. 9.0 for H100
    image_features: list[str] = []  # of IMAGE_FEATURES installed in the training image
    ecs: Optional[EcsLaunchConfig] = None
    k8s: Optional[K8sLaunchConfig] = None

    @field_validator("image_features")
    @classmethod
    def _known_features(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(IMAGE_FEATURES))
        if unknown:
            raise ValueError(f"unknown image_features {unknown}; known: {list(IMAGE_FEATURES)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "TrainingLauncherConfig":
        for other in ("ecs", "k8s"):
            if other != self.kind and getattr(self, other) is not None:
                raise ValueError(f"launcher.{other} is set but launcher.kind is {self.kind!r}")
        if self.kind == "subprocess":
            return self
        if getattr(self, self.kind) is None:
            raise ValueError(f"launcher.kind is {self.kind!r} but launcher.{self.kind} is not set")
        if not self.shared_dir or not self.shared_dir.startswith("/"):
            raise ValueError(f"launcher.kind {self.kind!r} needs launcher.shared_dir: an absolute path mounted "
                             "in the step's container and the training container alike")
        if self.kind == "ecs":
            ecs = self.ecs
            if ecs.launch_type == "FARGATE" and ecs.capacity_provider is None and self.gpus:
                raise ValueError("launcher.gpus > 0 needs EC2 capacity: Fargate tasks have no GPUs")
            if ecs.launch_type == "FARGATE" and not ecs.subnets:
                raise ValueError("launcher.ecs.subnets is required on Fargate (awsvpc networking)")
        if self.kind == "k8s" and importlib.util.find_spec("dagster_k8s") is None:
            raise ValueError("launcher.kind 'k8s' needs dagster-k8s: pip install dagster-k8s==0.29.27")
        return self


class LocalExecutorConfig(_Strict):
    kind: Literal["local"] = "local"


class SlurmExecutorConfig(_Strict):
    """datatrove ``SlurmPipelineExecutor``: one array task per input shard, submitted with sbatch."""

    kind: Literal["slurm"]
    partition: str = Field(min_length=1)
    time: str = "04:00:00"  # per task, [D-]HH:MM:SS
    cpus_per_task: int = Field(default=1, ge=1)
    mem_per_cpu_gb: int = Field(default=2, ge=1)
    workers: int = Field(default=-1, ge=-1)  # array tasks at once; -1 = no limit
    job_name: str = Field(default="cleaned_shards", min_length=1)
    qos: Optional[str] = None
    venv_path: Optional[str] = None  # activate script of a venv that has this project, on the nodes
    env_command: Optional[str] = None  # or a command that sets up the environment
    sbatch_args: dict[str, str] = {}
    # Shared folder (all nodes) for datatrove's pickled executor, logs and completion markers; default: next
    # to the step's staging folder, which is on the shared artifact root when the root is a shared file system.
    logging_dir: Optional[str] = None
    poll_seconds: float = Field(default=30.0, gt=0)
    timeout_hours: float = Field(default=48.0, gt=0)

    @field_validator("time")
    @classmethod
    def _slurm_time(cls, v: str) -> str:
        if not _SLURM_TIME.fullmatch(v):
            raise ValueError(f"{v!r} is not a Slurm time limit ([D-]HH:MM:SS, e.g. '04:00:00')")
        return v


class RayExecutorConfig(_Strict):
    """datatrove ``RayPipelineExecutor``: one Ray task per input shard."""

    kind: Literal["ray"]
    address: Optional[str] = None  # None: RAY_ADDRESS if set, else a local Ray started for the step
    workers: int = Field(default=-1, ge=-1)  # tasks at once; -1 = one per shard
    cpus_per_task: int = Field(default=1, ge=1)
    mem_per_cpu_gb: float = Field(default=2.0, gt=0)
    logging_dir: Optional[str] = None  # as for slurm: shared by all nodes of a multi-node cluster


ExecutorConfig = Annotated[Union[LocalExecutorConfig, SlurmExecutorConfig, RayExecutorConfig],
                           Field(discriminator="kind")]
