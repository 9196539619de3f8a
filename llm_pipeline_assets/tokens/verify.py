"""Independent checks of a packed_tokens folder, read back from disk with numpy (behind the blocking checks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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
            segments = np.load(out_dir / f"{split}-{seq_len}.segments.npy")
            kept = int(segments[:, 2].sum()) if len(segments) else 0
            if info["truncated_tokens"] or kept != n_tokens or info["tokens"] != n_tokens:
                problems["no_tokens_dropped"].append(
                    f"{split}@{seq_len}: stream has {n_tokens} tokens, packed segments hold {kept}, "
                    f"truncated {info['truncated_tokens']}")
    ids = {s: _keys(out_dir / f"{s}-documents.parquet") for s in index["streams"]}
    if len(ids) == 2:
        both = ids["train"] & ids["val"]
        if both:
            problems["splits_disjoint"].append(f"{len(both)} documents in both splits, e.g. {sorted(both)[:3]}")
    return problems


def _keys(path: Path) -> set[tuple[str, str]]:
    table = pq.read_table(path, columns=["source", "id"])
    return set(zip(table.column("source").to_pylist(), table.column("id").to_pylist()))
