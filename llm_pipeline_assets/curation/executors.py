"""cleaned_shards on a datatrove executor: Slurm or Ray clean the same work units as the local path.

``cleaning.executor.kind`` picks who runs the per-shard work units of ``stage.clean_shards``:

- ``local`` (default): the step's own process pool, as before (this module is not used).
- ``slurm``: datatrove's ``SlurmPipelineExecutor`` submits one array task per shard (sbatch); the step waits
  until every task has written its done-marker, polling ``squeue`` to notice a job that ended without them.
- ``ray``: datatrove's ``RayPipelineExecutor`` runs one Ray task per shard on the cluster at
  ``executor.address`` / ``RAY_ADDRESS``, or on a local Ray the step starts (and stops) itself.

Each task runs :class:`CleanUnitsStep`, a datatrove ``PipelineStep`` around ``stage.clean_unit``: the very
function the local pool runs, writing into the same work folder, so the markers, the placed shards and the
merged stats — and thus the published files — are the same whichever executor cleaned them. The work
folder (under the artifact root, or ``LLM_PIPELINE_CACHE_DIR`` for S3 roots) must be on a file system every
node mounts; so must ``executor.logging_dir`` when set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

from datatrove.pipeline.base import PipelineStep

Logger = Callable[[str], None]


class CleanUnitsStep(PipelineStep):
    """Task ``rank`` of ``world_size`` cleans input shards rank, rank + world_size, … as work units."""

    name = "clean shards (llm_pipeline_assets)"
    type = "CURATION"

    def __init__(self, jobs: list[tuple]):
        super().__init__()
        self.jobs = [tuple(job) for job in jobs]  # stage.clean_unit's arguments, one tuple per shard

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        from llm_pipeline_assets.curation.stage import clean_unit

        for k in range(rank, len(self.jobs), world_size):
            marker = clean_unit(*self.jobs[k])
            self.stat_update("shards")
            self.stat_update("docs_in", value=marker["stats"]["docs_in"])
            self.stat_update("docs_out", value=marker["stats"]["docs_out"])
        return None


def task_logging_dir(executor_cfg, units_root: Path) -> Path:
    """A fresh folder for datatrove's pickled executor, logs and completions (so no stale completion skips a task)."""
    base = Path(executor_cfg.logging_dir) / Path(units_root).name if executor_cfg.logging_dir else Path(units_root)
    return base / f".datatrove-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def build_executor(executor_cfg, jobs: list[tuple], logging_dir: Path):
    """The datatrove executor for ``executor_cfg`` (slurm | ray) around one CleanUnitsStep, one task per shard."""
    step = CleanUnitsStep(jobs)
    if executor_cfg.kind == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        c = executor_cfg
        return SlurmPipelineExecutor(
            pipeline=[step], tasks=len(jobs), time=c.time, partition=c.partition, cpus_per_task=c.cpus_per_task,
            mem_per_cpu_gb=c.mem_per_cpu_gb, workers=c.workers, job_name=c.job_name, qos=c.qos or "",
            venv_path=c.venv_path, env_command=c.env_command, sbatch_args=dict(c.sbatch_args),
            logging_dir=str(logging_dir), slurm_logs_folder=str(logging_dir / "slurm_logs"),
            skip_completed=True, requeue=False)
    if executor_cfg.kind == "ray":
        from datatrove.executor.ray import RayPipelineExecutor

        c = executor_cfg
        return RayPipelineExecutor(pipeline=[step], tasks=len(jobs), workers=c.workers, logging_dir=str(logging_dir),
                                   cpus_per_task=c.cpus_per_task, mem_per_cpu_gb=c.mem_per_cpu_gb, skip_completed=True)
    raise ValueError(f"cleaning.executor.kind {executor_cfg.kind!r} has no datatrove executor here")


def _slurm_job_listed(job_id: str) -> bool:
    out = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%i"], capture_output=True, text=True)
    return bool(out.stdout.strip())


def wait_for_slurm(executor, executor_cfg, log: Logger) -> None:
    """Until every task is complete; fail when the job left the queue without finishing, or on timeout."""
    deadline = time.monotonic() + executor_cfg.timeout_hours * 3600
    gone_once = False
    while incomplete := executor.get_incomplete_ranks(skip_completed=True):
        if executor.job_id in (None, -1):
            break
        if not _slurm_job_listed(executor.job_id):
            if gone_once:  # checked twice: completions written just before the job ended are not missed
                break
            gone_once = True
        if time.monotonic() > deadline:
            break
        log(f"slurm job {executor.job_id}: {len(incomplete)}/{executor.world_size} cleaning tasks to go")
        time.sleep(executor_cfg.poll_seconds)


def run_ray(executor, executor_cfg) -> None:
    import ray

    started = False
    if not ray.is_initialized():
        address = executor_cfg.address or os.environ.get("RAY_ADDRESS") or None
        # A Ray started here gets this process's import path, so its workers import the project like we do.
        env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)} if address is None else {}
        ray.init(address=address, include_dashboard=False, runtime_env={"env_vars": env} if env else None)
        started = address is None
    try:
        executor.run()
    finally:
        if started:
            ray.shutdown()


def run_on_executor(executor_cfg, jobs: dict[int, tuple], log: Logger) -> dict[int, dict]:
    """Clean the work units ``jobs`` ({shard index: clean_unit args}) on Slurm or Ray; {index: done-marker}.

    Raises RuntimeError naming the shards without a marker and where the executor's logs are."""
    from llm_pipeline_assets.work_units import WorkUnits

    if not jobs:
        return {}
    order = sorted(jobs)
    units_root = Path(jobs[order[0]][1])
    logging_dir = task_logging_dir(executor_cfg, units_root)
    executor = build_executor(executor_cfg, [jobs[i] for i in order], logging_dir)
    log(f"cleaning {len(order)} shards as {len(order)} {executor_cfg.kind} tasks (logs: {logging_dir})")
    if executor_cfg.kind == "slurm":
        executor.run()  # submits the array job (sbatch) and returns
        wait_for_slurm(executor, executor_cfg, log)
    else:
        run_ray(executor, executor_cfg)
    units = WorkUnits(units_root)
    markers = {i: units.done(jobs[i][2]) for i in order}
    missing = [jobs[i][2] for i in order if markers[i] is None]
    if missing:
        raise RuntimeError(f"cleaning on {executor_cfg.kind}: shards {missing} did not finish; their task logs "
                           f"are under {logging_dir} (a rerun cleans only the missing shards)")
    shutil.rmtree(logging_dir, ignore_errors=True)
    return markers
