"""Materialize the whole asset graph (or a selection) in dependency order, every partition included.

``dagster asset materialize`` takes one partition per call, so "everything" would be a shell loop;
this command walks the graph instead: each partitioned asset once per partition, each unpartitioned
asset once, all recorded in the Dagster instance at DAGSTER_HOME (visible in ``dagster dev``). A failed
step or a failed blocking check stops the walk with a non-zero exit.

    python -m llm_pipeline_assets.materialize                    # everything
    python -m llm_pipeline_assets.materialize --select 'key:deduped_shards' --partition web
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import dagster as dg
from dagster_shared.error import DagsterError


def plan(defs: dg.Definitions, selection: str = "*") -> list[tuple[dg.AssetKey, list[str | None]]]:
    """[(asset key, partition keys or [None])] in topological order."""
    graph = defs.resolve_asset_graph()
    selected = dg.AssetSelection.from_string(selection).resolve(graph)
    ordered: list[dg.AssetKey] = []
    for level in graph.toposorted_asset_keys_by_level:
        ordered += sorted(k for k in level if k in selected and graph.get(k).is_materializable)
    steps = []
    for key in ordered:
        pdef = graph.get(key).partitions_def
        steps.append((key, list(pdef.get_partition_keys()) if pdef else [None]))
    return steps


def checked_plan(defs: dg.Definitions, selection: str, partitions: list[str] | None):
    """``plan``, refusing (``SystemExit`` with the known names) a selection that matches no asset or a partition
    that no selected asset has: a typo would otherwise materialize nothing and exit 0."""
    import difflib

    defs.resolve_asset_graph()  # a definitions error is its own, not the selection's
    assets = sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())
    try:
        steps = plan(defs, selection)
    except dg.DagsterInvalidSubsetError:  # a bare name that is no asset ("dedup_indx"): no steps, said below
        steps = []
    except DagsterError as exc:  # e.g. "raw_corpus,cleaned_shards": Dagster's selection syntax joins with "or"
        raise SystemExit(f"--select {selection!r} is not a selection Dagster can read ({exc}); join keys with "
                         "' or ', e.g. 'key:raw_corpus or key:cleaned_shards'") from None
    if not steps:
        near = difflib.get_close_matches(selection.removeprefix("key:"), assets, n=1)
        raise SystemExit(f"--select {selection!r} matches no asset" + (f"; did you mean {near[0]!r}?" if near else "")
                         + f" (assets: {', '.join(assets)})")
    known = sorted({p for _, keys in steps for p in keys if p is not None})
    unknown = [p for p in partitions or [] if p not in known]
    if unknown:
        raise SystemExit(f"--partition {unknown} is not a partition of the selected assets (partitions: {known})")
    return steps


def _instance(echo) -> dg.DagsterInstance:
    """The instance at DAGSTER_HOME; without it (a plain shell), a throw-away one, said so (as `dagster asset
    materialize` does) rather than a DagsterHomeNotSetError traceback."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    echo("DAGSTER_HOME is not set: runs go to a temporary instance and will not show in `dagster dev` "
         "(`make run` sets DAGSTER_HOME=./.dagster_home)")
    return dg.DagsterInstance.ephemeral()


def run(defs: dg.Definitions, selection: str = "*", partitions: list[str] | None = None,
        instance: dg.DagsterInstance | None = None, echo=print) -> list[dg.ExecuteInProcessResult]:
    steps = checked_plan(defs, selection, partitions)
    instance = instance or _instance(echo)
    job = defs.resolve_implicit_global_asset_job_def()
    results = []
    for key, keys in steps:
        for partition in keys:
            if partition is not None and partitions and partition not in partitions:
                continue
            label = key.to_user_string() + (f"[{partition}]" if partition else "")
            start = time.perf_counter()
            result = job.execute_in_process(instance=instance, asset_selection=[key], partition_key=partition,
                                            raise_on_error=False)
            failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
            status = "ok" if result.success and not failed else "FAILED"
            echo(f"{label:<32} {status:<6} {time.perf_counter() - start:6.1f}s  run {result.run_id}")
            results.append(result)
            if status != "ok":
                detail = ("failed checks:\n" + "\n".join(_check_line(e) for e in failed) if failed
                          else f"step failed: {_failure_reason(result)}")
                raise SystemExit(f"stopped at {label}: {detail}")
    return results


def _failure_reason(result) -> str:
    """The failed step's own words: a ``dg.Failure``'s description, else the message of the error the step raised
    (the innermost cause: Dagster wraps it in DagsterExecutionStepExecutionError, or "Exceeded max_retries of N"
    after a RetryPolicy), first 600 chars."""
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            said = data.user_failure_data.description if data.user_failure_data else None
            error, wrapper = data.error, data.error
            while error is not None and error.cause is not None:
                error = error.cause
            text = said or (error.message if error else "")
            head = text.split(":", 1)[0]
            if error is not None and not said and head.endswith("." + error.cls_name):  # a.b.SourceError: ...
                text = error.cls_name + text[len(head):]
            if not said and wrapper is not None and wrapper.message.startswith("Exceeded max_retries"):
                text = f"{text.strip()} ({wrapper.message.strip().lower()})"
            return " ".join(str(text).split())[:600] or "see the run's logs"
    return "see the run's logs"


def _check_line(evaluation) -> str:
    """``  name: key=value, ...``: the failed check's metadata (its reasons), cut to one readable line.

    A ``failures`` entry comes first; Markdown tables (the UI's view of the same numbers) are left out.
    """
    parts = []
    items = sorted((evaluation.metadata or {}).items(), key=lambda kv: kv[0] != "failures")
    for key, value in items:
        if isinstance(value, dg.MarkdownMetadataValue):
            continue
        text = getattr(value, "value", value)
        text = " ".join(str(text).split())
        parts.append(f"{key}={text[:160]}")
    return f"  {evaluation.check_name}: " + ("; ".join(parts)[:600] if parts else "(no metadata)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--select", default="*", help="asset selection syntax, e.g. 'dedup_index+' (default '*')")
    parser.add_argument("--partition", action="append", help="only these partitions of partitioned assets")
    args = parser.parse_args(argv)
    from llm_pipeline_assets.config import ConfigError

    try:
        from llm_pipeline_assets.definitions import defs
    except ConfigError as exc:  # the file and the key, without a traceback through the import machinery
        raise SystemExit(f"config error: {exc}") from None

    start = time.perf_counter()
    results = run(defs, args.select, args.partition)
    print(f"materialized {len(results)} asset partitions in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
