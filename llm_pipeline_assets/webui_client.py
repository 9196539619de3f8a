"""Drive a running Dagster webserver through GraphQL the way its UI does (the Materialize button, asset pages).

The documents below are the Dagster 1.13.27 UI's own (``js_modules/ui-core/src``, shipped as source maps in
``dagster_webserver/webapp/build``), trimmed to the fields we read:

- ``LaunchAssetLoaderQuery`` (assets/LaunchAssetExecutionButton.tsx): job, repository, partitions, checks;
- ``ConfigPartitionForAssetJobQuery`` (launchpad/ConfigFetch.tsx): the partition's tags and run config;
- ``LaunchPipelineExecution`` (runs/RunUtils.tsx) with ``executionParamsForAssetJob``'s params plus the
  ``dagster/from_ui`` tag (launchpad/uiExecutionTags.tsx);
- ``AssetOverviewMetadataEventsQuery`` (assets/useLatestEvents.tsx) with a partition filter.

Apollo adds ``__typename`` to every selection set, so it is written out here.
"""

from __future__ import annotations

import json
import time
import urllib.request

LAUNCH_ASSET_LOADER_QUERY = """
query LaunchAssetLoaderQuery($assetKeys: [AssetKeyInput!]!) {
  assetNodes(assetKeys: $assetKeys) {
    id opNames jobNames isExecutable isMaterializable
    assetKey { path }
    partitionDefinition { description }
    partitionKeysByDimension { name partitionKeys }
    assetChecksOrError { __typename ... on AssetChecks { checks { name canExecuteIndividually jobNames } } }
    repository { id name location { id name } }
  }
}"""

CONFIG_PARTITION_FOR_ASSET_JOB_QUERY = """
query ConfigPartitionForAssetJobQuery($repositoryName: String!, $repositoryLocationName: String!,
    $jobName: String!, $partitionName: String!, $assetKeys: [AssetKeyInput!]!) {
  pipelineOrError(params: {pipelineName: $jobName, repositoryName: $repositoryName,
                           repositoryLocationName: $repositoryLocationName}) {
    __typename
    ... on Pipeline {
      id
      partition(partitionName: $partitionName, selectedAssetKeys: $assetKeys) {
        name
        runConfigOrError { __typename ... on PartitionRunConfig { yaml } ... on PythonError { message } }
        tagsOrError { __typename ... on PartitionTags { results { key value } } ... on PythonError { message } }
      }
    }
  }
}"""

LAUNCH_PIPELINE_EXECUTION_MUTATION = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { id pipelineName } }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
  }
}"""

RUN_STATUS_QUERY = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { id status pipelineName tags { key value } } }
}"""

RUN_ERRORS_QUERY = """
query RunErrors($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection { events { __typename
        ... on ErrorEvent { error { message errorChain { error { message } } } } } }
  }
}"""

ASSET_METADATA_EVENTS_QUERY = """
query AssetOverviewMetadataEventsQuery($assetKey: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $assetKey) {
    __typename
    ... on Asset {
      id
      assetMaterializations(partitions: $partitions, limit: 1) {
        timestamp runId partition
        metadataEntries {
          __typename label
          ... on IntMetadataEntry { intValue intRepr }
          ... on FloatMetadataEntry { floatValue }
          ... on TextMetadataEntry { text }
          ... on PathMetadataEntry { path }
          ... on BoolMetadataEntry { boolValue }
        }
      }
    }
  }
}"""

CHECK_EXECUTIONS_QUERY = """
query AssetCheckExecutions($assetKey: AssetKeyInput!, $checkName: String!, $partition: String) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, partition: $partition, limit: 1) {
    runId status partition
  }
}"""

WORKSPACE_QUERY = """
query WorkspaceLocations {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } }
  }
}"""

FROM_UI_TAG = {"key": "dagster/from_ui", "value": "true"}
ASSET_JOB = "__ASSET_JOB"  # the implicit job holding every asset (asset-graph/Utils.tsx __ASSET_JOB_PREFIX)
TERMINAL_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
VALUE_FIELDS = ("intRepr", "floatValue", "text", "path", "boolValue")  # the scalar metadata kinds we read


class GraphQLError(RuntimeError):
    """The server answered with GraphQL errors or an error type instead of data."""


def graphql(url: str, query: str, variables: dict | None = None, timeout_s: float = 60.0) -> dict:
    """POST one GraphQL document to ``<url>/graphql``; return ``data`` or raise GraphQLError."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        payload = json.loads(response.read())
    if payload.get("errors"):
        raise GraphQLError("; ".join(e.get("message", str(e)) for e in payload["errors"]))
    return payload["data"]


def wait_for_location(url: str, name: str, timeout_s: float) -> None:
    """Wait until code location ``name`` has loaded; raise with its load error if it failed to load."""
    deadline = time.monotonic() + timeout_s
    while True:
        entries = graphql(url, WORKSPACE_QUERY)["workspaceOrError"].get("locationEntries", [])
        entry = next((e for e in entries if e["name"] == name), None)
        if entry and entry["loadStatus"] == "LOADED":
            loaded = entry["locationOrLoadError"] or {}
            if loaded.get("__typename") == "PythonError":
                raise GraphQLError(f"code location {name!r} failed to load: {loaded['message']}")
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"code location {name!r} not loaded after {timeout_s:.0f}s: {entries}")
        time.sleep(0.5)


def _common_job(nodes: list[dict], preferred: str | None) -> str:
    """The UI's getCommonJob: ``preferred`` if every selected asset is in it, else the first job they share."""
    common = [j for j in nodes[0]["jobNames"] if all(j in n["jobNames"] for n in nodes)]
    if not common:
        raise GraphQLError(f"no job contains all of {[n['assetKey']['path'] for n in nodes]}")
    return preferred if preferred in common else common[0]


def _partition_tags_and_config(url: str, repo: dict, job: str, partition: str, keys: list[dict]) -> tuple[list, str]:
    data = graphql(url, CONFIG_PARTITION_FOR_ASSET_JOB_QUERY, {
        "repositoryName": repo["name"], "repositoryLocationName": repo["location"]["name"], "jobName": job,
        "partitionName": partition, "assetKeys": keys})["pipelineOrError"]
    found = data.get("partition")
    if data["__typename"] != "Pipeline" or not found:
        raise GraphQLError(f"no partition {partition!r} in job {job!r}: {data}")
    tags, run_config = found["tagsOrError"], found["runConfigOrError"]
    for part in (tags, run_config):
        if part["__typename"] == "PythonError":
            raise GraphQLError(part["message"])
    return [{"key": t["key"], "value": t["value"]} for t in tags["results"]], run_config["yaml"]


def launch_materialization(url: str, asset_keys: list[str], partition: str | None = None,
                           preferred_job: str | None = ASSET_JOB) -> str:
    """Launch one run of ``asset_keys`` (and their checks) as the UI's Materialize button does; return the run id.

    The button launches the implicit asset job ``__ASSET_JOB`` (a job page passes its own name instead)."""
    keys = [{"path": [k]} for k in asset_keys]
    nodes = graphql(url, LAUNCH_ASSET_LOADER_QUERY, {"assetKeys": keys})["assetNodes"]
    if sorted(n["assetKey"]["path"][-1] for n in nodes) != sorted(asset_keys):
        raise GraphQLError(f"asked for {asset_keys}, the server knows {[n['assetKey']['path'] for n in nodes]}")
    if not all(n["isExecutable"] and n["isMaterializable"] for n in nodes):
        raise GraphQLError("observable or external assets cannot be materialized")
    repo, job = nodes[0]["repository"], _common_job(nodes, preferred_job)
    tags, run_config = [], "{}"
    if any(n["partitionDefinition"] for n in nodes):
        if partition is None:
            raise ValueError(f"{asset_keys} are partitioned: name a partition")
        # The UI offers only the partition keys the server lists (the partitions dialog); so do we.
        known = {k for n in nodes for d in n["partitionKeysByDimension"] or [] for k in d["partitionKeys"]}
        if partition not in known:
            raise GraphQLError(f"no partition {partition!r} in {asset_keys}; known: {sorted(known)}")
        tags, run_config = _partition_tags_and_config(url, repo, job, partition, keys)
    checks = [{"name": c["name"], "assetKey": {"path": n["assetKey"]["path"]}}
              for n in nodes if n["assetChecksOrError"]["__typename"] == "AssetChecks"
              for c in n["assetChecksOrError"]["checks"] if not c["jobNames"] or job in c["jobNames"]]
    params = {
        "mode": "default",
        "executionMetadata": {"tags": [t for t in tags if t["key"] != FROM_UI_TAG["key"]] + [FROM_UI_TAG]},
        "runConfigData": run_config,
        "selector": {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"],
                     "pipelineName": job, "assetSelection": [{"path": n["assetKey"]["path"]} for n in nodes],
                     "assetCheckSelection": checks},
    }
    result = graphql(url, LAUNCH_PIPELINE_EXECUTION_MUTATION, {"executionParams": params})["launchPipelineExecution"]
    if result["__typename"] != "LaunchRunSuccess":
        raise GraphQLError(f"launch failed: {result}")
    return result["run"]["id"]


def wait_for_run(url: str, run_id: str, timeout_s: float) -> dict:
    """Poll until the run ends; return it (id, status, pipelineName, tags). A failed run raises with its errors."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = graphql(url, RUN_STATUS_QUERY, {"runId": run_id})["runOrError"]
        if run.get("status") in TERMINAL_STATUSES:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run.get('status')} after {timeout_s:.0f}s")
        time.sleep(0.5)
    if run["status"] != "SUCCESS":
        events = graphql(url, RUN_ERRORS_QUERY, {"runId": run_id})["logsForRun"].get("events", [])
        # Like the UI's PythonErrorFragment: the step error wraps the asset's own exception in its chain.
        errors = [" <- ".join([e["error"]["message"].strip()] + [c["error"]["message"].strip()
                                                                for c in e["error"]["errorChain"]])
                  for e in events if e.get("error")]
        raise GraphQLError(f"run {run_id} ended {run['status']}: {errors}")
    return run


def latest_materialization(url: str, asset_key: str, partition: str | None = None) -> dict | None:
    """The latest materialization of ``asset_key`` (in ``partition``): runId, partition, metadata {label: value}."""
    variables = {"assetKey": {"path": [asset_key]}, "partitions": [partition] if partition else None}
    asset = graphql(url, ASSET_METADATA_EVENTS_QUERY, variables)["assetOrError"]
    if asset["__typename"] != "Asset" or not asset["assetMaterializations"]:
        return None
    event = asset["assetMaterializations"][0]
    values = {}
    for entry in event["metadataEntries"]:  # tables, Markdown and JSON entries come back as None
        value = next((entry[field] for field in VALUE_FIELDS if field in entry), None)
        values[entry["label"]] = int(value) if entry["__typename"] == "IntMetadataEntry" else value
    return {"runId": event["runId"], "partition": event["partition"], "metadata": values}


def latest_check_execution(url: str, asset_key: str, check_name: str, partition: str | None = None) -> dict | None:
    """The latest execution of a check (runId, status such as SUCCEEDED or FAILED, partition), or None."""
    found = graphql(url, CHECK_EXECUTIONS_QUERY, {"assetKey": {"path": [asset_key]}, "checkName": check_name,
                                                  "partition": partition})["assetCheckExecutions"]
    return found[0] if found else None
