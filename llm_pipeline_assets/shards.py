"""Parquet document shards (``id``, ``text``, ``source``) and the quarantine file for bad records.

Shards are bounded by document count and bytes, so no stage ever holds a whole corpus in memory;
readers stream record batches. Quarantine records keep the raw input (truncated) and the reason.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from pathlib import Path
from queue import Empty, Full, Queue
from typing import Iterable, Iterator, Sequence, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

DOC_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string())])
QUARANTINE_FILE = "quarantine.jsonl"
_RAW_PREVIEW = 2000
T = TypeVar("T")
#: GIL switch interval while a prefetch producer runs (CPython's default is 5 ms; see ``prefetch``)
PREFETCH_SWITCH_INTERVAL = 0.0005
_switch_lock = threading.Lock()
_switch_state = {"users": 0, "saved": None}


class ShardWriter:
    """Write documents to ``<dir>/<prefix>-00000.parquet``, ``-00001``… rolling over at max_docs / max_bytes."""

    def __init__(self, out_dir: Path, prefix: str = "part", max_docs: int = 5000, max_bytes: int = 64 << 20,
                 schema: pa.Schema = DOC_SCHEMA):
        self.out_dir, self.prefix, self.schema = Path(out_dir), prefix, schema
        self.max_docs, self.max_bytes = max_docs, max_bytes
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, list] = {name: [] for name in schema.names}
        self._bytes = 0
        self.files: list[Path] = []
        self.docs = 0
        self.text_bytes = 0

    def write(self, record: dict) -> None:
        for name in self.schema.names:
            self._rows[name].append(record[name])
        size = len(record["text"].encode("utf-8", "surrogatepass"))
        self._bytes += size
        self.docs += 1
        self.text_bytes += size
        if len(self._rows["text"]) >= self.max_docs or self._bytes >= self.max_bytes:
            self.flush()

    def write_many(self, records: Iterable[dict]) -> None:
        for record in records:
            self.write(record)

    def flush(self) -> None:
        if not self._rows["text"]:
            return
        path = self.out_dir / f"{self.prefix}-{len(self.files):05d}.parquet"
        table = pa.Table.from_pydict(self._rows, schema=self.schema)
        pq.write_table(table, path, compression="zstd")
        self.files.append(path)
        self._rows = {name: [] for name in self.schema.names}
        self._bytes = 0

    def close(self) -> list[Path]:
        self.flush()
        return self.files


def iter_batches(files: Sequence[Path], batch_docs: int = 1000, columns: Sequence[str] = ("id", "text", "source")
                 ) -> Iterator[list[dict]]:
    """Stream shards as lists of row dicts, ``batch_docs`` at a time, in file order."""
    for path in files:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=batch_docs, columns=list(columns)):
            yield batch.to_pylist()


def prefetch(items: Iterable[T], depth: int = 2,
             switch_interval: float | None = PREFETCH_SWITCH_INTERVAL) -> Iterator[T]:
    """``items`` in order, produced up to ``depth`` ahead by a background thread: a Parquet read (Arrow decodes
    without the GIL) or the host half of the next batch then overlaps the work on the current one. The
    producer's exception is raised here, at its place in the order; closing the iterator stops the producer.

    While the producer runs, the interpreter's GIL switch interval is at most ``switch_interval`` seconds
    (``None``: left alone). The consumer's work releases the GIL in every torch op and every wait on the device;
    with CPython's default 5 ms a producer busy in Python code then holds the GIL for up to 5 ms before the
    consumer gets it back, once per release (``bench/prefetch_gil.py`` measures the consumer's slowdown)."""
    queue: Queue = Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # delivered to the consumer at its place in the order
            put((False, exc))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    shortened = switch_interval is not None and _shorten_switch_interval(switch_interval)
    try:
        worker.start()
        while True:
            ok, item = queue.get()
            if not ok:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                queue.get_nowait()
            except Empty:
                worker.join(timeout=0.05)
        if shortened:
            _restore_switch_interval()


def _shorten_switch_interval(seconds: float) -> bool:
    """Lower the GIL switch interval to ``seconds`` while any prefetch runs (nested and concurrent ones count)."""
    if seconds <= 0:
        raise ValueError(f"switch_interval must be > 0 seconds, got {seconds}")
    with _switch_lock:
        if _switch_state["users"] == 0:
            _switch_state["saved"] = sys.getswitchinterval()
        _switch_state["users"] += 1
        sys.setswitchinterval(min(seconds, sys.getswitchinterval()))
    return True


def _restore_switch_interval() -> None:
    with _switch_lock:
        _switch_state["users"] -= 1
        if _switch_state["users"] == 0:
            sys.setswitchinterval(_switch_state["saved"])


def count_rows(files: Sequence[Path]) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in files)


def shard_files(directory: Path, prefix: str = "part") -> list[Path]:
    return sorted(Path(directory).glob(f"{prefix}-*.parquet"))


def validate_schema(path: Path, schema: pa.Schema = DOC_SCHEMA) -> str | None:
    """None if the shard has exactly the expected columns and types, else a description of the mismatch."""
    actual = pq.read_schema(path)
    for field in schema:
        if field.name not in actual.names:
            return f"{path.name}: missing column {field.name!r}"
        if actual.field(field.name).type != field.type:
            return f"{path.name}: column {field.name!r} is {actual.field(field.name).type}, expected {field.type}"
    return None


class Quarantine:
    """Append-only JSONL of rejected input records, each with its reason; counts by reason."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = None
        self.counts: Counter = Counter()

    def add(self, reason: str, origin: str, raw: object = None, **extra) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")
        if isinstance(raw, bytes):
            raw = raw[:_RAW_PREVIEW].decode("utf-8", "backslashreplace")
        elif raw is not None and not isinstance(raw, str):
            raw = repr(raw)
        entry = {"reason": reason, "origin": origin, "raw": None if raw is None else raw[:_RAW_PREVIEW], **extra}
        self._fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.counts[reason.split(":", 1)[0]] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
