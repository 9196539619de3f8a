"""Read documents from files in S3 (or an S3-compatible server) or at an http(s) URL: ``{kind: remote}``.

``url`` is ``s3://bucket/prefix/`` (every file under it, recursively), ``s3://bucket/prefix/*.jsonl.gz`` (a glob)
or ``https://host/path/file.jsonl`` (one file). Each file is fetched into a private temporary folder, read by the
same readers as a local source (JSON lines / JSON / Parquet / plain text, gzip or zstd; ids and quarantine
entries relative to the prefix, as a local glob's are relative to its folder), and deleted before the next one,
so the disk holds one file at a time. Files of no supported kind are listed in the quarantine, not skipped unseen.

A fetch that fails on the transport (connection reset, timeout, a body cut short, a 5xx) is tried again with
exponential backoff, ``retries`` times in a row; a missing object, a 404 or refused credentials fail at once.
Credentials come from the usual AWS variables; ``endpoint_url`` (else ``LLM_PIPELINE_S3_ENDPOINT``) names an
S3-compatible server.
"""

from __future__ import annotations

import http.client
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

from llm_pipeline_assets.shards import Quarantine
from llm_pipeline_assets.sources.compressed import SUPPORTED_SUFFIXES, file_kind
from llm_pipeline_assets.sources.local_files import SourceError, iter_file_records
from llm_pipeline_assets.work_units import owned_scratch

Logger = Callable[[str], None]
ENDPOINT_ENV = "LLM_PIPELINE_S3_ENDPOINT"
_GLOB = set("*?[")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _s3fs(spec):
    import s3fs

    endpoint = spec.endpoint_url or os.environ.get(ENDPOINT_ENV) or None
    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint} if endpoint else {}, use_listings_cache=False)


def _transient(exc: BaseException) -> bool:
    """Worth another try: the transport failed, not the request (a 4xx, a missing object, bad credentials)."""
    import aiohttp
    import botocore.exceptions

    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code == 429
    if isinstance(exc, http.client.HTTPException):  # IncompleteRead (a chunked body cut short), a bad status line
        return True
    if isinstance(exc, (FileNotFoundError, PermissionError)):
        return False
    if isinstance(exc, botocore.exceptions.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return code.startswith("5") or code in ("SlowDown", "RequestTimeout", "InternalError")
    return isinstance(exc, (OSError, TimeoutError, aiohttp.ClientError, botocore.exceptions.BotoCoreError))


def list_files(spec, key: str) -> tuple[list[str], str, bool]:
    """``(file URLs in sorted order, the prefix their ids are relative to, whether the URL names one file)``."""
    url = spec.url
    if not url.startswith("s3://"):
        return [url], _without_query(url).rsplit("/", 1)[0] + "/", True
    fs = _s3fs(spec)
    path = url[len("s3://"):]
    try:
        if _GLOB & set(path):
            found = sorted(fs.glob(path))
            base = path[:min(path.index(c) for c in _GLOB if c in path)].rsplit("/", 1)[0] + "/"
        else:
            found = sorted(fs.find(path.rstrip("/")))
            base = path.rstrip("/") + "/"
    except Exception as exc:  # noqa: BLE001 - every listing failure is reported with the key and the URL
        raise SourceError(f"{key}.url: cannot list {url!r}: {type(exc).__name__}: {exc}") from exc
    if not found:
        raise SourceError(f"{key}.url: {url!r} matches no object (supported files: {', '.join(SUPPORTED_SUFFIXES)})")
    named = not (_GLOB & set(path)) and found == [path.rstrip("/")]  # the URL is the object's own key
    return [f"s3://{f}" for f in found], f"s3://{path.rsplit('/', 1)[0]}/" if named else f"s3://{base}", named


def _without_query(url: str) -> str:
    """An http(s) URL without ``?query`` / ``#fragment``: a presigned URL's credentials stay out of ids and file
    names. An S3 URL as it is: ``?`` and ``#`` are ordinary characters of an object key."""
    return url if url.startswith("s3://") else url.split("#", 1)[0].split("?", 1)[0]


def _shown(url: str) -> str:
    """``url`` as logs and errors show it: an http(s) query (a presigned URL's signature) is left out."""
    plain = _without_query(url)
    return plain if plain == url else f"{plain}?<query hidden>"


def _fetch(spec, url: str, target: Path) -> None:
    if url.startswith("s3://"):
        _s3fs(spec).get_file(url[len("s3://"):], str(target))
        return
    request = urllib.request.Request(url, headers={"User-Agent": "llm-pipeline-assets"})
    with urllib.request.urlopen(request, timeout=spec.timeout_seconds) as response, open(target, "wb") as out:
        expected = response.headers.get("Content-Length")
        written = 0
        while chunk := response.read(1 << 20):
            out.write(chunk)
            written += len(chunk)
    if expected is not None and written != int(expected):  # a body cut short: transient, try again
        raise ConnectionError(f"{_shown(url)}: received {written} of {expected} bytes")


def fetch_with_retries(spec, url: str, target: Path, key: str, log: Logger,
                       sleep: Callable[[float], None] = time.sleep) -> None:
    for attempt in range(spec.retries + 1):
        try:
            _fetch(spec, url, target)
            return
        except Exception as exc:  # noqa: BLE001 - classified below
            if not _transient(exc) or attempt == spec.retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise SourceError(f"{key}.url: cannot fetch {_shown(url)!r}{tries}: {type(exc).__name__}: {exc}"
                                  ) from exc
            delay = spec.backoff_seconds * (2 ** attempt)
            log(f"{key}: {type(exc).__name__} fetching {_shown(url)}; retry {attempt + 1}/{spec.retries} in {delay:.1f}s")
            sleep(delay)


def iter_remote_records(spec, q: Quarantine, key: str, log: Logger = print) -> Iterator[dict]:
    """Records ``{"id", "text"}`` of every supported file under ``spec.url``, one file on disk at a time."""
    urls, base, named = list_files(spec, key)
    readable = [u for u in urls if file_kind(_without_query(u).rsplit("/", 1)[-1]) or named]  # a named file: as given
    taken = set(readable)
    for url in urls:
        if url not in taken:
            q.add(f"unsupported_file: not one of {', '.join(SUPPORTED_SUFFIXES)}", url[len(base):])
    with owned_scratch(tempfile.gettempdir(), "llm-remote") as tmp:  # a killed run's download: swept next time
        for i, url in enumerate(readable):
            plain = _without_query(url)
            rel = plain[len(base):] if plain.startswith(base) else plain.rsplit("/", 1)[-1]
            name = _UNSAFE.sub("_", plain.rsplit("/", 1)[-1]) or "download"  # one plain file name, suffix kept
            target = Path(tmp) / f"{i:06d}-{name}"  # the suffix tells the readers the file's kind
            fetch_with_retries(spec, url, target, key, log)
            try:
                yield from iter_file_records(target, rel, spec.text_field, spec.id_field, q, spec.max_record_bytes)
            finally:
                target.unlink(missing_ok=True)
            if (i + 1) % 100 == 0:
                log(f"{key}: read {i + 1} of {len(readable)} files")
