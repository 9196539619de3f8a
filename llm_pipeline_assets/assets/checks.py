"""Blocking data-quality checks, computed inside the producing step and returned with its materialization."""

from __future__ import annotations

import dagster as dg

from llm_pipeline_assets.shards import iter_batches, validate_schema


def pii_sample_check(files, sample: int) -> dg.AssetCheckResult:
    from llm_pipeline_assets.curation.pii import find_pii

    seen, found = 0, []
    for batch in iter_batches(files, 500, columns=("id", "text")):
        for row in batch:
            if seen >= sample:
                break
            seen += 1
            hits = find_pii(row["text"])
            if hits:
                found.append({"id": row["id"], "kinds": sorted({h.kind for h in hits})})
        if seen >= sample:
            break
    return dg.AssetCheckResult(
        check_name="no_pii_in_sample", passed=not found, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"sampled_docs": seen, "docs_with_pii": len(found), "examples": dg.MetadataValue.json(found[:10])},
    )


def schema_check(name: str, files, docs: int, empty_ok: bool = False) -> dg.AssetCheckResult:
    """Every shard has the document schema, and (unless ``empty_ok``) there is at least one document.
    ``empty_ok``: deduped_shards of a source whose every document duplicates another's (a mirror of a source
    listed before it) is a right result, not a failure."""
    problems = [p for p in (validate_schema(f) for f in files) if p]
    if docs == 0 and not empty_ok:
        problems.append("no documents")
    return dg.AssetCheckResult(check_name=name, passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"docs": docs, "shards": len(files), "problems": dg.MetadataValue.json(problems)})


def exact_dup_check(name: str, remaining: int, checked: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=name, passed=remaining == 0, severity=dg.AssetCheckSeverity.ERROR,
                               metadata={"exact_duplicates_remaining": remaining, "docs_checked": checked})
