"""Benchmark: packed_tokens' tokenize-and-pack vs the usual Hugging Face recipe, same tokenizer, same shards.

Baseline (the ``run_clm.py`` recipe): ``datasets.load_dataset("parquet")`` -> ``.map(tokenize, batched=True)``
with the same fast tokenizer -> ``.map(group_texts, batched=True)`` (concatenate and chunk to the
sequence length; it drops the remainder and puts no EOS between documents — we do neither).
Ours: ``build_packed_tokens`` (the code behind the asset): EOS-separated streams, BFD packing, segment tables.

Each side runs in its own fresh process so its peak RSS (``ru_maxrss``) is its own. Prints tokens/s of both,
the ratio, and both peak RSS values; writes ``bench/out/tokens.json``. Target (issue #3): >= 2x the
baseline's throughput with lower peak memory on the 2-core machine.

    .venv/bin/python bench/tokens.py [--docs 30000] [--seq-len 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_ours(data: Path, tok_dir: Path, out: Path, seq_len: int) -> dict:
    from llm_pipeline_assets.config import PackingConfig
    from llm_pipeline_assets.shards import shard_files
    from llm_pipeline_assets.tokens.pack_stage import build_packed_tokens

    files = shard_files(data)
    start = time.perf_counter()
    stats = build_packed_tokens(files, tok_dir, out, PackingConfig(seq_lens=(seq_len,), val_fraction=0.0), 42,
                                log=lambda m: None)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "tokens": sum(stats.tokens.values()), "documents": sum(stats.documents.values()),
            "padding_fraction": stats.packed[f"train-{seq_len}"]["padding_fraction"], "dropped_tokens": 0}


def worker_baseline(data: Path, tok_dir: Path, out: Path, seq_len: int) -> dict:
    import datasets
    from transformers import AutoTokenizer

    datasets.disable_progress_bars()
    tok = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    files = sorted(str(p) for p in data.glob("part-*.parquet"))
    start = time.perf_counter()
    ds = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(out / "cache"))
    tokenized = ds.map(lambda b: tok(b["text"]), batched=True, remove_columns=ds.column_names)

    def group_texts(examples):  # transformers/examples/pytorch/language-modeling/run_clm.py
        concatenated = {k: sum(examples[k], []) for k in examples}
        total = (len(concatenated["input_ids"]) // seq_len) * seq_len
        return {k: [t[i:i + seq_len] for i in range(0, total, seq_len)] for k, t in concatenated.items()}

    grouped = tokenized.map(group_texts, batched=True)
    seconds = time.perf_counter() - start
    n_tok = sum(len(x) for x in tokenized["input_ids"])
    kept = len(grouped) * seq_len
    return {"seconds": seconds, "tokens": n_tok, "documents": len(ds), "sequences": len(grouped),
            "dropped_tokens": n_tok - kept}


def _prepare(tmp: Path, n_docs: int, vocab: int) -> tuple[Path, Path]:
    from llm_pipeline_assets.shards import ShardWriter
    from llm_pipeline_assets.sources.synthetic import generate_documents
    from llm_pipeline_assets.tokens.tokenizer import train_bpe

    docs = list(generate_documents("bench", n_docs, seed=7))
    writer = ShardWriter(tmp / "data", "part", max_docs=5000)
    writer.write_many({"id": d.id, "text": d.text, "source": "bench"} for d in docs)
    writer.close()
    tok = train_bpe((d.text for d in docs[:5000]), vocab)
    tok.save_pretrained(str(tmp / "tok"))
    return tmp / "data", tmp / "tok"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=30_000)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=32_000)
    ap.add_argument("--worker", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--json", default=str(HERE / "out" / "tokens.json"))
    args = ap.parse_args(argv)
    if args.worker:
        d = Path(args.dir)
        fn = worker_ours if args.worker == "ours" else worker_baseline
        result = fn(d / "data", d / "tok", d / f"out-{args.worker}", args.seq_len)
        result["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tmp:
        data, _ = _prepare(Path(tmp), args.docs, args.vocab)
        mb = sum(p.stat().st_size for p in data.glob("*.parquet")) / 1e6
        report = {"docs": args.docs, "seq_len": args.seq_len, "vocab": args.vocab, "parquet_mb": mb,
                  "cpus": os.cpu_count()}
        for side in ("baseline", "ours"):
            proc = subprocess.run([sys.executable, __file__, "--worker", side, "--dir", tmp,
                                   "--seq-len", str(args.seq_len)], capture_output=True, text=True, check=True)
            report[side] = json.loads(proc.stdout.strip().splitlines()[-1])
            r = report[side]
            r["tokens_per_s"] = r["tokens"] / r["seconds"]
            print(f"{side:9s} {r['tokens_per_s']:12.0f} tokens/s  {r['seconds']:7.2f}s  peak RSS "
                  f"{r['peak_rss_mb']:7.0f} MB  tokens {r['tokens']}  dropped {r['dropped_tokens']}", flush=True)
        report["throughput_ratio"] = report["ours"]["tokens_per_s"] / report["baseline"]["tokens_per_s"]
        report["rss_ratio"] = report["ours"]["peak_rss_mb"] / report["baseline"]["peak_rss_mb"]
        print(f"ours/baseline: throughput {report['throughput_ratio']:.2f}x, peak RSS {report['rss_ratio']:.2f}x")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
