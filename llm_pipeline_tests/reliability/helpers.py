"""Shared by the reliability tests: bad-input builders, a corpus materialization, readers of its output."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import dagster as dg

from llm_pipeline_assets.config import parse_config
from llm_pipeline_assets.runners.finetune import read_jsonl  # noqa: F401  (the bad-input tests read JSONL outputs)
from llm_pipeline_assets.shards import QUARANTINE_FILE, iter_batches, shard_files
from llm_pipeline_assets.sources.synthetic import generate_documents


def clean_texts(n: int, source: str = "rel") -> list[str]:
    """``n`` synthetic English documents labelled clean: they pass every cleaning filter."""
    docs = [d.text for d in generate_documents(source, 8 * n, seed=3, corpus_seed=11) if d.label == "clean"]
    assert len(docs) >= n
    return docs[:n]


def jsonl(*lines: object) -> bytes:
    """A JSONL file body: dicts/lists/strings are JSON-encoded, ``bytes`` are written as they are."""
    return b"".join((x if isinstance(x, bytes) else json.dumps(x).encode()) + b"\n" for x in lines)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def local_config(path: Path, name: str = "files", **source):
    """A pipeline config with one local source reading ``path`` (cleaning in this process)."""
    src = {"name": name, "kind": "local", "path": str(path), **source}
    return parse_config({"name": "reliability", "sources": [src], "shards": {"max_docs": 50},
                         "cleaning": {"workers": 1, "pii_check_sample": 50}}, origin="reliability-test")


def materialize_corpus(cfg, root: Path, partition: str, instance: dg.DagsterInstance | None = None,
                       resources: dict | None = None) -> dg.ExecuteInProcessResult:
    """raw_corpus and cleaned_shards of one partition through ``dg.materialize``; failures are returned."""
    from llm_pipeline_assets.assets.corpus import build_corpus_assets
    from llm_pipeline_assets.definitions import source_partitions
    from llm_pipeline_assets.resources.store import ArtifactStore

    assets = build_corpus_assets(cfg, source_partitions(cfg))
    return dg.materialize(assets, partition_key=partition, instance=instance or dg.DagsterInstance.ephemeral(),
                          resources=resources or {"store": ArtifactStore(root=str(root))}, raise_on_error=False)


def materialize_keys(cfg, root: str, keys: list[str], instance: dg.DagsterInstance | None = None,
                     partition: str | None = None) -> dg.ExecuteInProcessResult:
    """Assets of the real code location (``build_definitions``), as ``python -m ...materialize`` runs them."""
    from llm_pipeline_assets.definitions import build_definitions

    job = build_definitions(cfg, root=root).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance or dg.DagsterInstance.ephemeral(), partition_key=partition,
                                  asset_selection=[dg.AssetKey(k) for k in keys], raise_on_error=False)


def asset_metadata(results, asset: str) -> dict:
    """The plain metadata values of ``asset``'s first materialization in a run result (or a list of them)."""
    for result in results if isinstance(results, (list, tuple)) else [results]:
        for event in result.get_asset_materialization_events():
            m = event.materialization
            if m.asset_key.to_user_string() == asset:
                return {k: v.value for k, v in m.metadata.items()}
    raise KeyError(asset)


def table_counts(table) -> dict:
    """A ``count_table`` metadata value back as ``{reason: count}``."""
    return {r.data["reason"]: r.data["count"] for r in table.records}


def published_texts(store, asset: str, partition: str) -> list[str]:
    directory, _ = store.local_dir(asset, partition)
    return [r["text"] for batch in iter_batches(shard_files(directory)) for r in batch]


def quarantine_entries(directory: Path) -> list[dict]:
    path = Path(directory) / QUARANTINE_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def reason_counts(entries: list[dict]) -> Counter:
    return Counter(e["reason"].split(":", 1)[0] for e in entries)


def step_failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """The errors (``Class: message``, then each cause's) of every failed step of a run, one string per step."""
    out = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            text = []
            while error is not None:
                text.append(f"{error.cls_name}: {error.message}")
                error = error.cause
            out.append("\n".join(text))
    return out
