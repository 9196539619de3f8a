"""Kill/resume and determinism tests: one small pipeline config file, its uninterrupted data run, and the
real materialize command run as a separate process group that a test can SIGKILL mid-asset.

The config is a YAML file because the killed runs are real ``python -m llm_pipeline_assets.materialize``
processes that read it from ``LLM_PIPELINE_CONFIG``; the in-process reference runs load the same file.
Many small shards (20 documents) give the data stages many work units to be killed between.
``start_materialize`` starts the command in its own session, so its process group holds everything it starts
(cleaning pool workers, the training child of Dagster Pipes) and ``kill_group`` takes them all down with
SIGKILL, as a machine loss or the OOM killer would.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import dagster as dg
import pytest

from llm_pipeline_assets.jobs import DATA_ASSETS  # the data layer, as the jobs select it
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.work_units import MARKER_SUFFIX, SLOW_UNITS_ENV, WorkUnits

REPO = Path(__file__).resolve().parents[2]

DATA_SELECTION = " or ".join(f"key:{a}" for a in DATA_ASSETS)

RESUME_YAML = """\
name: resume-test
seed: 42
sources:
  - {{name: web, kind: synthetic, num_docs: 600, seed: 1, corpus_seed: 7}}
  - {{name: news, kind: synthetic, num_docs: 200, seed: 2, corpus_seed: 7}}
shards: {{max_docs: 20, read_batch_docs: 20}}
cleaning: {{workers: {workers}, pii_check_sample: 50}}
dedup: {{batch_docs: 20}}
tokenizer: {{vocab_size: 512}}
packing: {{seq_lens: [64, 128]}}
pretrain: {{max_steps: {max_steps}, save_every: 5, keep_last: 20, eval_every: 1000, eval_batches: 1,
           micro_batch: 4, warmup_steps: 2, lr: 5.0e-3}}
sft: {{sources: [{{name: synthetic, num: 60}}]}}
dpo: {{sources: [{{name: synthetic, num: 40}}]}}
eval: {{gates_preset: smoke, items_per_task: 2, max_new_tokens: 4, max_val_tokens: 256}}
"""
PRETRAIN_STEPS = 30


def write_config(path: Path, workers: int = 1) -> Path:
    """The test pipeline config as a YAML file (``workers`` cleaning processes; outputs do not depend on it)."""
    Path(path).write_text(RESUME_YAML.format(workers=workers, max_steps=PRETRAIN_STEPS), encoding="utf-8")
    return Path(path)


def materialize_in_process(config_file: Path, root: Path, selection: str) -> list:
    """``materialize.run`` of ``selection`` for the config file, in this process (a fresh ephemeral instance)."""
    import dagster as dg

    from llm_pipeline_assets.config import load_config
    from llm_pipeline_assets.definitions import build_definitions
    from llm_pipeline_assets.materialize import run

    defs = build_definitions(load_config(str(config_file)), root=str(root))
    return run(defs, selection, instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)


def copy_assets(src_root: Path, dst_root: Path, assets) -> None:
    """Give ``dst_root`` the published versions of ``assets`` from ``src_root`` (work folders are not copied)."""
    for asset in assets:
        shutil.copytree(Path(src_root) / asset, Path(dst_root) / asset)


def scratch_tmp(root: Path) -> Path:
    """The temp folder (TMPDIR) of the materialize processes writing ``root``: a killed run's leftovers show there."""
    return Path(root).parent / "tmp"


def pipeline_env(config_file: Path, root: Path, home: Path, slow_units_s: float | None = None, **extra: str) -> dict:
    """Environment of a materialize process: config, artifact root, a SQLite DAGSTER_HOME, offline (+ ``extra``)."""
    Path(home).mkdir(parents=True, exist_ok=True)
    scratch_tmp(root).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LLM_PIPELINE_CONFIG": str(config_file), "LLM_PIPELINE_ROOT": str(root),
           "DAGSTER_HOME": str(home), "HF_HUB_OFFLINE": "1", "DAGSTER_DISABLE_TELEMETRY": "1",
           "PYTHONPATH": str(REPO), "TMPDIR": str(scratch_tmp(root)), **extra}
    env.pop(SLOW_UNITS_ENV, None)
    if slow_units_s:
        env[SLOW_UNITS_ENV] = str(slow_units_s)
    return env


def _command(select: str, partition: str | None) -> list[str]:
    return [sys.executable, "-m", "llm_pipeline_assets.materialize", "--select", select,
            *(["--partition", partition] if partition else [])]


def start_materialize(env: dict, select: str, log_file: Path, partition: str | None = None) -> subprocess.Popen:
    out = open(log_file, "wb")
    try:
        return subprocess.Popen(_command(select, partition), cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()  # the child has its own copy


def materialize_to_end(env: dict, select: str, partition: str | None = None, timeout: float = 900) -> str:
    """Run materialize to completion; returns its output, fails the test on a non-zero exit."""
    proc = subprocess.run(_command(select, partition), cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


def wait_until(found: Callable[[], object], proc: subprocess.Popen, log_file: Path, timeout: float = 600):
    """Poll ``found()`` every 20 ms until it returns something truthy; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"materialize exited ({proc.returncode}) before the awaited progress:\n"
                                 + Path(log_file).read_text(errors="replace")[-4000:])
        time.sleep(0.02)
    kill_group(proc)
    raise AssertionError(f"no progress within {timeout}s:\n" + Path(log_file).read_text(errors="replace")[-4000:])


def kill_group(proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGKILL the whole process group and wait until none of its processes is left."""
    assert proc.poll() is None, "the process had already finished: it was not killed mid-way"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # still someone in the group (a child not yet reaped by init)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {proc.pid} survived SIGKILL")


def work_folders(root: Path, asset: str) -> list[Path]:
    base = Path(root) / "_work" / asset
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def done_units(root: Path, asset: str) -> dict[str, dict]:
    """tag -> done-marker of every complete work unit of ``asset`` under the artifact root."""
    out = {}
    for folder in work_folders(root, asset):
        units = WorkUnits(folder)
        for marker_file in folder.glob(f"*{MARKER_SUFFIX}"):
            tag = marker_file.name[:-len(MARKER_SUFFIX)]
            marker = units.done(tag)
            if marker is not None:
                out[tag] = {**marker, "folder": folder}
    return out


def synthetic_shards(directory: Path, source: str, n: int, seed: int) -> list:
    """``n`` synthetic documents of ``source`` as cleaned-shard Parquet files of 15 documents each."""
    from llm_pipeline_assets.shards import ShardWriter
    from llm_pipeline_assets.sources.synthetic import generate_documents

    writer = ShardWriter(directory, "part", max_docs=15)
    writer.write_many({"id": d.id, "text": d.text, "source": source}
                      for d in generate_documents(source, n, seed=seed, corpus_seed=7))
    return writer.close()


def tree_bytes(directory: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under ``directory``."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def published_bytes(root: Path, asset: str, partition: str | None = None) -> dict[str, bytes]:
    """Every file of the current published version (as the manifest lists it) with its bytes."""
    directory, manifest = ArtifactStore(root=str(root)).local_dir(asset, partition)
    return {name: (directory / name).read_bytes() for name in manifest.names()}


def latest_metadata(home: Path, asset: str, partition: str | None = None) -> dict:
    """Plain metadata values of ``asset``'s latest materialization recorded in the instance at ``home``."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(dg.AssetKey(asset), asset_partitions=[partition] if partition else None),
            limit=1).records
        assert records, f"no materialization of {asset} recorded in {home}"
        return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


@pytest.fixture(scope="session")
def resume_config(tmp_path_factory) -> Path:
    return write_config(tmp_path_factory.mktemp("resume_config") / "pipeline.yaml")


@pytest.fixture(scope="session")
def data_reference(tmp_path_factory, resume_config) -> Path:
    """An artifact root holding every data asset of ``resume_config`` from one uninterrupted run."""
    root = tmp_path_factory.mktemp("reference") / "artifacts"
    results = materialize_in_process(resume_config, root, DATA_SELECTION)
    assert all(r.success for r in results)
    return root
