"""raw_corpus and cleaned_shards: per-source partitions (static, from the pipeline config)."""

import json
from pathlib import Path

import dagster as dg

from llm_pipeline_assets.assets.checks import check_spec, pii_sample_check, recorded, schema_check
from llm_pipeline_assets.assets.metadata import count_table, funnel_markdown, funnel_table, preview_table
from llm_pipeline_assets.assets.policies import (code_version, derived_data_condition, shard_layout,
                                                  source_data_condition)
from llm_pipeline_assets.config import PipelineConfig
from llm_pipeline_assets.resources.store import ArtifactStore, sha256_file
from llm_pipeline_assets.shards import shard_files

RAW_VERSION = "raw-4"  # 2: .zst, .json arrays, any-case suffixes read; unsupported files listed; 3: a .json
# holding one object is a record, ids under a glob are relative to its fixed folder, string_view Parquet text read;
# 4: max_samples of a Hugging Face source counts documents (not rows read), as for a local one
CLEAN_VERSION = "clean-5"  # 2: mojibake repaired before control chars go; PII and toxicity rules revised; 3: C4 keeps
# paragraph breaks, ftfy repairs encoding only (no HTML unescaping, quote uncurling or width folding); 4: zero-width
# spaces and word joiners removed, internationalized e-mail addresses scrubbed; 5: a configured language below
# min_score is rejected as "language_xx_unsure", and each version records its checks' outcome


def _file_digest(path: str) -> str:
    try:
        return sha256_file(Path(path))
    except OSError as exc:  # the cleaning step names the missing file; the code location still loads
        return f"unreadable: {type(exc).__name__}"


def build_corpus_assets(cfg: PipelineConfig, partitions: dg.PartitionsDefinition) -> list:
    # Cleaning output depends on the rules, the shard layout and the seed; not on workers or the check sample.
    cleaning_rules = cfg.cleaning.model_dump(mode="json", exclude={"workers", "pii_check_sample", "executor"})
    if cfg.cleaning.toxicity.wordlist:  # the list's words, not only its path: an edited list cleans differently
        cleaning_rules["toxicity_wordlist_sha256"] = _file_digest(cfg.cleaning.toxicity.wordlist)

    @dg.asset(partitions_def=partitions, group_name="data", kinds={"parquet"},
              # the sources too: a changed num_docs, path, dataset or max_samples marks raw_corpus stale
              code_version=code_version(RAW_VERSION, shards=shard_layout(cfg), seed=cfg.seed,
                                        sources=[s.model_dump(mode="json") for s in cfg.sources]),
              automation_condition=source_data_condition(cfg))
    def raw_corpus(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
        """Documents of one data source (synthetic, local files or a Hugging Face dataset) as Parquet shards."""
        from llm_pipeline_assets.sources.ingest import ingest_source

        name = context.partition_key
        spec, index = cfg.source(name), cfg.source_names.index(name)
        with store.publish("raw_corpus", name) as staging:
            stats = ingest_source(spec, staging, cfg.shards.max_docs, cfg.shards.max_bytes, seed=cfg.seed,
                                  key=f"sources[{index}]", log=context.log.info)
        manifest = store.read_manifest("raw_corpus", name)
        if stats.quarantined_total:
            context.log.warning(f"{name}: {stats.quarantined_total} records quarantined: {stats.quarantined}")
        return dg.MaterializeResult(
            metadata={
                "docs": stats.docs, "text_bytes": stats.text_bytes, "shards": stats.shards,
                "quarantined": stats.quarantined_total, "quarantine_reasons": count_table(stats.quarantined),
                "sampled_out": stats.sampled_out, "source_kind": spec.kind,
                "docs_per_second": round(stats.docs / max(stats.seconds, 1e-9), 1),
                "preview": preview_table(stats.preview), "uri": dg.MetadataValue.path(store.partition_dir("raw_corpus", name)),
            },
            data_version=dg.DataVersion(manifest.data_version),
        )

    @dg.asset(partitions_def=partitions, group_name="data", kinds={"parquet"}, deps=[raw_corpus],
              code_version=code_version(CLEAN_VERSION, cleaning=cleaning_rules, shards=shard_layout(cfg)),
              automation_condition=derived_data_condition(),
              check_specs=[check_spec("no_pii_in_sample", "cleaned_shards"),
                           check_spec("cleaned_schema_valid", "cleaned_shards")])
    def cleaned_shards(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
        """Normalized, PII-scrubbed, language/quality/toxicity-filtered documents; rejects kept with reasons."""
        from llm_pipeline_assets.curation.stage import clean_shards
        from llm_pipeline_assets.work_units import discard_work, work_key

        name = context.partition_key
        in_dir, in_manifest = store.local_dir("raw_corpus", name)
        in_files = shard_files(in_dir)
        # Shards cleaned by an interrupted run of the same inputs and rules are kept here and reused.
        work = store.work_dir("cleaned_shards", work_key(name, CLEAN_VERSION, in_manifest.data_version,
                                                         cleaning_rules, shard_layout(cfg)))
        extra: dict = {}  # the checks' outcome, recorded with the version (consumers refuse a failed one)
        with store.publish("cleaned_shards", name, extra=extra) as staging:
            stats = clean_shards(in_files, staging, cfg.cleaning, cfg.shards.max_docs,
                                 cfg.shards.max_bytes, cfg.shards.read_batch_docs, log=context.log.info,
                                 work_dir=work)
            (staging / "funnel.json").write_text(json.dumps({"funnel": stats.funnel, "pii": dict(stats.pii),
                                                             "reasons": dict(stats.reasons)}, indent=1))
            files = shard_files(staging)
            checks = [pii_sample_check(files, cfg.cleaning.pii_check_sample),
                      schema_check("cleaned_schema_valid", files, stats.docs_out)]
            extra.update(recorded(checks))
        discard_work(work, name)
        manifest = store.read_manifest("cleaned_shards", name)
        return dg.MaterializeResult(
            metadata={
                "docs_in": stats.docs_in, "docs_out": stats.docs_out,
                "kept_fraction": round(stats.docs_out / max(stats.docs_in, 1), 4),
                "bytes_in": stats.bytes_in, "bytes_out": stats.bytes_out,
                "funnel": funnel_table(stats.funnel), "funnel_md": dg.MetadataValue.md(funnel_markdown(stats.funnel)),
                "rejection_reasons": count_table(stats.reasons),
                "pii_replacements": count_table(stats.pii, key="type"),
                "pii_replacements_total": sum(stats.pii.values()), "docs_with_pii": stats.docs_with_pii,
                "docs_per_second": round(stats.docs_in / max(stats.seconds, 1e-9), 1),
                "resumed_units": stats.resumed_shards, "units": len(in_files),
                "uri": dg.MetadataValue.path(store.partition_dir("cleaned_shards", name)),
            },
            data_version=dg.DataVersion(manifest.content_version("part-")),
            check_results=checks,
        )

    return [raw_corpus, cleaned_shards]
