"""Benchmark: FP8 vs bf16 TRAINING on one model shape: step time AND loss after the same steps.

``gpu.fp8.fp8_speed_check`` (what the pipeline runs before pretraining to choose the precision) times
forward + backward only. This bench trains the shape for real, twice from the same initial weights on
the same batches: bf16 autocast (fp32 master weights), then FP8 (``gpu.fp8.apply_fp8``: Transformer
Engine if importable, else torchao float8 on every decoder Linear), each with fused AdamW, warm-up,
gradient clipping and, with ``--compile [full|regional]``, ``torch.compile``. The data is learnable (a sparse random
bigram chain: each token has 4 possible successors), so the loss falls from ln(vocab) toward ln(4) and
"same loss" means something.

Reports per precision: median step seconds over the steps after ``--skip`` (compile warm-up left out),
tokens/s, MFU (known peaks only), loss per step and the mean of the last 5; then the speed ratio, the
relative loss gap (target: within 1 %) and what ``decide_fp8`` concludes from this measurement.
Target (issues #4/#7, H100, ~1B shape): FP8 >= 1.15x bf16 with matching loss, or bf16 chosen where FP8 is
slower. The JSON is rewritten after each precision, so a time-boxed run keeps what finished.

    python bench/fp8_train.py --shape 1b --seq-len 2048 --batch 4 --steps 30 --compile regional --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]


def bigram_batches(vocab: int, n_batches: int, batch: int, seq_len: int, seed: int = 0, fanout: int = 4):
    """``n_batches`` int64 (batch, seq_len + 1) CPU tensors from a fixed sparse random bigram chain."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    successors = torch.randint(0, vocab, (vocab, fanout), generator=gen)
    out = []
    for _ in range(n_batches):
        seq = torch.empty(batch, seq_len + 1, dtype=torch.long)
        seq[:, 0] = torch.randint(0, vocab, (batch,), generator=gen)
        choice = torch.randint(0, fanout, (batch, seq_len), generator=gen)
        for t in range(seq_len):
            seq[:, t + 1] = successors[seq[:, t], choice[:, t]]
        out.append(seq)
    return out


def train(config, batches, device: str, recipe: str | None, compile_: str, lr: float, warmup: int,
          seed: int = 0, profile_steps: int = 0, gradient_checkpointing: bool = False) -> dict:
    """Train a fresh model (same seed) on ``batches``; per-step losses and seconds (FP8 when ``recipe``).

    The loss is the pipeline's: compiled with the model (``gpu.kernels.compile_loss``) when ``compile_``
    is not ``none``. ``profile_steps``: afterwards, profile that many more steps (``profile_step.py``).
    """
    import torch

    from llm_pipeline_assets.gpu.fp8 import _fresh_model, _release, _sync, apply_fp8
    from llm_pipeline_assets.gpu.kernels import compile_loss, compile_model

    model = _fresh_model(config, device, seed, gradient_checkpointing)
    fp8_layers = apply_fp8(model, recipe) if recipe else 0
    runner = compile_model(model, compile_) if compile_ != "none" else model
    loss_fn = compile_loss(mean_loss) if compile_ != "none" else mean_loss
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95),
                            fused=device.startswith("cuda") or None)
    losses, seconds, profile = [], [], None

    def one_step(ids, step: int):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, step / max(warmup, 1))
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
            logits = runner(input_ids=ids[:, :-1]).logits
        loss = loss_fn(logits, ids[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()

    try:
        for step, ids in enumerate(batches, start=1):
            ids = ids.to(device, non_blocking=True)
            _sync(device)
            start = time.perf_counter()
            losses.append(float(one_step(ids, step)))  # synchronises
            seconds.append(time.perf_counter() - start)
        if profile_steps:
            from profile_step import profile_calls

            ids = batches[-1].to(device)
            profile = profile_calls(lambda: one_step(ids, len(batches)), profile_steps, lambda: _sync(device))
    finally:
        del runner, model, opt
        _release(device)
    return {"losses": losses, "step_seconds": seconds, "fp8_layers": fp8_layers, "profile": profile}


def mean_loss(logits, targets):
    """Mean next-token cross-entropy in fp32 over (batch, seq, vocab) logits and (batch, seq) targets."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))


def summarize(run: dict, skip: int, tokens_per_step: int, config, seq_len: int, peak) -> dict:
    from llm_pipeline_assets.training.throughput import throughput_report

    timed = run["step_seconds"][skip:] or run["step_seconds"]
    median = statistics.median(timed)
    tail = run["losses"][-5:]
    return {**run, "median_step_seconds": median, "warmup_seconds": sum(run["step_seconds"][:skip]),
            "final_loss": sum(tail) / len(tail),
            **{k: v for k, v in throughput_report(config, seq_len, tokens_per_step / median, peak).items()
               if k in ("tokens_per_second", "mfu", "flops_per_token", "model_flops_per_second")}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="tiny")
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--skip", type=int, default=5, help="warm-up steps left out of the step time")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=5, help="linear learning-rate warm-up steps")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--recipe", choices=("transformer_engine", "torchao"), default=None)
    ap.add_argument("--compile", nargs="?", const="full", default="none", choices=("none", "full", "regional"),
                    help="torch.compile the whole model (full, the training loop's way) or each decoder layer "
                         "(regional: one graph reused by every layer, a fraction of the compile time)")
    ap.add_argument("--gradient-checkpointing", action="store_true", help="as the 1b/7b presets train")
    ap.add_argument("--profile", type=int, default=0, help="then profile this many steps of each (profile_step.py)")
    ap.add_argument("--profile-out", default=None, help="append the profile summaries to this text file")
    ap.add_argument("--json", default=str(HERE / "out" / "fp8_train.json"))
    args = ap.parse_args(argv)
    import torch

    from llm_pipeline_assets.gpu.fp8 import available_fp8_recipes, decide_fp8
    from llm_pipeline_assets.training.shapes import llama_config
    from llm_pipeline_assets.training.throughput import peak_flops_for

    config = llama_config(args.shape, args.vocab, max_position_embeddings=max(args.seq_len, 8))
    recipes = available_fp8_recipes()
    recipe = args.recipe or (recipes[0] if recipes else None)
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    peak = peak_flops_for(device_name) if args.device.startswith("cuda") else None
    report = {"shape": args.shape, "vocab": config.vocab_size, "seq_len": args.seq_len, "batch": args.batch,
              "steps": args.steps, "skip": args.skip, "lr": args.lr, "compile": args.compile, "recipe": recipe,
              "gradient_checkpointing": args.gradient_checkpointing,
              "device": device_name, "runs": {}, "errors": {}}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    batches = bigram_batches(config.vocab_size, args.steps, args.batch, args.seq_len)
    tokens_per_step = args.batch * args.seq_len
    for name, rec in (("bf16", None), ("fp8", recipe)):
        if name == "fp8" and rec is None:
            report["errors"]["fp8"] = "no fp8 library (transformer_engine / torchao) importable"
            break
        try:
            run = train(config, batches, args.device, rec, args.compile, args.lr, args.warmup,
                        profile_steps=args.profile, gradient_checkpointing=args.gradient_checkpointing)
        except Exception as exc:  # an FP8 failure must not lose the bf16 numbers
            report["errors"][name] = f"{type(exc).__name__}: {exc}"[:2000]
            print(f"{name}: FAILED {report['errors'][name][:300]}", flush=True)
            continue
        report["runs"][name] = summarize(run, args.skip, tokens_per_step, config, args.seq_len, peak)
        r = report["runs"][name]
        mfu = "n/a" if r.get("mfu") is None else f"{r['mfu']:.1%}"
        print(f"{name:5s} median step {r['median_step_seconds']:.4f}s  {r['tokens_per_second']:10.0f} tokens/s  "
              f"MFU {mfu}  loss {r['losses'][0]:.3f} -> {r['final_loss']:.4f}  (warm-up {r['warmup_seconds']:.1f}s)",
              flush=True)
        if r.get("profile") and args.profile_out:
            from profile_step import format_summary

            with open(args.profile_out, "a") as fh:
                fh.write(format_summary(f"fp8_train {args.shape} seq {args.seq_len} x {args.batch} {name} "
                                        f"compile {args.compile}", r["profile"]))
        out.write_text(json.dumps(report, indent=1))
    runs = report["runs"]
    if "bf16" in runs and "fp8" in runs:
        b, f = runs["bf16"], runs["fp8"]
        use, ratio, reason = decide_fp8(b["median_step_seconds"], f["median_step_seconds"])
        gap = abs(f["final_loss"] - b["final_loss"]) / b["final_loss"]
        report.update(ratio=ratio, loss_gap=gap, loss_within_1pct=gap <= 0.01, decision="fp8" if use else "bf16",
                      reason=reason, loss_floor=math.log(4))
        print(f"fp8 / bf16 speed {ratio:.3f}x; final loss {f['final_loss']:.4f} vs {b['final_loss']:.4f} "
              f"({gap:.2%} apart); decision: {reason}", flush=True)
    out.write_text(json.dumps(report, indent=1))
    return 0 if "bf16" in runs else 1


if __name__ == "__main__":
    sys.exit(main())
