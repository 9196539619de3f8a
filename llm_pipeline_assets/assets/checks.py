"""Blocking data-quality checks, computed inside the producing step and returned with its materialization.

Dagster keeps one status per check, not one per partition, and ``all_deps_blocking_checks_passed`` of an asset
that reads every partition (dedup_index over cleaned_shards) looks at that one status: cleaned_shards[web] failing
``no_pii_in_sample`` and cleaned_shards[news] passing after it read as passed, and web's PII reached the
deduplicated corpus. So each version also records its own outcome in its manifest (``recorded``, written with the
version), and every consumer refuses an input version whose blocking checks failed (``checked_inputs``),
however it was started: automation, a job, or ``--select`` of the consumer alone.
"""

from __future__ import annotations

import dagster as dg

from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.shards import iter_batches, validate_schema

#: what each blocking data/training check asserts, shown beside it in the UI (the gates have GATE_DESCRIPTIONS)
CHECK_DESCRIPTIONS = {
    "no_pii_in_sample": "No PII detector (e-mail, phone, SSN, card, IP, secret) fires on the first "
                        "cleaning.pii_check_sample cleaned documents; examples listed when it does.",
    "cleaned_schema_valid": "Every cleaned shard has the document schema (id, text, source) and the source kept at "
                            "least one document.",
    "no_exact_duplicates_kept": "No two documents the index keeps share an exact-dedup key (recomputed from the "
                                "texts, independently of the index).",
    "deduped_schema_valid": "Every deduplicated shard has the document schema; empty only when every document "
                            "duplicated another source's.",
    "no_exact_duplicates": "No two documents of this source's deduplicated shards share an exact-dedup key.",
    "roundtrip_lossless": "decode(encode(text)) == text for training and held-out corpus documents.",
    "specials_single_id": "Every special token (eos, bos, pad, chat roles, tool markers) encodes to one fixed id.",
    "no_tokens_dropped": "Every token of every document is in a packed sequence (documents split, never cut).",
    "eos_between_documents": "Each document ends with EOS in the token stream and the packed sequences.",
    "splits_disjoint": "No document is in both the train and the val split.",
    "both_splits_non_empty": "The dataset has train and val rows.",
    "loss_decreased": "The final training loss is below the first step's.",
    "val_loss_decreased": "Validation loss after training is below the loss of the model it started from.",
}


def check_spec(name: str, asset: str) -> dg.AssetCheckSpec:
    """A blocking check with its description (``CHECK_DESCRIPTIONS``)."""
    return dg.AssetCheckSpec(name, asset=asset, blocking=True, description=CHECK_DESCRIPTIONS[name])


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


def recorded(results: list[dg.AssetCheckResult]) -> dict:
    """Manifest extras recording a version's blocking-check outcome (checks computed on the staged files)."""
    failed = sorted(r.check_name for r in results if not r.passed)
    return {"checks_passed": not failed, "failed_checks": failed}


def checked_inputs(store: ArtifactStore, consumer: str, inputs: list[tuple[str, str | None]]) -> list:
    """``(local dir, manifest)`` of each ``(asset, partition)`` input, in order; a ``dg.Failure`` (no retry) naming
    every input whose current version failed a blocking check instead. Each manifest is read once: the files are
    those of the version checked, even if another run publishes a new one meanwhile. Versions published before
    checks were recorded count as passed."""
    manifests, bad = [store.read_manifest(asset, partition) for asset, partition in inputs], []
    for (asset, partition), manifest in zip(inputs, manifests):
        if manifest.extra.get("checks_passed", True) is False:
            label = asset if partition is None else f"{asset}[{partition}]"
            bad.append((label, ", ".join(manifest.extra.get("failed_checks") or ["?"]), manifest.version))
    if bad:
        listed = "; ".join(f"{label} version {version} failed {checks}" for label, checks, version in bad)
        raise dg.Failure(
            description=f"{consumer} does not read data whose blocking checks failed: {listed}. Fix the cause (the "
                        "check's result lists examples) and materialize "
                        f"{', '.join(label for label, _, _ in bad)} again", allow_retries=False)
    return [store.local_dir(asset, partition, manifest) for (asset, partition), manifest in zip(inputs, manifests)]
