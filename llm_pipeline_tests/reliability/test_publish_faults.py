"""Disk errors while publishing an artifact: nothing half-written becomes visible, the previous version stays
current, the error names the asset and the folder, and a rerun succeeds."""

from __future__ import annotations

import errno
import json
import os

import pytest

from llm_pipeline_assets.resources import store as store_module
from llm_pipeline_assets.resources.store import MANIFEST, ArtifactPublishError, ArtifactStore
from llm_pipeline_tests.reliability.helpers import (
    asset_metadata,
    clean_texts,
    jsonl,
    local_config,
    materialize_corpus,
    published_texts,
    step_failure_messages,
)


def _leftovers(partition_dir) -> list[str]:
    """Entries other than the manifest and the version it names (staging folders, orphans, temp manifests)."""
    current = json.loads((partition_dir / MANIFEST).read_text())["version"]
    return sorted(p.name for p in partition_dir.iterdir() if p.name not in (MANIFEST, current))


def _publish(store, payload: bytes, asset: str = "raw_corpus", partition: str = "web"):
    with store.publish(asset, partition) as staging:
        (staging / "part-00000.parquet").write_bytes(payload)
        (staging / "rejected").mkdir()
        (staging / "rejected" / "r.parquet").write_bytes(payload[:2])


def _failing(real, fail_on_call: int, err: int = errno.EIO):
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == fail_on_call:
            raise OSError(err, os.strerror(err))
        return real(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("target, call", [
    ("replace", 1),  # staging -> version folder rename
    ("fsync", 1),  # the new manifest's bytes never reach the disk
    ("replace", 2),  # temp manifest -> _MANIFEST.json rename
])
def test_failed_commit_keeps_the_previous_version(store, monkeypatch, target, call):
    _publish(store, b"first version")
    before = store.read_manifest("raw_corpus", "web")
    monkeypatch.setattr(store_module.os, target, _failing(getattr(os, target), call))
    with pytest.raises(ArtifactPublishError) as err:
        _publish(store, b"second version")
    partition_dir = store.local_dir("raw_corpus", "web")[0].parent
    assert f"raw_corpus[web]: publishing a new version under {partition_dir} failed" in str(err.value)
    assert "Input/output error" in str(err.value) and "previous version" in str(err.value)
    assert store.read_manifest("raw_corpus", "web") == before
    path, _ = store.local_dir("raw_corpus", "web")
    assert (path / "part-00000.parquet").read_bytes() == b"first version"
    assert _leftovers(partition_dir) == []  # no orphan version folder, staging folder or temp manifest
    monkeypatch.undo()
    _publish(store, b"third version")  # the rerun succeeds
    path, after = store.local_dir("raw_corpus", "web")
    assert after.version != before.version and (path / "part-00000.parquet").read_bytes() == b"third version"
    assert _leftovers(partition_dir) == []


def test_failed_cleanup_does_not_fail_a_publish_that_already_happened(store, monkeypatch):
    _publish(store, b"first")
    import fsspec.implementations.local as local_fs

    monkeypatch.setattr(local_fs.LocalFileSystem, "rm", _failing(local_fs.LocalFileSystem.rm, 1, errno.EACCES))
    _publish(store, b"second")  # the new manifest is written: an undeletable old version is only garbage
    path, _ = store.local_dir("raw_corpus", "web")
    assert (path / "part-00000.parquet").read_bytes() == b"second" and len(_leftovers(path.parent)) == 1
    monkeypatch.undo()
    _publish(store, b"third")
    assert _leftovers(path.parent) == []  # the next publish removes it


def test_unwritable_root_names_the_asset_and_path(tmp_path):
    (tmp_path / "file").write_text("a regular file where the artifact root should be")
    store = ArtifactStore(root=str(tmp_path / "file" / "artifacts"))
    with pytest.raises(ArtifactPublishError, match=r"tokenizer: publishing a new version under .*/file/artifacts/"):
        _publish(store, b"x", asset="tokenizer", partition=None)


def test_disk_full_during_raw_corpus_through_dagster(tmp_path, monkeypatch):
    """ENOSPC in the middle of writing a shard: the run fails with a clear message, readers keep the old
    version, and the same materialization succeeds once the disk has room again."""
    good = clean_texts(6)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(jsonl(*({"id": str(i), "text": t} for i, t in enumerate(good[:3]))))
    cfg = local_config(tmp_path / "in", name="web")
    root = tmp_path / "artifacts"
    store = ArtifactStore(root=str(root))
    assert materialize_corpus(cfg, root, "web").success
    before = store.read_manifest("raw_corpus", "web")

    (tmp_path / "in" / "a.jsonl").write_bytes(jsonl(*({"id": str(i), "text": t} for i, t in enumerate(good))))
    import llm_pipeline_assets.shards as shards

    real_write = shards.pq.write_table

    def disk_full(table, where, **kwargs):
        with open(where, "wb") as fh:  # half a file, then the disk is full
            fh.write(b"PAR1" + b"\0" * 100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))

    monkeypatch.setattr(shards.pq, "write_table", disk_full)
    result = materialize_corpus(cfg, root, "web")
    assert not result.success
    message = "\n".join(step_failure_messages(result))
    assert f"raw_corpus[web]: publishing a new version under {root}/raw_corpus/web failed" in message
    assert "No space left on device" in message
    assert store.read_manifest("raw_corpus", "web") == before
    assert published_texts(store, "raw_corpus", "web") == good[:3]
    assert _leftovers(root / "raw_corpus" / "web") == []

    monkeypatch.setattr(shards.pq, "write_table", real_write)
    rerun = materialize_corpus(cfg, root, "web")
    assert rerun.success and asset_metadata(rerun, "raw_corpus")["docs"] == 6
    assert published_texts(store, "raw_corpus", "web") == good


def test_upload_failing_midway_on_s3_keeps_the_previous_version(tmp_path, monkeypatch):
    """On S3 the version is uploaded before the one-object manifest PUT: a broken upload leaves no partial
    version behind and the manifest untouched."""
    boto3 = pytest.importorskip("boto3")
    from llm_pipeline_tests.s3server import KEY, SECRET, rclone_s3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with rclone_s3(tmp_path / "s3data") as endpoint:
        store = ArtifactStore(root="s3://llm/runs", s3_endpoint_url=endpoint, cache_dir=str(tmp_path / "cache"))
        _publish(store, b"first version")
        before = store.read_manifest("raw_corpus", "web")
        real_fs = ArtifactStore._fs

        class PartialUpload:  # uploads one file, then the connection drops
            def __init__(self, fs):
                self._fs = fs

            def __getattr__(self, name):
                return getattr(self._fs, name)

            def put(self, local, remote, recursive=False):
                self._fs.put_file(f"{local}/part-00000.parquet", f"{remote}/part-00000.parquet")
                raise OSError(errno.ECONNRESET, "connection reset during upload")

        monkeypatch.setattr(ArtifactStore, "_fs", lambda self: PartialUpload(real_fs(self)))
        with pytest.raises(ArtifactPublishError, match=r"raw_corpus\[web\]: .* s3://llm/runs/raw_corpus/web failed"):
            _publish(store, b"second version")
        monkeypatch.setattr(ArtifactStore, "_fs", real_fs)
        keys = sorted(o["Key"] for o in boto3.client("s3", endpoint_url=endpoint)
                      .list_objects_v2(Bucket="llm")["Contents"])
        old = f"runs/raw_corpus/web/{before.version}"
        assert keys == ["runs/raw_corpus/web/_MANIFEST.json", f"{old}/part-00000.parquet",
                        f"{old}/rejected/r.parquet"]  # the partial upload is gone
        assert store.read_manifest("raw_corpus", "web") == before
        _publish(store, b"third version")
        path, after = store.local_dir("raw_corpus", "web")
        assert (path / "part-00000.parquet").read_bytes() == b"third version" and after.version != before.version
