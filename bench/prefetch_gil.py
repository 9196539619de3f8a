"""Benchmark: what the GIL does to ``shards.prefetch`` overlap, and what the shortened switch interval buys.

The dedup asset on a GPU runs the host half of the next batch (``textprep.host_bytes``: NFKC / lowercase of
the non-ASCII documents, in Python) in the prefetch thread while the main thread drives the device. The main
thread's work is a stream of torch calls, each releasing the GIL; when the producer is running Python code,
CPython hands the GIL back to the main thread only after its switch interval (default 5 ms) per release.

Here the consumer is a stand-in for the device half that runs on any machine: ``--ops`` torch calls per batch on
a CPU tensor (one intra-op thread, ``--op-elems`` elements: each call releases the GIL for about as long as a
short device wait). The producer is the real host half of the project's synthetic corpus. Timed variants
(median of ``--repeat``), each over the same batches:

* ``sequential`` (the baseline): host half then consumer, one thread;
* ``prefetch_default_interval``: ``prefetch(..., switch_interval=None)`` (CPython's interval as it is);
* ``prefetch``: ``prefetch`` as the pipeline calls it (interval at most ``PREFETCH_SWITCH_INTERVAL``).

Prints seconds and the ratio of each to ``sequential`` (and the ideal, max of the two halves), JSON to ``--out``.

    python bench/prefetch_gil.py --docs 20000 --batch 2000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from dedup_compare import synthetic_corpus  # noqa: E402

from llm_pipeline_assets.gpu.textprep import host_bytes  # noqa: E402
from llm_pipeline_assets.shards import PREFETCH_SWITCH_INTERVAL, prefetch  # noqa: E402


def consumer(ops: int, elems: int):
    """A function of one prepared batch doing ``ops`` GIL-releasing torch calls."""
    import torch

    work = torch.ones(elems)

    def consume(prepared) -> int:
        total = 0
        for _ in range(ops):
            total += int(torch.add(work, 1.0).shape[0] > 0)
        return total + len(prepared[1])
    return consume


def timed(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--ops", type=int, default=150, help="torch calls per batch (the device half's launches/waits)")
    ap.add_argument("--op-elems", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    texts = synthetic_corpus(args.docs)[0]
    batches = [texts[i:i + args.batch] for i in range(0, len(texts), args.batch)]
    consume = consumer(args.ops, args.op_elems)
    host_s = timed(lambda: [host_bytes(b) for b in batches], args.repeat)
    prepared = [host_bytes(b) for b in batches]
    device_s = timed(lambda: [consume(p) for p in prepared], args.repeat)
    runs = {
        "sequential": lambda: [consume(host_bytes(b)) for b in batches],
        "prefetch_default_interval": lambda: [consume(p) for p in prefetch(map(host_bytes, batches),
                                                                             switch_interval=None)],
        "prefetch": lambda: [consume(p) for p in prefetch(map(host_bytes, batches))],
    }
    report = {"docs": len(texts), "batches": len(batches), "ops_per_batch": args.ops,
              "default_switch_interval_s": sys.getswitchinterval(),
              "prefetch_switch_interval_s": PREFETCH_SWITCH_INTERVAL,
              "host_half_s": host_s, "consumer_s": device_s, "ideal_s": max(host_s, device_s)}
    for name, run in runs.items():
        report[name + "_s"] = timed(run, args.repeat)
    base = report["sequential_s"]
    print(f"{report['docs']} docs in {report['batches']} batches; host half {host_s:.3f} s, consumer {device_s:.3f} s "
          f"({args.ops} torch calls per batch), ideal overlap {report['ideal_s']:.3f} s")
    for name in ("sequential", "prefetch_default_interval", "prefetch"):
        report[name + "_speedup"] = base / report[name + "_s"]
        print(f"{name:28s} {report[name + '_s']:.3f} s   {report[name + '_speedup']:.2f}x sequential")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
