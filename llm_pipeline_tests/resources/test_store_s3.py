"""ArtifactStore and the data assets against a real S3-compatible server on loopback."""

import boto3
import dagster as dg
import pytest

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.materialize import run
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_tests.conftest import small_config
from llm_pipeline_tests.s3server import KEY, SECRET, rclone_s3


@pytest.fixture
def s3(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with rclone_s3(tmp_path / "s3data") as endpoint:
        yield endpoint, boto3.client("s3", endpoint_url=endpoint)


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
