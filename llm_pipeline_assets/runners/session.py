"""Open Dagster Pipes on global rank 0 only (torchrun starts N copies; the step expects one writer)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Iterator


class _RankLog:
    def __init__(self, rank: int):
        self.rank = rank

    def info(self, message: str) -> None:
        print(f"[rank {self.rank}] {message}", file=sys.stderr, flush=True)

    warning = error = debug = info


class NullPipes:
    """What non-zero ranks (or a run outside Dagster) get: extras from the environment, logs to stderr."""

    def __init__(self, extras: dict, rank: int):
        self.extras = extras
        self.log = _RankLog(rank)

    def report_asset_materialization(self, *args, **kwargs) -> None:
        return None

    def report_asset_check(self, *args, **kwargs) -> None:
        return None


def global_rank() -> int:
    return int(os.environ.get("RANK", "0"))


@contextlib.contextmanager
def pipes_session() -> Iterator[object]:
    """The Pipes context on rank 0; a NullPipes elsewhere (extras read from LLM_PIPELINE_EXTRAS if set)."""
    rank = global_rank()
    if rank == 0 and os.environ.get("DAGSTER_PIPES_CONTEXT"):
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            yield pipes
    else:
        yield NullPipes(json.loads(os.environ.get("LLM_PIPELINE_EXTRAS", "{}")), rank)
