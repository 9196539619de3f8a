"""bench/gpu_check.sh and its helpers: syntax, every flag it passes exists, and the dedup bench runs on CPU."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from llm_pipeline_assets.gpu import fp8
from llm_pipeline_tests.gpu.helpers import one_torch_thread  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "bench" / "gpu_check.sh"
FETCH = ROOT / "bench" / "fetch_gpu_wheels.sh"


def _step_commands() -> dict:
    """``{step name: argv after the interpreter}`` for every python step of gpu_check.sh."""
    steps = {}
    for line in CHECK.read_text().splitlines():
        if line.startswith("step ") and '"$PY"' in line:
            words = shlex.split(line.replace('"$PY"', "PY").replace('"$OUT', '"OUT'))
            steps[words[1]] = words[words.index("PY") + 1:]
    return steps


@pytest.mark.parametrize("script", [CHECK, FETCH], ids=lambda p: p.name)
def test_shell_syntax(script):
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_every_flag_passed_by_gpu_check_is_accepted():
    steps = _step_commands()
    assert {"pytest_gpu", "dedup_gpu", "train_124m", "fp8_1b_train", "profile_124m"} <= set(steps)
    for name, argv in steps.items():
        target = argv[:2] if argv[0] == "-m" else argv[:1]
        flags = [a.split("=")[0] for a in argv if a.startswith("--")]
        helptext = subprocess.run([sys.executable, *target, "--help"], cwd=ROOT, capture_output=True, text=True,
                                  timeout=120).stdout
        missing = [f for f in flags if not re.search(rf"{re.escape(f)}\b", helptext)]
        assert not missing, f"{name}: {target} does not accept {missing}"


def test_fetch_list_is_pinned_and_covers_what_gpu_check_installs():
    listed = subprocess.run(["bash", str(FETCH), "--list"], capture_output=True, text=True, check=True).stdout.split()
    top = subprocess.run(["bash", str(FETCH), "--top-level"], capture_output=True, text=True, check=True).stdout.split()
    names = [req.split("==")[0] for req in listed]
    assert all("==" in req for req in listed) and len(names) == len(set(names))
    assert set(top) <= set(listed) and {"dagster", "pydantic", "torchao"} <= {t.split("==")[0] for t in top}
    assert "--top-level" in CHECK.read_text()  # gpu_check resolves exactly those


def test_dedup_bench_runs_on_cpu_and_proves_identity(tmp_path):
    out = tmp_path / "dedup_gpu.json"
    proc = subprocess.run([sys.executable, "bench/dedup_gpu.py", "--docs", "400", "--device", "cpu", "--repeat", "1",
                           "--gpu-batch", "150,400", "--profile", str(tmp_path / "profile.txt"), "--source", "parquet",
                           "--cpu-workers", "2", "--sign-workers", "1",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["n_docs"] == 400 and report["gpu"]["backend"]["signatures"] == "torch"
    assert all(report["gpu"]["identical"].values())
    assert report["ratio_gpu_vs_cpu"] == pytest.approx(report["gpu"]["docs_per_s"] / report["cpu"]["docs_per_s"])
    assert "gpu / cpu" in proc.stdout
    assert report["gpu"]["batch"] == 150 and report["gpu_b400"]["batch"] == 400
    assert all(report["gpu_b400"]["identical"].values())
    for batch in (150, 400):  # one device worker process signing whole batches (gpu.sign_pool)
        run = report[f"gpu_sign1_b{batch}"]
        assert run["sign_workers"] == 1 and run["batch"] == batch and all(run["identical"].values())
        assert run["source"] == "parquet" and report["gpu"]["source"] == "memory"  # the worker reads its batch
    # every path again from a Parquet file of the corpus: the same result; the GPU one at the largest batch
    for name in ("cpu_parquet", "cpu_workers_parquet", "gpu_parquet", "gpu_builder_parquet"):
        assert all(report[name]["identical"].values()) and report[name]["docs_per_s"] > 0, name
    assert report["gpu_parquet"]["batch"] == 400 and report["gpu_parquet"]["backend"]["text"] == "device"
    assert "gpu_builder_parquet / cpu_parquet" in proc.stdout
    assert report["ratio_gpu_parquet_vs_cpu_parquet"] == pytest.approx(
        report["gpu_parquet"]["docs_per_s"] / report["cpu_parquet"]["docs_per_s"])
    profile = (tmp_path / "profile.txt").read_text()  # where one GPU-path run spends its time
    assert profile.startswith("== dedup_gpu 400 docs, batch 400") and "host ops by self time" in profile


@pytest.mark.usefixtures("one_torch_thread")
def test_fp8_cli_writes_its_decision(tmp_path, capsys):
    out = tmp_path / "fp8.json"
    assert fp8.main(["--shape", "tiny", "--vocab", "256", "--seq-len", "32", "--batch", "2", "--steps", "1",
                     "--warmup", "0", "--device", "cpu", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["shape_name"] == "tiny" and report["precision"] in ("fp8", "bf16")
    assert report["shape"]["hidden_size"] == 64 and report["bf16_step_seconds"] > 0


def test_fp8_train_bench_compares_speed_and_loss_on_cpu(tmp_path):
    out = tmp_path / "fp8_train.json"
    proc = subprocess.run([sys.executable, "bench/fp8_train.py", "--shape", "tiny", "--vocab", "256", "--seq-len", "32",
                           "--batch", "4", "--steps", "12", "--skip", "2", "--lr", "3e-3", "--device", "cpu",
                           "--recipe", "torchao", "--profile", "2", "--profile-out", str(tmp_path / "p.txt"),
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    bf16, f8 = report["runs"]["bf16"], report["runs"]["fp8"]
    assert len(bf16["losses"]) == len(f8["losses"]) == 12 and f8["fp8_layers"] > 0
    assert bf16["losses"][0] == pytest.approx(f8["losses"][0], rel=0.05)  # same weights, same first batch
    assert bf16["final_loss"] < bf16["losses"][0] - 0.2  # the bigram data is learnable
    assert report["ratio"] == pytest.approx(bf16["median_step_seconds"] / f8["median_step_seconds"])
    assert report["loss_gap"] == pytest.approx(abs(f8["final_loss"] - bf16["final_loss"]) / bf16["final_loss"])
    assert report["decision"] == ("fp8" if report["ratio"] >= fp8.DEFAULT_MIN_SPEEDUP else "bf16")
    for run in (bf16, f8):  # profiled after training: innermost ops on a CPU, kernels on a GPU
        assert run["profile"]["steps"] == 2 and run["profile"]["top_kernels"]
        assert 0 < run["profile"]["busy_fraction"] <= 1.0
    assert (tmp_path / "p.txt").read_text().count("== fp8_train tiny") == 2


def test_profile_step_reports_where_the_pipeline_step_spends_its_time(tmp_path):
    out = tmp_path / "profile.txt"
    proc = subprocess.run([sys.executable, "bench/profile_step.py", "--seq-len", "64", "--batch", "4", "--docs", "300",
                           "--attn", "sdpa", "--warmup", "2", "--steps", "3", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    header, summary = out.read_text().splitlines()[0], json.loads(out.read_text().splitlines()[-1])
    assert header.startswith("== tiny seq 64 x 4") and "sync_every 1" in header
    assert summary["steps"] == 3 and summary["wall_seconds_per_step"] > summary["gpu_busy_seconds_per_step"] > 0
    names = [k["name"] for k in summary["top_kernels"]]
    assert "aten::_log_softmax" in names  # the step's loss is in what was profiled
    assert sum(summary["kernel_seconds_per_step_by_kind"].values()) > 0


def test_train_throughput_bench_runs_each_attention_and_keeps_failures_apart(tmp_path):
    out = tmp_path / "train.json"
    proc = subprocess.run([sys.executable, "bench/train_throughput.py", "--shape", "tiny", "--seq-len", "64",
                           "--steps", "5", "--skip", "2", "--batch", "4", "--docs", "300",
                           "--attn", "sdpa,flex_attention", "--sync-every", "1,2", "--json", str(out)], cwd=ROOT,
                          capture_output=True,
                          text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    base, ours = report["runs"]["baseline_hf_trainer"], report["runs"]["ours_sdpa"]
    assert base["timed_steps"] == ours["timed_steps"] == 3
    for run in (base, ours):  # positions of the 3 timed steps over their seconds; warm-up steps left out
        assert run["tokens_per_second"] == pytest.approx(4 * 64 * 3 / run["timed_seconds"])
        assert run["warmup_seconds"] > 0 and run["mfu"] is None  # no peak known for a CPU
    assert ours["final_loss"] < ours["first_loss"] and ours["ratio_vs_baseline"] > 0
    deferred = report["runs"]["ours_sdpa_sync2"]  # the same training, metrics read back every 2 steps
    assert deferred["sync_every"] == 2 and deferred["timed_steps"] == 3
    assert deferred["final_loss"] == pytest.approx(ours["final_loss"], abs=1e-6)
    # flex_attention has no backward on CPU: refused by the settings check, reported, the rest kept
    assert "flex_attention" in report["errors"]["ours_flex_attention"] and "CUDA only" in report["errors"]["ours_flex_attention"]


def test_train_throughput_variants_refuse_unknown_keys_and_values():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import train_throughput as tt
    finally:
        sys.path.remove(str(ROOT / "bench"))
    v = tt.parse_variant("attn=torch_varlen,sync=10,residual=bf16,fuse=1", "sdpa")
    assert tt.variant_name(v) == "ours_torch_varlen_sync10_bf16residual_fused" and v["loss"] == "compiled"
    for bad, message in (("fuse=true", "fuse must be one of"), ("sync=0", "sync must be a positive"),
                         ("mode=max", "mode must be one of"), ("colour=red", "unknown keys")):
        with pytest.raises(SystemExit, match=message):
            tt.parse_variant(bad, "sdpa")
