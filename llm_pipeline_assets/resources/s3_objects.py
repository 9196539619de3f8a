"""The artifact store's S3 control plane, through dagster-aws's ``S3Resource`` (a boto3 client).

Bulk bytes (shards, token files, checkpoints) move through fsspec/s3fs, which uploads and downloads many
files concurrently and does multipart transfers. What decides what readers see goes through one boto3
client instead, because it has to be exact rather than cached:

- the manifest: read with one GET, committed with one PUT (S3 makes a single PUT atomic: readers see the
  old manifest or the new one, never a mix);
- the check before the commit that every file of the new version is there with its size (one listing,
  not s3fs's directory cache, which may predate the upload);
- listing and deleting old or orphaned versions.

Credentials are never passed here: boto3's default chain reads them from the environment (``AWS_*``
variables, ``AWS_PROFILE``, an instance or pod role), so they appear in no config, log or metadata.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import aiohttp
import botocore.exceptions

# What a flaky or unreachable S3 endpoint raises: s3fs and boto3 surface botocore's own exception types
# (EndpointConnectionError, ReadTimeoutError, ClientError), which are not OSErrors.
# s3fs reads through aiohttp, whose ClientPayloadError (a body cut short, "received 120 of 5389 bytes") is no
# OSError either.
S3_TRANSPORT_ERRORS = (OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
                       aiohttp.ClientError, asyncio.TimeoutError)
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
# Building a boto3 client takes ~0.2 s; one per (process, resource settings, credential environment) is enough.
_CLIENTS: dict[tuple, object] = {}
_CLIENTS_LOCK = threading.Lock()
_CLIENT_FIELDS = ("max_attempts", "region_name", "endpoint_url", "use_unsigned_session", "profile_name", "use_ssl",
                  "verify", "aws_access_key_id", "aws_secret_access_key", "aws_session_token")
_CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                   "AWS_DEFAULT_REGION")


def s3_resource(endpoint_url: str | None = None):
    """dagster-aws ``S3Resource`` for ``endpoint_url`` (None: AWS), region from ``AWS_REGION`` /
    ``AWS_DEFAULT_REGION``, credentials from the environment: the code location's ``s3`` resource and the
    store's fallback client are built the same way."""
    from dagster_aws.s3 import S3Resource

    return S3Resource(endpoint_url=endpoint_url,
                      region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))


def client_for(resource) -> object:
    """``resource.get_client()`` (a dagster-aws ``S3Resource``), built once per process and settings.

    The key holds the settings and the credential variables themselves (in memory only), so a changed
    environment gets a new client rather than one with stale credentials."""
    key = (os.getpid(), tuple(getattr(resource, f) for f in _CLIENT_FIELDS),
           tuple(os.environ.get(v) for v in _CREDENTIAL_ENV))
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = resource.get_client()
        return _CLIENTS[key]


def download(fs, remote: str, names: list[str], local: Path, sizes: dict[str, int], attempts: int = 3) -> None:
    """``remote/<name>`` to ``local/<name>`` for every name, each the size the manifest says; a transfer cut short
    (a flaky endpoint) is tried again, up to ``attempts`` times, before its error is raised."""
    for attempt in range(attempts):
        try:
            fs.get([f"{remote}/{n}" for n in names], [str(local / n) for n in names])
            for name in names:  # a short read must not become the cached copy
                if (local / name).stat().st_size != sizes[name]:
                    raise OSError(f"{remote}/{name}: downloaded size differs from the manifest")
            return
        except S3_TRANSPORT_ERRORS:
            if attempt + 1 == attempts:
                raise
            time.sleep(0.5 * 2 ** attempt)


def split_s3(path: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` or ``bucket/a/b`` -> ("bucket", "a/b")."""
    bare = path[len("s3://"):] if path.startswith("s3://") else path
    bucket, _, key = bare.partition("/")
    if not bucket:
        raise ValueError(f"{path!r} names no bucket")
    return bucket, key.strip("/")


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of a transport error, without the request's signed headers (botocore never puts the
    secret key in a message; the access key id is not secret)."""
    return f"{type(exc).__name__}: {exc}"


class S3Objects:
    """Exact reads, writes, listings and deletes under one bucket, with a boto3 S3 client."""

    def __init__(self, client):
        self.client = client

    def get_text(self, path: str) -> str | None:
        """The object's text, or None if there is no such object."""
        bucket, key = split_s3(path)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                return None
            raise
        try:
            return body.read().decode("utf-8")
        finally:
            body.close()

    def put_text(self, path: str, text: str) -> None:
        bucket, key = split_s3(path)
        self.client.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"),
                               ContentType="application/json")

    def _pages(self, path: str, **kwargs):
        bucket, key = split_s3(path)
        prefix = f"{key}/" if key else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, **kwargs):
            yield prefix, page

    def sizes(self, path: str) -> dict[str, int]:
        """{name relative to ``path``: size in bytes} of every object under the folder ``path``."""
        out: dict[str, int] = {}
        for prefix, page in self._pages(path):
            for obj in page.get("Contents", []):
                out[obj["Key"][len(prefix):]] = obj["Size"]
        return out

    def children(self, path: str) -> list[str]:
        """Names directly under the folder ``path`` (objects and sub-folders), like ``ls``."""
        names: list[str] = []
        for prefix, page in self._pages(path, Delimiter="/"):
            names += [p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
            names += [o["Key"][len(prefix):] for o in page.get("Contents", [])]
        return names

    def delete_tree(self, path: str) -> int:
        """Delete every object under the folder ``path``; the number deleted."""
        bucket, key = split_s3(path)
        keys = [f"{key}/{name}" for name in self.sizes(path)]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": k} for k in keys[start:start + 1000]]
            reply = self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if reply.get("Errors"):
                first = reply["Errors"][0]
                raise OSError(f"could not delete s3://{bucket}/{first.get('Key')}: {first.get('Message')}")
        return len(keys)
