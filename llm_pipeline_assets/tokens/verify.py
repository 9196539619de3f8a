"""Independent checks of a packed_tokens folder, read back from disk with numpy (behind the blocking checks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llm_pipeline_assets.tokens.stream import TokenStream


def packed_problems(out_dir: Path, eos_id: int) -> dict[str, list[str]]:
    """{"no_tokens_dropped": [...], "eos_between_documents": [...], "splits_disjoint": [...]} — empty = pass."""
    out_dir = Path(out_dir)
    index = json.loads((out_dir / "index.json").read_text())
    problems: dict[str, list[str]] = {"no_tokens_dropped": [], "eos_between_documents": [], "splits_disjoint": []}
    for split in index["streams"]:
        stream = TokenStream(out_dir / split)
        ends = stream.tokens[np.asarray(stream.offsets[1:]) - 1]
        bad = int(np.count_nonzero(ends != eos_id))
        if bad:
            problems["eos_between_documents"].append(f"{split}: {bad} documents do not end with EOS")
        n_tokens = int(stream.offsets[-1])
        for seq_len in index["seq_lens"]:
            info = json.loads((out_dir / f"{split}-{seq_len}.json").read_text())
            segments = np.load(out_dir / f"{split}-{seq_len}.segments.npy", mmap_mode="r")
            kept = int(segments[:, 2].sum()) if len(segments) else 0
            if info["truncated_tokens"] or kept != n_tokens or info["tokens"] != n_tokens:
                problems["no_tokens_dropped"].append(
                    f"{split}@{seq_len}: stream has {n_tokens} tokens, packed segments hold {kept}, "
                    f"truncated {info['truncated_tokens']}")
    if set(index["streams"]) == {"train", "val"}:
        both = _in_both(out_dir / "train-documents.parquet", out_dir / "val-documents.parquet")
        if both:
            problems["splits_disjoint"].append(f"{len(both)} documents in both splits, e.g. {sorted(both)[:3]}")
    return problems


def _joined(table) -> "pa.Array":
    """``source <US> id`` per row: one key a hash set can hold (neither field holds the unit separator)."""
    return pc.binary_join_element_wise(table.column("source"), table.column("id"), "\x1f")


def _in_both(train: Path, val: Path) -> set[tuple[str, str]]:
    """``(source, id)`` of the documents in both splits. Memory: the val keys (a few percent) and one batch of train
    keys; a set of every document's key in Python objects cost ~340 bytes per document."""
    val_keys = pc.drop_null(pc.unique(_joined(pq.read_table(val, columns=["source", "id"]))))
    both: set[tuple[str, str]] = set()
    for batch in pq.ParquetFile(train).iter_batches(batch_size=65536, columns=["source", "id"]):
        keys = _joined(batch)
        found = pc.filter(keys, pc.is_in(keys, value_set=val_keys, skip_nulls=True))
        both.update(tuple(k.split("\x1f", 1)) for k in found.to_pylist())
    return both
