import json

import pytest

from llm_pipeline_assets.resources.store import MANIFEST, ArtifactMissing, ArtifactStore


def test_publish_is_atomic_and_versioned(store):
    with store.publish("raw_corpus", "web") as staging:
        (staging / "part-00000.parquet").write_bytes(b"abc")
    first = store.read_manifest("raw_corpus", "web")
    assert first.files["part-00000.parquet"]["bytes"] == 3
    path, _ = store.local_dir("raw_corpus", "web")
    assert (path / "part-00000.parquet").read_bytes() == b"abc"

    with pytest.raises(RuntimeError):
        with store.publish("raw_corpus", "web") as staging:
            (staging / "part-00000.parquet").write_bytes(b"half-written")
            raise RuntimeError("crash mid-write")
    # The crashed attempt is invisible: the manifest still names the first version, its bytes intact.
    assert store.read_manifest("raw_corpus", "web").version == first.version
    path, _ = store.local_dir("raw_corpus", "web")
    assert (path / "part-00000.parquet").read_bytes() == b"abc"
    assert not list(path.parent.glob(".staging-*"))


def test_republish_replaces_and_cleans_old_versions(store):
    for payload in (b"one", b"two"):
        with store.publish("cleaned_shards", "web") as staging:
            (staging / "part-00000.parquet").write_bytes(payload)
    path, manifest = store.local_dir("cleaned_shards", "web")
    assert (path / "part-00000.parquet").read_bytes() == b"two"
    versions = [p.name for p in path.parent.iterdir() if p.name.startswith("v-")]
    assert versions == [manifest.version]
    assert json.loads((path.parent / MANIFEST).read_text())["version"] == manifest.version


def test_a_run_finishing_first_leaves_an_overlapping_runs_staging_alone(store):
    """Two runs of one partition at once (an automation backfill and a UI click): the first to finish removed the
    other's staging folder mid-write, which then failed. A staging folder of a process that is gone still goes."""
    import socket
    import subprocess
    import sys
    import threading
    from pathlib import Path

    started, finish, outcome = threading.Event(), threading.Event(), {}

    def slow_run():
        try:
            with store.publish("cleaned_shards", "web") as staging:
                (staging / "part-00000.parquet").write_bytes(b"first half")
                started.set()
                finish.wait(30)
                (staging / "part-00001.parquet").write_bytes(b"second half")
            outcome["slow"] = "ok"
        except Exception as exc:  # noqa: BLE001 - the test reports what the run saw
            outcome["slow"] = repr(exc)

    slow = threading.Thread(target=slow_run)
    slow.start()
    assert started.wait(30)
    dest = Path(store.partition_dir("cleaned_shards", "web"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = dest / f".staging-v-20260101T000000-deadbeef@{socket.gethostname()}@{dead.stdout.strip()}"
    orphan.mkdir()  # left by a run killed mid-write
    with store.publish("cleaned_shards", "web") as staging:
        assert not orphan.exists()  # gone before this run writes: a killed run's copy and a new one never add up
        (staging / "part-00000.parquet").write_bytes(b"the quick run")
    finish.set()
    slow.join(30)
    assert outcome["slow"] == "ok"
    assert set(store.read_manifest("cleaned_shards", "web").files) == {"part-00000.parquet", "part-00001.parquet"}


def test_content_version_ignores_other_files(store):
    versions = []
    for reject in (b"x", b"y"):
        with store.publish("cleaned_shards", "news") as staging:
            (staging / "part-00000.parquet").write_bytes(b"same")
            (staging / "rejected").mkdir()
            (staging / "rejected" / "toxicity-00000.parquet").write_bytes(reject)
        m = store.read_manifest("cleaned_shards", "news")
        versions.append((m.content_version("part-"), m.data_version))
    assert versions[0][0] == versions[1][0] and versions[0][1] != versions[1][1]


def test_missing_artifact_names_the_asset(store):
    with pytest.raises(ArtifactMissing, match="materialize dedup_index first"):
        store.read_manifest("dedup_index")


@pytest.mark.parametrize("bad", ["../escape", "/abs", "a/b", "..", "", "x\x00y"])
def test_partition_keys_cannot_escape_root(tmp_path, bad):
    store = ArtifactStore(root=str(tmp_path))
    with pytest.raises(ValueError, match="not a safe path segment"):
        store.partition_dir("raw_corpus", bad)


def test_missing_input_fails_a_training_step_at_once_without_retries(tmp_path):
    """base_model carries a RetryPolicy; a missing tokenizer is not transient, so it is not retried."""
    import dagster as dg

    from llm_pipeline_assets.definitions import build_definitions
    from llm_pipeline_tests.conftest import small_config

    defs = build_definitions(small_config(), root=str(tmp_path))
    job = defs.resolve_implicit_global_asset_job_def()
    assert defs.resolve_assets_def("base_model").op.retry_policy.max_retries >= 1
    result = job.execute_in_process(asset_selection=[dg.AssetKey("base_model")], raise_on_error=False,
                                    instance=dg.DagsterInstance.ephemeral())
    assert not result.success
    events = [e.event_type_value for e in result.all_events]
    assert "STEP_UP_FOR_RETRY" not in events and events.count("STEP_FAILURE") == 1
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "materialize tokenizer first" in failure.step_failure_data.error.message


def test_a_download_cut_short_is_tried_again(tmp_path):
    """A flaky endpoint ends a body early (aiohttp: "received 120 of 5389 bytes"); the copy is fetched again."""
    import aiohttp
    import fsspec.implementations.local
    import pytest

    from llm_pipeline_assets.resources.s3_objects import download

    class Flaky(fsspec.implementations.local.LocalFileSystem):
        def __init__(self, failures):
            super().__init__()
            self.failures, self.calls = failures, 0

        def get(self, rpath, lpath, **kw):
            self.calls += 1
            if self.calls <= self.failures:
                raise aiohttp.ClientPayloadError("Response payload is not completed")
            return super().get(rpath, lpath, **kw)

    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "a.bin").write_bytes(b"x" * 5389)
    fs = Flaky(failures=2)
    download(fs, str(remote), ["a.bin"], tmp_path, {"a.bin": 5389}, attempts=3)
    assert fs.calls == 3 and (tmp_path / "a.bin").read_bytes() == b"x" * 5389
    with pytest.raises(aiohttp.ClientPayloadError):
        download(Flaky(failures=3), str(remote), ["a.bin"], tmp_path / "again", {"a.bin": 5389}, attempts=3)
