"""Shared by the orchestration tests: a small two-source config, a built data side, the instance's staleness."""

from __future__ import annotations

import dagster as dg
import pytest

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.materialize import run
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_tests.conftest import small_config

DATA_SELECTION = "group:data or group:tokens"


def data_config(**overrides):
    """small_config, cleaned in-process (no worker pool) and tokenized with a tiny vocabulary."""
    base = {"cleaning": {"pii_check_sample": 100, "workers": 1},
            "tokenizer": {"vocab_size": 512, "check_docs": 20}, "packing": {"seq_lens": [64]}}
    base.update(overrides)
    return small_config(**base)


class Built:
    """A code location materialized data-side on a temporary Dagster instance."""

    def __init__(self, cfg, root, instance: dg.DagsterInstance):
        self.cfg, self.root, self.instance = cfg, str(root), instance
        self.defs = build_definitions(cfg, root=self.root)
        self.store = ArtifactStore(root=self.root)

    def rebuild(self, cfg=None) -> dg.Definitions:
        """The code location as it loads after a config (or code version) change; same store, same instance."""
        return build_definitions(cfg or self.cfg, root=self.root)

    def execute(self, job: str, partition: str | None = None, defs: dg.Definitions | None = None):
        result = (defs or self.defs).resolve_job_def(job).execute_in_process(instance=self.instance,
                                                                             partition_key=partition)
        assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
        return result

    def status(self, defs: dg.Definitions | None = None) -> StaleView:
        return StaleView(defs or self.defs, self.instance)

    def latest_run_id(self, asset: str, partition: str | None = None) -> str:
        """The run that wrote the latest materialization of ``asset`` (or of one partition of it)."""
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None),
            limit=1).records
        return records[0].event_log_entry.run_id


class StaleView:
    """The staleness the UI shows ("Fresh" / "Stale: has a new dependency data version"), read from the instance.

    ``CachingStaleStatusResolver`` is what Dagster's webserver uses for the stale badges; it compares each
    asset's recorded code version and input data versions with the current ones.
    """

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
        from dagster._core.definitions.data_version import CachingStaleStatusResolver

        self._resolver = CachingStaleStatusResolver(instance, defs.resolve_asset_graph(),
                                                    AssetGraphView.for_test(defs, instance))

    def __call__(self, asset: str, partition: str | None = None) -> str:
        return self._resolver.get_status(dg.AssetKey(asset), partition).value

    def causes(self, asset: str, partition: str | None = None) -> set[tuple[str, str | None]]:
        """{(reason, dependency or None)}, e.g. ("has a new dependency data version", "cleaned_shards[web]")."""
        out = set()
        for c in self._resolver.get_stale_causes(dg.AssetKey(asset), partition):
            dep = None
            if c.dependency is not None:
                dep = c.dependency.asset_key.to_user_string()
                dep += f"[{c.dependency.partition_key}]" if c.dependency.partition_key else ""
            out.add((c.reason, dep))
        return out


@pytest.fixture
def built(tmp_path):
    """Every data and token asset of both sources, materialized once (about 6 s on one core)."""
    with dg.instance_for_test() as instance:
        b = Built(data_config(), tmp_path / "artifacts", instance)
        results = run(b.defs, DATA_SELECTION, instance=instance, echo=lambda m: None)
        assert len(results) == 9 and all(r.success for r in results)
        yield b
