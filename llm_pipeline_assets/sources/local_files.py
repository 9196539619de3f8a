"""Read documents from local files: .jsonl, .jsonl.gz, .parquet and .txt (one document per file).

Every record either becomes a document or goes to the quarantine with its reason — malformed JSON,
invalid UTF-8, a missing or non-string text field, an empty file, a truncated .gz, a Parquet file
without the text column. Good records around a bad one are never lost.
"""

from __future__ import annotations

import glob
import gzip
import json
import zlib
from pathlib import Path
from typing import Iterator

from llm_pipeline_assets.shards import Quarantine

SUPPORTED_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet", ".txt")


class SourceError(RuntimeError):
    """A source that cannot be read at all (missing path, unknown kind, unreachable dataset)."""


def _supported(path: Path) -> bool:
    return path.is_file() and any(path.name.endswith(s) for s in SUPPORTED_SUFFIXES)


def resolve_files(pattern: str, key: str) -> list[Path]:
    """A directory (searched recursively), a file, or a glob; sorted so the order is deterministic."""
    p = Path(pattern).expanduser()
    if p.is_dir():
        files = [f for f in sorted(p.rglob("*")) if _supported(f)]
    elif p.is_file():
        files = [p]
    else:
        files = [Path(f) for f in sorted(glob.glob(str(p), recursive=True)) if _supported(Path(f))]
    if not files:
        raise SourceError(
            f"{key}: {pattern!r} matches no readable file (supported: {', '.join(SUPPORTED_SUFFIXES)})"
        )
    return files


def make_record(obj: object, origin: str, text_field: str, id_field: str | None, q: Quarantine,
                 raw: object) -> dict | None:
    if not isinstance(obj, dict):
        q.add("not_an_object", origin, raw)
        return None
    if text_field not in obj or obj[text_field] is None:
        q.add(f"missing_text: no field {text_field!r}", origin, raw)
        return None
    text = obj[text_field]
    if not isinstance(text, str):
        q.add(f"non_string_text: {text_field!r} is {type(text).__name__}", origin, raw)
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        q.add("invalid_unicode: lone surrogate in text", origin, raw)
        return None
    if not text.strip():
        q.add("empty_text", origin, raw)
        return None
    doc_id = obj.get(id_field) if id_field else None
    return {"id": str(doc_id) if doc_id is not None else origin, "text": text}


def _iter_jsonl(path: Path, rel: str, text_field: str, id_field: str | None, q: Quarantine) -> Iterator[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    lineno, seen_any = 0, False
    try:
        with opener(path, "rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                seen_any = True
                origin = f"{rel}:{lineno}"
                if not line.strip():
                    continue
                try:
                    decoded = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    q.add(f"invalid_utf8: {exc.reason} at byte {exc.start}", origin, line)
                    continue
                try:
                    obj = json.loads(decoded)
                except json.JSONDecodeError as exc:
                    q.add(f"malformed_json: {exc.msg}", origin, decoded)
                    continue
                record = make_record(obj, origin, text_field, id_field, q, decoded)
                if record is not None:
                    yield record
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        q.add(f"truncated_or_corrupt_file: {type(exc).__name__}: {exc} after line {lineno}", rel)
        return
    if not seen_any:
        q.add("empty_file", rel)


def _iter_parquet(path: Path, rel: str, text_field: str, id_field: str | None, q: Quarantine) -> Iterator[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        q.add(f"unreadable_parquet: {type(exc).__name__}: {exc}", rel)
        return
    schema = pf.schema_arrow
    if text_field not in schema.names:
        q.add(f"wrong_schema: no column {text_field!r} (columns: {schema.names})", rel)
        return
    if not (pa.types.is_string(schema.field(text_field).type) or pa.types.is_large_string(schema.field(text_field).type)):
        q.add(f"wrong_schema: column {text_field!r} is {schema.field(text_field).type}, expected string", rel)
        return
    if pf.metadata.num_rows == 0:
        q.add("empty_file", rel)
        return
    columns = [text_field] + ([id_field] if id_field and id_field in schema.names else [])
    row = 0
    for batch in pf.iter_batches(columns=columns, batch_size=2000):
        for obj in batch.to_pylist():
            row += 1
            origin = f"{rel}:{row}"
            record = make_record(obj, origin, text_field, id_field, q, None)
            if record is not None:
                yield record


def _iter_txt(path: Path, rel: str, q: Quarantine) -> Iterator[dict]:
    data = path.read_bytes()
    if not data.strip():
        q.add("empty_file", rel)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        q.add(f"invalid_utf8: {exc.reason} at byte {exc.start}", rel, data)
        return
    yield {"id": rel, "text": text}


def iter_local_records(pattern: str, text_field: str, id_field: str | None, q: Quarantine,
                       key: str = "path") -> Iterator[dict]:
    """Records ``{"id", "text"}`` from every supported file matching ``pattern``, in sorted file order."""
    files = resolve_files(pattern, key)
    base = Path(pattern).expanduser()
    base = base if base.is_dir() else base.parent
    for path in files:
        try:
            rel = str(path.relative_to(base))
        except ValueError:
            rel = path.name
        if path.name.endswith(".parquet"):
            yield from _iter_parquet(path, rel, text_field, id_field, q)
        elif path.name.endswith(".txt"):
            yield from _iter_txt(path, rel, q)
        else:
            yield from _iter_jsonl(path, rel, text_field, id_field, q)
