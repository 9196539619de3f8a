"""Config sections of the training and evaluation stages (model, compute, pretrain, sft, dpo, lora, eval).

Imported by ``config.py``, which re-exports them: users write ``from llm_pipeline_assets.config import …``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from llm_pipeline_assets.config_base import _Strict


class ModelConfig(_Strict):
    shape: Literal["tiny", "mini", "124m", "350m", "1b", "3b", "7b"] = "tiny"
    # None = the longest sequence any stage trains on (packing.seq_lens, sft/dpo/lora.max_length); set, it bounds them
    max_position_embeddings: int | None = Field(default=None, ge=16)


class ComputeConfig(_Strict):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp8"] = "auto"  # auto: bf16 on GPU, fp32 on CPU; fp8 only if faster
    nproc_per_node: int = Field(default=0, ge=0)  # 0 = every visible GPU (torchrun when > 1), 1 process on CPU
    compile: Literal["auto", "on", "off"] = "auto"  # auto: torch.compile on GPU only
    # regional: compile each decoder layer (one graph reused by all layers); full: the whole model. Measured on
    # an H100, 1b shape: regional 0.142 s/step after 10.6 s of warm-up, full 0.170 s/step after 56.6 s
    compile_scope: Literal["regional", "full"] = "regional"
    # torch.compile mode of pretraining; max-autotune-no-cudagraphs also times Triton GEMM / attention templates
    # against cuBLAS and fuses elementwise epilogues into the winners. H100, 124m: slower (35.8 % MFU vs 40.6 %)
    # after 197 s of tuning. tune-pointwise: coordinate-descent tuning of inductor's own pointwise / reduction
    # kernels only (GEMMs stay cuBLAS); H100, 124m: no gain (38.6 % vs 40.6 %, median step 0.0621 vs 0.0625 s)
    compile_mode: Literal["default", "max-autotune-no-cudagraphs", "tune-pointwise"] = "default"
    # dtype of the residual stream between decoder layers under bf16 autocast; auto: bf16 on a GPU, where the
    # layers' adds and norms then move half the bytes (Megatron's default), fp32 otherwise
    residual_dtype: Literal["auto", "fp32", "bf16"] = "auto"
    # Liger's Triton RoPE / RMSNorm / SwiGLU in the decoder layers (pretraining, CUDA, liger-kernel installed);
    # off by default: slower than torch.compile's own fusions (H100, 124m: 33.0 % MFU vs 40.6 %)
    liger_kernels: bool = False
    # pretraining: q/k/v and gate/up of each Llama layer as one GEMM each over the concatenated weights (same
    # parameters and checkpoints; training/fused.py); not with FP8 or Liger, whose layers are left alone.
    # Off by default: slower where measured (H100, 124m: 32.5 % MFU vs 40.6 %)
    fuse_projections: bool = False
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2", "flex_attention", "torch_varlen"] = "auto"
    # several processes: fsdp shards parameters/gradients/optimizer state (FSDP2), replicate keeps a full copy
    # per rank; auto = fsdp when a step's samples split evenly over the ranks
    sharding: Literal["auto", "fsdp", "replicate"] = "auto"

    @model_validator(mode="after")
    def _one_mlp_patch(self) -> "ComputeConfig":
        if self.liger_kernels and self.fuse_projections:
            raise ValueError("compute.liger_kernels and compute.fuse_projections both replace the MLP's forward: "
                             "set one of them to false")
        return self


class CurriculumStage(_Strict):
    seq_len: int = Field(ge=8)
    until_step: int = Field(ge=1)


class PretrainConfig(_Strict):
    max_steps: int = Field(default=60, ge=1)
    lr: float = Field(default=3e-3, gt=0)
    min_lr: float = Field(default=3e-4, ge=0)
    warmup_steps: int = Field(default=6, ge=0)
    weight_decay: float = Field(default=0.1, ge=0)
    grad_clip: float = Field(default=1.0, gt=0)
    micro_batch: int = Field(default=8, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    gradient_checkpointing: bool = False
    curriculum: tuple[CurriculumStage, ...] = ()  # empty = packing.seq_lens split evenly over max_steps
    eval_every: int = Field(default=20, ge=1)
    eval_batches: int = Field(default=4, ge=1)
    save_every: int = Field(default=20, ge=1)
    keep_last: int = Field(default=2, ge=1)
    simulate_oom_above: int | None = Field(default=None, ge=1)  # test hook: fake OOM above this micro-batch
    # > 1: loss / grad norm reach the host every N steps, so the GPU is not drained between steps (training/lazy.py)
    # (H100, 124m: every step 35.0 % MFU, every 10 steps 39.5 %); log/eval/save steps always sync
    sync_every: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _sane(self) -> "PretrainConfig":
        if self.min_lr > self.lr:
            raise ValueError(f"pretrain.min_lr ({self.min_lr}) is above pretrain.lr ({self.lr})")
        if self.warmup_steps > self.max_steps:
            raise ValueError(f"pretrain.warmup_steps ({self.warmup_steps}) exceeds max_steps ({self.max_steps})")
        steps = [c.until_step for c in self.curriculum]
        for i, (before, after) in enumerate(zip(steps, steps[1:])):  # a stage with no steps would never train
            if after <= before:
                raise ValueError(f"pretrain.curriculum[{i + 1}].until_step ({after}) must be above "
                                 f"curriculum[{i}].until_step ({before}): its length would get no steps")
        for i, until in enumerate(steps[:-1]):
            if until >= self.max_steps:
                raise ValueError(f"pretrain.curriculum[{i}].until_step ({until}) reaches pretrain.max_steps "
                                 f"({self.max_steps}): the lengths after it would never train")
        if steps and steps[-1] < self.max_steps:
            raise ValueError(f"pretrain.curriculum[{len(steps) - 1}].until_step ({steps[-1]}) must reach "
                             f"pretrain.max_steps ({self.max_steps})")
        return self


class ChatDataSource(_Strict):
    """One source of SFT conversations or DPO pairs; ``format`` names the formatter for its schema."""

    name: str
    kind: Literal["synthetic", "local", "huggingface"] = "synthetic"
    format: str = "synthetic"  # sft: gsm8k, alpaca, dolly, glaive, ... | messages; dpo: hh-rlhf, ultrafeedback, pairs
    num: int = Field(default=600, ge=1)  # synthetic rows
    seed: int = 0
    path: str | None = None
    dataset: str | None = None
    subset: str | None = None
    split: str = "train"
    max_samples: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _where(self) -> "ChatDataSource":
        if self.kind == "local" and not self.path:
            raise ValueError(f"data source {self.name!r}: kind local needs path")
        if self.kind == "huggingface" and not self.dataset:
            raise ValueError(f"data source {self.name!r}: kind huggingface needs dataset")
        return self


class TrainerKnobs(_Strict):
    """The trainer settings every fine-tuning stage has (sft, dpo, lora)."""

    max_steps: int = Field(default=60, ge=1)
    lr: float = Field(default=2e-3, gt=0)
    micro_batch: int = Field(default=8, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    max_length: int = Field(default=256, ge=16)
    eval_every: int = Field(default=20, ge=1)
    # steps between checkpoints in the run's work folder: a retry resumes from the latest, an out-of-memory error
    # continues from it with the micro-batch divided and accumulation multiplied (the same samples per step)
    save_every: int = Field(default=200, ge=1)
    gradient_checkpointing: bool = False  # trades ~1.8x step time for activation memory (measured on CPU)


class FinetuneConfig(TrainerKnobs):
    """A stage with its own dataset asset (sft, dpo): the trainer settings plus the sources and the split."""

    _pairs: ClassVar[bool] = False
    val_fraction: float = Field(default=0.1, gt=0, lt=1)
    sources: tuple[ChatDataSource, ...] = Field(default=(ChatDataSource(name="synthetic"),), min_length=1)

    @field_validator("sources")
    @classmethod
    def _known_formats(cls, v: tuple[ChatDataSource, ...]) -> tuple[ChatDataSource, ...]:
        # Unknown formats fail here, when the config loads, not after the rows have been read.
        from llm_pipeline_assets.formatters.dpo import DPO_FORMATTERS
        from llm_pipeline_assets.formatters.sft import SFT_FORMATTERS

        known = set(DPO_FORMATTERS) if cls._pairs else {*SFT_FORMATTERS, "messages"}
        names = [s.name for s in v]
        for i, src in enumerate(v):
            if names.count(src.name) > 1:
                raise ValueError(f"[{i}].name {src.name!r} is used by another source too")
            if src.kind != "synthetic" and src.format not in known:
                raise ValueError(f"[{i}].format {src.format!r} is not a known format ({sorted(known)})")
        return v


class DpoTrainConfig(FinetuneConfig):
    _pairs: ClassVar[bool] = True  # sources are preference pairs (DPO formats), not conversations
    max_steps: int = Field(default=40, ge=1)
    beta: float = Field(default=0.1, gt=0)
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust", "bco_pair", "sppo_hard", "nca_pair"] = "sigmoid"
    precompute_ref_log_probs: bool = False
    label_smoothing: float = Field(default=0.0, ge=0, lt=0.5)  # robust: probability a preference label is flipped
    # weight of an added NLL loss on the chosen replies (RPO: DPO + SFT on chosen; TRL's loss_type [.., "sft"]).
    # Keeps the chosen replies likely: DPO alone can lower both replies of a pair that share most tokens
    sft_loss_weight: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _robust_needs_smoothing(self) -> "DpoTrainConfig":
        if self.loss_type == "robust" and self.label_smoothing == 0:  # TRL's robust loss is then the sigmoid loss
            raise ValueError("dpo.label_smoothing must be > 0 for loss_type robust (the flip probability it is "
                             "robust to; the Robust DPO paper uses 0.1): at 0 it is the sigmoid loss")
        if self.loss_type != "robust" and self.label_smoothing > 0:  # TRL 1.16 reads it for robust only
            raise ValueError(f"dpo.label_smoothing {self.label_smoothing} has no effect with dpo.loss_type "
                             f"{self.loss_type!r} (TRL's {self.loss_type} loss ignores it; conservative DPO is "
                             "loss_type robust with label_smoothing > 0)")
        return self


class LoraTrainConfig(TrainerKnobs):
    """LoRA trains on a task mix drawn from ``sft_dataset`` (its sources and split are the sft section's)."""
    max_steps: int = Field(default=40, ge=1)

    r: int = Field(default=8, ge=1, le=1024)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    # sft_dataset task -> share. Tasks: math, choice, tool, safety (the synthetic source's and the real sources' of
    # that kind), reasoning, general (alpaca, dolly, openorca, oasst, messages): formatters.sft.SFT_TASKS
    mix: dict[str, float] = {"tool": 0.6, "math": 0.2, "choice": 0.1, "safety": 0.1}
    examples: int = Field(default=400, ge=1)  # training examples drawn by the mix
    val_examples: int = Field(default=40, ge=1)  # validation examples, drawn by the same mix from the val split

    @field_validator("mix")
    @classmethod
    def _ratios(cls, v: dict[str, float]) -> dict[str, float]:
        if not v or any(r < 0 for r in v.values()) or abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"lora.mix ratios must be >= 0 and sum to 1, got {v}")
        return v


class EvalConfig(_Strict):
    # held-out synthetic items per task (math, choice, tool, safety); >= 2: safety needs a harmful and a harmless one
    items_per_task: int = Field(default=24, ge=2)
    seed: int = 7
    window: int = Field(default=128, ge=8)  # sliding-window perplexity on the packed val split
    stride: int = Field(default=64, ge=1)
    max_val_tokens: int = Field(default=20_000, ge=64)
    max_new_tokens: int = Field(default=48, ge=1)  # per generation; math/tool get more when a reference needs it
    contamination_ngram: int = Field(default=8, ge=3)
    gates_preset: str | None = None  # None = the config's own name (tiny, 124m, 1b, 7b)
    gate_overrides: dict[str, dict[str, dict]] = {}  # gate -> metric -> {op: ">=" | "<=", value: float}

    @model_validator(mode="after")
    def _gates_resolve(self) -> "EvalConfig":
        # at load time, not when the first gate runs after hours of training
        from llm_pipeline_assets.evaluation.gates import check_gate_settings

        check_gate_settings(self.gates_preset, self.gate_overrides)
        return self

    @model_validator(mode="after")
    def _stride_within_window(self) -> "EvalConfig":
        if self.stride > self.window:  # a wider stride would skip tokens between windows
            raise ValueError(f"eval.stride ({self.stride}) exceeds eval.window ({self.window})")
        return self
