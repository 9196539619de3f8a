"""The one validated pipeline config: presets (`presets/*.yaml`) or a YAML file, chosen by LLM_PIPELINE_CONFIG.

Validation happens when the code location loads (partitions come from the config), so a bad key fails
before any asset runs, with a message that names the file and the key path (``sources[1].path``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from llm_pipeline_assets.config_base import _Strict, load_yaml
from llm_pipeline_assets.config_training import (  # noqa: F401  (re-exported: one config namespace)
    ChatDataSource,
    ComputeConfig,
    CurriculumStage,
    DpoTrainConfig,
    EvalConfig,
    FinetuneConfig,
    LoraTrainConfig,
    ModelConfig,
    PretrainConfig,
)
from llm_pipeline_assets.config_curation import (  # noqa: F401  (re-exported)
    C4QualityConfig,
    CleaningConfig,
    DedupConfig,
    FineWebQualityConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
    LanguageConfig,
    NormalizeConfig,
    QualityConfig,
    ShardConfig,
    ToxicityConfig,
)
from llm_pipeline_assets.config_orchestration import OrchestrationConfig
from llm_pipeline_assets.config_scaleout import ExecutorConfig, TrainingLauncherConfig
from llm_pipeline_assets.config_sources import (  # noqa: F401  (re-exported)
    SAFE_NAME, HuggingFaceSource, LocalSource, RemoteSource, SourceSpec, SyntheticSource)

PRESETS_DIR = Path(__file__).parent / "presets"
CONFIG_ENV = "LLM_PIPELINE_CONFIG"
ROOT_ENV = "LLM_PIPELINE_ROOT"
DEFAULT_PRESET = "tiny"


class ConfigError(ValueError):
    """A pipeline config that cannot be used; the message names the file and the offending key."""


class TokenizerConfig(_Strict):
    vocab_size: int = Field(default=4096, ge=320, le=1_000_000)  # >= 256 bytes + specials + some merges
    min_frequency: int = Field(default=2, ge=1)
    path: str | None = None  # an existing tokenizer directory to adopt instead of training one
    train_docs: int | None = Field(default=None, ge=1)  # cap on training documents (None = all train-split docs)
    check_docs: int = Field(default=200, ge=1)  # documents for the round-trip check and bytes/token


class PackingConfig(_Strict):
    seq_lens: tuple[int, ...] = Field(default=(128, 256), min_length=1)  # one packed set per curriculum length
    val_fraction: float = Field(default=0.05, ge=0.0, lt=1.0)  # share of DOCUMENTS held out
    strategy: Literal["bfd", "concat"] = "bfd"
    batch_docs: int = Field(default=1000, ge=1)

    @field_validator("seq_lens")
    @classmethod
    def _ascending(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(s < 8 for s in v) or list(v) != sorted(set(v)):
            raise ValueError(f"sequence lengths must be distinct, ascending and >= 8, got {list(v)}")
        return v


class PipelineConfig(_Strict):
    name: str
    seed: int = 42
    sources: tuple[SourceSpec, ...] = Field(min_length=1)
    shards: ShardConfig = ShardConfig()
    cleaning: CleaningConfig = CleaningConfig()
    dedup: DedupConfig = DedupConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    packing: PackingConfig = PackingConfig()
    model: ModelConfig = ModelConfig()
    compute: ComputeConfig = ComputeConfig()
    pretrain: PretrainConfig = PretrainConfig()
    sft: FinetuneConfig = FinetuneConfig()
    dpo: DpoTrainConfig = DpoTrainConfig()  # defaults on the classes: a section naming one key keeps the others
    lora: LoraTrainConfig = LoraTrainConfig()
    eval: EvalConfig = EvalConfig()
    orchestration: OrchestrationConfig = OrchestrationConfig()
    launcher: TrainingLauncherConfig = TrainingLauncherConfig()  # where training children run: config_scaleout.py

    @model_validator(mode="after")
    def _unique_sources(self) -> "PipelineConfig":
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sources: duplicate source names {dupes}")
        return self

    @model_validator(mode="after")
    def _curriculum_lengths_are_packed(self) -> "PipelineConfig":
        missing = [c.seq_len for c in self.pretrain.curriculum if c.seq_len not in self.packing.seq_lens]
        if missing:
            raise ValueError(f"pretrain.curriculum uses sequence lengths {missing} that packing.seq_lens "
                             f"{list(self.packing.seq_lens)} does not produce")
        lengths = len(self.packing.seq_lens)
        if not self.pretrain.curriculum and self.pretrain.max_steps < lengths:  # the even split gives one a 0-step stage
            raise ValueError(f"pretrain.max_steps ({self.pretrain.max_steps}) is below the number of packing.seq_lens "
                             f"({lengths}): without pretrain.curriculum each length trains max_steps / {lengths} steps")
        return self

    @model_validator(mode="after")
    def _a_remote_cuda_launcher_declares_its_gpus(self) -> "PipelineConfig":
        launcher = self.launcher
        if launcher.kind != "subprocess" and launcher.gpus == 0 and self.compute.device == "cuda":
            raise ValueError(f"compute.device is 'cuda' but launcher.gpus is 0: the {launcher.kind} training "
                             "container gets the GPUs declared in launcher.gpus (its hardware is not probed)")
        return self

    @model_validator(mode="after")
    def _context_holds_the_sequences(self) -> "PipelineConfig":
        trained = [c.seq_len for c in self.pretrain.curriculum] or list(self.packing.seq_lens)
        context = self.model.max_position_embeddings
        if context is not None and context < max(trained):  # would fail at pretraining, after base_model was built
            raise ValueError(f"model.max_position_embeddings ({context}) is shorter than the longest sequence "
                             f"pretraining reads ({max(trained)}: pretrain.curriculum, else packing.seq_lens)")
        return self

    @model_validator(mode="after")
    def _finetuning_fits_the_context(self) -> "PipelineConfig":
        # a declared context: fine-tuning past it trains positions the model does not have (RoPE extrapolates)
        context = self.model.max_position_embeddings
        over = [f"{k}.max_length ({getattr(self, k).max_length})" for k in ("sft", "dpo", "lora")
                if context is not None and getattr(self, k).max_length > context]
        if over:
            raise ValueError(f"{', '.join(over)} {'is' if len(over) == 1 else 'are'} longer than model."
                             f"max_position_embeddings ({context}): lower it, or raise model.max_position_embeddings")
        return self

    @model_validator(mode="after")
    def _lora_mix_names_tasks_sft_dataset_has(self) -> "PipelineConfig":
        # a misspelt task failed lora_adapter after pretraining, SFT and DPO; "messages" rows may name their own
        import difflib

        from llm_pipeline_assets.formatters.sft import SFT_TASKS
        from llm_pipeline_assets.formatters.synthetic_sft import TASKS

        if any(src.kind != "synthetic" and src.format == "messages" for src in self.sft.sources):
            return self
        tasks = set()
        for src in self.sft.sources:
            tasks |= set(TASKS) if src.kind == "synthetic" else {SFT_TASKS.get(src.format, src.format)}
        for task, share in self.lora.mix.items():
            if share > 0 and task not in tasks:
                near = difflib.get_close_matches(task, sorted(tasks), n=1)
                raise ValueError(f"lora.mix.{task}: no sft.sources give task {task!r}"
                                 f"{f' (did you mean {near[0]!r}?)' if near else ''}; they give {sorted(tasks)}: "
                                 "set lora.mix to shares of those")
        return self

    @property
    def model_context(self) -> int:
        """base_model's positions: model.max_position_embeddings, else the longest sequence any stage trains on."""
        return self.model.max_position_embeddings or max(*self.packing.seq_lens, self.sft.max_length,
                                                         self.dpo.max_length, self.lora.max_length)

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self.sources]

    def source(self, name: str):
        for spec in self.sources:
            if spec.name == name:
                return spec
        raise ConfigError(f"no source named {name!r} in config {self.name!r}; known: {self.source_names}")


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("synthetic", "local", "huggingface", "remote", "slurm", "ray"):
            continue  # discriminated-union branch name, not a key the user wrote
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def _tags(union) -> str:
    """The ``kind`` values of an ``Annotated[Union[...], Field(discriminator="kind")]``, in declaration order."""
    return ", ".join(tag for member in get_args(get_args(union)[0])
                     for tag in get_args(member.model_fields["kind"].annotation))


def _kinds(err: dict) -> str:
    """The kinds a discriminated section takes (sources: synthetic, local, huggingface, remote)."""
    loc = [p for p in err["loc"] if isinstance(p, str)]
    union = {"sources": SourceSpec, "executor": ExecutorConfig}.get(loc[-1] if loc else "")
    return _tags(union) if union is not None else "see docs/config_reference.md"


def parse_config(data: object, origin: str = "<config>") -> PipelineConfig:
    """Validate a parsed YAML mapping; raise ConfigError naming `origin` and each bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        lines = [f"{origin}: invalid pipeline config:"]
        for err in errors:
            if err["type"] == "too_short" and any(e["loc"][:len(err["loc"])] == err["loc"] and len(e["loc"]) >
                                                  len(err["loc"]) for e in errors):
                continue  # "sources: at least 1 item": its items failed (reported), they were not missing
            if err["type"] == "union_tag_not_found":  # pydantic: "Unable to extract tag using discriminator"
                tag = err.get("ctx", {}).get("discriminator", "kind").strip("'")
                lines.append(f"  {_key_path(err['loc'] + (tag,))}: Field required (one of {_kinds(err)})")
                continue
            lines.append(f"  {_key_path(err['loc'])}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_config(name_or_path: str | None = None) -> PipelineConfig:
    """Load a preset by name (`tiny`, `124m`, `1b`, `7b`) or a YAML file path; default from LLM_PIPELINE_CONFIG."""
    choice = name_or_path or os.environ.get(CONFIG_ENV) or DEFAULT_PRESET
    path = Path(choice).expanduser()
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        path = PRESETS_DIR / f"{choice}.yaml"
        if not path.exists():
            raise ConfigError(
                f"{CONFIG_ENV}={choice!r} is neither a preset ({', '.join(available_presets())}) nor an existing YAML file"
            )
    if not path.is_file():
        raise ConfigError(f"{CONFIG_ENV}: config file {str(path)!r} " + ("is a directory, not a YAML file"
                                                                        if path.is_dir() else "does not exist"))
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, origin=str(path))


def artifact_root() -> str:
    """Artifact root: LLM_PIPELINE_ROOT (a local path, "~" expanded and made absolute, or s3://bucket/prefix),
    default ./artifacts."""
    root = os.environ.get(ROOT_ENV)
    if root and "://" in root:
        scheme, rest = root.split("://", 1)
        if "" in rest.rstrip("/").split("/"):  # "s3://llm//x": an empty key segment hung the first upload
            raise ConfigError(f"{ROOT_ENV}={root!r}: an empty path segment (write {scheme}://bucket/prefix)")
        return root
    return str(Path(root).expanduser().absolute()) if root else str(Path.cwd() / "artifacts")
