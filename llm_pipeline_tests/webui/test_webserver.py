"""``dagster dev`` end to end: materialize through the webserver's GraphQL API exactly as the UI's Materialize
button does, then read the metadata back the way the asset page does, and compare it with the files on disk."""

from __future__ import annotations

import os

import pytest

from llm_pipeline_assets import webui_client
from llm_pipeline_assets.devserver import dagster_dev, server_env
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.shards import count_rows, shard_files
from llm_pipeline_assets.webui_client import (
    GraphQLError,
    graphql,
    latest_check_execution,
    latest_materialization,
    launch_materialization,
    wait_for_run,
)

CONFIG = (
    "name: webui-test\n"
    "sources:\n"
    "  - {name: web, kind: synthetic, num_docs: 120, seed: 1, corpus_seed: 9}\n"
    "  - {name: news, kind: synthetic, num_docs: 80, seed: 2, corpus_seed: 9}\n"
    "  - {name: gone, kind: local, path: MISSING}\n"  # loads fine, fails when materialized
)


def test_every_graphql_document_is_valid_for_the_installed_dagster():
    """The documents copied from the UI still fit this dagster-graphql schema (a Dagster upgrade can break them)."""
    from dagster_graphql.schema import create_schema
    from graphql import parse, validate

    schema = create_schema().graphql_schema
    documents = {n: v for n, v in vars(webui_client).items() if n.endswith(("_QUERY", "_MUTATION"))}
    assert "LAUNCH_PIPELINE_EXECUTION_MUTATION" in documents and len(documents) >= 8
    for name, document in documents.items():
        assert validate(schema, parse(document)) == [], name


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One dagster dev (webserver + daemon + code server) for the module; stopped by process group afterwards."""
    tmp = tmp_path_factory.mktemp("webui")
    config = tmp / "pipeline.yaml"
    config.write_text(CONFIG.replace("MISSING", str(tmp / "no-such-dir")))
    env = server_env(tmp / "dagster_home", tmp / "artifacts", config)
    with dagster_dev(env, tmp / "dagster-dev.log") as dev:
        yield dev.url, tmp
    # dagster dev and everything it spawned (webserver, daemon, code server, run workers) are gone.
    with pytest.raises(ProcessLookupError):
        os.killpg(dev.pid, 0)


@pytest.mark.slow
def test_server_loaded_the_workspace_location(server):
    url, _ = server
    data = graphql(url, "{ assetNodes { assetKey { path } groupName jobNames } }")
    nodes = {n["assetKey"]["path"][-1]: n for n in data["assetNodes"]}
    assert {"raw_corpus", "cleaned_shards", "dedup_index", "deduped_shards"} <= set(nodes)
    assert nodes["raw_corpus"]["groupName"] == "data"
    assert any(j.startswith("__ASSET_JOB") for j in nodes["raw_corpus"]["jobNames"])


@pytest.mark.slow
def test_materialize_button_flow_records_metadata_matching_disk(server):
    url, tmp = server
    run_id = launch_materialization(url, ["raw_corpus", "cleaned_shards"], partition="web")
    run = wait_for_run(url, run_id, timeout_s=240)
    assert run["pipelineName"] == "__ASSET_JOB"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["dagster/partition"] == "web" and tags["dagster/from_ui"] == "true"

    store = ArtifactStore(root=str(tmp / "artifacts"))
    raw = latest_materialization(url, "raw_corpus", partition="web")
    assert raw is not None and raw["runId"] == run_id and raw["partition"] == "web"
    raw_dir, _ = store.local_dir("raw_corpus", "web")
    on_disk = count_rows(shard_files(raw_dir))
    assert raw["metadata"]["docs"] == on_disk == 120
    assert raw["metadata"]["source_kind"] == "synthetic"
    assert raw["metadata"]["uri"] == store.partition_dir("raw_corpus", "web")

    cleaned = latest_materialization(url, "cleaned_shards", partition="web")
    assert cleaned is not None and cleaned["runId"] == run_id
    clean_dir, _ = store.local_dir("cleaned_shards", "web")
    assert cleaned["metadata"]["docs_in"] == on_disk
    assert 0 < cleaned["metadata"]["docs_out"] == count_rows(shard_files(clean_dir)) <= on_disk

    # The UI selects an asset's checks with it: the blocking checks ran in the same run and passed.
    for check in ("no_pii_in_sample", "cleaned_schema_valid"):
        execution = latest_check_execution(url, "cleaned_shards", check)
        assert execution is not None and execution["runId"] == run_id, check
        assert execution["status"] == "SUCCEEDED", (check, execution)

    # Only the launched partition was materialized.
    assert latest_materialization(url, "raw_corpus", partition="news") is None
    assert not (tmp / "artifacts" / "raw_corpus" / "news").exists()


@pytest.mark.slow
def test_failed_run_reports_the_step_error_through_the_api(server):
    url, _ = server
    run_id = launch_materialization(url, ["raw_corpus"], partition="gone")
    with pytest.raises(GraphQLError, match=r"ended FAILURE.*sources\[2\]\.path"):
        wait_for_run(url, run_id, timeout_s=240)
    assert latest_materialization(url, "raw_corpus", partition="gone") is None


@pytest.mark.slow
def test_partitioned_launch_without_a_partition_is_refused(server):
    url, _ = server
    with pytest.raises(ValueError, match="name a partition"):
        launch_materialization(url, ["raw_corpus"])
    with pytest.raises(GraphQLError, match="no partition 'nope'"):
        launch_materialization(url, ["raw_corpus"], partition="nope")
