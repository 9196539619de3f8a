"""Read documents from a Hugging Face dataset (`datasets.load_dataset`), streaming by default.

Transient failures are retried with exponential backoff; a stream that breaks mid-way is reopened and
the rows already taken are skipped, so nothing is duplicated. ``dataset`` may also be a local folder or a
single local file (.jsonl/.json/.csv/.parquet/.txt). When the Hub cannot be reached (offline,
or HF_HUB_OFFLINE=1) the error says so and names the config key, instead of a bare connection trace.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Callable, Iterator

from llm_pipeline_assets.shards import Quarantine
from llm_pipeline_assets.sources.local_files import SourceError, make_record

Logger = Callable[[str], None]


class _NoTextColumn(Exception):
    def __init__(self, columns: list[str]):
        super().__init__(columns)
        self.columns = columns


#: a single local file as ``dataset``: the ``datasets`` builder that reads it
_FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}


def _file_builder(path: Path) -> str | None:
    """The ``datasets`` builder that reads the local file ``path`` (``x.jsonl``, ``x.csv.gz``), or None."""
    name = path.name.lower()
    for compression in (".gz", ".zst", ".bz2", ".xz"):  # datasets decompresses these by their suffix
        name = name[:-len(compression)] if name.endswith(compression) else name
    return _FILE_BUILDERS.get(Path(name).suffix) if path.is_file() else None


def _open(spec) -> Iterator[dict]:
    import datasets

    path = Path(spec.dataset).expanduser()
    if _file_builder(path):  # load_dataset("x.jsonl") finds no data files
        ds = datasets.load_dataset(_file_builder(path), data_files={spec.split: str(path)},
                                   split=spec.split, streaming=spec.streaming)
    else:
        where = str(path) if path.is_dir() else spec.dataset  # a local folder ("~" expanded) or a Hub id
        ds = datasets.load_dataset(where, spec.subset, split=spec.split, streaming=spec.streaming)
    columns = getattr(ds, "column_names", None)  # known up front for most datasets, streaming ones too
    if columns and spec.text_field not in columns:
        raise _NoTextColumn(list(columns))  # before streaming a whole corpus row by row into the quarantine
    return iter(ds)


def _offline_hint(spec) -> str:
    if Path(spec.dataset).expanduser().exists():  # a local file or folder: the network has nothing to do with it
        return (" datasets stops at a malformed line or row: a local JSON lines / JSON / Parquet source with "
                "kind: local sets it aside (quarantine) and reads on.")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return " HF_HUB_OFFLINE=1 is set, so only cached datasets or local paths can be loaded."
    return " Check the dataset id, your network, or use a local path / {kind: local} source."


def _retryable(exc: BaseException) -> bool:
    """A transport failure worth another try. Not: an unknown dataset / config / split (FileNotFoundError,
    ValueError), an error of the ``datasets`` library itself (DatasetGenerationError: a malformed line, columns whose
    types differ between files), or offline mode (no retry reaches the Hub)."""
    if isinstance(exc, (FileNotFoundError, ValueError)) or type(exc).__module__.startswith("datasets"):
        return False
    if "OfflineModeIsEnabled" in f"{type(exc).__name__} {exc}":
        return False
    return isinstance(exc, (OSError, RuntimeError))  # ConnectionError and TimeoutError are OSErrors


def iter_hf_records(spec, q: Quarantine, key: str, log: Logger = print,
                    opener: Callable = _open, sleep: Callable[[float], None] = time.sleep) -> Iterator[dict]:
    """Yield ``{"id", "text"}`` records; stop after ``spec.max_samples`` documents (rows that are not quarantined,
    as for a local source). ``spec.retries`` counts failures in a row: a stream that read on since the last one
    starts its budget again."""
    taken = kept = 0
    attempt, taken_at_failure = 0, 0
    while True:
        try:
            rows = itertools.islice(opener(spec), taken, None)  # skip what an earlier attempt already yielded
            for obj in rows:
                if spec.max_samples is not None and kept >= spec.max_samples:
                    return
                taken += 1
                origin = f"{spec.dataset}:{spec.split}:{taken}"
                record = make_record(obj, origin, spec.text_field, spec.id_field, q, None, spec.max_record_bytes)
                if record is not None:
                    kept += 1
                    yield record
            return
        except _NoTextColumn as exc:
            raise SourceError(f"{key}.text_field: {spec.text_field!r} is not a column of {spec.dataset!r} "
                              f"(columns: {exc.columns})") from None
        except Exception as exc:
            if not _retryable(exc):
                cause = f" (caused by {type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ else ""
                what = f"reading {spec.dataset!r} failed after {taken} rows" if taken else \
                    f"cannot load Hugging Face dataset {spec.dataset!r}"
                raise SourceError(
                    f"{key}: {what} (subset={spec.subset!r}, split={spec.split!r}): {type(exc).__name__}: "
                    f"{exc}{cause}.{_offline_hint(spec)}") from exc
            if taken > taken_at_failure:  # it read on since the last failure: a new failure, a new budget
                attempt, taken_at_failure = 0, taken
            if attempt >= spec.retries:
                raise SourceError(
                    f"{key}: Hugging Face dataset {spec.dataset!r} failed {attempt + 1} times in a row "
                    f"({taken} rows read): {type(exc).__name__}: {exc}.{_offline_hint(spec)}"
                ) from exc
            delay = spec.backoff_seconds * (2 ** attempt)
            attempt += 1
            log(f"{key}: {type(exc).__name__} after {taken} rows; retry {attempt}/{spec.retries} in {delay:.1f}s")
            sleep(delay)
