"""Read documents from a Hugging Face dataset (`datasets.load_dataset`), streaming by default.

Transient failures are retried with exponential backoff; a stream that breaks mid-way is reopened and
the rows already taken are skipped, so nothing is duplicated. When the Hub cannot be reached (offline,
or HF_HUB_OFFLINE=1) the error says so and names the config key, instead of a bare connection trace.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Callable, Iterator

from llm_pipeline_assets.shards import Quarantine
from llm_pipeline_assets.sources.local_files import SourceError, make_record

Logger = Callable[[str], None]


class _NoTextColumn(Exception):
    def __init__(self, columns: list[str]):
        super().__init__(columns)
        self.columns = columns


def _open(spec) -> Iterator[dict]:
    import datasets

    ds = datasets.load_dataset(spec.dataset, spec.subset, split=spec.split, streaming=spec.streaming)
    columns = getattr(ds, "column_names", None)  # known up front for most datasets, streaming ones too
    if columns and spec.text_field not in columns:
        raise _NoTextColumn(list(columns))  # before streaming a whole corpus row by row into the quarantine
    return iter(ds)


def _offline_hint() -> str:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return " HF_HUB_OFFLINE=1 is set, so only cached datasets or local paths can be loaded."
    return " Check the dataset id, your network, or use a local path / {kind: local} source."


def iter_hf_records(spec, q: Quarantine, key: str, log: Logger = print,
                    opener: Callable = _open, sleep: Callable[[float], None] = time.sleep) -> Iterator[dict]:
    """Yield ``{"id", "text"}`` records; stop after ``spec.max_samples`` rows have been read."""
    taken = 0
    attempt = 0
    while True:
        try:
            rows = opener(spec)
            rows = itertools.islice(rows, taken, spec.max_samples)  # skip what an earlier attempt already yielded
            for obj in rows:
                taken += 1
                origin = f"{spec.dataset}:{spec.split}:{taken}"
                record = make_record(obj, origin, spec.text_field, spec.id_field, q, None, spec.max_record_bytes)
                if record is not None:
                    yield record
            return
        except _NoTextColumn as exc:
            raise SourceError(f"{key}.text_field: {spec.text_field!r} is not a column of {spec.dataset!r} "
                              f"(columns: {exc.columns})") from None
        except (FileNotFoundError, ValueError) as exc:
            # Not transient: unknown dataset / config / split, or no network for an uncached dataset.
            raise SourceError(
                f"{key}: cannot load Hugging Face dataset {spec.dataset!r} (subset={spec.subset!r}, "
                f"split={spec.split!r}): {type(exc).__name__}: {exc}.{_offline_hint()}"
            ) from exc
        except (ConnectionError, TimeoutError, OSError, RuntimeError) as exc:
            if attempt >= spec.retries:
                raise SourceError(
                    f"{key}: Hugging Face dataset {spec.dataset!r} failed after {attempt + 1} attempts "
                    f"({taken} rows read): {type(exc).__name__}: {exc}.{_offline_hint()}"
                ) from exc
            delay = spec.backoff_seconds * (2 ** attempt)
            attempt += 1
            log(f"{key}: {type(exc).__name__} after {taken} rows; retry {attempt}/{spec.retries} in {delay:.1f}s")
            sleep(delay)
