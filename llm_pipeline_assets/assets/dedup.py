"""dedup_index (global, across every source) and deduped_shards (per source)."""

import json

import dagster as dg

from llm_pipeline_assets.assets.checks import check_spec, exact_dup_check, recorded, checked_inputs, schema_check
from llm_pipeline_assets.assets.metadata import count_table, histogram_markdown
from llm_pipeline_assets.assets.policies import (after_index_condition, code_version, derived_data_condition,
                                                  shard_layout)
from llm_pipeline_assets.config import PipelineConfig
from llm_pipeline_assets.gpu.kernels import nvidia_device_present
from llm_pipeline_assets.resources.compute import ComputeResource
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.shards import shard_files
from llm_pipeline_assets.work_units import json_digest

INDEX_VERSION = "dedup-2"  # 2: cached LSH pair verdicts were read at shifted positions (dedup.lsh._PairCache)
DEDUPED_VERSION = "deduped-1"


def _same_index_settings(cfg: PipelineConfig) -> set:
    """Dedup settings that cannot change the index: batch size, backend, hashing workers, and gpu_minhash unless it
    is cudf."""
    return {"batch_docs", "backend", "workers"} | ({"gpu_minhash"} if cfg.dedup.gpu_minhash == "torch" else set())


def build_dedup_assets(cfg: PipelineConfig, partitions: dg.PartitionsDefinition) -> list:
    @dg.asset(deps=[dg.AssetDep("cleaned_shards", partition_mapping=dg.AllPartitionMapping())],
              group_name="data", kinds={"parquet", "numpy"}, automation_condition=derived_data_condition(),
              code_version=code_version(INDEX_VERSION, sources=cfg.source_names,  # the backend gives the same index
                                        dedup=cfg.dedup.model_dump(mode="json", exclude=_same_index_settings(cfg))),
              check_specs=[check_spec("no_exact_duplicates_kept", "dedup_index")],
              # a GPU dedup waits for the GPU like training does (one GPU-bound step at a time); "auto" only where
              # this machine has an NVIDIA device: on a CPU-only host a held gpu slot would stop the data refresh
              pool="gpu" if cfg.dedup.backend == "gpu" or (cfg.dedup.backend == "auto" and nvidia_device_present())
              else None)
    def dedup_index(context: dg.AssetExecutionContext, store: ArtifactStore,
                    compute: ComputeResource) -> dg.MaterializeResult:
        """Exact + MinHash-LSH near-duplicate clusters over ALL sources; one deterministic survivor per cluster."""
        from llm_pipeline_assets.dedup.stage import build_dedup_index
        from llm_pipeline_assets.gpu.dedup_backend import backend_from_config
        from llm_pipeline_assets.resources.compute import probe_device
        from llm_pipeline_assets.work_units import discard_work, work_key

        # dedup.backend: auto = the GPU when this step's machine has CUDA (probed only where NVIDIA devices exist;
        # not compute.device_info(), which describes a remote launcher's training machine when one is configured)
        backend = backend_from_config(cfg.dedup, lambda: probe_device(compute.python).cuda)
        context.log.info(f"dedup backend: {backend.describe()}")

        inputs, versions = [], []
        cleaned = checked_inputs(store, "dedup_index", [("cleaned_shards", name) for name in cfg.source_names])
        for name, (directory, in_manifest) in zip(cfg.source_names, cleaned):
            inputs.append((name, shard_files(directory)))
            versions.append((name, in_manifest.content_version("part-")))
        # Shards hashed by an interrupted run of the same inputs and hashing parameters are reused from here.
        d = cfg.dedup
        cudf = ("cudf",) if d.gpu_minhash == "cudf" else ()  # cuDF signatures must never mix with torch/numpy ones
        work = store.work_dir("dedup_index", work_key("all", INDEX_VERSION, versions, d.num_perm, d.ngram, d.seed,
                                                      d.verify == "jaccard", *cudf))
        extra: dict = {"sources": cfg.source_names}  # what deduped_shards checks the index was built from
        with store.publish("dedup_index", extra=extra) as staging:
            stats = build_dedup_index(inputs, staging, cfg.dedup, log=context.log.info, work_dir=work, backend=backend)
            (staging / "stats.json").write_text(json.dumps(
                {"cluster_sizes": {str(k): v for k, v in stats.cluster_sizes.items()}, "docs": stats.docs,
                 "exact_removed": stats.exact_removed, "fuzzy_removed": stats.fuzzy_removed}, indent=1))
            checks = [exact_dup_check("no_exact_duplicates_kept", stats.exact_dups_in_kept, stats.kept)]
            extra.update(recorded(checks))
        discard_work(work, "all")
        manifest = store.read_manifest("dedup_index")
        return dg.MaterializeResult(
            metadata={
                "docs": stats.docs, "kept": stats.kept, "exact_removed": stats.exact_removed,
                "fuzzy_removed": stats.fuzzy_removed, "cross_source_removed": stats.cross_source_removed,
                "candidate_pairs": stats.candidate_pairs, "verified_pairs": stats.verified_pairs,
                "bands": stats.bands, "rows": stats.rows, "threshold": cfg.dedup.threshold,
                "s_curve": dg.MetadataValue.md(stats.s_curve_markdown),
                "cluster_sizes": dg.MetadataValue.md(histogram_markdown(stats.cluster_sizes)),
                "removed_by_source": count_table(stats.removed_by_source, key="source"),
                "docs_per_second": round(stats.docs / max(stats.seconds, 1e-9), 1),
                "units": stats.units, "resumed_units": stats.resumed_units,
                # which dedup backend hashed and clustered (gpu/dedup_backend.py)
                "dedup_backend": stats.backend,
                "hashing_workers": cfg.dedup.workers,
                "uri": dg.MetadataValue.path(store.partition_dir("dedup_index")),
            },
            # the index's bytes AND the cleaned shards it was built from: a document corrected in place (same id,
            # no new duplicates) leaves index.parquet byte-identical, and deduped_shards, which only the index
            # triggers, would never carry the correction on
            data_version=dg.DataVersion(json_digest([manifest.data_version, versions])),
            check_results=checks,
        )

    @dg.asset(partitions_def=partitions, deps=[dg.AssetDep("cleaned_shards"), dedup_index], group_name="data",
              # the source list too: removing a source changes which documents the others keep
              code_version=code_version(DEDUPED_VERSION, shards=shard_layout(cfg), sources=cfg.source_names),
              kinds={"parquet"},
              automation_condition=after_index_condition("dedup_index"),
              check_specs=[check_spec("deduped_schema_valid", "deduped_shards"),
                           check_spec("no_exact_duplicates", "deduped_shards")])
    def deduped_shards(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
        """This source's cleaned documents minus every exact and near duplicate found by dedup_index."""
        from llm_pipeline_assets.dedup.filtering import count_exact_duplicates, filter_source

        name = context.partition_key
        (in_dir, _), (index_dir, index) = checked_inputs(store, f"deduped_shards[{name}]",
                                                         [("cleaned_shards", name), ("dedup_index", None)])
        built_from = index.extra.get("sources")
        if built_from is not None and built_from != cfg.source_names:
            raise dg.Failure(description=f"deduped_shards[{name}]: dedup_index version {index.version} was built from "
                                         f"the sources {built_from}, the config lists {cfg.source_names}: its "
                                         "verdicts (duplicates of a removed source, none against an added one) do not "
                                         "hold; materialize dedup_index first", allow_retries=False)
        extra: dict = {}
        with store.publish("deduped_shards", name, extra=extra) as staging:
            stats = filter_source(name, shard_files(in_dir), index_dir, staging, cfg.shards.max_docs,
                                  cfg.shards.max_bytes, cfg.shards.read_batch_docs)
            files = shard_files(staging)
            checks = [schema_check("deduped_schema_valid", files, stats["docs_out"], empty_ok=stats["docs_in"] > 0),
                      exact_dup_check("no_exact_duplicates", count_exact_duplicates(files), stats["docs_out"])]
            extra.update(recorded(checks))
        manifest = store.read_manifest("deduped_shards", name)
        return dg.MaterializeResult(
            metadata={"docs_in": stats["docs_in"], "docs_out": stats["docs_out"],
                      "exact_removed": stats["exact_removed"], "fuzzy_removed": stats["fuzzy_removed"],
                      "removed_as_duplicate_of_other_source": stats["cross_source_removed"],
                      "uri": dg.MetadataValue.path(store.partition_dir("deduped_shards", name))},
            data_version=dg.DataVersion(manifest.content_version("part-")),
            check_results=checks,
        )

    return [dedup_index, deduped_shards]
