"""Accelerator code paths; every module imports on a CPU-only machine (torch, cudf, cugraph, Transformer
Engine and Liger are imported inside functions, and only where used).

* ``minhash``: MinHash signatures with torch on any device, bit-identical to ``dedup.minhash``; cuDF's
  (different) MinHash behind an explicit opt-in.
* ``components``: connected components with cuGraph or torch, lowest-index labels like the union-find.
* ``dedup_backend``: ``dedup.backend: auto | cpu | gpu`` -> a backend object for the dedup hooks.
* ``dedup_run``: in-memory dedup through a backend with worker processes (benchmarks, identity tests).
* ``fp8``: Transformer Engine / torchao FP8, kept only where a per-shape speed check says it is faster.
* ``kernels``: optional-package guards, SDPA backends that run, fused AdamW, Liger kernels for Llama.
"""
