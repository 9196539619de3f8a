"""Benchmark: tokens/s and MFU of our pretraining step vs the plain Hugging Face Trainer, same model, same data.

Builds a synthetic corpus -> tokenizer -> packed sequences (one length), initialises the same Llama shape
twice from one seed, then runs in this process:

* ours: ``training.pretrain.pretrain`` (document-masked attention, fused AdamW / torch.compile on GPU,
  the precision the compute policy picks);
* baseline: ``transformers.Trainer`` on the same packed sequences (labels = inputs, pads ignored),
  ``optim="adamw_torch"``, no compile, same batch, steps and precision.

Prints tokens/s of both, their ratio, and MFU when the device's peak is known (H100/H200/A100: see
``training/throughput.py``); writes ``bench/out/train_throughput.json``. Targets (issues #4/#7, on an
H100): >= 45 % MFU bf16 on the 124m shape; measured figures go to bench/RESULTS.md with the card name.

    .venv/bin/python bench/train_throughput.py [--shape tiny] [--seq-len 256] [--steps 20] [--batch 8]
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
sys.path[:0] = [str(HERE.parent)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def prepare(tmp: Path, seq_len: int, shape: str, n_docs: int) -> tuple[Path, Path]:
    from llm_pipeline_assets.config import PackingConfig
    from llm_pipeline_assets.shards import ShardWriter
    from llm_pipeline_assets.sources.synthetic import generate_documents
    from llm_pipeline_assets.tokens.pack_stage import build_packed_tokens
    from llm_pipeline_assets.tokens.tokenizer import train_bpe
    from llm_pipeline_assets.training.shapes import init_base_model

    docs = [d.text for d in generate_documents("bench", n_docs, seed=3)]
    train_bpe(docs[:2000], 8192).save_pretrained(str(tmp / "tok"))
    w = ShardWriter(tmp / "data", "part", max_docs=5000)
    w.write_many({"id": str(i), "text": t, "source": "bench"} for i, t in enumerate(docs))
    w.close()
    build_packed_tokens(sorted((tmp / "data").glob("part-*.parquet")), tmp / "tok", tmp / "packed",
                        PackingConfig(seq_lens=(seq_len,), val_fraction=0.05), 42, log=lambda m: None)
    init_base_model(shape, tmp / "tok", tmp / "init", seed=0, max_position_embeddings=seq_len)
    return tmp / "packed", tmp / "init"


def run_ours(packed: Path, init: Path, out: Path, args, runtime) -> float:
    from llm_pipeline_assets.training.pretrain import pretrain
    from llm_pipeline_assets.training.settings import PretrainSettings

    settings = PretrainSettings(max_steps=args.steps, lr=1e-3, min_lr=1e-4, warmup_steps=2, micro_batch=args.batch,
                                curriculum=[(args.seq_len, args.steps)], eval_every=0, eval_batches=1,
                                save_every=0, device=runtime.device, dtype=runtime.dtype, compile=runtime.compile,
                                attn_implementation=runtime.attn_implementation, fused_adamw=runtime.fused_adamw)
    summary = pretrain(settings, packed, init, out, log=lambda m: None)
    return summary["tokens_per_second"]


def run_baseline(packed: Path, init: Path, out: Path, args, runtime) -> float:
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    from llm_pipeline_assets.tokens.dataset import PackedSequences

    seqs = PackedSequences(packed / f"train-{args.seq_len}")

    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return len(seqs)

        def __getitem__(self, i):
            item = seqs[i]
            return {k: torch.as_tensor(item[k]) for k in ("input_ids", "labels", "attention_mask")}

    dtype = torch.bfloat16 if runtime.dtype == "bfloat16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(init), dtype=dtype, attn_implementation="sdpa")
    targs = TrainingArguments(output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.batch,
                              learning_rate=1e-3, lr_scheduler_type="cosine", warmup_steps=2, optim="adamw_torch",
                              bf16=runtime.dtype == "bfloat16", use_cpu=runtime.device == "cpu", report_to="none",
                              save_strategy="no", logging_steps=args.steps, disable_tqdm=True, seed=0)
    trainer = Trainer(model=model, args=targs, train_dataset=Plain())
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    real = sum(int(seqs[i % len(seqs)]["attention_mask"].sum()) for i in range(args.steps * args.batch))
    return real / seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="tiny")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--docs", type=int, default=4000)
    ap.add_argument("--json", default=str(HERE / "out" / "train_throughput.json"))
    args = ap.parse_args(argv)
    from transformers import AutoConfig

    from llm_pipeline_assets.config import ComputeConfig
    from llm_pipeline_assets.resources.compute import probe_device, select_runtime
    from llm_pipeline_assets.training.throughput import peak_flops_for, throughput_report

    info = probe_device()
    runtime = select_runtime(info, ComputeConfig())
    report = {"shape": args.shape, "seq_len": args.seq_len, "steps": args.steps, "batch": args.batch,
              "device": info.names[0] if info.names else "cpu", "runtime": runtime.__dict__}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        packed, init = prepare(Path(tmp), args.seq_len, args.shape, args.docs)
        config = AutoConfig.from_pretrained(str(init))
        peak = peak_flops_for(report["device"]) if info.cuda else None
        for name, fn in (("baseline_hf_trainer", run_baseline), ("ours", run_ours)):
            tps = fn(packed, init, Path(tmp) / name, args, runtime)
            report[name] = throughput_report(config, args.seq_len, tps, peak)
            mfu = report[name].get("mfu")
            print(f"{name:20s} {tps:12.0f} tokens/s  MFU {'n/a (no peak for this device)' if mfu is None else f'{mfu:.1%}'}",
                  flush=True)
    report["ratio"] = report["ours"]["tokens_per_second"] / report["baseline_hf_trainer"]["tokens_per_second"]
    print(f"ours / HF Trainer tokens/s: {report['ratio']:.2f}x on {report['device']} ({runtime.dtype})")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
