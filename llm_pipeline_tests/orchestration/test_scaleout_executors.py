"""cleaning.executor: datatrove's Slurm and Ray executors around the same per-shard cleaning work units.

Slurm is not installed here, so ``sbatch``/``srun``/``scontrol``/``squeue`` are small stand-in scripts that run
the array tasks of datatrove's real launch script on this machine, one after the other: everything else — the
sbatch script datatrove writes, the dill-pickled executor, ``launch_pickled_pipeline`` in a fresh process,
completions, our wait loop — is the real thing. Ray runs for real where it is installed.
"""

import os
import stat
import sys
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from llm_pipeline_assets.config import CleaningConfig, ConfigError
from llm_pipeline_assets.curation.executors import CleanUnitsStep, build_executor
from llm_pipeline_assets.curation.stage import clean_shards
from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.shards import ShardWriter, shard_files
from llm_pipeline_assets.sources.synthetic import generate_documents
from llm_pipeline_tests.conftest import small_config

REPO = Path(__file__).resolve().parents[2]
VENV_ACTIVATE = Path(sys.executable).parent / "activate"
SLURM = {"kind": "slurm", "partition": "cpu", "time": "01:00:00", "workers": 2, "mem_per_cpu_gb": 3,
         "poll_seconds": 0.2, "venv_path": str(VENV_ACTIVATE)}
STAND_INS = {
    "sbatch": """#!/bin/bash
# Stand-in for sbatch: runs every array task of the script now, then prints the job id like sbatch does.
script="${@: -1}"
n=$(ls "$FAKE_SLURM_DIR" | grep -c '^job-')
cp "$script" "$FAKE_SLURM_DIR/job-$n.sh"
range=$(sed -n 's/^#SBATCH --array=\\([0-9]*\\)-\\([0-9]*\\).*/\\1 \\2/p' "$script")
read first last <<< "${range:-0 0}"
for ((i=first; i<=last; i++)); do
  if [ "$i" = "${FAKE_SLURM_SKIP_TASK:-none}" ]; then continue; fi  # a node that died: the task never ran
  SLURM_ARRAY_TASK_ID=$i SLURM_NODELIST=localhost SLURM_JOB_ID=$((4242 + n)) \\
    bash "$script" > "$FAKE_SLURM_DIR/job-$n-task-$i.log" 2>&1
done
echo "Submitted batch job $((4242 + n))"
""",
    "srun": '#!/bin/bash\nwhile [ $# -gt 0 ] && [ "$1" != launch_pickled_pipeline ]; do shift; done\nexec "$@"\n',
    "scontrol": "#!/bin/bash\necho localhost\n",
    "squeue": "#!/bin/bash\nexit 0\n",  # every job has left the queue (the stand-in sbatch is synchronous)
}


def raw_shards(tmp_path, n=160):
    w = ShardWriter(tmp_path / "raw", "part", max_docs=80)
    w.write_many({"id": d.id, "text": d.text, "source": "web"} for d in generate_documents("web", n, seed=5))
    return w.close()


def run_clean(files, out, executor=None, work=None):
    cfg = CleaningConfig(workers=1, **({"executor": executor} if executor else {}))
    return clean_shards(files, out, cfg, 100, 1 << 20, log=lambda m: None, work_dir=work)


def assert_same_output(a: Path, b: Path, stats_a, stats_b):
    assert (stats_a.docs_in, stats_a.docs_out, stats_a.funnel, stats_a.reasons, stats_a.pii) == (
        stats_b.docs_in, stats_b.docs_out, stats_b.funnel, stats_b.reasons, stats_b.pii)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.parquet"))
    assert files_a and files_a == sorted(p.relative_to(b) for p in b.rglob("*.parquet"))
    for rel in files_a:
        assert pq.read_table(a / rel).equals(pq.read_table(b / rel)), rel


@pytest.fixture
def slurm(tmp_path, monkeypatch):
    bin_dir, runs = tmp_path / "bin", tmp_path / "slurm"
    bin_dir.mkdir(), runs.mkdir()
    for name, body in STAND_INS.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod((bin_dir / name).stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(runs))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return runs


def test_executor_config_is_validated():
    assert CleaningConfig().executor.kind == "local"
    for bad, message in [({"kind": "slurm"}, "cleaning.executor.partition: Field required"),
                         ({**SLURM, "time": "2h"}, "not a Slurm time limit"),
                         ({"kind": "ray", "adress": "ray://head:10001"}, "cleaning.executor.adress: Extra inputs"),
                         ({"kind": "dask"}, "cleaning.executor")]:
        with pytest.raises(ConfigError, match=message):
            small_config(cleaning={"executor": bad})


def test_choosing_an_executor_does_not_change_the_code_version():
    def version(cfg):
        graph = build_definitions(cfg, root="/tmp/unused-root").resolve_asset_graph()
        return graph.get(dg.AssetKey("cleaned_shards")).code_version

    assert version(small_config()) == version(small_config(cleaning={"executor": SLURM}))
    assert version(small_config()) != version(small_config(cleaning={"pii": False}))  # a rule does change it


def test_slurm_executor_is_built_around_the_cleaning_units(tmp_path):
    files = [tmp_path / f"in-{i}.parquet" for i in range(3)]
    jobs = [(f, tmp_path / "units", f"{i:05d}", CleaningConfig(), 100, 1 << 20, 1000) for i, f in enumerate(files)]
    executor = build_executor(small_config(cleaning={"executor": SLURM}).cleaning.executor, jobs, tmp_path / "logs")
    (step,) = executor.pipeline
    assert isinstance(step, CleanUnitsStep) and step.jobs == jobs
    assert executor.world_size == 3 and executor.logging_dir.path == str(tmp_path / "logs")
    args = executor.get_sbatch_args(max_array=3)
    assert (args["partition"], args["time"], args["array"], args["mem-per-cpu"], args["cpus-per-task"]) == (
        "cpu", "01:00:00", "0-2%2", "3G", 1)
    assert "requeue" not in args and "qos" not in args
    script = executor.get_launch_file_contents(args, "launch_pickled_pipeline x.pik")
    assert f"source {VENV_ACTIVATE}" in script and "#SBATCH --partition=cpu" in script


@pytest.mark.slow
def test_slurm_path_cleans_what_the_local_path_cleans(tmp_path, slurm):
    files = raw_shards(tmp_path)
    assert len(files) == 2
    local = run_clean(files, tmp_path / "local")
    remote = run_clean(files, tmp_path / "slurm-out", executor=SLURM)
    assert_same_output(tmp_path / "local", tmp_path / "slurm-out", local, remote)
    job = (slurm / "job-0.sh").read_text()  # the array job datatrove submitted: one task per input shard
    assert "#SBATCH --array=0-1%2" in job and "launch_pickled_pipeline" in job
    assert sorted(p.name for p in slurm.glob("job-0-task-*.log")) == ["job-0-task-0.log", "job-0-task-1.log"]
    for rank in (0, 1):  # each shard was cleaned by its own array task, in its own process
        assert f"Processing done for rank={rank}" in (slurm / f"job-0-task-{rank}.log").read_text()


@pytest.mark.slow
def test_slurm_task_that_never_ran_fails_clearly_and_a_rerun_cleans_only_it(tmp_path, slurm, monkeypatch):
    files = raw_shards(tmp_path)
    local = run_clean(files, tmp_path / "local")
    monkeypatch.setenv("FAKE_SLURM_SKIP_TASK", "1")
    with pytest.raises(RuntimeError, match=r"cleaning on slurm: shards \['00001'\] did not finish; .* under "):
        run_clean(files, tmp_path / "out", executor=SLURM, work=tmp_path / "work")
    monkeypatch.delenv("FAKE_SLURM_SKIP_TASK")
    again = run_clean(files, tmp_path / "out2", executor=SLURM, work=tmp_path / "work")
    assert again.resumed_shards == 1  # shard 00000 was done on the first try and is not cleaned again
    assert_same_output(tmp_path / "local", tmp_path / "out2", local, again)


@pytest.mark.slow
def test_ray_path_cleans_what_the_local_path_cleans(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="ray is not installed (pip install ray==2.60.0 to run this test)")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    files = raw_shards(tmp_path)
    local = run_clean(files, tmp_path / "local")
    remote = run_clean(files, tmp_path / "ray-out", executor={"kind": "ray", "cpus_per_task": 1,
                                                                "mem_per_cpu_gb": 0.5})
    assert_same_output(tmp_path / "local", tmp_path / "ray-out", local, remote)
