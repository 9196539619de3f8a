"""``PretrainSettings`` (every knob of a pretraining run), the curriculum and the LR schedule; torch-free.

Schedule: linear warmup from 0, then cosine decay to a real ``min_lr``. ``lr_at(s)`` is the rate of
the update that completes step ``s`` (1-based), so ``lr_at(0) == 0`` (the start),
``lr_at(warmup_steps) == lr`` (the peak) and ``lr_at(max_steps) == min_lr`` (the last update really
trains at ``min_lr``; the predecessor's schedule ignored it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from llm_pipeline_assets.gpu.kernels import COMPILE_MODE_KWARGS

DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "bfloat16")
ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2", "flex_attention", "torch_varlen")
COMPILE_SCOPES = ("regional", "full")
COMPILE_MODES = tuple(COMPILE_MODE_KWARGS)


@dataclass
class PretrainSettings:
    """Hyper-parameters and run options of :func:`llm_pipeline_assets.training.pretrain.pretrain`.

    ``curriculum`` is a list of ``(seq_len, until_step)``: optimizer step ``k`` (0-based) trains on
    the packed set of the first entry with ``k < until_step``; the last entry runs to ``max_steps``
    whatever its ``until_step``. Empty means the largest length of the packed ``index.json``.
    Effective batch = ``micro_batch * grad_accum`` sequences per optimizer step; OOM recovery may
    halve ``micro_batch`` and double ``grad_accum`` without changing it.
    """

    max_steps: int = 100
    lr: float = 3e-4
    min_lr: float = 3e-5
    warmup_steps: int = 10
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0  # <= 0 disables clipping (the norm is still measured)
    micro_batch: int = 8
    grad_accum: int = 1
    gradient_checkpointing: bool = False
    curriculum: list[tuple[int, int]] = field(default_factory=list)
    eval_every: int = 50  # 0: only at the end
    eval_batches: int = 4  # of the configured micro_batch sequences
    save_every: int = 50  # 0: only the final checkpoint
    keep_last: int = 2
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"  # bfloat16 = fp32 master weights + autocast
    compile: bool = False
    compile_scope: str = "regional"  # regional (each decoder layer) | full (whole model)
    compile_mode: str = "default"  # torch.compile mode of the model and the loss (COMPILE_MODES)
    # bfloat16: the residual stream between decoder layers is bf16 (the embedding output is cast), halving the
    # bytes of every norm / residual add; float32 (default): autocast keeps it in the master weights' fp32
    residual_dtype: str = "float32"
    liger_kernels: bool = False  # CUDA + liger-kernel: Liger's RoPE / RMSNorm / SwiGLU (gpu.kernels.apply_liger_kernels)
    fuse_projections: bool = False  # one GEMM for q/k/v and one for gate/up (training/fused.py); skipped under FP8
    compile_loss: bool = True  # with compile: the shifted fp32 cross-entropy is compiled too (no fp32 logits copy)
    sync_every: int = 1  # > 1: step metrics reach the host in groups, the GPU is never drained between steps
    attn_implementation: str = "sdpa"
    fused_adamw: bool = False  # honoured on CUDA only
    fp8: str | None = None  # None | "torchao": float8 training of the Linear layers (emulated on CPU)
    fsdp: bool = False  # with several ranks: shard parameters/gradients/optimizer state (FSDP2) instead of replicating
    simulate_oom_above: int | None = None  # test hook: forward raises OutOfMemoryError above this micro-batch
    log_every: int = 10

    def __post_init__(self) -> None:
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        self.curriculum = [(int(s), int(u)) for s, u in self.curriculum]
        problems = []
        if self.max_steps < 1:
            problems.append(f"max_steps must be >= 1, got {self.max_steps}")
        if self.micro_batch < 1 or self.grad_accum < 1:
            problems.append(f"micro_batch and grad_accum must be >= 1, got {self.micro_batch}, {self.grad_accum}")
        if not 0 <= self.min_lr <= self.lr:
            problems.append(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if not 0 <= self.warmup_steps <= self.max_steps:
            problems.append(f"warmup_steps must lie in [0, max_steps], got {self.warmup_steps}")
        if self.device not in DEVICES:
            problems.append(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.dtype not in DTYPES:
            problems.append(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            problems.append(f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS}, "
                            f"got {self.attn_implementation!r}")
        if self.sync_every < 1:
            problems.append(f"sync_every must be >= 1, got {self.sync_every}")
        if self.residual_dtype not in ("float32", "bfloat16") or (
                self.residual_dtype == "bfloat16" and self.dtype != "bfloat16"):
            problems.append(f"residual_dtype must be float32, or bfloat16 with dtype bfloat16; got "
                            f"{self.residual_dtype!r} with dtype {self.dtype!r}")
        if self.liger_kernels and self.device != "cuda":
            problems.append("liger_kernels are Triton kernels: they need device 'cuda'")
        if self.compile_scope not in COMPILE_SCOPES:
            problems.append(f"compile_scope must be one of {COMPILE_SCOPES}, got {self.compile_scope!r}")
        if self.fuse_projections and self.liger_kernels:
            problems.append("fuse_projections and liger_kernels both replace the MLP's forward: pick one")
        if self.compile_mode not in COMPILE_MODES:
            problems.append(f"compile_mode must be one of {COMPILE_MODES}, got {self.compile_mode!r}")
        if self.attn_implementation == "flex_attention" and self.device == "cpu":
            problems.append("attn_implementation 'flex_attention' trains on CUDA only (torch has no flex_attention "
                            "backward on CPU): use sdpa on CPU")
        if self.fp8 not in (None, "torchao"):
            problems.append(f"fp8 must be None or 'torchao' (Transformer Engine is only timed by gpu.fp8), got {self.fp8!r}")
        if self.keep_last < 1:
            problems.append(f"keep_last must be >= 1, got {self.keep_last}")
        if min(self.eval_every, self.save_every, self.eval_batches) < 0 or self.log_every < 1:
            problems.append("eval_every, save_every, eval_batches must be >= 0 and log_every >= 1")
        steps = [u for _, u in self.curriculum]
        if steps != sorted(steps) or any(s < 8 for s, _ in self.curriculum):
            problems.append(f"curriculum must have ascending until_step and seq_len >= 8, got {self.curriculum}")
        if problems:
            raise ValueError("invalid PretrainSettings: " + "; ".join(problems))

    @property
    def effective_batch(self) -> int:
        return self.micro_batch * self.grad_accum

    def to_dict(self) -> dict:
        """Plain lists/ints/floats/strings: fits JSON and ``torch.load(weights_only=True)``."""
        d = asdict(self)
        d["betas"] = list(self.betas)
        d["curriculum"] = [list(c) for c in self.curriculum]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "PretrainSettings":
        return cls(**data)


def seq_len_at(step: int, curriculum: list[tuple[int, int]]) -> int:
    """Sequence length for optimizer step ``step`` (0-based): first entry with ``step < until_step``."""
    if not curriculum:
        raise ValueError("empty curriculum")
    for seq_len, until in curriculum:
        if step < until:
            return seq_len
    return curriculum[-1][0]


def lr_at(step: int, settings) -> float:
    """Pure function of ``step`` and ``settings.lr/min_lr/warmup_steps/max_steps``."""
    lr, min_lr = float(settings.lr), float(settings.min_lr)
    warmup, total = int(settings.warmup_steps), int(settings.max_steps)
    step = max(0, min(int(step), total))
    if warmup > 0 and step < warmup:
        return lr * step / warmup
    if total <= warmup:
        return lr
    progress = (step - warmup) / (total - warmup)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def scheduler_state(step: int, settings) -> dict:
    """What a checkpoint records of the schedule (it is stateless: the step determines the rate)."""
    return {"kind": "warmup_cosine", "step": int(step), "lr": lr_at(step, settings),
            "peak_lr": float(settings.lr), "min_lr": float(settings.min_lr),
            "warmup_steps": int(settings.warmup_steps), "max_steps": int(settings.max_steps)}


def use_fsdp(sharding: str, nproc: int, samples_per_step: int) -> bool:
    """The ``compute.sharding`` policy: FSDP only with several processes; ``auto`` when samples split evenly."""
    if nproc <= 1 or sharding == "replicate":
        return False
    return sharding == "fsdp" or samples_per_step % nproc == 0
