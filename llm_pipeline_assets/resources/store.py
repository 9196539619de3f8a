"""Artifact store: where assets write their files, under ``<root>/<asset>/<partition>/``.

Publishing is atomic on local disks and on S3 alike: files are written to a fresh version folder
(``<root>/<asset>/<partition>/v-<id>/``) and become visible only when ``_MANIFEST.json`` — one small
object written last (local: temp file + rename; S3: one PUT) — names that version. A crash mid-write
leaves an orphan version folder that no reader ever sees; the next publish removes it. A disk error while
publishing (full disk, read-only mount, failed upload) raises :class:`ArtifactPublishError`, which names the
asset and the folder; the version folder and temporary manifest of the failed attempt are removed.

On S3 the bytes move through fsspec/s3fs and the manifest, the completeness check and the clean-up through
dagster-aws's ``S3Resource`` (see ``s3_objects.py``). An unreachable or failing endpoint is reported as
:class:`ArtifactPublishError` or :class:`ArtifactUnavailable`, naming the asset and the S3 path.
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
from dagster_aws.s3 import S3Resource

from llm_pipeline_assets.resources.read_cache import cached_copy
from llm_pipeline_assets.resources.s3_objects import (S3_TRANSPORT_ERRORS, S3Objects, client_for, describe_error,
                                                      s3_resource)
from llm_pipeline_assets.work_units import atomic_write_text, owned_dir, owner_alive

MANIFEST = "_MANIFEST.json"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
UNPARTITIONED = "all"


class ArtifactMissing(FileNotFoundError, dg.Failure):
    """An asset's artifact was never published (the message says which asset to materialize); never retried."""

    def __init__(self, message: str):
        FileNotFoundError.__init__(self, message)
        dg.Failure.__init__(self, description=message, allow_retries=False)  # waiting will not publish it


class ArtifactPublishError(OSError):
    """Publishing failed (disk full, read-only, upload error); nothing new became visible."""


class ArtifactUnavailable(OSError):
    """A published artifact could not be read (storage unreachable, download failed); nothing partial is used."""


class ArtifactCorrupt(ValueError):
    """A manifest that cannot be parsed or names paths outside its version folder."""


def safe_segment(value: str, what: str) -> str:
    """Reject path segments that could escape the artifact root (``..``, ``/``, absolute paths, newlines)."""
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value) or ".." in value:
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


def _label(asset: str, partition: str | None) -> str:
    """``asset[partition]`` (or ``asset``): how errors and logs name a stored artifact."""
    return f"{asset}[{partition}]" if partition else asset


def content_hash(files: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{files[name]['sha256']}\n".encode())
    return h.hexdigest()


class ArtifactStore(dg.ConfigurableResource):
    """Local directory or ``s3://bucket/prefix`` (bytes: fsspec/s3fs; manifests, listings: ``S3Resource``)."""

    root: str
    s3_endpoint_url: str | None = None  # for S3-compatible servers; None = AWS
    cache_dir: str | None = None  # S3 roots: downloads for reading, staging, work folders; default: a temp dir
    # Manifests, listings and deletes on S3 go through this boto3 client (definitions.py passes the code
    # location's "s3" resource); None = an S3Resource for s3_endpoint_url with credentials from the environment.
    s3: S3Resource | None = None

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

    def _objects(self) -> S3Objects:
        if not self.root.startswith("s3://"):
            raise ValueError(f"artifact root {self.root!r}: remote roots must be s3://bucket/prefix")
        return S3Objects(client_for(self.s3 or s3_resource(self.s3_endpoint_url)))

    def _base(self) -> str:
        return self.root[len("file://"):] if self.root.startswith("file://") else self.root.rstrip("/")

    def _cache(self) -> Path:
        return Path(self.cache_dir or Path(tempfile.gettempdir()) / "llm_pipeline_cache")

    def partition_dir(self, asset: str, partition: str | None = None) -> str:
        part = safe_segment(UNPARTITIONED if partition is None else partition, "partition key")
        return f"{self._base()}/{safe_segment(asset, 'asset name')}/{part}"

    def work_dir(self, asset: str, key: str) -> Path:
        """A persistent LOCAL scratch folder for ``asset`` and run identity ``key`` (training checkpoints that a
        retry resumes from). Local roots keep it under ``<root>/_work``; S3 roots under ``cache_dir``."""
        base = Path(self._base()) if not self.is_remote else self._cache()
        path = base / "_work" / safe_segment(asset, "asset name") / safe_segment(key, "work key")
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- reading ---------------------------------------------------------------------------------
    def read_manifest(self, asset: str, partition: str | None = None) -> Manifest:
        path = f"{self.partition_dir(asset, partition)}/{MANIFEST}"
        what = _label(asset, partition)
        if self.is_remote:
            try:
                body = self._objects().get_text(path)
            except S3_TRANSPORT_ERRORS as exc:
                raise ArtifactUnavailable(f"{what}: cannot read its manifest {path}: {describe_error(exc)}") from None
        else:
            fs = self._fs()
            body = fs.read_text(path, encoding="utf-8") if fs.exists(path) else None
        if body is None:
            raise ArtifactMissing(f"no published artifact for {what} under {self.root!r}: materialize {asset} first")
        try:
            manifest = Manifest(**json.loads(body))
            safe_segment(manifest.version, "manifest version")
            for name in manifest.files:  # a tampered manifest must not point readers outside the version
                parts = name.replace("\\", "/").split("/")
                if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
                    raise ValueError(f"unsafe file name {name!r}")
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise ArtifactCorrupt(f"{path}: unusable manifest of {what} ({exc}); materialize {asset} again") from None
        return manifest

    def has(self, asset: str, partition: str | None = None) -> bool:
        try:
            self.read_manifest(asset, partition)
            return True
        except ArtifactMissing:
            return False

    def local_dir(self, asset: str, partition: str | None = None, manifest: Manifest | None = None):
        """``(local folder of manifest's version's files, manifest)``; default: the current version (S3: cached)."""
        manifest = manifest or self.read_manifest(asset, partition)
        remote = f"{self.partition_dir(asset, partition)}/{manifest.version}"
        if not self.is_remote:
            return Path(remote), manifest
        folder = self._cache() / asset / (partition or UNPARTITIONED)
        try:  # downloaded once per version; older versions no running step reads are removed (read_cache.py)
            return cached_copy(self._fs(), remote, manifest, folder), manifest
        except S3_TRANSPORT_ERRORS as exc:
            raise ArtifactUnavailable(f"{_label(asset, partition)}: downloading version {manifest.version} from "
                                      f"{remote} failed; nothing was cached, a retry downloads it again: "
                                      f"{describe_error(exc)}") from None

    # ---- writing ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def publish(self, asset: str, partition: str | None = None, extra: dict | None = None,
                also_keep: str | tuple = ()) -> Iterator[Path]:
        """Yield a local staging folder; on normal exit its files become the partition's new version, with ``extra``
        in its manifest as it is then (checks run on the staged files add their outcome). ``also_keep``: older
        versions kept beside it (the last that passed a gate, the base a published adapter names); others go.

        An ``OSError`` or S3 transport error on the way (the caller's writes, the upload, the commit) is re-raised as
        :class:`ArtifactPublishError` naming the asset and folder; the previous version stays current.
        """
        dest = self.partition_dir(asset, partition)
        what = _label(asset, partition)
        version = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        keep = (version, *([also_keep] if isinstance(also_keep, str) else (also_keep or ())))
        staging = None
        try:
            if self.is_remote:
                staging = owned_dir(self._cache() / "_staging", "llm-stage")  # a killed run's: swept next time
            else:  # owned: another run's cleanup spares it; one a killed run left goes before this one writes
                staging = owned_dir(dest, ".staging")
            yield staging
            files = {
                str(p.relative_to(staging)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                for p in sorted(staging.rglob("*"))
                if p.is_file()
            }
            manifest = Manifest(asset, partition or UNPARTITIONED, version, files, content_hash(files), time.time(),
                                dict(extra or {}))
            self._commit(staging, dest, manifest, keep)
        except (ArtifactMissing, ArtifactUnavailable):
            raise  # an input that is missing or unreadable: its own message says what happened
        except S3_TRANSPORT_ERRORS as exc:
            raise ArtifactPublishError(
                f"{what}: publishing a new version under {dest} failed; nothing was published and the previous "
                f"version (if any) is still the current one: {type(exc).__name__}: {exc}") from exc
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)

    def _commit(self, staging: Path, dest: str, manifest: Manifest, keep: tuple = ()) -> None:
        body = json.dumps(manifest.__dict__, indent=1, sort_keys=True)
        version_dir = f"{dest}/{manifest.version}"
        if self.is_remote:
            objects = self._objects()
            names = sorted(manifest.files)
            try:
                self._fs().put([str(staging / n) for n in names], [f"{version_dir}/{n}" for n in names])
                uploaded = objects.sizes(version_dir)  # refuse to point readers at a version that is not all there
                for name in names:
                    if uploaded.get(name) != manifest.files[name]["bytes"]:
                        raise OSError(f"upload of {version_dir}/{name} did not complete")
                objects.put_text(f"{dest}/{MANIFEST}", body)  # one PUT: either the old or the new manifest
            except BaseException:
                with contextlib.suppress(Exception):  # the endpoint may be gone: the next publish removes it
                    objects.delete_tree(version_dir)
                raise
        else:
            try:
                os.replace(staging, version_dir)
                atomic_write_text(Path(dest) / MANIFEST, body)
            except BaseException:
                shutil.rmtree(version_dir, ignore_errors=True)
                raise
        self._remove_old_versions(dest, keep=keep or (manifest.version,))

    def _remove_old_versions(self, dest: str, keep: tuple) -> None:
        """Best effort: the new version is already current, so a failure here only leaves garbage behind."""
        def stale(name: str) -> bool:
            return name.startswith(("v-", ".staging-", f".{MANIFEST}.")) and name not in keep

        if self.is_remote:
            with contextlib.suppress(*S3_TRANSPORT_ERRORS):
                objects = self._objects()
                for name in filter(stale, objects.children(dest)):
                    objects.delete_tree(f"{dest}/{name}")
            return
        with contextlib.suppress(OSError):  # a listing that fails leaves the garbage for the next publish
            for entry in self._fs().ls(dest, detail=False):
                name = entry.rstrip("/").rsplit("/", 1)[-1]  # the staging folder of a run still writing stays
                if stale(name) and not (name.startswith(".staging-") and owner_alive(name, entry)):
                    with contextlib.suppress(OSError):
                        self._fs().rm(entry, recursive=True)
