"""The SFT formatter registry and ``format_rows``, what the ``sft_dataset`` asset calls.

``SFT_FORMATTERS[kind](row)`` turns one row of a source with schema ``kind`` into chat messages or raises
:class:`FormatError`. ``format_rows(kind, rows)`` runs a whole source through it and through
:func:`validate_messages`: every input row comes back either as a conversation or as a rejected row
with its reason, so a run can report (and a test can check) exactly what was dropped and why.

Raw oasst1 message trees are not row-per-conversation: for kind ``oasst`` the message rows (``message_id`` /
``parent_id``) are rebuilt into threads by :func:`oasst_threads` (the best-ranked thread of each tree), flat
instruction/response rows of the same source go through the row formatter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from .common import FormatError, partition, validate_messages
from .sft_instruct import alpaca, dolly, oasst, oasst_threads, openorca
from .sft_reasoning import arc, cot_collection, gsm8k, logiqa, mathinstruct, metamath, orca_math
from .sft_tools import glaive, gorilla, hermes, toolbench

__all__ = ["SFT_FORMATTERS", "SFT_TASKS", "FormatError", "format_row", "format_rows", "oasst_threads", "validate_messages"]

SFT_FORMATTERS: dict[str, Callable[[Any], list[dict]]] = {
    "gsm8k": gsm8k,
    "orca-math": orca_math,
    "metamath": metamath,
    "mathinstruct": mathinstruct,
    "cot-collection": cot_collection,
    "logiqa": logiqa,
    "arc": arc,
    "glaive": glaive,
    "hermes": hermes,
    "gorilla": gorilla,
    "toolbench": toolbench,
    "alpaca": alpaca,
    "dolly": dolly,
    "openorca": openorca,
    "oasst": oasst,
}

#: the task each source format teaches, as the synthetic source names its rows (math, choice, tool, safety) plus
#: reasoning and general: what ``lora.mix`` draws by, so a preset's real sources are in the LoRA mix with the
#: synthetic rows of the same task (``messages`` rows: general, unless a row names its own ``task``)
SFT_TASKS: dict[str, str] = {
    "gsm8k": "math", "orca-math": "math", "metamath": "math", "mathinstruct": "math",
    "cot-collection": "reasoning", "logiqa": "choice", "arc": "choice",
    "glaive": "tool", "hermes": "tool", "gorilla": "tool", "toolbench": "tool",
    "alpaca": "general", "dolly": "general", "openorca": "general", "oasst": "general", "messages": "general",
}


def _formatter(kind: str) -> Callable[[Any], list[dict]]:
    try:
        return SFT_FORMATTERS[kind]
    except KeyError:
        raise ValueError(f"unknown SFT source kind {kind!r}; known: {sorted(SFT_FORMATTERS)}") from None


def format_row(kind: str, row: Any) -> list[dict]:
    """One row -> validated messages, or :class:`FormatError`."""
    return validate_messages(_formatter(kind)(row))


def format_rows(kind: str, rows: Iterable[Any]) -> tuple[list[list[dict]], list[dict]]:
    """(conversations, rejected ``{"reason", "row"}``) for every row; ``ValueError`` for an unknown kind."""
    _formatter(kind)  # fail on an unknown kind before reading any row
    if kind == "oasst":
        rows = list(rows)
        tree = [r for r in rows if _is_message_node(r)]
        if tree:  # oasst1 as published: one message per row
            rejected: list[dict] = []
            used: set = set()
            threads = list(oasst_threads(tree, rejected=rejected, used=used))
            bad_rows = {id(r["row"]) for r in rejected}
            rejected += [{"reason": UNUSED_OASST, "row": r} for r in tree
                         if id(r) not in bad_rows and r["message_id"] not in used]
            flat, bad = partition([r for r in rows if not _is_message_node(r)], partial(format_row, kind))
            order = {id(r): i for i, r in enumerate(rows)}
            return threads + flat, sorted(rejected + bad, key=lambda r: order[id(r["row"])])  # input order
    return partition(rows, partial(format_row, kind))


UNUSED_OASST = ("oasst message on no kept thread: a lower-ranked branch, an unanswered prompt, or below a "
                "rejected message")


def _is_message_node(row: Any) -> bool:
    return isinstance(row, dict) and "message_id" in row and "parent_id" in row
