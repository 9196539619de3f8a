"""Open Dagster Pipes on global rank 0 only (torchrun starts N copies; the step expects one writer)."""

from __future__ import annotations

import contextlib
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
    """What non-zero ranks get: the same extras as rank 0 (read, not opened), logs to stderr, no reports."""

    def __init__(self, extras: dict, rank: int):
        self.extras = extras
        self.log = _RankLog(rank)

    def report_asset_materialization(self, *args, **kwargs) -> None:
        return None

    def report_asset_check(self, *args, **kwargs) -> None:
        return None


def global_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _extras_without_opening() -> dict:
    """The Pipes context's extras, read without opening a message writer (only rank 0 may write)."""
    from dagster_pipes import PipesDefaultContextLoader, PipesEnvVarParamsLoader

    params = PipesEnvVarParamsLoader().load_context_params()
    with PipesDefaultContextLoader().load_context(params) as data:
        return dict(data.get("extras") or {})


@contextlib.contextmanager
def pipes_session() -> Iterator[object]:
    """The Pipes context on rank 0; a NullPipes with the same extras on the other torchrun ranks."""
    rank = global_rank()
    if not os.environ.get("DAGSTER_PIPES_CONTEXT"):
        raise RuntimeError("this module runs as a Dagster Pipes child; launch it through ComputeResource.run")
    if rank == 0:
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            yield pipes
    else:
        yield NullPipes(_extras_without_opening(), rank)
