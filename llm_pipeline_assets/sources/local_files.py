"""Read documents from local files: .jsonl, .json, .parquet and .txt (one document per file); .gz/.zst too.

Every record either becomes a document or goes to the quarantine with its reason — malformed JSON,
invalid UTF-8, NUL bytes, a missing or non-string text field, a record over ``max_record_bytes``, an
empty file, a truncated .gz/.zst, a Parquet file without the text column or with a damaged row group. Good
records around a bad one are never lost. A file of a kind no reader takes (.csv, .md) in a directory or glob
is listed in the quarantine as ``unsupported_file`` rather than skipped unseen (hidden files are ignored).
The line and row-group readers live in ``file_rows``.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Iterator

from llm_pipeline_assets.shards import Quarantine
from llm_pipeline_assets.config_base import MAX_RECORD_BYTES
from llm_pipeline_assets.sources.compressed import SUPPORTED_SUFFIXES, file_kind, open_compressed
from llm_pipeline_assets.sources.file_rows import CORRUPT_ERRORS, iter_json_lines, iter_parquet_rows, open_parquet


class SourceError(RuntimeError):
    """A source that cannot be read at all (missing path, unknown kind, unreachable dataset)."""


def _hidden(path: Path, base: Path) -> bool:
    try:
        parts = path.relative_to(base).parts
    except ValueError:
        parts = (path.name,)
    return any(part.startswith(".") for part in parts)


def glob_root(pattern: str) -> Path:
    """The folder a pattern's files are named relative to (their ids and origins): the folder itself, a file's
    folder, or a glob's leading part without wildcards (``data/**/*.txt``: ``data``, so ``a/x.txt`` and
    ``b/x.txt`` stay apart)."""
    path = Path(pattern).expanduser()
    if path.is_dir():
        return path
    fixed = []
    for part in path.parts:
        if any(c in part for c in "*?["):
            return Path(*fixed) if fixed else Path(".")
        fixed.append(part)
    return path.parent


#: data formats a named file may have that no local reader takes (read as JSON lines, every line was quarantined)
_OTHER_FORMATS = {".csv", ".tsv", ".xlsx", ".xls", ".arrow", ".feather", ".avro", ".orc", ".xml", ".html", ".pdf"}


def resolve_files(pattern: str, key: str, unsupported: list[Path] | None = None) -> list[Path]:
    """A directory (searched recursively), a file, or a glob; sorted so the order is deterministic.

    Files no reader takes are appended to ``unsupported`` (when given) instead of being dropped unseen.
    """
    p = Path(pattern).expanduser()
    if p.is_dir():
        found = [f for f in sorted(p.rglob("*")) if f.is_file() and not _hidden(f, p)]
    elif p.is_file():
        found = [p]
    else:
        found = [Path(f) for f in sorted(glob.glob(str(p), recursive=True)) if Path(f).is_file()]
    if p.is_file() and not file_kind(p.name) and p.suffix.lower() in _OTHER_FORMATS:  # not JSON lines: say so
        raise SourceError(f"{key}: {pattern!r} is a {p.suffix} file, which a local source does not read (supported: "
                          f"{', '.join(SUPPORTED_SUFFIXES)}); a CSV file loads as {{kind: huggingface, dataset: <file>}}")
    files = [f for f in found if file_kind(f.name) or p.is_file()]  # a file named explicitly is read as given
    if unsupported is not None:
        taken = set(files)
        unsupported.extend(f for f in found if f not in taken)
    if not files:
        raise SourceError(
            f"{key}: {pattern!r} matches no readable file (supported: {', '.join(SUPPORTED_SUFFIXES)})"
        )
    return files


def make_record(obj: object, origin: str, text_field: str, id_field: str | None, q: Quarantine,
                raw: object, max_bytes: int = MAX_RECORD_BYTES) -> dict | None:
    """``{"id", "text"}`` from one parsed record, or None after quarantining it with its reason."""
    if not isinstance(obj, dict):
        q.add("not_an_object", origin, raw)
        return None
    if text_field not in obj or obj[text_field] is None:
        q.add(f"missing_text: {'no field' if text_field not in obj else 'null value of'} {text_field!r}", origin, raw)
        return None
    text = obj[text_field]
    if not isinstance(text, str):
        q.add(f"non_string_text: {text_field!r} is {type(text).__name__}", origin, raw)
        return None
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        q.add("invalid_unicode: lone surrogate in text", origin, raw)
        return None
    if size > max_bytes:
        q.add(f"oversized_record: text of {size} bytes > max_record_bytes {max_bytes}", origin, text[:2000])
        return None
    if not text.strip():
        q.add("empty_text", origin, raw)
        return None
    doc_id = obj.get(id_field) if id_field else None
    doc_id = str(doc_id) if doc_id is not None else origin
    try:
        doc_id.encode("utf-8")
    except UnicodeEncodeError:  # Parquet cannot store it: the whole shard write would fail
        q.add(f"invalid_unicode: lone surrogate in {id_field!r}", origin, raw)
        return None
    return {"id": doc_id, "text": text}


def _iter_jsonl(path: Path, rel: str, text_field: str, id_field: str | None, q: Quarantine,
                max_bytes: int) -> Iterator[dict]:
    for origin, obj, line in iter_json_lines(path, rel, q.add, max_bytes):
        record = make_record(obj, origin, text_field, id_field, q, line, max_bytes)
        if record is not None:
            yield record


def _is_text_type(t) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(t):  # pandas categoricals arrive dictionary-encoded
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _iter_parquet(path: Path, rel: str, text_field: str, id_field: str | None, q: Quarantine,
                  max_bytes: int) -> Iterator[dict]:
    pf = open_parquet(path, rel, q.add)
    if pf is None:
        return
    schema = pf.schema_arrow
    rows = pf.metadata.num_rows  # every one of them is lost with the file: say how many
    if text_field not in schema.names:
        q.add(f"wrong_schema: no column {text_field!r} (columns: {schema.names}; text_field names the column)",
              rel, rows_lost=rows)
        return
    if not _is_text_type(schema.field(text_field).type):
        q.add(f"wrong_schema: column {text_field!r} is {schema.field(text_field).type}, expected string", rel,
              rows_lost=rows)
        return
    columns = [text_field] + ([id_field] if id_field and id_field in schema.names else [])
    for origin, obj in iter_parquet_rows(pf, rel, q.add, columns):
        record = make_record(obj, origin, text_field, id_field, q, None, max_bytes)
        if record is not None:
            yield record


def _iter_txt(path: Path, rel: str, q: Quarantine, max_bytes: int) -> Iterator[dict]:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            q.add(f"oversized_record: file of {size} bytes > max_record_bytes {max_bytes}", rel)
            return
        with open_compressed(path) as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            q.add(f"oversized_record: file over max_record_bytes {max_bytes} once decompressed", rel)
            return
    except CORRUPT_ERRORS as exc:
        q.add(f"unreadable_file: {type(exc).__name__}: {exc}", rel)
        return
    if not data.strip():
        q.add("empty_file", rel)
        return
    nul = data.find(b"\x00")
    if nul >= 0:
        q.add(f"nul_byte: NUL at byte {nul} (binary data?)", rel, data)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        q.add(f"invalid_utf8: {exc.reason} at byte {exc.start}", rel, data)
        return
    yield {"id": rel, "text": text}


def iter_local_records(pattern: str, text_field: str, id_field: str | None, q: Quarantine,
                       key: str = "path", max_bytes: int = MAX_RECORD_BYTES) -> Iterator[dict]:
    """Records ``{"id", "text"}`` from every supported file matching ``pattern``, in sorted file order."""
    unsupported: list[Path] = []
    files = resolve_files(pattern, key, unsupported)
    base = glob_root(pattern)

    def relative(path: Path) -> str:
        try:
            return str(path.relative_to(base))
        except ValueError:
            return path.name

    for path in unsupported:
        q.add(f"unsupported_file: not one of {', '.join(SUPPORTED_SUFFIXES)}", relative(path))
    for path in files:
        yield from iter_file_records(path, relative(path), text_field, id_field, q, max_bytes)


def iter_file_records(path: Path, rel: str, text_field: str, id_field: str | None, q: Quarantine,
                      max_bytes: int = MAX_RECORD_BYTES) -> Iterator[dict]:
    """Records of one file by its kind (Parquet, plain text, else JSON lines / JSON, any compression); ``rel``
    names it in ids and in the quarantine. Shared with ``sources.remote`` (files fetched from S3 or a URL)."""
    kind = (file_kind(path.name) or ("jsonl",))[0]
    if kind == "parquet":
        yield from _iter_parquet(path, rel, text_field, id_field, q, max_bytes)
    elif kind == "txt":
        yield from _iter_txt(path, rel, q, max_bytes)
    else:
        yield from _iter_jsonl(path, rel, text_field, id_field, q, max_bytes)
