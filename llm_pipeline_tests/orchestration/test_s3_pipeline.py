"""LLM_PIPELINE_ROOT=s3://… end to end against a real S3-compatible server (rclone on loopback), credentials only
in the environment: data assets, base_model and a few pretraining steps; and the server going away in the middle
of a step and coming back on the same port and data folder.

The restarts are deterministic: the server is stopped (by pid) from inside s3fs's per-file transfer, right after
the first file of a version has been uploaded (or downloaded), and the other transfers of that batch only start
then — not a timer racing the step.
"""

import asyncio
import contextlib
import hashlib
import json
from pathlib import Path

import dagster as dg
import pytest
import s3fs

from llm_pipeline_assets.definitions import build_definitions, default_resources
from llm_pipeline_assets.materialize import run
from llm_pipeline_assets.resources.store import ArtifactStore, ArtifactUnavailable
from llm_pipeline_tests.assets.conftest import asset_metadata, tiny_training_config
from llm_pipeline_tests.orchestration.conftest import data_config
from llm_pipeline_tests.reliability.helpers import step_failure_messages
from llm_pipeline_tests.s3server import SECRET, bucket_objects, s3_environment

ROOT = "s3://llm/p"
DATA = ("raw_corpus/web", "raw_corpus/news", "cleaned_shards/web", "cleaned_shards/news", "dedup_index/all",
        "deduped_shards/web", "deduped_shards/news", "eval_sets/all", "tokenizer/all", "packed_tokens/all")
CHECKPOINTS = ("base_model/all", "pretrained_checkpoint/all")


def short_config():
    return tiny_training_config(
        cleaning={"pii_check_sample": 100, "workers": 1}, tokenizer={"vocab_size": 512, "check_docs": 20},
        pretrain={"max_steps": 4, "warmup_steps": 1, "eval_every": 4, "save_every": 4, "micro_batch": 4, "lr": 5e-3},
        eval={"gates_preset": "smoke", "items_per_task": 4, "max_new_tokens": 8})


@pytest.fixture
def s3(tmp_path, monkeypatch):
    with s3_environment(tmp_path, monkeypatch) as env:
        yield env


def test_s3_root_gets_an_s3_resource_from_the_environment(s3):
    server, _ = s3
    resources = default_resources(ROOT)
    assert resources["s3"].endpoint_url == server.endpoint and resources["s3"].region_name == "us-east-1"
    assert resources["store"].s3 is resources["s3"]  # the store commits manifests with this client
    assert resources["s3"].aws_secret_access_key is None  # credentials stay in the environment
    assert "s3" not in default_resources("/tmp/local-root")


def manifest(client, prefix: str) -> dict:
    return json.loads(client.get_object(Bucket="llm", Key=f"p/{prefix}/_MANIFEST.json")["Body"].read())


@pytest.mark.slow
def test_data_and_checkpoints_through_s3(s3, tmp_path):
    server, client = s3
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        results = run(build_definitions(short_config(), root=ROOT), "*pretrained_checkpoint", instance=instance,
                      echo=lambda m: None)
        assert results and all(r.success for r in results)
        run_ids = [r.run_id for r in results]
    keys = bucket_objects(client)

    # Every asset is in the bucket, and each manifest names exactly the files of its one version folder.
    for prefix in DATA + CHECKPOINTS:
        m = manifest(client, prefix)
        version = f"p/{prefix}/{m['version']}/"
        under = {k[len(version):]: size for k, size in keys.items() if k.startswith(f"p/{prefix}/v-")}
        assert under == {name: f["bytes"] for name, f in m["files"].items()}, prefix
    for prefix in CHECKPOINTS:
        assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(manifest(client, prefix)["files"])
    assert asset_metadata(results, "pretrained_checkpoint")["checkpoint_uri"] == f"{ROOT}/pretrained_checkpoint/all"
    assert (tmp_path / "cache" / "_work" / "pretrained_checkpoint").is_dir()  # LLM_PIPELINE_CACHE_DIR used (the
    # step's own folder in it is gone: removed after its checks passed)

    # A reader elsewhere (fresh cache) downloads the checkpoint; transformers loads it; it was trained.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reader = ArtifactStore(root=ROOT, s3_endpoint_url=server.endpoint, cache_dir=str(tmp_path / "reader"))
    path, m = reader.local_dir("pretrained_checkpoint")
    assert path.is_relative_to(tmp_path / "reader")
    body = client.get_object(Bucket="llm", Key=f"p/pretrained_checkpoint/all/{m.version}/model.safetensors")
    assert hashlib.sha256(body["Body"].read()).hexdigest() == m.files["model.safetensors"]["sha256"]
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    ids = tok("The cat sat on the mat.", return_tensors="pt").input_ids
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    assert torch.isfinite(loss)
    base = AutoModelForCausalLM.from_pretrained(reader.local_dir("base_model")[0])
    assert not torch.equal(base.model.embed_tokens.weight, model.model.embed_tokens.weight)

    # The secret key is in no event, run record, config snapshot or captured log of the instance.
    blobs = b"".join(p.read_bytes() for p in Path(home).rglob("*") if p.is_file())
    assert all(rid.encode() in blobs for rid in run_ids)  # the scan does read the runs' records
    assert f"{ROOT}/pretrained_checkpoint/all".encode() in blobs  # ... and their metadata
    assert SECRET.encode() not in blobs


@contextlib.contextmanager
def stop_after_first(monkeypatch, server, method: str):
    """Wrap s3fs's async ``_put_file``/``_get_file``: the first transfer completes, then the server is stopped
    (by pid), and only then do the other transfers of the batch (s3fs runs them concurrently) go ahead."""
    original = getattr(s3fs.S3FileSystem, method)
    done: list[str] = []
    state: dict = {}

    async def transfer_then_stop(self, lpath, rpath, *args, **kwargs):
        first = "gate" not in state
        if first:
            state["gate"] = asyncio.Event()  # created in s3fs's event loop, where every transfer runs
        else:
            await state["gate"].wait()
            return await original(self, lpath, rpath, *args, **kwargs)
        try:
            out = await original(self, lpath, rpath, *args, **kwargs)
            done.append(rpath if method == "_put_file" else lpath)
            server.stop()
            return out
        finally:
            state["gate"].set()

    monkeypatch.setattr(s3fs.S3FileSystem, method, transfer_then_stop)
    yield done
    monkeypatch.setattr(s3fs.S3FileSystem, method, original)


def test_server_restart_while_publishing(s3, tmp_path, monkeypatch):
    server, client = s3
    job = build_definitions(data_config(), root=ROOT).resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()

    def materialize():
        return job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("raw_corpus")],
                                      partition_key="web", raise_on_error=False)

    assert materialize().success
    before = manifest(client, "raw_corpus/web")
    assert sum(n.startswith("part-") for n in before["files"]) >= 2  # several files: the stop is mid-version

    with stop_after_first(monkeypatch, server, "_put_file") as uploaded:
        failed = materialize()
    assert not failed.success and len(uploaded) == 1 and not server.running
    text = "\n".join(step_failure_messages(failed))
    assert "ArtifactPublishError" in text and "raw_corpus[web]" in text and f"{ROOT}/raw_corpus/web" in text
    assert "the previous version (if any) is still the current one" in text
    assert "Could not connect to the endpoint URL" in text  # the cause, in one line rather than a traceback

    server.start()  # same port, same data folder
    assert manifest(client, "raw_corpus/web") == before  # nothing half-written became visible
    reader = ArtifactStore(root=ROOT, s3_endpoint_url=server.endpoint, cache_dir=str(tmp_path / "reader"))
    path, readable = reader.local_dir("raw_corpus", "web")
    assert readable.version == before["version"]
    for name, f in before["files"].items():
        assert (path / name).stat().st_size == f["bytes"]

    rerun = materialize()
    assert rerun.success
    after = manifest(client, "raw_corpus/web")
    assert after["version"] != before["version"] and after["data_version"] == before["data_version"]
    versions = {k.split("/")[3] for k in bucket_objects(client, prefix="p/raw_corpus/web/v-")}
    assert versions == {after["version"]}  # the old and the orphaned half-uploaded version are gone


def test_server_restart_while_downloading(s3, tmp_path, monkeypatch):
    server, _ = s3
    store = ArtifactStore(root=ROOT, s3_endpoint_url=server.endpoint, cache_dir=str(tmp_path / "c1"))
    with store.publish("packed_tokens") as staging:
        for i in range(3):
            (staging / f"train-{i}.bin").write_bytes(bytes([i]) * (1000 + i))

    reader = ArtifactStore(root=ROOT, s3_endpoint_url=server.endpoint, cache_dir=str(tmp_path / "c2"))
    with stop_after_first(monkeypatch, server, "_get_file") as fetched:
        with pytest.raises(ArtifactUnavailable) as info:
            reader.local_dir("packed_tokens")
    assert len(fetched) == 1
    message = str(info.value)
    assert message.startswith("packed_tokens: downloading version v-") and f"{ROOT}/packed_tokens/all/v-" in message
    assert "nothing was cached" in message and "EndpointConnectionError" in message
    assert not any((tmp_path / "c2").rglob("*.bin"))  # the partial download was removed, not cached

    server.start()
    path, _ = reader.local_dir("packed_tokens")
    assert sorted(p.name for p in path.iterdir() if p.suffix == ".bin") == ["train-0.bin", "train-1.bin", "train-2.bin"]
    assert (path / "train-2.bin").read_bytes() == bytes([2]) * 1002
