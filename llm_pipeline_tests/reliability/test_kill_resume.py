"""kill -9 during cleaned_shards, during dedup_index and during pretrained_checkpoint: the rerun resumes and
publishes what an uninterrupted run publishes.

Each test copies the inputs of the killed asset from the uninterrupted reference root, runs the real
``python -m llm_pipeline_assets.materialize`` in its own process group and SIGKILLs the group mid-asset, checks
that readers see only the previous version, reruns to the end and checks (a) that the work done before the
kill was reused, not recomputed, (b) that the published files equal the uninterrupted run's, (c) that no
staging or work folder is left behind. Data stages: ``LLM_PIPELINE_SLOW_UNITS_S`` makes each work unit
wait after its done-marker, so the kill lands between units on any machine. Training: the group holds the
Dagster process and the Pipes training child, both killed once a periodic checkpoint is on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_pipeline_assets.resources.store import MANIFEST, ArtifactMissing, ArtifactStore
from llm_pipeline_tests.reliability.conftest import (DATA_ASSETS, PRETRAIN_STEPS, copy_assets, done_units,
                                                     kill_group, latest_metadata, materialize_in_process,
                                                     materialize_to_end, pipeline_env, published_bytes, scratch_tmp,
                                                     start_materialize, wait_until, work_folders, write_config)

pytestmark = pytest.mark.slow
SLOW_UNITS_S = 0.5
TRAINING_INPUTS = ("base_model", "sft_dataset", "eval_sets")


def _kill_after_units(env: dict, select: str, root: Path, asset: str, log: Path,
                      partition: str | None = None, units: int = 3) -> dict[str, dict]:
    """Start materialize, SIGKILL its process group once ``units`` work units of ``asset`` are done."""
    proc = start_materialize(env, select, log, partition)
    wait_until(lambda: len(done_units(root, asset)) >= units, proc, log)
    kill_group(proc)
    return done_units(root, asset)


def _assert_no_leftovers(root: Path, asset: str, partition: str | None = None) -> None:
    part_dir = Path(ArtifactStore(root=str(root)).partition_dir(asset, partition))
    manifest = json.loads((part_dir / MANIFEST).read_text())
    assert sorted(p.name for p in part_dir.iterdir()) == sorted([MANIFEST, manifest["version"]])  # no staging
    assert work_folders(root, asset) == []  # units are discarded once published
    assert sorted(p.name for p in scratch_tmp(root).iterdir()) == []  # nothing of the killed run in TMPDIR


def _assert_same_bytes(root: Path, reference: Path, asset: str, partition: str | None = None) -> int:
    got, want = published_bytes(root, asset, partition), published_bytes(reference, asset, partition)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], f"{asset}[{partition}] {name} differs from the uninterrupted run"
    return sum(map(len, want.values()))


def test_kill_during_cleaned_shards_resumes_from_the_cleaned_shards(data_reference, tmp_path):
    root, home, log = tmp_path / "artifacts", tmp_path / "home", tmp_path / "killed.log"
    copy_assets(data_reference, root, ["raw_corpus"])
    units_total = len(ArtifactStore(root=str(root)).read_manifest("raw_corpus", "web").names("part-"))
    # Two cleaning processes here, one in the reference run: the output must not depend on that either.
    config = write_config(tmp_path / "pipeline.yaml", workers=2)

    done = _kill_after_units(pipeline_env(config, root, home, SLOW_UNITS_S), "key:cleaned_shards",
                             root, "cleaned_shards", log, "web")
    assert 3 <= len(done) < units_total == 30
    with pytest.raises(ArtifactMissing):  # nothing half-written is visible: still no version at all
        ArtifactStore(root=str(root)).read_manifest("cleaned_shards", "web")
    before = {(tag, name): (m["folder"] / tag / name).stat() for tag, m in done.items() for name in m["files"]}
    assert all(name.startswith(("part-", "rejected/")) for _, name in before)

    output = materialize_to_end(pipeline_env(config, root, home), "key:cleaned_shards", "web")
    assert "cleaned_shards[web]" in output
    md = latest_metadata(home, "cleaned_shards", "web")
    assert md["resumed_units"] == len(done) and md["units"] == units_total
    # (a) not recomputed: each file of a unit done before the kill IS the published file (same inode and
    # mtime: the units are hard-linked into the version), so no byte of it was written again.
    out_dir, _ = ArtifactStore(root=str(root)).local_dir("cleaned_shards", "web")
    for (tag, name), st in before.items():
        now = (out_dir / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), name
    # (b) byte-identical to the uninterrupted run (every part, reject file and funnel.json)
    compared = _assert_same_bytes(root, data_reference, "cleaned_shards", "web")
    assert compared > 0 and md["docs_in"] == 600
    print(f"cleaned_shards[web]: {len(done)}/{units_total} units resumed, {compared} published bytes equal")
    _assert_no_leftovers(root, "cleaned_shards", "web")


def test_kill_during_dedup_index_resumes_from_the_hashed_shards(data_reference, tmp_path, resume_config):
    root, home, log = tmp_path / "artifacts", tmp_path / "home", tmp_path / "killed.log"
    copy_assets(data_reference, root, ["raw_corpus", "cleaned_shards", "dedup_index"])
    store = ArtifactStore(root=str(root))
    old = store.read_manifest("dedup_index")
    units_total = sum(len(store.read_manifest("cleaned_shards", p).names("part-")) for p in ("web", "news"))

    done = _kill_after_units(pipeline_env(resume_config, root, home, SLOW_UNITS_S), "key:dedup_index",
                             root, "dedup_index", log)
    assert 3 <= len(done) < units_total
    # The killed run's scratch (the signatures of every document hashed so far) is in its work folder, which the
    # finished run discards; it was in /tmp for good.
    assert [p.name.split("@")[0][:9] for folder in work_folders(root, "dedup_index")
            for p in folder.glob(".builder-*@*")] == [".builder-"]
    # Readers still see the previous version, complete: the same manifest and the same bytes.
    assert store.read_manifest("dedup_index") == old
    _assert_same_bytes(root, data_reference, "dedup_index")

    materialize_to_end(pipeline_env(resume_config, root, home), "key:dedup_index")
    md = latest_metadata(home, "dedup_index")
    assert md["resumed_units"] == len(done) and md["units"] == units_total
    new = store.read_manifest("dedup_index")
    assert new.version != old.version  # a new version was published ...
    compared = _assert_same_bytes(root, data_reference, "dedup_index")  # ... equal to the uninterrupted one
    reference_stats = json.loads(published_bytes(data_reference, "dedup_index")["stats.json"])
    assert compared > 0 and md["docs"] == reference_stats["docs"]
    print(f"dedup_index: {len(done)}/{units_total} units resumed, {compared} published bytes equal")
    _assert_no_leftovers(root, "dedup_index")


def _checkpoint_steps(root: Path) -> list[int]:
    """Steps of the complete checkpoints in the pretraining work folders under ``root``."""
    from llm_pipeline_assets.training.checkpoint import checkpoint_root, complete_checkpoints

    return sorted(step for folder in work_folders(root, "pretrained_checkpoint")
                  for step, _ in complete_checkpoints(checkpoint_root(folder)))


def _published(root: Path) -> tuple[dict, dict]:
    """(metrics.json, {tensor name: tensor}) of the published pretrained_checkpoint."""
    from safetensors.torch import load_file

    directory, _ = ArtifactStore(root=str(root)).local_dir("pretrained_checkpoint")
    return json.loads((directory / "metrics.json").read_text()), load_file(str(directory / "model.safetensors"))


def test_kill_during_pretraining_resumes_from_the_last_checkpoint(data_reference, resume_config, tmp_path):
    import torch

    killed, reference = tmp_path / "killed" / "artifacts", tmp_path / "reference" / "artifacts"
    copy_assets(data_reference, killed, DATA_ASSETS)
    results = materialize_in_process(resume_config, killed, " or ".join(f"key:{a}" for a in TRAINING_INPUTS))
    assert all(r.success for r in results)
    copy_assets(killed, reference, DATA_ASSETS + TRAINING_INPUTS)
    assert all(r.success for r in materialize_in_process(resume_config, reference, "key:pretrained_checkpoint"))

    home, log = tmp_path / "home", tmp_path / "killed.log"
    env = pipeline_env(resume_config, killed, home)
    proc = start_materialize(env, "key:pretrained_checkpoint", log)
    wait_until(lambda: _checkpoint_steps(killed), proc, log)
    kill_group(proc)  # the Dagster process and the training child
    saved = _checkpoint_steps(killed)
    last = saved[-1]
    assert 5 <= last < PRETRAIN_STEPS and last % 5 == 0, saved
    with pytest.raises(ArtifactMissing):  # no checkpoint was published by the killed run
        ArtifactStore(root=str(killed)).read_manifest("pretrained_checkpoint")

    materialize_to_end(env, "key:pretrained_checkpoint")
    md = latest_metadata(home, "pretrained_checkpoint")
    assert md["resumed_from"].endswith(f"checkpoints/step-{last}") and md["steps"] == PRETRAIN_STEPS

    (metrics, weights), (want_metrics, want_weights) = _published(killed), _published(reference)
    assert want_metrics["resumed_from"] is None
    steps = [r["step"] for r in metrics["history"]]
    assert steps == list(range(1, PRETRAIN_STEPS + 1))  # every step once: no gap, no step trained twice
    assert [r["seq_len"] for r in metrics["history"]] == [r["seq_len"] for r in want_metrics["history"]]
    assert metrics["tokens_seen"] == want_metrics["tokens_seen"]
    # The data position and the RNG state are restored exactly, so each step sees the same samples and
    # computes the same loss as in the uninterrupted run, before and after the kill.
    losses, want = [r["loss"] for r in metrics["history"]], [r["loss"] for r in want_metrics["history"]]
    assert losses == want
    assert weights.keys() == want_weights.keys()
    assert all(torch.equal(weights[k], want_weights[k]) for k in want_weights)
    print(f"pretrained_checkpoint: killed after checkpoint step {last} (saved {saved}), resumed to "
          f"{PRETRAIN_STEPS} steps; {len(losses)} losses and {len(weights)} tensors identical")
