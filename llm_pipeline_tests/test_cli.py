"""The real CLI against a real (SQLite) Dagster instance in a temporary DAGSTER_HOME."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.shards import count_rows, shard_files

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def _env(tmp_path, config_file):
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(home), "LLM_PIPELINE_CONFIG": str(config_file),
           "LLM_PIPELINE_ROOT": str(tmp_path / "artifacts"), "HF_HUB_OFFLINE": "1",
           "DAGSTER_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(REPO)}
    return env, home


def _config(tmp_path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "name: cli-test\n"
        "sources:\n"
        "  - {name: web, kind: synthetic, num_docs: 120, seed: 1, corpus_seed: 9}\n"
        "  - {name: news, kind: synthetic, num_docs: 80, seed: 2, corpus_seed: 9}\n"
    )
    return path


@pytest.mark.slow
@pytest.mark.parametrize("target, location", [
    (["-m", "llm_pipeline_assets.definitions"], "llm_pipeline_assets.definitions"),  # `dagster asset materialize`
    (["-w", "workspace.yaml"], "llm_pipeline"),  # what dagster dev, the webserver and the daemon read
    ([], "llm_pipeline"),  # no flags: pyproject's [tool.dagster], which dagster dev prefers over workspace.yaml
])
def test_cli_validate_every_way_the_location_is_named(tmp_path, target, location):
    env, _ = _env(tmp_path, _config(tmp_path))
    validate = subprocess.run([DAGSTER, "definitions", "validate", *target],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert validate.returncode == 0, validate.stderr[-3000:]
    # workspace.yaml and pyproject agree on the location name, so the UI shows one location however it starts.
    assert f"Validation successful for code location {location}." in validate.stderr + validate.stdout


@pytest.mark.slow
def test_cli_materialize(tmp_path):
    env, home = _env(tmp_path, _config(tmp_path))
    for partition in ("web", "news"):
        proc = subprocess.run(
            [DAGSTER, "asset", "materialize", "-m", "llm_pipeline_assets.definitions",
             "--select", "raw_corpus,cleaned_shards", "--partition", partition],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([sys.executable, "-m", "llm_pipeline_assets.materialize",
                           "--select", "key:dedup_index or key:deduped_shards"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "deduped_shards[news]" in proc.stdout
    with dg.DagsterInstance.from_config(str(home)) as inst:
        for key in ("raw_corpus", "cleaned_shards", "deduped_shards"):
            ev = inst.get_latest_materialization_event(dg.AssetKey(key))
            assert ev is not None, key
        assert inst.get_latest_materialization_event(dg.AssetKey("dedup_index")) is not None
        # The CLI run recorded the web partition's document count into DAGSTER_HOME, equal to what is on disk.
        web = inst.fetch_materializations(dg.AssetRecordsFilter(dg.AssetKey("raw_corpus"), asset_partitions=["web"]),
                                          limit=1).records[0].asset_materialization
        raw_dir, _ = ArtifactStore(root=env["LLM_PIPELINE_ROOT"]).local_dir("raw_corpus", "web")
        assert web.partition == "web" and web.metadata["docs"].value == count_rows(shard_files(raw_dir)) == 120
    assert (tmp_path / "artifacts" / "deduped_shards" / "web" / "_MANIFEST.json").exists()


def test_bad_config_fails_validation_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsources:\n  - {name: web, kind: local}\ndedup: {threshold: 1.5}\n")
    env, _ = _env(tmp_path, bad)
    proc = subprocess.run([DAGSTER, "definitions", "validate", "-m", "llm_pipeline_assets.definitions"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "sources[0].path" in out and "dedup.threshold" in out
    # the pipeline's own command says the same without a traceback through the import of the definitions
    proc = subprocess.run([sys.executable, "-m", "llm_pipeline_assets.materialize"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"config error: {bad}: invalid pipeline config:") and "sources[0].path" in proc.stderr


def test_materialize_refuses_a_selection_or_partition_that_matches_nothing(tmp_path):
    """A typo used to materialize nothing and exit 0."""
    from llm_pipeline_assets.config import parse_config
    from llm_pipeline_assets.definitions import build_definitions
    from llm_pipeline_assets.materialize import run

    cfg = parse_config({"name": "t", "sources": [{"name": "web", "kind": "synthetic", "num_docs": 10},
                                                 {"name": "news", "kind": "synthetic", "num_docs": 10}]})
    defs = build_definitions(cfg, root=str(tmp_path / "artifacts"))
    with dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(SystemExit, match=r"--partition \['webb'\] is not a partition .*'news', 'web'"):
            run(defs, "key:raw_corpus", ["webb"], instance=instance)
        with pytest.raises(SystemExit, match="--select 'key:dedup_idx' matches no asset; did you mean 'dedup_index'"):
            run(defs, "key:dedup_idx", instance=instance)
        with pytest.raises(SystemExit, match="--select 'dedup_indx' matches no asset; did you mean 'dedup_index'"):
            run(defs, "dedup_indx", instance=instance)  # a bare name: "join keys with ' or '" before
        with pytest.raises(SystemExit, match="--select 'raw_corpus,cleaned_shards' is not a selection .* ' or '"):
            run(defs, "raw_corpus,cleaned_shards", instance=instance)  # a traceback before
        assert not instance.get_runs()  # refused before anything ran
    assert not (tmp_path / "artifacts").exists()


def test_a_failed_gate_is_reported_by_its_failures_not_its_markdown_table():
    from llm_pipeline_assets.materialize import _check_line

    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("sft_checkpoint"), check_name="sft_to_dpo", passed=False,
        metadata={"thresholds": dg.MetadataValue.md("| metric | op |\n|---|---|\n| json | >= |"),
                  "missing_metrics": 0,
                  "failures": "metric 'function_call_valid_json' = 0.125 fails threshold >= 0.25"})
    line = _check_line(evaluation)
    assert line.startswith("  sft_to_dpo: failures=metric 'function_call_valid_json' = 0.125 fails")
    assert "missing_metrics=0" in line and "|" not in line


def test_materialize_without_dagster_home_runs_on_a_temporary_instance(tmp_path):
    """From a plain shell (no DAGSTER_HOME) the command crashed with DagsterHomeNotSetError and made nothing."""
    env, _ = _env(tmp_path, _config(tmp_path))
    env.pop("DAGSTER_HOME")
    proc = subprocess.run([sys.executable, "-m", "llm_pipeline_assets.materialize", "--select", "key:raw_corpus",
                           "--partition", "web"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DAGSTER_HOME is not set" in proc.stdout + proc.stderr
    store = ArtifactStore(root=str(tmp_path / "artifacts"))
    assert count_rows(shard_files(store.local_dir("raw_corpus", "web")[0])) == 120


def test_a_failed_step_is_reported_by_the_error_it_raised_not_dagsters_wrapper(tmp_path):
    """materialize's last line named DagsterExecutionStepExecutionError ("Error occurred while executing op") or,
    after a RetryPolicy, "Exceeded max_retries of 1", and not the error that says which key or file is wrong."""
    from llm_pipeline_assets.config import parse_config
    from llm_pipeline_assets.definitions import build_definitions
    from llm_pipeline_assets.materialize import run

    missing = tmp_path / "does" / "not" / "exist"
    cfg = parse_config({"name": "x", "sources": [{"name": "gone", "kind": "local", "path": str(missing)}]})
    defs = build_definitions(cfg, root=str(tmp_path / "a"))
    with dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(SystemExit, match=r"stopped at raw_corpus\[gone\]: step failed: SourceError: "
                                             r"sources\[0\]\.path: .*does/not/exist") as stop:
            run(defs, "key:raw_corpus", instance=instance, echo=lambda m: None)
        assert "DagsterExecutionStepExecutionError" not in str(stop.value)

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=1))  # as the training assets carry
    def flaky():
        raise ValueError("lora.mix names tasks ['mathh'] that sft_dataset does not have")

    with dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(SystemExit, match=r"stopped at flaky: step failed: ValueError: lora\.mix names tasks "
                                             r"\['mathh'\] .* \(exceeded max_retries of 1\)"):
            run(dg.Definitions(assets=[flaky]), "key:flaky", instance=instance, echo=lambda m: None)
