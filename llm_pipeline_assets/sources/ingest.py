"""raw_corpus's library function: read one configured source into bounded Parquet shards.

Output per source: ``part-NNNNN.parquet`` (``id``, ``text``, ``source``) plus ``quarantine.jsonl``.
Sampling by ``weight`` is a stable hash of the document position, so it works on streams and gives
the same documents on every run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from llm_pipeline_assets.curation.pii import scrub_pii
from llm_pipeline_assets.shards import QUARANTINE_FILE, Quarantine, ShardWriter
from llm_pipeline_assets.sources.huggingface import iter_hf_records
from llm_pipeline_assets.sources.local_files import SourceError, iter_local_records

Logger = Callable[[str], None]
PROGRESS_EVERY = 20_000


@dataclass
class IngestStats:
    source: str
    kind: str
    docs: int = 0
    text_bytes: int = 0
    sampled_out: int = 0
    quarantined: dict = field(default_factory=dict)
    shards: int = 0
    seconds: float = 0.0
    preview: list = field(default_factory=list)

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())


def keep_by_weight(position: int, weight: float, seed: int) -> bool:
    """Deterministic Bernoulli(weight) on the document position (identical across runs and machines)."""
    if weight >= 1.0:
        return True
    digest = hashlib.blake2b(f"{seed}:{position}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < weight


def _iter_synthetic(spec) -> Iterator[dict]:
    from llm_pipeline_assets.sources.synthetic import generate_documents

    for doc in generate_documents(spec.name, spec.num_docs, seed=spec.seed, corpus_seed=spec.corpus_seed):
        yield {"id": doc.id, "text": doc.text}


def iter_source_records(spec, q: Quarantine, key: str, log: Logger) -> Iterator[dict]:
    if spec.kind == "synthetic":
        return _iter_synthetic(spec)
    if spec.kind == "local":
        return iter_local_records(spec.path, spec.text_field, spec.id_field, q, key=f"{key}.path",
                                  max_bytes=spec.max_record_bytes)
    if spec.kind == "huggingface":
        return iter_hf_records(spec, q, key=key, log=log)
    if spec.kind == "remote":
        from llm_pipeline_assets.sources.remote import iter_remote_records

        return iter_remote_records(spec, q, key=key, log=log)
    raise SourceError(f"{key}.kind: unknown source kind {spec.kind!r} (synthetic, local, huggingface, remote)")


def ingest_source(spec, out_dir: Path, max_docs: int, max_bytes: int, seed: int = 42, key: str = "sources[?]",
                  log: Logger = print) -> IngestStats:
    """Read ``spec`` into shards under ``out_dir``; bad records go to ``out_dir/quarantine.jsonl``."""
    start = time.perf_counter()
    stats = IngestStats(source=spec.name, kind=spec.kind)
    q = Quarantine(Path(out_dir) / QUARANTINE_FILE)
    writer = ShardWriter(Path(out_dir), "part", max_docs=max_docs, max_bytes=max_bytes)
    position = 0
    try:
        for record in iter_source_records(spec, q, key, log):
            position += 1
            if spec.max_samples is not None and position > spec.max_samples:  # documents, whatever the kind
                break
            if not keep_by_weight(position, spec.weight, seed):
                stats.sampled_out += 1
                continue
            record["source"] = spec.name
            writer.write(record)
            if len(stats.preview) < 5:  # shown in Dagster's event log: scrubbed, since raw text may hold secrets
                stats.preview.append({"id": scrub_pii(record["id"]), "text": scrub_pii(record["text"])[:160]})
            if writer.docs % PROGRESS_EVERY == 0:
                log(f"{spec.name}: {writer.docs} documents read, {q.total} quarantined")
    finally:
        q.close()
        files = writer.close()
    stats.docs, stats.text_bytes, stats.shards = writer.docs, writer.text_bytes, len(files)
    stats.quarantined = dict(q.counts)
    stats.seconds = time.perf_counter() - start
    if stats.docs == 0:  # the staging folder (and its quarantine file) is rolled back: quote the rejects
        raise SourceError(
            f"{key}: source {spec.name!r} produced no documents ({stats.quarantined_total} quarantined: "
            f"{stats.quarantined}){_first_rejects(q.path)}"
        )
    return stats


def _first_rejects(path: Path, n: int = 5) -> str:
    if not path.exists():
        return ""
    with open(path, encoding="utf-8") as fh:
        entries = [json.loads(line) for line in itertools.islice(fh, n)]
    return "; first quarantined records:" + "".join(f"\n  {e['origin']}: {e['reason']}" for e in entries)
