"""Benchmark: the ``dedup_index`` stage with ``dedup.workers: N`` against the same stage in one process.

Writes the synthetic corpus (``dedup_compare.synthetic_corpus``: planted exact and near-duplicates, two sources)
as cleaned-shard Parquet files of ``--shard-docs`` documents, then builds the dedup index with
``build_dedup_index`` (the code behind the asset) twice in the same run: ``dedup.workers: 0`` (the baseline: hashing in
this process) and ``dedup.workers: N`` (``dedup/parallel.py``: N spawned hashing processes, started inside the timed
run, as the asset starts them). Both indexes must be byte-identical; prints docs/s and the ratio, writes JSON.

``--device cuda`` runs both on the GPU backend (``N`` device processes, ``gpu/sign_pool.py``, against the
in-process GPU path); the default is the CPU backend.

    .venv/bin/python bench/dedup_workers.py --docs 40000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def write_shards(texts: list, folder: Path, shard_docs: int) -> list:
    from llm_pipeline_assets.shards import ShardWriter

    half = len(texts) // 2
    inputs = []
    for name, part in (("web", texts[:half]), ("news", texts[half:])):
        writer = ShardWriter(folder / name, "part", max_docs=shard_docs)
        writer.write_many({"id": f"{name}-{i}", "text": t, "source": name} for i, t in enumerate(part))
        inputs.append((name, writer.close()))
    return inputs


def run(inputs, out: Path, workers: int, device: str, batch_docs: int) -> dict:
    from llm_pipeline_assets.config import DedupConfig
    from llm_pipeline_assets.dedup.stage import build_dedup_index
    from llm_pipeline_assets.gpu.dedup_backend import TorchDedupBackend

    cfg = DedupConfig(workers=workers, batch_docs=batch_docs)
    backend = TorchDedupBackend(device) if device != "cpu" else None
    start = time.perf_counter()
    stats = build_dedup_index(inputs, out, cfg, log=lambda m: None, backend=backend)
    seconds = time.perf_counter() - start
    return {"workers": workers, "seconds": seconds, "docs_per_s": stats.docs / seconds, "docs": stats.docs,
            "kept": stats.kept, "index_bytes": (out / "index.parquet").read_bytes()}


def main(argv=None) -> int:
    from dedup_compare import synthetic_corpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=40000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--shard-docs", type=int, default=5000)
    ap.add_argument("--batch-docs", type=int, default=5000, help="dedup.batch_docs")
    ap.add_argument("--device", default="cpu", help="cpu: the CPU backend; cuda: the GPU backend")
    ap.add_argument("--json", default=str(HERE / "out" / "dedup_workers.json"))
    args = ap.parse_args(argv)
    texts, _, _ = synthetic_corpus(args.docs)
    with tempfile.TemporaryDirectory(prefix="bench-dedup-workers-") as tmp:
        inputs = write_shards(texts, Path(tmp) / "shards", args.shard_docs)
        if args.device != "cpu":  # untimed warm-up of the in-process GPU path (CUDA context, compiled kernels)
            run(inputs, Path(tmp) / "warm", 0, args.device, args.batch_docs)
        base = run(inputs, Path(tmp) / "one", 0, args.device, args.batch_docs)
        par = run(inputs, Path(tmp) / "par", args.workers, args.device, args.batch_docs)
    same = base.pop("index_bytes") == par.pop("index_bytes")
    report = {"docs": len(texts), "shards": sum(len(f) for _, f in inputs), "device": args.device,
              "baseline_one_process": base, "workers": par, "identical_index": same,
              "ratio": par["docs_per_s"] / base["docs_per_s"]}
    for name, r in (("dedup.workers: 0 (baseline)", base), (f"dedup.workers: {args.workers}", par)):
        print(f"{name:30s} {r['docs_per_s']:10.0f} docs/s  ({r['seconds']:.2f} s)")
    print(f"workers / one process: {report['ratio']:.2f}x on {args.device}, index identical: {same}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
