"""Benchmark: our numpy MinHash dedup vs datatrove 0.10.1's MinHash pipeline.

``run_dedup_comparison(texts, groups, edit_rates, workdir)`` runs

(a) ours: ``DedupIndexBuilder`` (exact + MinHash LSH, library defaults),
    single process, batches of 5,000 documents, texts already in memory;
(b) datatrove: ``MinhashDedupSignature -> MinhashDedupBuckets ->
    MinhashDedupCluster -> MinhashDedupFilter`` with the default
    ``MinhashConfig`` (5-grams, 14 x 8), ``LocalPipelineExecutor`` with
    ``tasks = workers = 2`` (the input is written as 2 JSONL files first,
    untimed).  Datatrove's executor starts worker processes with
    ``multiprocess`` (forkserver/spawn re-import ``__main__``), so it runs in
    a child interpreter (``python bench/dedup_compare.py --datatrove-worker
    ...``) that times only the pipeline and reports JSON back; the caller
    can be any module, notebook or test.

Ground truth: documents sharing ``groups[i]`` are duplicates of each other;
``edit_rates[i]`` is the word-edit rate of document ``i`` vs its group's
original (0 for originals and exact copies).  Metrics per method:

* ``docs_per_s``: documents / end-to-end wall seconds;
* ``precision``: of the removed documents, the share whose group has
  another member (the definition in the brief); ``precision_strict``: the
  share whose *cluster* holds another member of its own group;
* ``recall_le_3pct``: documents with ``0 < rate <= 0.03`` that share a
  cluster with another member of their group; ``recall_all_near``: the
  same over every ``rate > 0``; ``recall_exact``: over rate-0 documents
  whose group has another rate-0 document (exact copies).

Run standalone: ``python bench/dedup_compare.py [--docs 5000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

try:
    from llm_pipeline_assets.dedup import DedupIndexBuilder, DedupParams
except ImportError:  # running from a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from llm_pipeline_assets.dedup import DedupIndexBuilder, DedupParams

DATATROVE_TASKS = 2  # the benchmark machine has 2 cores
OUR_BATCH = 5000


def _metrics(removed: np.ndarray, cluster: np.ndarray, groups: np.ndarray, rates: np.ndarray) -> dict:
    """Precision/recall of one method from its removal mask and cluster labels."""
    _, gidx, gsize = np.unique(groups, return_inverse=True, return_counts=True)
    has_dup = gsize[gidx] > 1
    # documents whose cluster contains another member of their own group
    pair_key = np.stack([cluster, gidx], axis=1)
    _, pidx, psize = np.unique(pair_key, axis=0, return_inverse=True, return_counts=True)
    found = psize[pidx.reshape(-1)] > 1
    n_removed = int(removed.sum())
    # exact copies: rate-0 documents whose group has another rate-0 document
    exact_per_group = np.bincount(gidx, weights=(rates == 0)) if gidx.size else np.zeros(0)
    exact_copy = (rates == 0) & (exact_per_group[gidx] > 1)

    def share(mask):
        return float(found[mask].mean()) if mask.any() else float("nan")

    return {
        "removed": n_removed,
        "precision": float(has_dup[removed].mean()) if n_removed else 1.0,
        "precision_strict": float(found[removed].mean()) if n_removed else 1.0,
        "recall_le_3pct": share((rates > 0) & (rates <= 0.03)),
        "recall_all_near": share(rates > 0),
        "recall_exact": share(exact_copy),
        "recall_by_rate": {float(r): share(rates == r) for r in np.unique(rates[rates > 0])},
    }


def run_ours(texts: list[str], workdir: str, params: DedupParams | None = None) -> dict:
    start = time.perf_counter()
    builder = DedupIndexBuilder(workdir, params)
    for s in range(0, len(texts), OUR_BATCH):
        builder.add_batch(texts[s : s + OUR_BATCH])
    hashed = time.perf_counter()
    result = builder.finish()
    end = time.perf_counter()
    return {
        "seconds": end - start,
        "hash_seconds": hashed - start,
        "finish_seconds": end - hashed,
        "removed_mask": ~result.keep,
        "cluster": result.cluster,
        "stats": {k: v for k, v in result.stats.items() if k != "cluster_size_histogram"},
    }


def _write_jsonl(texts: list[str], folder: Path, n_files: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(texts), n_files + 1).astype(int)
    for f in range(n_files):
        with open(folder / f"part_{f:03d}.jsonl", "w", encoding="utf-8") as fh:
            for i in range(bounds[f], bounds[f + 1]):
                fh.write(json.dumps({"id": str(i), "text": texts[i]}) + "\n")


def _datatrove_pipeline(root: str, tasks: int) -> dict:
    """Runs in the child interpreter: the four datatrove stages, timed."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    r = Path(root)
    cfg = MinhashConfig()
    start = time.perf_counter()
    sigs = LocalPipelineExecutor(
        [JsonlReader(str(r / "input")), MinhashDedupSignature(str(r / "sigs"), config=cfg)],
        tasks=tasks, workers=tasks, logging_dir=str(r / "logs/sigs"),
    )
    buckets = LocalPipelineExecutor(
        [MinhashDedupBuckets(str(r / "sigs"), str(r / "buckets"), config=cfg)],
        tasks=cfg.num_buckets, workers=tasks, logging_dir=str(r / "logs/buckets"),
    )
    cluster = LocalPipelineExecutor(
        [MinhashDedupCluster(str(r / "buckets"), str(r / "remove_ids"), config=cfg, save_cluster_id=True)],
        tasks=1, logging_dir=str(r / "logs/cluster"),
    )
    filt = LocalPipelineExecutor(
        [
            JsonlReader(str(r / "input")),
            MinhashDedupFilter(str(r / "remove_ids"), load_cluster_ids=True,
                               exclusion_writer=JsonlWriter(str(r / "removed"), compression=None)),
            JsonlWriter(str(r / "kept"), compression=None),
        ],
        tasks=tasks, workers=tasks, logging_dir=str(r / "logs/filter"),
    )
    stage_seconds = {}
    for name, executor in (("signature", sigs), ("buckets", buckets), ("cluster", cluster), ("filter", filt)):
        t0 = time.perf_counter()
        executor.run()  # stages run in order (what ``depends=`` would do, minus its polling)
        stage_seconds[name] = time.perf_counter() - t0
    seconds = time.perf_counter() - start
    out = {"seconds": seconds, "stage_seconds": stage_seconds, "removed": [], "clusters": {}}
    for kind in ("removed", "kept"):
        for path in sorted((r / kind).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                doc = json.loads(line)
                cid = doc.get("metadata", {}).get("minhash_cluster_id", -1)
                if cid >= 0:
                    out["clusters"][doc["id"]] = cid
                if kind == "removed":
                    out["removed"].append(doc["id"])
    return out


def run_datatrove(texts: list[str], workdir: str, tasks: int = DATATROVE_TASKS) -> dict:
    root = Path(workdir)
    _write_jsonl(texts, root / "input", tasks)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DATATROVE_COLORIZE_LOGS": "0"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--datatrove-worker", str(root), "--tasks", str(tasks)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"datatrove run failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    raw = json.loads((root / "datatrove_result.json").read_text())
    n = len(texts)
    removed = np.zeros(n, dtype=bool)
    removed[[int(i) for i in raw["removed"]]] = True
    cluster = np.arange(n, dtype=np.int64) + n  # singletons get unique labels
    for doc_id, cid in raw["clusters"].items():
        cluster[int(doc_id)] = cid
    return {"seconds": raw["seconds"], "stage_seconds": raw["stage_seconds"], "removed_mask": removed,
            "cluster": cluster}


def run_dedup_comparison(texts: list[str], groups: list[str], edit_rates: list[float], workdir: str) -> dict:
    """Run both methods on the same corpus; returns throughput and quality per method."""
    if not (len(texts) == len(groups) == len(edit_rates)):
        raise ValueError("texts, groups and edit_rates must have the same length")
    texts = list(texts)
    g = np.asarray([str(x) for x in groups])
    rates = np.asarray(edit_rates, dtype=np.float64)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    n = len(texts)
    report: dict = {"n_docs": n, "mean_chars": float(np.mean([len(t) for t in texts])) if n else 0.0}
    ours = run_ours(texts, str(Path(workdir) / "ours"))
    dt = run_datatrove(texts, str(Path(workdir) / "datatrove"))
    for name, res in (("ours", ours), ("datatrove", dt)):
        entry = {"seconds": res["seconds"], "docs_per_s": n / res["seconds"] if res["seconds"] else float("inf")}
        entry.update(_metrics(res["removed_mask"], res["cluster"], g, rates))
        entry.update({k: res[k] for k in ("hash_seconds", "finish_seconds", "stage_seconds", "stats") if k in res})
        report[name] = entry
    report["speedup"] = report["ours"]["docs_per_s"] / report["datatrove"]["docs_per_s"]
    params = DedupParams()
    report["ours_params"] = {"threshold": params.threshold, "ngram": params.ngram, "num_perm": params.num_perm,
                             "bands": params.bands, "rows": params.rows, "verify": params.verify}
    report["datatrove_params"] = {"n_grams": 5, "num_buckets": 14, "hashes_per_bucket": 8,
                                  "tasks": DATATROVE_TASKS, "workers": DATATROVE_TASKS}
    return report


def synthetic_corpus(n_docs: int, seed: int = 0):
    """The project's synthetic corpus (planted exact and 1-5 % near-duplicates, shared across two sources)."""
    from llm_pipeline_assets.sources.synthetic import generate_documents

    half = n_docs // 2
    docs = list(generate_documents("web", n_docs - half, seed=seed, corpus_seed=99))
    docs += list(generate_documents("news", half, seed=seed + 1, corpus_seed=99))
    return [d.text for d in docs], [d.group for d in docs], [d.edit_rate for d in docs]


def _print_report(report: dict) -> None:
    print(f"{report['n_docs']} docs, {report['mean_chars']:.0f} chars/doc; ours {report['ours_params']}")
    cols = ("seconds", "docs_per_s", "removed", "precision", "precision_strict", "recall_le_3pct",
            "recall_all_near", "recall_exact")
    print(f"{'method':10s} " + " ".join(f"{c:>16s}" for c in cols))
    for name in ("ours", "datatrove"):
        print(f"{name:10s} " + " ".join(f"{report[name][c]:16.4g}" for c in cols))
    print(f"speedup (docs/s ours / datatrove): {report['speedup']:.1f}x")
    o, d = report["ours"], report["datatrove"]
    for name in ("ours", "datatrove"):
        by_rate = ", ".join(f"{r:g}: {v:.3f}" for r, v in report[name]["recall_by_rate"].items())
        print(f"{name} recall by edit rate: {by_rate}")
    print(f"ours: hash {o['hash_seconds']:.2f}s + finish {o['finish_seconds']:.2f}s; datatrove stages: "
          + ", ".join(f"{k} {v:.2f}s" for k, v in d["stage_seconds"].items()))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default="bench/out/dedup_compare")
    ap.add_argument("--json", help="also write the report here")
    ap.add_argument("--datatrove-worker", help=argparse.SUPPRESS)
    ap.add_argument("--tasks", type=int, default=DATATROVE_TASKS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.datatrove_worker:
        result = _datatrove_pipeline(args.datatrove_worker, args.tasks)
        Path(args.datatrove_worker, "datatrove_result.json").write_text(json.dumps(result))
        return
    import shutil
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, groups, rates = synthetic_corpus(args.docs, args.seed)
    Path(args.workdir).parent.mkdir(parents=True, exist_ok=True)
    work = tempfile.mkdtemp(prefix="run-", dir=Path(args.workdir).parent)
    try:
        report = run_dedup_comparison(texts, groups, rates, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
