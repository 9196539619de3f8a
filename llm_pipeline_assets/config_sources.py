"""Corpus source sections of the pipeline config (``sources:``): synthetic, local files, Hugging Face datasets.

Imported by ``config.py``, which re-exports them. Each source becomes a static partition of the data assets.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from llm_pipeline_assets.config_base import MAX_RECORD_BYTES, _Strict

# Source names become partition keys and path segments: no separators, no dots, no surprises.
SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class _SourceBase(_Strict):
    name: str
    max_samples: int | None = Field(default=None, ge=1)
    weight: float = Field(default=1.0, gt=0.0, le=1.0)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not SAFE_NAME.fullmatch(v):  # fullmatch: "$" alone would accept a trailing newline
            raise ValueError(
                f"source name {v!r} must match {SAFE_NAME.pattern} (it becomes a partition key and a path segment)"
            )
        return v


class SyntheticSource(_SourceBase):
    kind: Literal["synthetic"]
    num_docs: int = Field(default=1000, ge=1)
    seed: int = 0
    corpus_seed: int = 1234


class LocalSource(_SourceBase):
    kind: Literal["local"]
    path: str = Field(min_length=1)
    text_field: str = Field(default="text", min_length=1)
    id_field: str | None = "id"
    max_record_bytes: int = Field(default=MAX_RECORD_BYTES, ge=1024)  # larger lines/files are quarantined


class HuggingFaceSource(_SourceBase):
    kind: Literal["huggingface"]
    dataset: str = Field(min_length=1)
    subset: str | None = None
    split: str = "train"
    streaming: bool = True
    text_field: str = Field(default="text", min_length=1)
    id_field: str | None = "id"
    max_record_bytes: int = Field(default=MAX_RECORD_BYTES, ge=1024)  # larger texts are quarantined
    retries: int = Field(default=3, ge=0, le=20)
    backoff_seconds: float = Field(default=2.0, ge=0.0)


SourceSpec = Annotated[Union[SyntheticSource, LocalSource, HuggingFaceSource], Field(discriminator="kind")]
