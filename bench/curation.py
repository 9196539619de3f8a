"""Benchmark: cleaning throughput, and our dedup vs datatrove's MinHash dedup on the same documents.

Generates >= 50,000 documents with the project's synthetic generator (three sources sharing a duplicate
pool, planted near-duplicates at 1-5 % word edits), then in one run:

1. cleans them with ``clean_shards`` (the code behind the ``cleaned_shards`` asset) -> docs/s;
2. deduplicates the same raw documents with our ``DedupIndexBuilder`` (pipeline defaults) and with
   datatrove 0.10.1's MinHash pipeline (``bench/dedup_compare.py``) -> docs/s, their ratio, and precision
   and recall of both against the planted duplicates.

Not a test: it prints a table and writes ``bench/out/curation.json``. Targets (issue #2): dedup >= 3x
datatrove's throughput, recall >= 0.95 on near-duplicates with <= 3 % word edits, precision >= 0.99.

    .venv/bin/python bench/curation.py [--docs 51000] [--skip-datatrove]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SOURCES = (("web", 1), ("news", 2), ("books", 3))


def generate(n_docs: int):
    from llm_pipeline_assets.sources.synthetic import generate_documents

    per = -(-n_docs // len(SOURCES))
    docs = []
    for name, seed in SOURCES:
        docs += list(generate_documents(name, per, seed=seed, corpus_seed=2026))
    return docs


def bench_cleaning(docs, workdir: Path, workers: int) -> dict:
    from llm_pipeline_assets.config import CleaningConfig
    from llm_pipeline_assets.curation.stage import clean_shards
    from llm_pipeline_assets.shards import ShardWriter

    writer = ShardWriter(workdir / "raw", "part", max_docs=5000)
    writer.write_many({"id": d.id, "text": d.text, "source": d.source} for d in docs)
    files = writer.close()
    start = time.perf_counter()
    stats = clean_shards(files, workdir / f"clean-{workers}", CleaningConfig(workers=workers), 5000, 64 << 20,
                         log=lambda m: None)
    seconds = time.perf_counter() - start
    return {"workers": workers, "seconds": seconds, "docs_per_s": len(docs) / seconds, "docs_in": stats.docs_in,
            "docs_out": stats.docs_out, "mb_per_s": stats.bytes_in / seconds / 1e6,
            "funnel": stats.funnel, "pii_replacements": dict(stats.pii)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=51_000)
    ap.add_argument("--skip-datatrove", action="store_true", help="only our side (quick check)")
    ap.add_argument("--json", default=str(HERE / "out" / "curation.json"))
    args = ap.parse_args(argv)
    from dedup_compare import run_dedup_comparison, run_ours

    t = time.perf_counter()
    docs = generate(args.docs)
    print(f"generated {len(docs)} docs in {time.perf_counter() - t:.1f}s "
          f"({sum(len(d.text) for d in docs) / len(docs):.0f} chars/doc)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-curation-"))
    report: dict = {"n_docs": len(docs), "cpus": os.cpu_count()}
    try:
        report["cleaning"] = [bench_cleaning(docs, work, w) for w in (1, os.cpu_count() or 1)]
        for c in report["cleaning"]:
            print(f"cleaning, {c['workers']} worker(s): {c['docs_per_s']:.0f} docs/s ({c['mb_per_s']:.2f} MB/s), "
                  f"kept {c['docs_out']}/{c['docs_in']}", flush=True)
        texts = [d.text for d in docs]
        groups = [d.group for d in docs]
        # Edit rates binned up to whole percents (0.023 -> 0.03), so recall_by_rate reads per 1 % band.
        rates = [math.ceil(round(d.edit_rate * 100, 6)) / 100 for d in docs]
        if args.skip_datatrove:
            ours = run_ours(texts, str(work / "ours"))
            print(f"ours: {len(texts) / ours['seconds']:.0f} docs/s")
            report["dedup_ours_seconds"] = ours["seconds"]
        else:
            dd = run_dedup_comparison(texts, groups, rates, str(work / "dedup"))
            report["dedup"] = {k: v for k, v in dd.items()}
            cols = ("docs_per_s", "precision", "recall_le_3pct", "recall_all_near", "recall_exact")
            print(f"{'dedup':10s} " + " ".join(f"{c:>15s}" for c in cols))
            for name in ("ours", "datatrove"):
                print(f"{name:10s} " + " ".join(f"{dd[name][c]:15.4f}" for c in cols))
            print(f"dedup throughput ratio ours/datatrove: {dd['speedup']:.1f}x  (ours: {dd['ours_params']})")
            for name in ("ours", "datatrove"):
                print(f"{name} recall by edit-rate band: "
                      + ", ".join(f"<={float(k):.0%}: {v:.3f}" for k, v in sorted(dd[name]["recall_by_rate"].items())))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1, default=lambda o: getattr(o, "tolist", str)(o)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
