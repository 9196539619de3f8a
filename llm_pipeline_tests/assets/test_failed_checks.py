"""A version whose blocking check failed is refused by every consumer, whoever starts it.

Dagster keeps one status per check, not per partition: cleaned_shards[web] failing no_pii_in_sample and then
cleaned_shards[clean] passing read as "passed" to dedup_index's ``all_deps_blocking_checks_passed``, and web's
PII went on into the deduplicated corpus. Each version records its own outcome in its manifest now.
"""

import json

import dagster as dg
import pytest

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.materialize import run
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.sources.synthetic import generate_documents
from llm_pipeline_tests.conftest import small_config


def _config(tmp_path, pii: bool):
    clean = tmp_path / "clean"
    if not clean.exists():
        clean.mkdir()
        docs = [{"id": d.id, "text": d.text} for d in generate_documents("news", 150, seed=5, corpus_seed=9)
                if d.label == "clean"]
        (clean / "d.jsonl").write_text("\n".join(json.dumps(r) for r in docs))
    return small_config(sources=[{"name": "web", "kind": "synthetic", "num_docs": 150, "seed": 3},
                                 {"name": "clean", "kind": "local", "path": str(clean)}],
                        cleaning={"pii": pii})


def test_a_source_that_failed_its_pii_check_stops_dedup_although_another_source_passed_after_it(tmp_path):
    root, instance = str(tmp_path / "a"), dg.DagsterInstance.ephemeral()
    defs = build_definitions(_config(tmp_path, pii=False), root=root)
    quiet = {"instance": instance, "echo": lambda m: None}
    with pytest.raises(SystemExit, match=r"cleaned_shards\[web\]: failed checks:\n  no_pii_in_sample"):
        run(defs, "key:raw_corpus or key:cleaned_shards", partitions=["web"], **quiet)
    run(defs, "key:raw_corpus or key:cleaned_shards", partitions=["clean"], **quiet)  # passes, after web
    store = ArtifactStore(root=root)
    assert store.read_manifest("cleaned_shards", "web").extra["failed_checks"] == ["no_pii_in_sample"]
    assert store.read_manifest("cleaned_shards", "clean").extra["checks_passed"] is True

    refused = r"dedup_index does not read data whose blocking checks failed: cleaned_shards\[web\] version v-\S+ " \
              r"failed no_pii_in_sample"
    with pytest.raises(SystemExit, match=refused):  # --select dedup_index alone, as a user or automation would
        run(defs, "key:dedup_index", **quiet)
    assert instance.get_latest_materialization_event(dg.AssetKey("dedup_index")) is None

    # the cause fixed (PII scrubbing back on) and web cleaned again: the index builds, without web's addresses
    fixed = build_definitions(_config(tmp_path, pii=True), root=root)
    run(fixed, "key:cleaned_shards", partitions=["web"], **quiet)
    results = run(fixed, "key:dedup_index", **quiet)
    assert results[-1].success and store.read_manifest("dedup_index").extra["checks_passed"] is True


def test_a_failed_tokenizer_check_stops_packing_and_training(tmp_path):
    """The same guard on unpartitioned inputs: packed_tokens and base_model refuse a tokenizer whose blocking
    check failed (here recorded by hand on a published version), naming it; a passing version goes through."""
    store = ArtifactStore(root=str(tmp_path))
    with store.publish("tokenizer", extra={"checks_passed": False, "failed_checks": ["roundtrip_lossless"]}) as d:
        (d / "tokenizer.json").write_text("{}")
    from llm_pipeline_assets.assets.checks import checked_inputs

    for consumer in ("packed_tokens", "base_model"):
        with pytest.raises(dg.Failure, match=f"{consumer} does not read .* tokenizer version v-.* failed "
                                             "roundtrip_lossless") as failure:
            checked_inputs(store, consumer, [("tokenizer", None)])
        assert failure.value.allow_retries is False
    with store.publish("tokenizer", extra={"checks_passed": True, "failed_checks": []}) as d:
        (d / "tokenizer.json").write_text("{}")
    [(directory, manifest)] = checked_inputs(store, "packed_tokens", [("tokenizer", None)])
    assert manifest.extra["checks_passed"] and (directory / "tokenizer.json").read_text() == "{}"


def test_deduped_shards_refuse_an_index_built_from_another_source_list(tmp_path):
    """A source removed from the config: the index still holds its verdicts (the others' documents removed as its
    duplicates), so deduped_shards refuses it until dedup_index is rebuilt from the current sources."""
    root, instance = str(tmp_path / "a"), dg.DagsterInstance.ephemeral()
    quiet = {"instance": instance, "echo": lambda m: None}
    both = _config(tmp_path, pii=True)
    run(build_definitions(both, root=root), "key:raw_corpus or key:cleaned_shards or key:dedup_index", **quiet)
    only = build_definitions(small_config(sources=[s.model_dump() for s in both.sources[1:]]), root=root)
    with pytest.raises(SystemExit, match=r"deduped_shards\[clean\]: dedup_index version v-\S+ was built from the "
                                         r"sources \['web', 'clean'\], the config lists \['clean'\]"):
        run(only, "key:deduped_shards", **quiet)
    results = run(only, "key:dedup_index or key:deduped_shards", **quiet)
    assert all(r.success for r in results)
