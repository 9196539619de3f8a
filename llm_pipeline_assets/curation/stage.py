"""cleaned_shards' library function: normalize → scrub PII → language → quality → toxicity, streamed.

Every removal is kept: ``rejected/<step>-<shard>-<part>.parquet`` holds the removed documents (already
PII-scrubbed, so the rejects leak nothing) with their reason. The funnel counts documents in and out
of each step; PII replacements are counted per type.

Each input shard is one resumable work unit (``llm_pipeline_assets.work_units``): cleaned as it finishes
into the work folder with its stats, so a rerun after a crash cleans only the shards that were not done
and the published result is byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable, Sequence

import pyarrow as pa

from llm_pipeline_assets.curation.language import LanguageFilter
from llm_pipeline_assets.curation.normalize import normalize_text
from llm_pipeline_assets.curation.pii import scrub_pii_with_counts
from llm_pipeline_assets.curation.quality import build_quality_filters, run_quality_filters
from llm_pipeline_assets.curation.toxicity import ToxicityScorer
from llm_pipeline_assets.shards import ShardWriter, iter_batches
from llm_pipeline_assets.work_units import WorkUnits

Logger = Callable[[str], None]
_REASON_SCORE = re.compile(r"_[0-9.]+$")  # "language_fr_0.98" counts as "language_fr"
REJECT_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string()),
                           ("reason", pa.string())])


@dataclass
class CleaningStats:
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    funnel: dict = field(default_factory=dict)  # step -> {"in": n, "out": n}, in run order
    reasons: Counter = field(default_factory=Counter)
    pii: Counter = field(default_factory=Counter)
    docs_with_pii: int = 0
    seconds: float = 0.0
    shards: int = 0
    resumed_shards: int = 0  # input shards a rerun took from the work folder instead of cleaning them again

    def count(self, step: str, n_in: int, n_out: int) -> None:
        entry = self.funnel.setdefault(step, {"in": 0, "out": 0})
        entry["in"] += n_in
        entry["out"] += n_out

    def to_dict(self) -> dict:
        """JSON-able; key order (funnel steps, reasons, PII types) is kept, so merged stats keep it too."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}  # not asdict(): it mangles Counters
        return {**out, "funnel": {k: dict(v) for k, v in self.funnel.items()}, "reasons": dict(self.reasons),
                "pii": dict(self.pii)}

    @classmethod
    def from_dict(cls, data: dict) -> "CleaningStats":
        return cls(**{**data, "reasons": Counter(data["reasons"]), "pii": Counter(data["pii"])})


class DocumentCleaner:
    """Applies the configured cleaning steps to batches of ``{"id", "text", "source"}`` records."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.language = LanguageFilter(cfg.language.languages, cfg.language.min_score) if cfg.language.enabled else None
        self.quality = build_quality_filters(cfg.quality)
        self.toxicity = ToxicityScorer(cfg.toxicity.wordlist, cfg.toxicity.threshold,
                                       cfg.toxicity.min_hits) if cfg.toxicity.enabled else None

    @property
    def steps(self) -> list[str]:
        names = ["normalize"] + (["pii"] if self.cfg.pii else []) + (["language"] if self.language else [])
        return names + [name for name, _ in self.quality] + (["toxicity"] if self.toxicity else [])

    def clean_batch(self, records: Sequence[dict], stats: CleaningStats) -> tuple[list[dict], list[tuple[str, dict]]]:
        """(kept records, [(step, rejected record with "reason")])."""
        rejected: list[tuple[str, dict]] = []
        docs: list[dict] = []
        norm = self.cfg.normalize
        for rec in records:
            text = normalize_text(rec["text"], norm.form, norm.fix_encoding)
            if text:
                docs.append({**rec, "text": text})
            else:
                rejected.append(("normalize", {**rec, "reason": "empty_after_normalization"}))
        stats.count("normalize", len(records), len(docs))
        if self.cfg.pii:
            for doc in docs:
                doc["text"], counts = scrub_pii_with_counts(doc["text"])
                if counts:
                    stats.pii.update(counts)
                    stats.docs_with_pii += 1
            stats.count("pii", len(docs), len(docs))  # PII is replaced, never a reason to drop a document
        if self.language is not None:
            docs = self._apply("language", docs, self.language.check([d["text"] for d in docs]), rejected, stats)
        if self.quality:  # all filters per document in turn, so they share one word tokenization
            kept: list[dict] = []
            removed = dict.fromkeys((name for name, _ in self.quality), 0)
            for doc in docs:
                name, reason, new_text = run_quality_filters(self.quality, doc["id"], doc["text"])
                if reason is None:
                    kept.append({**doc, "text": new_text})
                else:
                    removed[name] += 1
                    rejected.append((name, {**doc, "reason": reason}))
            remaining = len(docs)
            for name, n in removed.items():
                stats.count(name, remaining, remaining - n)
                remaining -= n
            docs = kept
        if self.toxicity is not None:
            docs = self._apply("toxicity", docs, [self.toxicity.check(d["text"]) for d in docs], rejected, stats)
        return docs, rejected

    @staticmethod
    def _apply(step: str, docs: list[dict], reasons: list[str | None], rejected: list, stats: CleaningStats
               ) -> list[dict]:
        kept = []
        for doc, reason in zip(docs, reasons):
            if reason is None:
                kept.append(doc)
            else:
                rejected.append((step, {**doc, "reason": reason}))
        stats.count(step, len(docs), len(kept))
        return kept


def clean_one_shard(in_file: Path, out_dir: Path, tag: str, cfg, max_docs: int, max_bytes: int,
                    batch_docs: int = 1000) -> CleaningStats:
    """Clean one input shard into ``out_dir/part-<tag>-NNNNN.parquet`` (+ ``rejected/<step>-<tag>-…``)."""
    start = time.perf_counter()
    stats = CleaningStats()
    cleaner = DocumentCleaner(cfg)
    for step in cleaner.steps:
        stats.funnel[step] = {"in": 0, "out": 0}
    writer = ShardWriter(Path(out_dir), f"part-{tag}", max_docs=max_docs, max_bytes=max_bytes)
    rejects: dict[str, ShardWriter] = {}
    for batch in iter_batches([in_file], batch_docs):
        stats.docs_in += len(batch)
        stats.bytes_in += sum(len(r["text"].encode("utf-8")) for r in batch)
        kept, rejected = cleaner.clean_batch(batch, stats)
        writer.write_many(kept)
        for step, rec in rejected:
            if step not in rejects:
                rejects[step] = ShardWriter(Path(out_dir) / "rejected", f"{step}-{tag}", max_docs, max_bytes,
                                            REJECT_SCHEMA)
            rejects[step].write(rec)
            stats.reasons[f"{step}: {_REASON_SCORE.sub('', rec['reason'].split(':')[0])}"] += 1
    for w in rejects.values():
        w.close()
    stats.shards = len(writer.close())
    stats.docs_out, stats.bytes_out = writer.docs, writer.text_bytes
    stats.seconds = time.perf_counter() - start
    return stats


def _merge(total: CleaningStats, part: CleaningStats) -> None:
    for name in ("docs_in", "docs_out", "bytes_in", "bytes_out", "docs_with_pii", "shards"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for step, c in part.funnel.items():
        total.count(step, c["in"], c["out"])
    total.reasons.update(part.reasons)
    total.pii.update(part.pii)


def clean_unit(in_file: Path, units_root: Path, tag: str, cfg, max_docs: int, max_bytes: int,
               batch_docs: int = 1000) -> dict:
    """Clean one input shard as work unit ``tag`` of ``units_root``; returns its done-marker (with stats)."""
    units = WorkUnits(units_root)
    scratch = units.scratch(tag)
    stats = clean_one_shard(in_file, scratch, tag, cfg, max_docs, max_bytes, batch_docs)
    return units.commit(tag, scratch, stats.to_dict())


def clean_shards(in_files: Sequence[Path], out_dir: Path, cfg, max_docs: int, max_bytes: int,
                 batch_docs: int = 1000, log: Logger = print, work_dir: Path | None = None) -> CleaningStats:
    """Clean every shard of ``in_files`` (in parallel over ``cleaning.workers`` processes) into ``out_dir``.

    Output shard names carry the input shard's index, so the result is identical whatever the number
    of workers and the order in which they finish. With ``work_dir`` (persistent, keyed by the inputs and
    settings), shards already cleaned there by an interrupted run are reused instead of cleaned again.
    """
    start = time.perf_counter()
    own = work_dir is None
    units = WorkUnits(Path(out_dir) / ".units" if own else work_dir)
    units.remove_temps()
    tags = [f"{i:05d}" for i in range(len(in_files))]
    markers = {i: m for i, m in ((i, units.done(t)) for i, t in enumerate(tags)) if m is not None}
    resumed = len(markers)
    if resumed:
        log(f"resuming: {resumed}/{len(tags)} shards were already cleaned in {units.root}")
    todo = [i for i in range(len(tags)) if i not in markers]
    jobs = {i: (in_files[i], units.root, tags[i], cfg, max_docs, max_bytes, batch_docs) for i in todo}
    workers = min(cfg.workers or os.cpu_count() or 1, max(len(todo), 1))

    seen = [sum(m["stats"]["docs_in"] for m in markers.values())]  # a running total: O(1) per unit, not O(units)

    def done(i: int, marker: dict) -> None:
        markers[i] = marker
        seen[0] += marker["stats"]["docs_in"]
        n = seen[0]
        log(f"cleaned shard {i + 1}/{len(tags)}: {n} docs ({n / max(time.perf_counter() - start, 1e-9):.0f} docs/s)")

    executor = getattr(cfg, "executor", None)
    if executor is not None and executor.kind != "local":  # datatrove Slurm/Ray: the same units elsewhere
        from llm_pipeline_assets.curation.executors import run_on_executor

        for i, marker in run_on_executor(executor, jobs, log).items():
            done(i, marker)
    elif workers > 1:
        ctx = multiprocessing.get_context("spawn")  # no fork of a threaded Dagster process
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = {pool.submit(clean_unit, *job): i for i, job in jobs.items()}
                for fut in as_completed(futures):
                    done(futures[fut], fut.result())
        except BrokenProcessPool as exc:  # e.g. a __main__ that spawn cannot re-import, or a killed worker
            log(f"worker pool failed ({exc}); cleaning the remaining shards in this process")
    for i, job in jobs.items():
        if i not in markers:
            done(i, clean_unit(*job))  # same function, same output names: the result is identical
    stats = CleaningStats()
    for i in sorted(markers):
        units.place(markers[i], out_dir)
        _merge(stats, CleaningStats.from_dict(markers[i]["stats"]))
    if own:
        shutil.rmtree(units.root, ignore_errors=True)
    stats.resumed_shards = resumed
    stats.seconds = time.perf_counter() - start
    return stats
