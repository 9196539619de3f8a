"""Where a GPU training step's time goes: a torch.profiler summary of a few steps after warm-up.

``summarize_profile(prof, wall)`` turns a ``torch.profiler.profile`` of some training steps into
numbers a person can act on: wall seconds, GPU busy seconds (the union of kernel intervals, so idle
gaps show as ``busy_fraction`` < 1) and kernel time by kind (matmul, attention, optimizer, Triton /
elementwise, copies), plus the 25 most expensive kernels. ``main`` profiles the pipeline's own
pretraining step (``training.loop.Trainer.train_step``) on the ``bench/train_throughput.py`` corpus;
``bench/fp8_train.py --profile`` uses the same summary for its bf16 and FP8 runs.

    python bench/profile_step.py --shape 124m --seq-len 1024 --batch 32 --vocab 32000 \
        --attn flex_attention --sync-every 1 --out profile.txt
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

KINDS = (("attention", ("flash_fwd", "flash_bwd", "fmha", "flex_attention", "attention", "sdpa")),  # before matmul:
         ("matmul", ("gemm", "cutlass", "sm90_", "sm100_", "nvjet", "cublas", "matmul", "fp8_", "aten::mm",  # FA kernels
                     "aten::addmm", "aten::bmm")),                                                            # name cutlass
         ("optimizer", ("adam", "multi_tensor", "foreach", "norm_kernel", "clip")),
         ("copy", ("memcpy", "memset", "copykernel", "cat_")),
         ("triton", ("triton",)))


def kind_of(name: str) -> str:
    low = name.lower()
    for kind, marks in KINDS:
        if any(m in low for m in marks):
            return kind
    return "elementwise/other"


SYNC_CALLS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy")


def _root_name(event) -> str:
    """The outermost CPU op above ``event`` (what the Python code called: aten::item, aten::nonzero, ...)."""
    names = []
    while event is not None:
        names.append(event.name)
        event = getattr(event, "cpu_parent", None)
    ops = [n for n in names if n.startswith("aten::")]
    return ops[-1] if ops else names[-1]


def host_syncs(prof, steps: int) -> dict:
    """CUDA runtime calls that block the host (per step) and the ops that issued them."""
    calls = [e for e in prof.events() if e.name in SYNC_CALLS]
    by_root: dict = {}
    for e in calls:
        key = f"{e.name} <- {_root_name(e)}"
        by_root[key] = by_root.get(key, 0) + 1
    return {"per_step": len(calls) / max(steps, 1),
            "by_caller": {k: v / max(steps, 1) for k, v in sorted(by_root.items(), key=lambda kv: -kv[1])[:10]}}


def idle_gaps(spans: list, names: list, threshold_us: float = 20.0) -> dict:
    """Device idle intervals between merged kernel spans, longest first, with the kernels around them."""
    gaps = []
    end, last = None, None
    for (start, stop), name in zip(spans, names):
        if end is not None and start - end > threshold_us:
            gaps.append((start - end, last[:60], name[:60]))
        if end is None or stop > end:
            end, last = stop, name
    gaps.sort(key=lambda g: -g[0])
    return {"count": len(gaps), "total_us": sum(g[0] for g in gaps),
            "longest": [{"us": round(g[0], 1), "after": g[1], "before": g[2]} for g in gaps[:8]]}


def summarize_profile(prof, wall_seconds: float, steps: int, device: str = "cuda") -> dict:
    """Busy fraction, kernel time by kind and the top kernels of a finished ``torch.profiler`` run.

    ``device="cuda"``: the GPU kernels; ``"cpu"`` (a machine without one): the innermost CPU ops.
    """
    kind = "CUDA" if device == "cuda" else "CPU"
    kernels = [e for e in prof.events() if str(getattr(e, "device_type", "")).endswith(kind)
               and getattr(e, "time_range", None) is not None and not (kind == "CPU" and e.cpu_children)]
    ordered = sorted(kernels, key=lambda e: e.time_range.start)
    spans = [(e.time_range.start, e.time_range.end) for e in ordered]
    busy, cur_start, cur_end = 0.0, None, None
    for start, end in spans:  # union of kernel intervals (us)
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                busy += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        busy += cur_end - cur_start
    by_kind, by_name = {}, {}
    for e in kernels:
        us = e.time_range.end - e.time_range.start
        by_kind[kind_of(e.name)] = by_kind.get(kind_of(e.name), 0.0) + us
        count, total = by_name.get(e.name, (0, 0.0))
        by_name[e.name] = (count + 1, total + us)
    top = sorted(by_name.items(), key=lambda kv: -kv[1][1])[:40]
    per_step = 1e-6 / max(steps, 1)
    return {"steps": steps, "wall_seconds_per_step": wall_seconds / max(steps, 1),
            "gpu_busy_seconds_per_step": busy * per_step,
            "busy_fraction": busy * 1e-6 / max(wall_seconds, 1e-9), "kernels_per_step": len(kernels) / max(steps, 1),
            "kernel_seconds_per_step_by_kind": {k: round(v * per_step, 5) for k, v in
                                                sorted(by_kind.items(), key=lambda kv: -kv[1])},
            "idle_gaps": idle_gaps(spans, [e.name for e in ordered]) if device == "cuda" else None,
            "host_syncs": host_syncs(prof, steps),
            "top_kernels": [{"name": n[:120], "calls_per_step": c / max(steps, 1), "ms_per_step": t * per_step * 1e3}
                            for n, (c, t) in top]}


def profile_calls(step_fn, steps: int, sync, keep: bool = False) -> dict:
    """Profile ``steps`` calls of ``step_fn`` (already warmed up); ``sync()`` drains the device.

    The same number of steps first runs without the profiler (``unprofiled_wall_seconds_per_step``): the
    profiler slows the host, so its wall time overstates the idle time of an ordinary run. ``keep``: the
    profiler itself is returned too, under ``"profiler"`` (for tables of host ops).
    """
    import torch
    from torch.profiler import ProfilerActivity, profile

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step_fn()
    sync()
    unprofiled = (time.perf_counter() - start) / max(steps, 1)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step_fn()
        sync()
        wall = time.perf_counter() - start
    out = {**summarize_profile(prof, wall, steps, device), "unprofiled_wall_seconds_per_step": unprofiled}
    return {**out, "profiler": prof} if keep else out


def format_summary(title: str, summary: dict) -> str:
    lines = [f"== {title}: {summary['wall_seconds_per_step'] * 1e3:.1f} ms/step wall, device busy "
             f"{summary['gpu_busy_seconds_per_step'] * 1e3:.1f} ms ({summary['busy_fraction']:.1%}), "
             f"{summary['kernels_per_step']:.0f} kernels/step"
             + (f"; without the profiler {summary['unprofiled_wall_seconds_per_step'] * 1e3:.1f} ms/step"
                if "unprofiled_wall_seconds_per_step" in summary else ""),
             "   by kind (ms/step): " + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in
                                                  summary["kernel_seconds_per_step_by_kind"].items())]
    syncs = summary.get("host_syncs") or {}
    if syncs:
        lines.append(f"   host syncs/step: {syncs['per_step']:.1f} " + json.dumps(syncs["by_caller"]))
    gaps = summary.get("idle_gaps")
    if gaps:
        lines.append(f"   idle gaps > 20 us: {gaps['count']} totalling {gaps['total_us'] / 1e3 / summary['steps']:.2f} "
                     f"ms/step; longest: " + json.dumps(gaps["longest"][:4]))
    lines += [f"   {k['ms_per_step']:8.2f} ms  x{k['calls_per_step']:<5.0f} {k['name']}" for k in summary["top_kernels"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="tiny")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=0)
    ap.add_argument("--docs", type=int, default=4000)
    ap.add_argument("--attn", default="flex_attention")
    ap.add_argument("--sync-every", type=int, default=1)
    ap.add_argument("--compile-loss", type=int, default=1)
    ap.add_argument("--residual", default="fp32", choices=("fp32", "bf16"), help="pretrain residual_dtype")
    ap.add_argument("--compile-mode", default="default", choices=("default", "max-autotune-no-cudagraphs", "tune-pointwise"))
    ap.add_argument("--liger", type=int, default=0, help="1: Liger's RoPE / RMSNorm / SwiGLU (compute.liger_kernels)")
    ap.add_argument("--fuse", type=int, default=0, help="1: fused q/k/v and gate/up GEMMs (compute.fuse_projections)")
    ap.add_argument("--warmup", type=int, default=6, help="steps before the profile (compile happens here)")
    ap.add_argument("--steps", type=int, default=4, help="steps profiled")
    ap.add_argument("--out", default=str(HERE / "out" / "profile.txt"))
    args = ap.parse_args(argv)
    import torch

    from llm_pipeline_assets.config import ComputeConfig
    from llm_pipeline_assets.resources.compute import probe_device, select_runtime
    from llm_pipeline_assets.training.loop import Trainer
    from llm_pipeline_assets.training.settings import PretrainSettings
    from train_throughput import prepare

    runtime = select_runtime(probe_device(), ComputeConfig())
    total = args.warmup + 2 * args.steps  # warm-up, then the unprofiled and the profiled steps (profile_calls)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        packed, init = prepare(Path(tmp), args.seq_len, args.shape, args.docs, args.vocab)
        settings = PretrainSettings(max_steps=total, lr=1e-3, min_lr=1e-4, warmup_steps=2, micro_batch=args.batch,
                                    curriculum=[(args.seq_len, total)], eval_every=0, eval_batches=0, save_every=0,
                                    device=runtime.device, dtype=runtime.dtype, compile=runtime.compile,
                                    attn_implementation=args.attn, fused_adamw=runtime.fused_adamw,
                                    sync_every=args.sync_every, compile_loss=bool(args.compile_loss),
                                    residual_dtype="bfloat16" if args.residual == "bf16" else "float32",
                                    compile_mode=args.compile_mode, liger_kernels=bool(args.liger),
                                    fuse_projections=bool(args.fuse), log_every=total)
        trainer = Trainer(settings, packed, init, Path(tmp) / "run", log=lambda m: None, on_metrics=None)
        for _ in range(args.warmup):
            trainer.train_step()
        sync = torch.cuda.synchronize if runtime.device == "cuda" else (lambda: None)
        summary = profile_calls(trainer.train_step, args.steps, sync)
    title = (f"{args.shape} seq {args.seq_len} x {args.batch} vocab {args.vocab or 'bpe'} {args.attn} "
             f"sync_every {args.sync_every} compile_loss {args.compile_loss} residual {args.residual} "
             f"mode {args.compile_mode} liger {args.liger} fuse {args.fuse} "
             f"on {runtime.device}")
    text = format_summary(title, summary)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        fh.write(text + json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
