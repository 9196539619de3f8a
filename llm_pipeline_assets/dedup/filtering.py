"""deduped_shards' library function: one source's cleaned shards minus what ``dedup_index`` removed.

The index decides by position within the source (``position``) and names each document (``id``): the rows are
checked against both, so a source re-cleaned since the index was built is refused instead of losing the wrong
documents. ``count_exact_duplicates`` is the blocking check's own count over the output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llm_pipeline_assets.dedup.normalize import count_repeated, exact_keys
from llm_pipeline_assets.dedup.stage import INDEX_FILE
from llm_pipeline_assets.shards import ShardWriter, iter_batches


def filter_source(source: str, in_files: Sequence[Path], index_dir: Path, out_dir: Path, max_docs: int,
                  max_bytes: int, batch_docs: int = 1000) -> dict:
    index = pq.read_table(Path(index_dir) / INDEX_FILE, filters=[("source", "=", source)],
                          columns=["position", "keep", "id", "reason", "survivor_source"])  # not the 3 others
    index = index.sort_by("position")
    keep = index.column("keep").to_numpy(zero_copy_only=False)
    ids = index.column("id")
    reasons = index.column("reason")
    writer = ShardWriter(Path(out_dir), "part", max_docs=max_docs, max_bytes=max_bytes)
    seen = 0
    for batch in iter_batches(in_files, batch_docs):
        if seen + len(batch) > len(keep):
            raise RuntimeError(f"cleaned_shards[{source}] has more documents than dedup_index knows: "
                               "re-materialize dedup_index")
        # the index decides by position: the same documents must sit there (a source re-cleaned since the index
        # was built, with as many documents, would otherwise lose the wrong ones)
        want = ids.slice(seen, len(batch)).to_pylist()  # this batch's ids only (a source may hold millions)
        stale = next((i for i, r in enumerate(batch) if r["id"] != want[i]), None)
        if stale is not None:
            raise RuntimeError(f"cleaned_shards[{source}] document {seen + stale} is {batch[stale]['id']!r}, "
                               f"dedup_index has {want[stale]!r} there: cleaned_shards changed after "
                               "dedup_index was built; re-materialize dedup_index")
        writer.write_many(r for r, k in zip(batch, keep[seen:seen + len(batch)]) if k)
        seen += len(batch)
    if seen != len(keep):
        raise RuntimeError(f"cleaned_shards[{source}] has {seen} documents, dedup_index expects {len(keep)}: "
                           "re-materialize dedup_index")
    writer.close()
    cross = pc.sum(pc.and_(pc.invert(index.column("keep")),
                           pc.not_equal(index.column("survivor_source"), source))).as_py() or 0
    return {"docs_in": seen, "docs_out": writer.docs,
            "exact_removed": pc.sum(pc.equal(reasons, "exact")).as_py() or 0,
            "fuzzy_removed": pc.sum(pc.equal(reasons, "fuzzy")).as_py() or 0, "cross_source_removed": cross}


def count_exact_duplicates(files: Sequence[Path], batch_docs: int = 2000) -> int:
    parts = [exact_keys([r["text"] for r in batch]) for batch in iter_batches(files, batch_docs, columns=("text",))]
    return count_repeated(np.concatenate(parts)) if parts else 0
