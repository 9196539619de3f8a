"""The one validated pipeline config: presets (`presets/*.yaml`) or a YAML file, chosen by LLM_PIPELINE_CONFIG.

Validation happens when the code location loads (partitions come from the config), so a bad key fails
before any asset runs, with a message that names the file and the key path (``sources[1].path``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

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
from llm_pipeline_assets.config_orchestration import OrchestrationConfig
from llm_pipeline_assets.config_scaleout import ExecutorConfig, LocalExecutorConfig, TrainingLauncherConfig
from llm_pipeline_assets.config_sources import (  # noqa: F401  (re-exported)
    SAFE_NAME, HuggingFaceSource, LocalSource, SourceSpec, SyntheticSource)

PRESETS_DIR = Path(__file__).parent / "presets"
CONFIG_ENV = "LLM_PIPELINE_CONFIG"
ROOT_ENV = "LLM_PIPELINE_ROOT"
DEFAULT_PRESET = "tiny"
class ConfigError(ValueError):
    """A pipeline config that cannot be used; the message names the file and the offending key."""


class ShardConfig(_Strict):
    max_docs: int = Field(default=5000, ge=1)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    read_batch_docs: int = Field(default=1000, ge=1)


class NormalizeConfig(_Strict):
    form: Literal["NFC", "NFKC"] = "NFC"
    fix_encoding: bool = True


class LanguageConfig(_Strict):
    enabled: bool = True
    languages: tuple[str, ...] = Field(default=("en",), min_length=1)
    min_score: float = Field(default=0.65, ge=0.0, le=1.0)


class GopherQualityConfig(_Strict):
    enabled: bool = True
    min_doc_words: int = Field(default=50, ge=0)
    max_doc_words: int = Field(default=100_000, ge=1)
    min_avg_word_length: float = Field(default=3, ge=0)
    max_avg_word_length: float = Field(default=10, ge=0)
    max_symbol_word_ratio: float = Field(default=0.1, ge=0, le=1)
    min_stop_words: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _ranges(self) -> "GopherQualityConfig":
        if self.min_doc_words > self.max_doc_words or self.min_avg_word_length > self.max_avg_word_length:
            raise ValueError("min_doc_words / min_avg_word_length must not exceed their max_ counterparts")
        return self


class GopherRepetitionConfig(_Strict):
    enabled: bool = True
    dup_line_frac: float = Field(default=0.3, ge=0, le=1)
    dup_para_frac: float = Field(default=0.3, ge=0, le=1)


class C4QualityConfig(_Strict):
    enabled: bool = True
    filter_no_terminal_punct: bool = False
    min_num_sentences: int = Field(default=5, ge=0)


class FineWebQualityConfig(_Strict):
    enabled: bool = True
    line_punct_thr: float = Field(default=0.12, ge=0, le=1)
    short_line_thr: float = Field(default=0.67, ge=0, le=1)
    char_duplicates_ratio: float = Field(default=0.01, ge=0, le=1)
    new_line_ratio: float = Field(default=0.3, ge=0, le=1)


class QualityConfig(_Strict):
    word_tokenizer: Literal["fast", "spacy"] = "fast"  # how the filters split words and sentences
    gopher_quality: GopherQualityConfig = GopherQualityConfig()
    gopher_repetition: GopherRepetitionConfig = GopherRepetitionConfig()
    c4_quality: C4QualityConfig = C4QualityConfig()
    fineweb_quality: FineWebQualityConfig = FineWebQualityConfig()


class ToxicityConfig(_Strict):
    enabled: bool = True
    # Share of a document's lines that contain a listed term; a document above it is rejected.
    threshold: float = Field(default=0.05, gt=0.0, le=1.0)
    min_hits: int = Field(default=2, ge=1)  # and at least this many term occurrences (one quoted word is not toxic)
    wordlist: str | None = None  # None = the project's list (curation/data/toxic_words_en.txt)


class CleaningConfig(_Strict):
    normalize: NormalizeConfig = NormalizeConfig()
    pii: bool = True
    language: LanguageConfig = LanguageConfig()
    quality: QualityConfig = QualityConfig()
    toxicity: ToxicityConfig = ToxicityConfig()
    pii_check_sample: int = Field(default=500, ge=1)
    workers: int = Field(default=0, ge=0, le=256)  # processes cleaning shards in parallel; 0 = one per CPU
    executor: ExecutorConfig = LocalExecutorConfig()  # local (workers above) | slurm | ray: config_scaleout.py


class DedupConfig(_Strict):
    exact: bool = True
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    num_perm: int = Field(default=112, ge=8, le=1024)
    bands: int | None = Field(default=None, ge=1)
    rows: int | None = Field(default=None, ge=1)
    ngram: int = Field(default=3, ge=1, le=32)
    seed: int = 42
    verify: Literal["signature", "jaccard", "none"] = "signature"
    batch_docs: int = Field(default=5000, ge=1)
    backend: Literal["auto", "cpu", "gpu"] = "auto"  # auto: the GPU (torch/cuGraph) when CUDA is visible; same result
    # GPU signatures: torch (bit-identical to the CPU path) or cudf (cuDF's MinHash: a different hash family,
    # so a different index; opt-in, needs cudf installed)
    gpu_minhash: Literal["torch", "cudf"] = "torch"
    # processes that hash the shards (dedup/parallel.py), in order; 0 = this process. CPU backend (and the GPU one
    # with verify: jaccard): numpy hashing workers; GPU backend: device processes, each with its own CUDA context
    # (not with gpu_minhash: cudf). Same index either way
    workers: int = Field(default=0, ge=0, le=256)

    @model_validator(mode="after")
    def _bands_rows(self) -> "DedupConfig":
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both dedup.bands and dedup.rows, or neither (then they follow dedup.threshold)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"dedup.bands * dedup.rows = {self.bands * self.rows} exceeds dedup.num_perm = {self.num_perm}")
        if self.workers and self.backend == "gpu" and self.gpu_minhash == "cudf":
            raise ValueError("dedup.workers > 0 needs dedup.gpu_minhash 'torch' with dedup.backend 'gpu': cuDF's "
                             "MinHash hashes in the asset's own process (or set dedup.workers: 0)")
        return self


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
    dpo: DpoTrainConfig = DpoTrainConfig(lr=2e-3, max_steps=40,
                                         sources=(ChatDataSource(name="synthetic", format="synthetic"),))
    lora: LoraTrainConfig = LoraTrainConfig(max_steps=40)
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
        elif part in ("synthetic", "local", "huggingface", "slurm", "ray"):
            continue  # discriminated-union branch name, not a key the user wrote
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


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
            lines.append(f"  {_key_path(err['loc'])}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_config(name_or_path: str | None = None) -> PipelineConfig:
    """Load a preset by name (`tiny`, `124m`, `1b`, `7b`) or a YAML file path; default from LLM_PIPELINE_CONFIG."""
    choice = name_or_path or os.environ.get(CONFIG_ENV) or DEFAULT_PRESET
    path = Path(choice)
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        path = PRESETS_DIR / f"{choice}.yaml"
        if not path.exists():
            raise ConfigError(
                f"{CONFIG_ENV}={choice!r} is neither a preset ({', '.join(available_presets())}) nor an existing YAML file"
            )
    if not path.exists():
        raise ConfigError(f"{CONFIG_ENV}: config file {str(path)!r} does not exist")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, origin=str(path))


def artifact_root() -> str:
    """Artifact root: LLM_PIPELINE_ROOT (a local path or s3://bucket/prefix), default ./artifacts."""
    return os.environ.get(ROOT_ENV) or str(Path.cwd() / "artifacts")
