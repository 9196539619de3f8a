"""Packing throughput on synthetic documents: ``python bench/packing.py --tokens 20e6``.

Writes a token stream of lognormal-length documents (median ``--median`` tokens, EOS appended),
then packs it with every strategy for every ``--seq-lens`` value and prints one JSON line per run
(seconds, tokens/s, sequences, padding fraction). A final line times :func:`bfd_assign` alone on
``--pieces`` items. Everything is written under a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import sys

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm_pipeline_assets.tokens.layout import bfd_assign
from llm_pipeline_assets.tokens.packing import STRATEGIES, pack_stream
from llm_pipeline_assets.tokens.stream import TokenStreamWriter


def synthetic_stream(prefix: Path, n_tokens: int, median: float, vocab_size: int, eos_id: int, seed: int) -> dict:
    """Lognormal-length random documents ending in EOS until ``n_tokens`` are written; returns close()'s dict."""
    rng = np.random.default_rng(seed)
    written = 0
    with TokenStreamWriter(prefix, vocab_size, eos_id=eos_id) as writer:
        while written < n_tokens:
            lengths = np.maximum(1, rng.lognormal(np.log(median), 1.0, size=4096).astype(np.int64))
            flat = rng.integers(1, vocab_size, size=int(lengths.sum()), dtype=np.int64)
            flat[np.cumsum(lengths) - 1] = eos_id
            docs = np.split(flat, np.cumsum(lengths)[:-1])
            writer.add(docs)
            written += int(lengths.sum())
    return {"documents": writer.documents, "tokens": writer.tokens}


def run(n_tokens: int, seq_lens: list[int], median: float, pieces: int, seed: int = 0) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "stream"
        t0 = time.perf_counter()
        info = synthetic_stream(stream, n_tokens, median, vocab_size=50_000, eos_id=0, seed=seed)
        results.append({"step": "write_stream", **info, "seconds": round(time.perf_counter() - t0, 3)})
        for seq_len in seq_lens:
            for strategy in STRATEGIES:
                t0 = time.perf_counter()
                index = pack_stream(stream, seq_len, Path(tmp) / f"{strategy}-{seq_len}", pad_id=0, strategy=strategy)
                dt = time.perf_counter() - t0
                results.append({"step": "pack", "strategy": strategy, "seq_len": seq_len, "seconds": round(dt, 3),
                                "tokens_per_s": round(index["tokens"] / dt), "n_sequences": index["n_sequences"],
                                "segments": index["segments"], "padding_fraction": round(index["padding_fraction"], 5),
                                "split_documents": index["split_documents"]})
    rng = np.random.default_rng(seed)
    cap = max(seq_lens)
    sizes = np.clip(rng.lognormal(np.log(cap / 3), 1.0, size=pieces).astype(np.int64), 1, cap)
    t0 = time.perf_counter()
    _, _, n_bins = bfd_assign(sizes, cap)
    results.append({"step": "bfd_assign", "pieces": pieces, "capacity": cap, "bins": n_bins,
                    "seconds": round(time.perf_counter() - t0, 3)})
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=float, default=20e6)
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--median", type=float, default=400.0, help="median document length in tokens")
    parser.add_argument("--pieces", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    for row in run(int(args.tokens), args.seq_lens, args.median, args.pieces):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
