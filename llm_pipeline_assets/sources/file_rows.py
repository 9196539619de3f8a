"""Fault-tolerant readers of JSON-lines and Parquet files, shared by the corpus and the chat-data readers.

They yield what they can parse and hand everything else to ``reject(reason, origin, raw=None, **extra)``
(``Quarantine.add`` has that signature): a bad line, a line over the size limit, a file that ends early,
a Parquet row group that cannot be decoded. A caller therefore counts every bad record and loses no good
one around it. Nothing here raises for bad input bytes; only the caller's own callbacks can.

- Lines are read with a bounded ``readline``: a 5 GB file without a newline is skipped in 1 MiB steps,
  never held in memory.
- ``json.loads`` raises more than ``JSONDecodeError`` on hostile input: ``RecursionError`` for deeply
  nested arrays, ``ValueError`` for integers longer than 4300 digits. Both are rejected lines here.
- A raw NUL byte is never valid JSON and usually means a binary file; it gets its own reason.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Callable, Iterator

import zstandard

from llm_pipeline_assets.config_base import MAX_RECORD_BYTES  # default; sources set their own
from llm_pipeline_assets.sources.compressed import file_kind, open_compressed

_SKIP_CHUNK = 1 << 20

Reject = Callable[..., None]


def _read_line(fh, limit: int) -> tuple[bytes, int]:
    """(the next line, cut to ``limit + 1`` bytes; its full length without the newline); (b"", -1) at EOF."""
    line = fh.readline(limit + 1)
    if not line:
        return b"", -1
    if line.endswith(b"\n") or len(line) <= limit:
        return line, len(line.rstrip(b"\n"))
    size = len(line)
    while True:  # an oversized line: count the rest of it without keeping it
        chunk = fh.readline(_SKIP_CHUNK)
        size += len(chunk.rstrip(b"\n"))
        if not chunk or chunk.endswith(b"\n"):
            return line, size


def parse_json_line(line: bytes, origin: str, reject: Reject) -> tuple[bool, object]:
    """(True, value) for a line holding one JSON value; else (False, None) after rejecting it."""
    nul = line.find(b"\x00")
    if nul >= 0:
        reject(f"nul_byte: NUL at byte {nul} (binary data?)", origin, line)
        return False, None
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        reject(f"invalid_utf8: {exc.reason} at byte {exc.start}", origin, line)
        return False, None
    try:
        return True, json.loads(decoded)
    except RecursionError:
        reject("malformed_json: nested too deeply", origin, decoded)
    except ValueError as exc:  # JSONDecodeError, or an integer over the int-to-str digit limit
        reject(f"malformed_json: {getattr(exc, 'msg', None) or exc}", origin, decoded)
    return False, None


# What a damaged or truncated .gz/.zst raises while being read.
CORRUPT_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, OSError, zstandard.ZstdError)


_BOM = b"\xef\xbb\xbf"


def _holds_array(fh) -> bool:
    head = fh.peek(256)[:256]
    return head.removeprefix(_BOM).lstrip().startswith(b"[")


def _iter_json_array(fh, rel: str, reject: Reject, max_bytes: int) -> Iterator[tuple[str, object, bytes]]:
    """The elements of a .json file holding one JSON array, origins ``rel:[i]`` (read whole, up to ``max_bytes``)."""
    data = fh.read(max_bytes + 1).removeprefix(_BOM)
    if len(data) > max_bytes:
        reject(f"oversized_record: JSON array file over {max_bytes} bytes (convert it to JSON lines)", rel)
        return
    ok, value = parse_json_line(data, rel, reject)
    if not ok:
        return
    if not value:
        reject("empty_file", rel)
    for i, item in enumerate(value):
        yield f"{rel}:[{i}]", item, json.dumps(item, ensure_ascii=False)[:2000].encode("utf-8")


def _one_object(path: Path, rel: str, max_bytes: int) -> tuple[str, object, bytes] | None:
    """A ``.json`` file holding one (pretty-printed) JSON object: ``(rel, object, raw)``; None when it is not one
    (JSON lines in a .json file: its first line parses alone; an object over ``max_bytes``; a broken or truncated
    file: the JSON-lines reader then keeps its good lines and says why)."""
    try:
        with open_compressed(path) as fh:
            head = fh.peek(65536)[:65536].removeprefix(_BOM)
            first = head.split(b"\n", 1)[0]
            if not head.lstrip().startswith(b"{") or (b"\n" in head and _parsed(first) is not None):
                return None
            data = fh.read(max_bytes + 1).removeprefix(_BOM)
    except CORRUPT_ERRORS:
        return None
    value = _parsed(data) if len(data) <= max_bytes else None
    return (rel, value, data[:2000]) if isinstance(value, dict) else None


def _parsed(data: bytes):
    """``data`` as JSON, or None where it is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return None


def iter_json_lines(path: Path, rel: str, reject: Reject,
                    max_line_bytes: int = MAX_RECORD_BYTES) -> Iterator[tuple[str, object, bytes]]:
    """``(origin "rel:lineno", parsed value, raw line)`` for each good line of a JSON-lines file (.gz, .zst).

    Blank lines are skipped; a file with no non-blank line is rejected as ``empty_file``; a truncated or
    corrupt file is rejected once (``truncated_or_corrupt_file``) after the lines read before the damage.
    A UTF-8 byte-order mark before the first line is dropped. A ``.json`` file that holds one JSON array
    (rather than one object per line) yields its elements, origins ``rel:[i]``; one that holds a single
    (pretty-printed) object yields it, origin ``rel``.
    """
    lineno = records = 0
    try:
        fh = open_compressed(path)
    except OSError as exc:
        reject(f"unreadable_file: {type(exc).__name__}: {exc}", rel)
        return
    whole_json = (file_kind(path.name) or ("jsonl",))[0] == "json"
    with fh:
        try:
            if whole_json and _holds_array(fh):
                yield from _iter_json_array(fh, rel, reject, max_line_bytes * 64)
                return
            if whole_json:
                one = _one_object(path, rel, max_line_bytes)
                if one is not None:
                    yield one
                    return
            while True:
                line, size = _read_line(fh, max_line_bytes)
                if size < 0:
                    break
                lineno += 1
                if lineno == 1 and line.startswith(_BOM):
                    line, size = line[3:], size - 3
                origin = f"{rel}:{lineno}"
                if size > max_line_bytes:
                    records += 1
                    reject(f"oversized_record: line of {size} bytes > max_record_bytes {max_line_bytes}",
                           origin, line[:2000])
                    continue
                if not line.strip():
                    continue
                records += 1
                ok, value = parse_json_line(line, origin, reject)
                if ok:
                    yield origin, value, line
        except CORRUPT_ERRORS as exc:
            reject(f"truncated_or_corrupt_file: {type(exc).__name__}: {exc} after line {lineno}", rel)
            return
    if not records:
        reject("empty_file", rel)


def open_parquet(path: Path, rel: str, reject: Reject):
    """A ``pyarrow.parquet.ParquetFile``, or None after rejecting a file whose footer cannot be read."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        reject(f"unreadable_parquet: {type(exc).__name__}: {exc}", rel)
        return None


def iter_parquet_rows(pf, rel: str, reject: Reject, columns: list[str] | None = None,
                      batch_rows: int = 2000) -> Iterator[tuple[str, dict]]:
    """``(origin "rel:row", row dict)`` for every readable row, streamed one row group at a time.

    A row group whose pages cannot be decoded is rejected (``corrupt_row_group``, with ``rows_lost``)
    and reading goes on with the next one; row numbers stay those of the file.
    """
    if pf.metadata.num_rows == 0:
        reject("empty_file", rel)
        return
    first = 0
    for group in range(pf.num_row_groups):
        n, done = pf.metadata.row_group(group).num_rows, 0
        try:
            for batch in pf.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns):
                for row in batch.to_pylist():
                    done += 1
                    yield f"{rel}:{first + done}", row
        except Exception as exc:  # OSError / ArrowInvalid / ArrowNotImplementedError from a damaged page
            reject(f"corrupt_row_group: row group {group} (rows {first + done + 1}-{first + n}): "
                   f"{type(exc).__name__}: {exc}", rel, rows_lost=n - done)
        first += n
