"""Config of the data stages before tokens: sharding, cleaning (normalize, language, quality, toxicity) and dedup.

Part of the one pipeline config (``config.PipelineConfig``), which re-exports these classes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from llm_pipeline_assets.config_base import _Strict
from llm_pipeline_assets.config_scaleout import ExecutorConfig, LocalExecutorConfig


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
    # Share of a document's sentences that contain a listed term; a document reaching it (with min_hits) is rejected.
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
