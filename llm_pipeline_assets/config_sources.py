"""Corpus source sections of the pipeline config (``sources:``): synthetic, local files, Hugging Face datasets,
remote files (S3 or http(s)).

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

    @field_validator("path")
    @classmethod
    def _local_path(cls, v: str) -> str:
        if "://" in v:
            raise ValueError(f"path {v!r} is a URL: a local source reads files on this machine; use kind: remote "
                             "with url: (s3://, http://, https://)")
        return v


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


class RemoteSource(_SourceBase):
    """Files in S3 (or an S3-compatible server) or at an http(s) URL, read like a local source's (sources/remote.py)."""

    kind: Literal["remote"]
    url: str = Field(min_length=1)  # s3://bucket/prefix/, s3://bucket/prefix/*.jsonl.gz, or https://host/file.jsonl
    endpoint_url: str | None = None  # an S3-compatible server; None = LLM_PIPELINE_S3_ENDPOINT, else AWS
    text_field: str = Field(default="text", min_length=1)
    id_field: str | None = "id"
    max_record_bytes: int = Field(default=MAX_RECORD_BYTES, ge=1024)  # larger lines/files are quarantined
    retries: int = Field(default=3, ge=0, le=20)  # transport failures in a row, per file
    backoff_seconds: float = Field(default=2.0, ge=0.0)
    timeout_seconds: float = Field(default=60.0, gt=0.0)  # http(s): per read of the response

    @field_validator("url")
    @classmethod
    def _remote_url(cls, v: str) -> str:
        if v.startswith("s3://"):
            if not v[len("s3://"):].split("/", 1)[0]:
                raise ValueError(f"url {v!r} names no bucket (s3://bucket/prefix/)")
        elif not v.startswith(("http://", "https://")):
            raise ValueError(f"url {v!r} must start with s3://, http:// or https:// (a local path: kind: local)")
        return v


SourceSpec = Annotated[Union[SyntheticSource, LocalSource, HuggingFaceSource, RemoteSource],
                       Field(discriminator="kind")]
