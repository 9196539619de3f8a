"""Benchmark: tokens/s and MFU of our pretraining step vs the plain Hugging Face Trainer, same model, same data.

Builds a synthetic corpus -> tokenizer -> packed sequences (one length), initialises the same Llama shape
twice from one seed, then runs in this process:

* baseline: ``transformers.Trainer`` on the same packed sequences (labels = inputs, pads ignored),
  ``optim="adamw_torch"``, no compile, same batch, steps and precision;
* ours: ``training.pretrain.pretrain`` (document-masked attention, fused AdamW / torch.compile on GPU,
  the precision the compute policy picks), once per ``--attn`` implementation (``sdpa``: boolean
  (B,1,L,L) document mask; ``flex_attention``: the same rule as a BlockMask).

Rates are steady-state: the first ``--skip`` optimizer steps (torch.compile, cuDNN/autotune warm-up)
are left out of both sides; every position counts (packing leaves ~0.01 % padding). MFU when the
device's peak is known (H100/H200/A100: see ``training/throughput.py``). The JSON is rewritten after
each run, so a time-boxed call keeps what finished. Targets (issues #4/#7, on an H100): >= 45 % MFU
bf16 on the 124m shape; measured figures go to bench/RESULTS.md with the card name.

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


def prepare(tmp: Path, seq_len: int, shape: str, n_docs: int, vocab: int = 0) -> tuple[Path, Path]:
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
    if vocab:  # the preset's vocabulary (124m: 32,000), larger than what BPE learns from a small synthetic corpus
        import torch
        from transformers import AutoConfig, LlamaForCausalLM

        from llm_pipeline_assets.training.shapes import llama_config, padded_vocab_size

        old = AutoConfig.from_pretrained(str(tmp / "init"))
        if padded_vocab_size(vocab) > old.vocab_size:
            torch.manual_seed(0)
            config = llama_config(shape, vocab, max_position_embeddings=seq_len, bos_token_id=old.bos_token_id,
                                  eos_token_id=old.eos_token_id, pad_token_id=old.pad_token_id)
            LlamaForCausalLM(config).save_pretrained(str(tmp / "init"))
    return tmp / "packed", tmp / "init"


def steady_rate(step_seconds: list, positions_per_step: int, skip: int) -> dict:
    """Positions/s over the steps after the first ``skip`` (all steps if there are no more)."""
    timed = step_seconds[skip:] if len(step_seconds) > skip else step_seconds
    seconds = sum(timed)
    return {"tokens_per_second": positions_per_step * len(timed) / max(seconds, 1e-9), "timed_steps": len(timed),
            "timed_seconds": seconds, "warmup_seconds": sum(step_seconds) - seconds,
            "median_step_seconds": sorted(timed)[len(timed) // 2]}


VARIANT_KEYS = {"attn": None, "sync": "1", "loss": "compiled", "residual": "fp32", "liger": "0", "mode": "default", "fuse": "0",
                "batch": "", "accum": "1"}
MODES = {"default": "default", "autotune": "max-autotune-no-cudagraphs", "tune": "tune-pointwise"}


def variant_name(v: dict) -> str:
    """Run name of a ``--runs`` variant: ours_<attn> plus each option that differs from its default."""
    return (f"ours_{v['attn']}" + (f"_sync{v['sync']}" if v["sync"] != "1" else "")
            + ("_eagerloss" if v["loss"] == "eager" else "") + ("_bf16residual" if v["residual"] == "bf16" else "")
            + ("_liger" if v["liger"] == "1" else "") + (f"_{v['mode']}" if v["mode"] != "default" else "")
            + ("_fused" if v["fuse"] == "1" else "") + (f"_b{v['batch']}" if v["batch"] else "")
            + (f"_accum{v['accum']}" if v["accum"] != "1" else ""))


def parse_variant(text: str, default_attn: str) -> dict:
    """``attn=flex_attention,sync=10,...`` -> every key of VARIANT_KEYS (unknown keys are an error)."""
    given = dict(kv.split("=", 1) for kv in text.split(",") if kv)
    unknown = sorted(set(given) - set(VARIANT_KEYS))
    if unknown:
        raise SystemExit(f"--runs: unknown keys {unknown}; known: {sorted(VARIANT_KEYS)}")
    v = {**VARIANT_KEYS, "attn": default_attn, **given}
    allowed = {"loss": ("compiled", "eager"), "residual": ("fp32", "bf16"), "liger": ("0", "1"), "fuse": ("0", "1"),
               "mode": tuple(MODES)}
    for key, values in allowed.items():
        if v[key] not in values:
            raise SystemExit(f"--runs: {key} must be one of {list(values)}, got {v[key]!r}")
    if v["batch"] and (not v["batch"].isdigit() or int(v["batch"]) < 1):
        raise SystemExit(f"--runs: batch must be a positive integer (micro-batch), got {v['batch']!r}")
    if not v["accum"].isdigit() or int(v["accum"]) < 1:
        raise SystemExit(f"--runs: accum must be a positive integer (gradient accumulation), got {v['accum']!r}")
    if not v["sync"].isdigit() or int(v["sync"]) < 1:
        raise SystemExit(f"--runs: sync must be a positive integer, got {v['sync']!r}")
    return v


def run_ours(packed: Path, init: Path, out: Path, args, runtime, v: dict) -> dict:
    from llm_pipeline_assets.training.pretrain import pretrain
    from llm_pipeline_assets.training.settings import PretrainSettings

    sync_every, batch, accum = int(v["sync"]), int(v["batch"] or args.batch), int(v["accum"])
    if batch != getattr(run_ours, "last_batch", batch):  # another static batch: compile afresh, not dynamic
        import torch._dynamo

        torch._dynamo.reset()
    run_ours.last_batch = batch
    settings = PretrainSettings(max_steps=args.steps, lr=1e-3, min_lr=1e-4, warmup_steps=2, micro_batch=batch,
                                grad_accum=accum,
                                curriculum=[(args.seq_len, args.steps)], eval_every=0, eval_batches=0,
                                save_every=0, device=runtime.device, dtype=runtime.dtype, compile=runtime.compile,
                                attn_implementation=v["attn"], fused_adamw=runtime.fused_adamw,
                                compile_scope=args.compile_scope, compile_mode=MODES[v["mode"]],
                                sync_every=sync_every, compile_loss=v["loss"] != "eager",
                                residual_dtype="bfloat16" if v["residual"] == "bf16" else "float32",
                                liger_kernels=v["liger"] == "1", fuse_projections=v["fuse"] == "1",
                                log_every=max(sync_every, args.steps))
    summary = pretrain(settings, packed, init, out, log=lambda m: None)
    history = json.loads(Path(summary["metrics_path"]).read_text())["history"]
    # deferred records share their group's time: skip whole groups (compile time lives in the first)
    skip = -(-args.skip // sync_every) * sync_every
    rate = steady_rate([r["seconds"] for r in history], batch * accum * args.seq_len, skip)
    real = sum(r["tokens"] for r in history[skip:]) / max(sum(r["seconds"] for r in history[skip:]), 1e-9)
    return {**rate, "real_tokens_per_second": real, "first_loss": history[0]["loss"],
            "final_loss": history[-1]["loss"], "attn_implementation": v["attn"], "compile": runtime.compile,
            "compile_scope": args.compile_scope if runtime.compile else None, "sync_every": sync_every,
            "compile_loss": bool(runtime.compile and v["loss"] != "eager"), "residual": v["residual"],
            "liger": v["liger"] == "1", "compile_mode": MODES[v["mode"]], "fuse_projections": v["fuse"] == "1",
            "batch": batch, "grad_accum": accum}


def run_baseline(packed: Path, init: Path, out: Path, args, runtime) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from llm_pipeline_assets.tokens.dataset import PackedSequences

    seqs = PackedSequences(packed / f"train-{args.seq_len}")

    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return len(seqs)

        def __getitem__(self, i):
            item = seqs[i]
            return {k: torch.as_tensor(item[k]) for k in ("input_ids", "labels", "attention_mask")}

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.times, self.last = [], None

        def _now(self):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return time.perf_counter()

        def on_step_begin(self, *a, **k):
            if self.last is None:
                self.last = self._now()

        def on_step_end(self, *a, **k):
            now = self._now()
            self.times.append(now - self.last)
            self.last = now

    dtype = torch.bfloat16 if runtime.dtype == "bfloat16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(str(init), dtype=dtype, attn_implementation="sdpa")
    targs = TrainingArguments(output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.batch,
                              learning_rate=1e-3, lr_scheduler_type="cosine", warmup_steps=2, optim="adamw_torch",
                              bf16=runtime.dtype == "bfloat16", use_cpu=runtime.device == "cpu", report_to="none",
                              save_strategy="no", logging_steps=args.steps, disable_tqdm=True, seed=0)
    times = StepTimes()
    Trainer(model=model, args=targs, train_dataset=Plain(), callbacks=[times]).train()
    return {**steady_rate(times.times, args.batch * args.seq_len, args.skip), "attn_implementation": "sdpa",
            "compile": False}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="tiny")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--skip", type=int, default=3, help="warm-up steps left out of the rates")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--docs", type=int, default=4000)
    ap.add_argument("--vocab", type=int, default=0,
                    help="model vocabulary (padded to 64); 0 = the trained tokenizer's (8,192 at most here)")
    ap.add_argument("--attn", default=None,
                    help="comma-separated attention implementations for ours (default: the compute policy's)")
    ap.add_argument("--sync-every", default="1",
                    help="comma-separated pretrain.sync_every values for ours (1: host sync every step)")
    ap.add_argument("--runs", default=None,
                    help="explicit variants of ours instead of --attn x --sync-every, separated by ';', each "
                         "comma-separated key=value of attn, sync (sync_every), loss (compiled|eager), residual "
                         "(fp32|bf16), liger (0|1), mode (default|autotune: compute.compile_mode), fuse (0|1: compute.fuse_projections), e.g. 'attn=flex_attention,loss=eager;attn=torch_varlen,sync=10,residual=bf16'")
    ap.add_argument("--compile-scope", default="regional", choices=("regional", "full"),
                    help="how ours compiles on GPU (compute.compile_scope)")
    ap.add_argument("--json", default=str(HERE / "out" / "train_throughput.json"))
    args = ap.parse_args(argv)
    from transformers import AutoConfig

    from llm_pipeline_assets.config import ComputeConfig
    from llm_pipeline_assets.resources.compute import probe_device, select_runtime
    from llm_pipeline_assets.training.throughput import peak_flops_for, throughput_report

    info = probe_device()
    runtime = select_runtime(info, ComputeConfig())
    attns = args.attn.split(",") if args.attn else [runtime.attn_implementation]
    report = {"shape": args.shape, "seq_len": args.seq_len, "steps": args.steps, "skip": args.skip,
              "batch": args.batch, "device": info.names[0] if info.names else "cpu", "runtime": runtime.__dict__,
              "runs": {}, "errors": {}}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        packed, init = prepare(Path(tmp), args.seq_len, args.shape, args.docs, args.vocab)
        config = AutoConfig.from_pretrained(str(init))
        peak = peak_flops_for(report["device"]) if info.cuda else None
        runs = [("baseline_hf_trainer", lambda d: run_baseline(packed, init, d, args, runtime))]
        variants = [parse_variant(f"attn={a},sync={k}", a) for a in attns for k in args.sync_every.split(",")]
        if args.runs:
            variants = [parse_variant(text, runtime.attn_implementation) for text in args.runs.split(";")]
        for v in variants:
            runs.append((variant_name(v), lambda d, v=v: run_ours(packed, init, d, args, runtime, v)))
        for name, fn in runs:
            try:
                result = fn(Path(tmp) / name)
            except Exception as exc:  # one failing variant must not lose the others' numbers
                report["errors"][name] = f"{type(exc).__name__}: {exc}"[:2000]
                print(f"{name:28s} FAILED: {report['errors'][name][:300]}", flush=True)
                continue
            result.update(throughput_report(config, args.seq_len, result["tokens_per_second"], peak))
            report["runs"][name] = result
            mfu = result.get("mfu")
            print(f"{name:28s} {result['tokens_per_second']:12.0f} tokens/s  MFU "
                  f"{'n/a (no peak for this device)' if mfu is None else f'{mfu:.1%}'}  "
                  f"(warm-up {result['warmup_seconds']:.1f}s, median step {result['median_step_seconds']:.4f}s)",
                  flush=True)
            out.write_text(json.dumps(report, indent=1, default=str))
    base = report["runs"].get("baseline_hf_trainer")
    for name, result in report["runs"].items():
        if base and name != "baseline_hf_trainer":
            result["ratio_vs_baseline"] = result["tokens_per_second"] / base["tokens_per_second"]
            print(f"{name} / HF Trainer tokens/s: {result['ratio_vs_baseline']:.2f}x on {report['device']} "
                  f"({runtime.dtype})")
    out.write_text(json.dumps(report, indent=1, default=str))
    return 1 if report["errors"] and not report["runs"] else 0


if __name__ == "__main__":
    sys.exit(main())
