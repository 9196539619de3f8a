"""Artifact store: where assets write their files, under ``<root>/<asset>/<partition>/``.

Publishing is atomic on local disks and on S3 alike: files are written to a fresh version folder
(``<root>/<asset>/<partition>/v-<id>/``) and become visible only when ``_MANIFEST.json`` — one small
object written last (local: temp file + rename; S3: one PUT) — names that version. A crash mid-write
leaves an orphan version folder that no reader ever sees; the next publish removes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import dagster as dg

MANIFEST = "_MANIFEST.json"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
UNPARTITIONED = "all"


class ArtifactMissing(FileNotFoundError):
    """An asset's artifact was never published; the message says which asset to materialize."""


def safe_segment(value: str, what: str) -> str:
    """Reject path segments that could escape the artifact root (``..``, ``/``, absolute paths)."""
    if not _SEGMENT.match(value) or ".." in value:
        raise ValueError(f"{what} {value!r} is not a safe path segment (allowed: {_SEGMENT.pattern}, no '..')")
    return value


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Manifest:
    asset: str
    partition: str
    version: str
    files: dict  # relative name -> {"bytes": int, "sha256": str}
    data_version: str  # sha256 over the sorted (name, sha256) pairs: the asset's Dagster DataVersion
    created: float
    extra: dict

    def names(self, prefix: str = "", suffix: str = "") -> list[str]:
        return sorted(n for n in self.files if n.startswith(prefix) and n.endswith(suffix))

    def content_version(self, prefix: str = "") -> str:
        """Hash of the files whose name starts with ``prefix`` only (e.g. the shards, not the reject logs)."""
        return content_hash({n: self.files[n] for n in self.names(prefix)})


def content_hash(files: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{files[name]['sha256']}\n".encode())
    return h.hexdigest()


class ArtifactStore(dg.ConfigurableResource):
    """Local directory or ``s3://bucket/prefix`` (through fsspec/s3fs; credentials from the environment)."""

    root: str
    s3_endpoint_url: str | None = None  # for S3-compatible servers; None = AWS
    cache_dir: str | None = None  # where S3 artifacts are downloaded for reading; default: a temp dir

    # ---- locations -------------------------------------------------------------------------------
    @property
    def is_remote(self) -> bool:
        return "://" in self.root and not self.root.startswith("file://")

    def _fs(self):
        import fsspec

        if not self.is_remote:
            return fsspec.filesystem("file")
        protocol = self.root.split("://", 1)[0]
        kwargs = {}
        if protocol == "s3" and self.s3_endpoint_url:
            kwargs["client_kwargs"] = {"endpoint_url": self.s3_endpoint_url}
        return fsspec.filesystem(protocol, **kwargs)

    def _base(self) -> str:
        return self.root[len("file://"):] if self.root.startswith("file://") else self.root.rstrip("/")

    def partition_dir(self, asset: str, partition: str | None = None) -> str:
        part = safe_segment(UNPARTITIONED if partition is None else partition, "partition key")
        return f"{self._base()}/{safe_segment(asset, 'asset name')}/{part}"

    def work_dir(self, asset: str, key: str) -> Path:
        """A persistent LOCAL scratch folder for ``asset`` and run identity ``key`` (training checkpoints that a
        retry resumes from). Local roots keep it under ``<root>/_work``; S3 roots under ``cache_dir``."""
        base = Path(self._base()) if not self.is_remote else Path(
            self.cache_dir or Path(tempfile.gettempdir()) / "llm_pipeline_cache")
        path = base / "_work" / safe_segment(asset, "asset name") / safe_segment(key, "work key")
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- reading ---------------------------------------------------------------------------------
    def read_manifest(self, asset: str, partition: str | None = None) -> Manifest:
        fs, path = self._fs(), f"{self.partition_dir(asset, partition)}/{MANIFEST}"
        if not fs.exists(path):
            what = f"{asset}[{partition}]" if partition else asset
            raise ArtifactMissing(f"no published artifact for {what} under {self.root!r}: materialize {asset} first")
        with fs.open(path, "r") as fh:
            data = json.load(fh)
        return Manifest(**data)

    def has(self, asset: str, partition: str | None = None) -> bool:
        try:
            self.read_manifest(asset, partition)
            return True
        except ArtifactMissing:
            return False

    def local_dir(self, asset: str, partition: str | None = None) -> tuple[Path, Manifest]:
        """A local directory holding the published files (downloaded once per version for S3)."""
        manifest = self.read_manifest(asset, partition)
        remote = f"{self.partition_dir(asset, partition)}/{manifest.version}"
        if not self.is_remote:
            return Path(remote), manifest
        cache = Path(self.cache_dir or Path(tempfile.gettempdir()) / "llm_pipeline_cache")
        target = cache / asset / (partition or UNPARTITIONED) / manifest.version
        if not (target / ".complete").exists():
            fs = self._fs()
            tmp = target.with_name(target.name + f".dl-{uuid.uuid4().hex[:8]}")
            for name in manifest.files:
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                fs.get(f"{remote}/{name}", str(tmp / name))
            (tmp / ".complete").touch()
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        return target, manifest

    # ---- writing ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def publish(self, asset: str, partition: str | None = None, extra: dict | None = None) -> Iterator[Path]:
        """Yield a local staging folder; on normal exit its files become the partition's new version."""
        dest = self.partition_dir(asset, partition)
        version = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        if self.is_remote:
            staging = Path(tempfile.mkdtemp(prefix="llm-stage-"))
        else:
            Path(dest).mkdir(parents=True, exist_ok=True)
            staging = Path(dest) / f".staging-{version}"
            staging.mkdir()
        try:
            yield staging
            files = {
                str(p.relative_to(staging)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                for p in sorted(staging.rglob("*"))
                if p.is_file()
            }
            manifest = Manifest(asset, partition or UNPARTITIONED, version, files, content_hash(files), time.time(),
                                dict(extra or {}))
            self._commit(staging, dest, manifest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _commit(self, staging: Path, dest: str, manifest: Manifest) -> None:
        body = json.dumps(manifest.__dict__, indent=1, sort_keys=True)
        fs = self._fs()
        if self.is_remote:
            fs.put(str(staging), f"{dest}/{manifest.version}", recursive=True)
            for name in manifest.files:  # refuse to point readers at a version that is not all there
                if not fs.exists(f"{dest}/{manifest.version}/{name}"):
                    raise OSError(f"upload of {dest}/{manifest.version}/{name} did not complete")
            with fs.open(f"{dest}/{MANIFEST}", "w") as fh:
                fh.write(body)
        else:
            os.replace(staging, Path(dest) / manifest.version)
            tmp = Path(dest) / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
            tmp.write_text(body, encoding="utf-8")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, Path(dest) / MANIFEST)
        self._remove_old_versions(dest, keep=manifest.version)

    def _remove_old_versions(self, dest: str, keep: str) -> None:
        fs = self._fs()
        try:
            entries = fs.ls(dest, detail=False)
        except FileNotFoundError:
            return
        for entry in entries:
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if (name.startswith("v-") or name.startswith(".staging-")) and name != keep:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm(entry, recursive=True)
