"""Staleness as the Dagster instance reports it: code versions and content-hash DataVersions, not timestamps.

A cleaning change (new code version, or a config edit, which is part of the code version) marks
cleaned_shards stale; its consumers turn stale only when the re-materialized shards' content changed.
"""

from __future__ import annotations

import pytest

from llm_pipeline_assets.assets import corpus
from llm_pipeline_tests.orchestration.conftest import data_config

NEW_DEP_DATA = "has a new dependency data version"
NEW_CODE = "has a new code version"
SOURCES = ("web", "news")
pytestmark = pytest.mark.slow  # each test builds the data side (about 6 s of CPU)

DOWNSTREAM = [("dedup_index", None), ("deduped_shards", "web"), ("deduped_shards", "news"), ("tokenizer", None),
              ("packed_tokens", None)]


def test_rematerializing_unchanged_data_leaves_downstream_fresh(built):
    status = built.status()
    for asset in ("raw_corpus", "cleaned_shards"):
        assert [status(asset, s) for s in SOURCES] == ["FRESH", "FRESH"], asset
    assert [status(a, p) for a, p in DOWNSTREAM] == ["FRESH"] * len(DOWNSTREAM)
    manifests = {a: built.store.read_manifest(a, "web").version for a in ("raw_corpus", "cleaned_shards")}

    result = built.execute("source_refresh", partition="web")

    for asset, version in manifests.items():  # really re-ingested and re-cleaned, into a new version ...
        assert built.store.read_manifest(asset, "web").version != version
        assert built.latest_run_id(asset, "web") == result.run_id
    status = built.status()  # ... with identical content: no consumer is stale
    assert [status(a, p) for a, p in DOWNSTREAM] == ["FRESH"] * len(DOWNSTREAM)


def test_new_cleaning_code_version_with_identical_output_keeps_consumers_fresh(built, monkeypatch):
    monkeypatch.setattr(corpus, "CLEAN_VERSION", corpus.CLEAN_VERSION + "-edited")  # as if the code changed
    defs = built.rebuild()
    status = built.status(defs)
    for source in SOURCES:
        assert status("cleaned_shards", source) == "STALE"
        assert status.causes("cleaned_shards", source) == {(NEW_CODE, None)}
        assert status("raw_corpus", source) == "FRESH"
    assert status("dedup_index") == "FRESH"  # nothing re-ran yet: consumers cannot know

    for source in SOURCES:
        built.execute("source_refresh", partition=source, defs=defs)

    status = built.status(defs)
    assert [status("cleaned_shards", s) for s in SOURCES] == ["FRESH", "FRESH"]
    assert [status(a, p) for a, p in DOWNSTREAM] == ["FRESH"] * len(DOWNSTREAM)


def test_cleaning_rule_change_marks_consumers_stale_once_the_output_changed(built):
    unrelated = built.rebuild(data_config(cleaning={"pii_check_sample": 50, "workers": 2}))
    assert built.status(unrelated)("cleaned_shards", "web") == "FRESH"  # check sample / workers: same output

    keep_toxic = data_config(cleaning={"pii_check_sample": 100, "workers": 1, "toxicity": {"enabled": False}})
    defs = built.rebuild(keep_toxic)
    status = built.status(defs)
    assert status.causes("cleaned_shards", "web") == {(NEW_CODE, None)}
    assert status("raw_corpus", "web") == "FRESH" and status("dedup_index") == "FRESH"

    result = built.execute("source_refresh", partition="web", defs=defs)
    funnel = {r.data["step"]: r.data["removed"] for e in result.get_asset_materialization_events()
              if e.materialization.asset_key.to_user_string() == "cleaned_shards"
              for r in e.materialization.metadata["funnel"].value.records}
    assert "toxicity" not in funnel or funnel["toxicity"] == 0

    status = built.status(defs)
    assert status("cleaned_shards", "web") == "FRESH" and status("cleaned_shards", "news") == "STALE"
    assert (NEW_DEP_DATA, "cleaned_shards[web]") in status.causes("dedup_index")
    assert status.causes("deduped_shards", "web") == {(NEW_DEP_DATA, "cleaned_shards[web]")}
    assert status("deduped_shards", "news") == "FRESH"  # its cleaned shard and the index are unchanged
    assert status("tokenizer") == "FRESH"  # not transitive: stale once the deduped shards really change

    built.execute("data_refresh", partition="web", defs=defs)

    status = built.status(defs)
    assert status("dedup_index") == "FRESH" and status("deduped_shards", "web") == "FRESH"
    assert status.causes("deduped_shards", "news") == {(NEW_DEP_DATA, "dedup_index")}  # the index changed
    assert status("tokenizer") == "FRESH" and status("packed_tokens") == "FRESH"  # rebuilt in the same run
