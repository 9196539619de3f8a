"""ArtifactStore, its S3 control plane (dagster-aws S3Resource / boto3) and the data assets against a real
S3-compatible server on loopback."""

import json
import socket
from pathlib import Path

import dagster as dg
import pytest
import s3fs
from dagster_aws.s3 import S3Resource

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.materialize import run
from llm_pipeline_assets.resources.s3_objects import S3Objects, client_for, split_s3
from llm_pipeline_assets.resources.store import ArtifactPublishError, ArtifactStore
from llm_pipeline_tests.conftest import small_config
from llm_pipeline_tests.s3server import bucket_objects, s3_environment


@pytest.fixture
def s3(tmp_path, monkeypatch):
    with s3_environment(tmp_path, monkeypatch) as (server, client):
        yield server.endpoint, client


def test_publish_read_and_replace_on_s3(s3, tmp_path):
    endpoint, client = s3
    store = ArtifactStore(root="s3://llm/runs/a", s3_endpoint_url=endpoint, cache_dir=str(tmp_path / "cache"))
    with store.publish("raw_corpus", "web") as staging:
        (staging / "part-00000.parquet").write_bytes(b"first")
        (staging / "rejected").mkdir()
        (staging / "rejected" / "x-00000.parquet").write_bytes(b"r")
    with pytest.raises(RuntimeError):
        with store.publish("raw_corpus", "web") as staging:
            (staging / "part-00000.parquet").write_bytes(b"never visible")
            raise RuntimeError("crash")
    path, manifest = store.local_dir("raw_corpus", "web")
    assert (path / "part-00000.parquet").read_bytes() == b"first"
    assert (path / "rejected" / "x-00000.parquet").read_bytes() == b"r"
    with store.publish("raw_corpus", "web") as staging:
        (staging / "part-00000.parquet").write_bytes(b"second")
    path, newer = store.local_dir("raw_corpus", "web")
    assert newer.version != manifest.version and (path / "part-00000.parquet").read_bytes() == b"second"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="llm")["Contents"]]
    assert sorted(keys) == ["runs/a/raw_corpus/web/_MANIFEST.json",
                            f"runs/a/raw_corpus/web/{newer.version}/part-00000.parquet"]


@pytest.mark.slow
def test_data_assets_with_s3_root(s3, tmp_path, monkeypatch):
    endpoint, client = s3
    monkeypatch.setenv("LLM_PIPELINE_S3_ENDPOINT", endpoint)
    cfg = small_config(sources=[{"name": "web", "kind": "synthetic", "num_docs": 150, "seed": 1},
                                {"name": "news", "kind": "synthetic", "num_docs": 100, "seed": 2}])
    results = run(build_definitions(cfg, root="s3://llm/pipeline"), "*packed_tokens",
                  instance=dg.DagsterInstance.ephemeral(), echo=lambda m: None)  # data, tokenizer, packed tokens
    assert all(r.success for r in results)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="llm")["Contents"]}
    for asset in ("raw_corpus", "cleaned_shards", "deduped_shards"):
        assert f"pipeline/{asset}/web/_MANIFEST.json" in keys and f"pipeline/{asset}/news/_MANIFEST.json" in keys
    assert "pipeline/dedup_index/all/_MANIFEST.json" in keys
    assert "pipeline/packed_tokens/all/_MANIFEST.json" in keys and "pipeline/tokenizer/all/_MANIFEST.json" in keys


def test_split_s3():
    assert split_s3("s3://llm/a/b/") == ("llm", "a/b") and split_s3("llm") == ("llm", "")
    with pytest.raises(ValueError, match="names no bucket"):
        split_s3("s3:///a")


def test_get_put_list_and_delete(s3):
    endpoint, client = s3
    objects = S3Objects(client_for(S3Resource(endpoint_url=endpoint)))
    assert objects.get_text("s3://llm/p/x/_MANIFEST.json") is None  # missing is not an error
    objects.put_text("s3://llm/p/x/_MANIFEST.json", '{"a": 1}')
    for key in ("p/x/v-1/a.bin", "p/x/v-1/sub/b.bin", "p/x/v-2/a.bin", "p/xy/v-9/a.bin"):
        client.put_object(Bucket="llm", Key=key, Body=b"12345")
    assert json.loads(objects.get_text("s3://llm/p/x/_MANIFEST.json")) == {"a": 1}
    assert sorted(objects.children("s3://llm/p/x")) == ["_MANIFEST.json", "v-1", "v-2"]  # not p/xy
    assert objects.sizes("s3://llm/p/x/v-1") == {"a.bin": 5, "sub/b.bin": 5}
    assert objects.delete_tree("s3://llm/p/x/v-1") == 2
    assert sorted(bucket_objects(client)) == ["p/x/_MANIFEST.json", "p/x/v-2/a.bin", "p/xy/v-9/a.bin"]


def test_one_client_per_settings_and_credentials(s3, monkeypatch):
    endpoint, _ = s3
    resource = S3Resource(endpoint_url=endpoint)
    assert client_for(resource) is client_for(S3Resource(endpoint_url=endpoint))
    assert client_for(resource) is not client_for(S3Resource(endpoint_url=endpoint, max_attempts=2))
    before = client_for(resource)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "rotated-key")  # new credentials: never a stale client
    assert client_for(resource) is not before


def test_only_s3_remote_roots(tmp_path):
    with pytest.raises(ValueError, match="remote roots must be s3://"):
        ArtifactStore(root="gs://bucket/x").read_manifest("raw_corpus", "web")


def test_a_short_upload_is_never_committed(s3, monkeypatch, tmp_path):
    """An object that arrives shorter than the local file (a proxy cut it) fails the size check before the commit."""
    endpoint, client = s3
    store = ArtifactStore(root="s3://llm/p", s3_endpoint_url=endpoint, cache_dir=str(tmp_path / "c"))
    with store.publish("tokenizer") as staging:
        (staging / "tokenizer.json").write_text("v1")
    first = store.read_manifest("tokenizer")

    original = s3fs.S3FileSystem._put_file

    async def truncating_put(self, lpath, rpath, *args, **kwargs):
        if rpath.endswith("vocab.bin"):
            return await self._pipe_file(rpath, b"short")
        return await original(self, lpath, rpath, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_put_file", truncating_put)
    with pytest.raises(ArtifactPublishError, match=r"tokenizer: publishing .*/vocab.bin did not complete"):
        with store.publish("tokenizer") as staging:
            (staging / "tokenizer.json").write_text("v2")
            (staging / "vocab.bin").write_bytes(b"x" * 100)
    assert store.read_manifest("tokenizer") == first  # still the previous version
    # ... and the rejected version's objects were deleted right away (the endpoint was reachable)
    assert sorted(bucket_objects(client)) == ["p/tokenizer/all/_MANIFEST.json",
                                              f"p/tokenizer/all/{first.version}/tokenizer.json"]


def test_a_killed_publish_leaves_no_staging_behind_once_the_next_runs(s3, tmp_path):
    """kill -9 (or the OOM killer) mid-publish runs no ``finally``: its staging copy (a whole checkpoint for a
    training stage) stayed in /tmp for good, one more per retry. Staging now lies under the store's cache_dir,
    marked with its process, and the next publish removes those whose process is gone (never a live one's)."""
    import subprocess
    import sys

    endpoint, _ = s3
    cache = tmp_path / "cache"
    killed = subprocess.run([sys.executable, "-c", f"""
import os, signal
from llm_pipeline_assets.resources.store import ArtifactStore
store = ArtifactStore(root="s3://llm/runs/k", s3_endpoint_url={endpoint!r}, cache_dir={str(cache)!r})
with store.publish("pretrained_checkpoint") as staging:
    (staging / "model.safetensors").write_bytes(b"w" * 4096)
    print(staging, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    left = Path(killed.stdout.strip())
    assert left.parent == cache / "_staging" and (left / "model.safetensors").stat().st_size == 4096
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # a staging folder of a process still running (another run of the same asset) is left alone
        other = cache / "_staging" / f"llm-stage-0a1b2c3d@{socket.gethostname()}@{live.pid}"
        other.mkdir()
        store = ArtifactStore(root="s3://llm/runs/k", s3_endpoint_url=endpoint, cache_dir=str(cache))
        with store.publish("pretrained_checkpoint") as staging:
            (staging / "model.safetensors").write_bytes(b"v")
        assert not left.exists() and other.is_dir()
        assert sorted(p.name for p in (cache / "_staging").iterdir()) == [other.name]
        path, _ = store.local_dir("pretrained_checkpoint")
        assert (path / "model.safetensors").read_bytes() == b"v"
    finally:
        live.kill()
        live.wait()


def test_the_read_cache_keeps_what_running_steps_read_and_drops_older_versions(s3, tmp_path):
    """Every version ever read stayed in the cache (each refresh of raw_corpus: one more copy of the corpus). A new
    download now removes the versions of the partition that no live process reads."""
    import subprocess
    import sys

    endpoint, _ = s3
    cache = tmp_path / "cache"
    store = ArtifactStore(root="s3://llm/runs/c", s3_endpoint_url=endpoint, cache_dir=str(cache))

    def publish(payload: bytes) -> str:
        with store.publish("cleaned_shards", "web") as staging:
            (staging / "part-00000.parquet").write_bytes(payload)
        return store.read_manifest("cleaned_shards", "web").version

    def cached() -> list[str]:
        return sorted(p.name for p in (cache / "cleaned_shards" / "web").glob("v-*"))

    first = publish(b"one")
    read = subprocess.run([sys.executable, "-c", f"""
from llm_pipeline_assets.resources.store import ArtifactStore
store = ArtifactStore(root="s3://llm/runs/c", s3_endpoint_url={endpoint!r}, cache_dir={str(cache)!r})
print(store.local_dir("cleaned_shards", "web")[0].joinpath("part-00000.parquet").read_text())
"""], capture_output=True, text=True, timeout=120)
    assert read.stdout.strip() == "one" and cached() == [first], read.stderr  # a step read it, then ended
    second = publish(b"two")
    path, _ = store.local_dir("cleaned_shards", "web")  # this process (a running step) reads the second
    assert (path / "part-00000.parquet").read_bytes() == b"two"
    assert cached() == [second]  # the first: no live reader, removed
    third = publish(b"three")
    other = ArtifactStore(root="s3://llm/runs/c", s3_endpoint_url=endpoint, cache_dir=str(cache))
    assert (other.local_dir("cleaned_shards", "web")[0] / "part-00000.parquet").read_bytes() == b"three"
    assert cached() == sorted([second, third])  # the second is still read by a live process: kept
    assert (path / "part-00000.parquet").read_bytes() == b"two"
