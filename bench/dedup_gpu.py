"""Benchmark: dedup docs/s of the GPU backend vs the CPU path on the same corpus, in the same run.

Runs on one synthetic corpus (``dedup_compare.synthetic_corpus``: planted exact and 1-5 % near-duplicates):

* ``cpu``: ``DedupIndexBuilder`` (the pipeline's path: numpy MinHash + union-find, one process);
* ``cpu_workers``: ``gpu.dedup_run.run_dedup`` with the CPU backend and ``--cpu-workers`` spawned processes
  doing normalize + hashing + numpy MinHash (what ``dedup.workers: N`` does in the ``dedup_index`` asset: the
  fair multi-core reference for a GPU box; skipped with ``--cpu-workers 0``).  Worker pools are
  started before the timed runs (as in a long-running job), so process start-up is not counted;
* ``gpu``: ``run_dedup`` with the torch backend on ``--device`` (CUDA: torch MinHash kernel + cuGraph or
  torch components) preparing the text on the device too (``gpu/textprep.py``: the CUDA default);
* ``gpu_host_workers`` (with ``--prep-workers N``): the same, N processes doing the host half of the text
  preparation (lowercase / NFKC / encode) of the next batches;
* ``gpu_cpu_text`` (with ``--prep-workers N``): the backend fed by N CPU processes preparing text the CPU way;
* ``gpu_sign<W>_b<B>`` (with ``--sign-workers W,...``): W device processes (``gpu.sign_pool``), each reading,
  preparing and signing whole batches of B documents on the GPU (a warm pool, as for ``cpu_workers``). Their
  batches are row groups of a Parquet file of the corpus (written before the timings), read by the worker that
  signs them, as the ``dedup_index`` asset's ``dedup.workers`` read their shards: no text is pickled through a
  pipe (20,000 documents of 1.5 kB as ``str``s: 60-100 ms of pickling in this process, measured on the 2-core box).

``--source parquet`` also times each path from a Parquet file of the same corpus (zstd, row groups of 5,000
documents; written before the timings), as the pipeline's ``dedup_index`` reads its cleaned shards:
``cpu_parquet`` is the asset's own path (``DedupIndexBuilder.hash_texts`` on each record batch's ``text`` column, the
next batch decoded meanwhile), ``cpu_workers_parquet`` has each worker read its own row groups, ``gpu_parquet``
hands the Arrow column to the device (``textprep.arrow_bytes``: no Python string per ASCII document) through
``run_dedup``, and ``gpu_builder_parquet`` is the asset's own path with the GPU backend.

Each GPU run first checks bit-identity with the CPU run (signatures, keep, cluster, exact_dup_of) and the
report says so; timings are the median of ``--repeat`` runs, after one untimed warm-up of the GPU path
(CUDA context, kernel loading).  Prints docs/s and the ratios of each GPU variant to cpu and cpu_workers,
writes JSON to ``--out``.  ``--device cpu`` runs the torch kernel on the CPU: it proves the script and the identity, not
speed (the torch kernel on CPU is slower than numpy).

    python bench/dedup_gpu.py --docs 20000 --device cuda --cpu-workers 8 --prep-workers 8 --out out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from dedup_compare import synthetic_corpus  # noqa: E402

from llm_pipeline_assets.dedup import DedupIndexBuilder, DedupParams, MinHasher  # noqa: E402
from llm_pipeline_assets.gpu.dedup_backend import CpuDedupBackend, TorchDedupBackend  # noqa: E402
from llm_pipeline_assets.gpu.dedup_run import parquet_batches, prepare_batch, run_dedup, worker_pool  # noqa: E402
from llm_pipeline_assets.gpu.sign_pool import sign_pool  # noqa: E402
from dedup_gpu_parquet import BATCH, identical, parquet_variants, timed, write_parquet  # noqa: E402


def run_cpu_builder(texts: list, params: DedupParams) -> tuple:
    with tempfile.TemporaryDirectory(prefix="bench-dedup-gpu-") as work:
        start = time.perf_counter()
        builder = DedupIndexBuilder(work, params)
        for s in range(0, len(texts), BATCH):
            builder.add_batch(texts[s:s + BATCH])
        signatures = np.array(builder.signatures())
        result = builder.finish()
        return time.perf_counter() - start, result, signatures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda", help="torch device of the GPU path (cpu: prove it works)")
    ap.add_argument("--cpu-workers", type=int, default=0, help="processes of the multi-core CPU reference (0: skip)")
    ap.add_argument("--prep-workers", type=int, default=0, help="text-preparation processes of the GPU path")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory-budget-mb", type=int, default=256)
    ap.add_argument("--gpu-batch", default=str(BATCH),
                    help="documents per batch of the GPU variants (the CPU paths keep %d: their workers split the "
                         "corpus by batch); a comma list also runs 'gpu' (device text, in-process) at each further "
                         "size, as gpu_b<size>" % BATCH)
    ap.add_argument("--sign-workers", default="",
                    help="comma list of device-process counts: gpu_sign<W>_b<B> for each count W and --gpu-batch B")
    ap.add_argument("--source", default="memory", choices=("memory", "parquet"),
                    help="parquet: also time every path from a Parquet file of the corpus (see above)")
    ap.add_argument("--out", default=str(HERE / "out" / "dedup_gpu.json"))
    ap.add_argument("--profile", default=None,
                    help="append a torch.profiler summary of one 'gpu' run (device kernels, idle gaps, host syncs and "
                         "the top host ops) to this file")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            ap.error("--device cuda but torch sees no CUDA device (use --device cpu to check the script)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, _, _ = synthetic_corpus(args.docs, args.seed)
    params = DedupParams()
    n = len(texts)
    report = {"n_docs": n, "mean_chars": float(np.mean([len(t) for t in texts])), "repeat": args.repeat,
              "params": {"num_perm": params.num_perm, "ngram": params.ngram, "bands": params.bands,
                         "rows": params.rows, "threshold": params.threshold}, "cpu_count": os.cpu_count()}

    cpu_s, (_, want, want_sig) = timed(lambda: run_cpu_builder(texts, params), args.repeat)
    report["cpu"] = {"seconds": cpu_s, "docs_per_s": n / cpu_s, "kept": int(want.keep.sum())}

    if args.cpu_workers:
        pool = worker_pool(args.cpu_workers)  # started outside the timings, as a long-running job would
        try:
            def cpu_workers_run():
                result, t = run_dedup(texts, params, CpuDedupBackend(), batch_size=BATCH, pool=pool)
                return t["total"], result, t

            s, (_, result, t) = timed(cpu_workers_run, args.repeat)
        finally:
            pool.shutdown()
        report["cpu_workers"] = {"workers": args.cpu_workers, "seconds": s, "docs_per_s": n / s, "timings": t,
                                 "identical": identical(result, want)}

    # "gpu": text prepared on the device (the default on CUDA); "gpu_cpu_text": the same backend fed by CPU
    # preparation processes (--prep-workers), the design measured first
    # "gpu_host_workers": device text with --prep-workers processes doing its host half (lower/NFKC/encode)
    sizes = [int(b) for b in str(args.gpu_batch).split(",")]
    # (name, text on the device, prep worker processes, sign-pool device processes, batch)
    variants = [("gpu", True, 0, 0, sizes[0])] + [(f"gpu_b{b}", True, 0, 0, b) for b in sizes[1:]]
    variants += ([("gpu_host_workers", True, args.prep_workers, 0, sizes[0]),
                  ("gpu_cpu_text", False, args.prep_workers, 0, sizes[0])] if args.prep_workers else [])
    signers = [int(w) for w in args.sign_workers.split(",") if w]
    variants += [(f"gpu_sign{w}_b{b}", True, 0, w, b) for w in signers for b in sizes]
    signer, signer_size = None, 0
    sign_folder = tempfile.TemporaryDirectory(prefix="bench-dedup-sign-") if signers else None
    # row groups of the smallest batch: parquet_batches groups whole row groups, so each batch is the size named
    sign_path = write_parquet(texts, sign_folder.name, min(sizes)) if signers else None
    for name, on_device, workers, signing, batch in variants:
        backend = TorchDedupBackend(args.device, memory_budget=args.memory_budget_mb << 20, text_on_device=on_device)
        if signing and signing != signer_size:  # one warm pool per size, started outside the timings
            if signer is not None:
                signer.shutdown()
            signer, signer_size = sign_pool(signing, args.device, args.memory_budget_mb << 20), signing
        pool = worker_pool(workers) if workers else None
        try:
            def gpu_run():
                source = parquet_batches([sign_path], batch) if signing else texts
                result, t = run_dedup(source, params, backend, batch_size=batch, pool=pool,
                                      sign_pool=signer if signing else None)
                return t["total"], result, t

            gpu_run()  # warm-up: CUDA context, kernels, the self-check
            s, (_, result, t) = timed(gpu_run, args.repeat)
        finally:
            if pool is not None:
                pool.shutdown()
        report[name] = {"device": args.device, "prep_workers": workers, "sign_workers": signing,
                        "batch": batch, "source": "parquet" if signing else "memory", "seconds": s, "docs_per_s": n / s,
                        "timings": t, "backend": backend.describe(), "identical": identical(result, want)}
        if not signing:
            report[name]["identical"]["signatures"] = _signatures_equal(texts, params, backend, want_sig)
        report[f"ratio_{name}_vs_cpu"] = report[name]["docs_per_s"] / report["cpu"]["docs_per_s"]
        if "cpu_workers" in report:
            report[f"ratio_{name}_vs_cpu_workers"] = report[name]["docs_per_s"] / report["cpu_workers"]["docs_per_s"]
    if signer is not None:
        signer.shutdown()
    if sign_folder is not None:
        sign_folder.cleanup()
    checked = [v[0] for v in variants]
    if args.source == "parquet":
        checked += parquet_variants(texts, params, args, want, report, max(sizes))
    _print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))  # before the profile: kept if it fails
    if args.profile:
        _profile(texts, params, args, max(sizes))
    return 0 if all(all(report[name]["identical"].values()) for name in checked) else 1


def _profile(texts, params, args, batch: int) -> None:
    """One profiled in-process GPU run (after a warm-up): where the wall time goes, device and host."""
    import torch
    from profile_step import format_summary, profile_calls

    backend = TorchDedupBackend(args.device, memory_budget=args.memory_budget_mb << 20)
    run = lambda: run_dedup(texts, params, backend, batch_size=batch)  # noqa: E731
    run()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    summary = profile_calls(run, 1, sync, keep=True)
    table = summary.pop("profiler").key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
    text = format_summary(f"dedup_gpu {len(texts)} docs, batch {batch}, on {args.device}", summary)
    print(text)
    Path(args.profile).parent.mkdir(parents=True, exist_ok=True)
    with open(args.profile, "a") as fh:
        fh.write(text + "   host ops by self time:\n" + table + "\n")


def _signatures_equal(texts, params, backend, want_sig) -> bool:
    """Signatures of the whole corpus through the backend (its own text preparation when it has one) vs the
    CPU builder's, batch by batch; with device preparation also its keys and shingles vs the CPU's, and the
    signatures of the timed path (``sign_texts``: the shingles never leave the device)."""
    hasher_args = (params.num_perm, params.ngram, params.seed)
    hasher = MinHasher(*hasher_args)
    for s in range(0, len(texts), BATCH):
        batch = prepare_batch(texts[s:s + BATCH], hasher_args)
        keys, shingles, counts = batch.keys, batch.shingles, batch.counts
        if backend.prepares_text:
            keys, shingles, counts = backend.prepare(texts[s:s + BATCH], hasher)
            if not (np.array_equal(keys, batch.keys) and np.array_equal(shingles, batch.shingles)
                    and np.array_equal(counts, batch.counts)):
                return False
            # the timed path: text preparation + MinHash with the shingles left on the device
            signed_keys, signed = backend.sign_texts(texts[s:s + BATCH], hasher)
            if not (np.array_equal(signed_keys, batch.keys) and np.array_equal(signed, want_sig[s:s + BATCH])):
                return False
        if not np.array_equal(backend.signatures(shingles, counts, hasher), want_sig[s:s + BATCH]):
            return False
    return True


def _print(report: dict) -> None:
    print(f"{report['n_docs']} docs, {report['mean_chars']:.0f} chars/doc, median of {report['repeat']}")
    gpu_names = [k for k in report if k == "gpu" or k.startswith("gpu_") and isinstance(report[k], dict)]
    for name in ["cpu", "cpu_workers", "cpu_parquet", "cpu_workers_parquet"] + gpu_names:
        if name in report:
            r = report[name]
            extra = f" identical={r['identical']}" if "identical" in r else ""
            print(f"{name:16s} {r['docs_per_s']:12.0f} docs/s  ({r['seconds']:.2f} s){extra}")
    for name in ("gpu_parquet", "gpu_builder_parquet"):
        for ref in ("cpu_parquet", "cpu_workers_parquet"):
            if f"ratio_{name}_vs_{ref}" in report:
                print(f"{name} / {ref}: {report[f'ratio_{name}_vs_{ref}']:.2f}x")
    for name in gpu_names:
        if f"ratio_{name}_vs_cpu" in report:
            print(f"{name} / cpu: {report[f'ratio_{name}_vs_cpu']:.2f}x on {report[name]['backend']}")
            if f"ratio_{name}_vs_cpu_workers" in report:
                print(f"{name} / cpu with {report['cpu_workers']['workers']} workers: "
                      f"{report[f'ratio_{name}_vs_cpu_workers']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
