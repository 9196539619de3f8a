"""Formatters for the general instruction sources: alpaca, dolly, OpenOrca, OpenAssistant.

Dolly has its own schema (instruction, context, response); the seed pipeline ran it through the alpaca
formatter, which reads ``input``/``output`` and so lost every context and response.

Raw ``OpenAssistant/oasst1`` is not one conversation per row: each row is one message (``message_id``,
``parent_id``, ``role`` prompter|assistant, ``text``, ``rank`` among its siblings) of a tree rooted at a
prompter message. The seed pipeline read such rows as instruction/response pairs and emitted empty
responses; here :func:`oasst` rejects them and :func:`oasst_threads` rebuilds the conversations.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .common import FormatError, assistant, message, optional_text, text_field, validate_messages


def _with_section(instruction: str, label: str, extra: str) -> str:
    return f"{instruction}\n\n{label}: {extra}" if extra else instruction


def alpaca(row: Any) -> list[dict]:
    """yahma/alpaca-cleaned: instruction, input (may be empty), output."""
    prompt = _with_section(text_field(row, "instruction"), "Input", optional_text(row, "input"))
    return [message("user", prompt), assistant(text_field(row, "output"))]


def dolly(row: Any) -> list[dict]:
    """databricks/databricks-dolly-15k: instruction, context (may be empty), response, category."""
    prompt = _with_section(text_field(row, "instruction"), "Context", optional_text(row, "context"))
    return [message("user", prompt), assistant(text_field(row, "response"))]


def openorca(row: Any) -> list[dict]:
    """Open-Orca/OpenOrca: system_prompt (often empty), question, response."""
    system = optional_text(row, "system_prompt")
    messages = [message("system", system)] if system else []
    return messages + [message("user", text_field(row, "question")), assistant(text_field(row, "response"))]


# ---- OpenAssistant -------------------------------------------------------------------------------------

_ROLES = {"prompter": "user", "assistant": "assistant"}
_END = (math.inf, math.inf)  # closes a path key, so a path sorts after its own extensions


def oasst(row: Any) -> list[dict]:
    """A flat row: instruction (or text) and response. A row without a response is rejected."""
    if isinstance(row, Mapping) and "message_id" in row and "parent_id" in row:
        raise FormatError("oasst1 message-tree row (message_id/parent_id): rebuild threads with oasst_threads()")
    prompt = text_field(row, "instruction", "text")
    return [message("user", prompt), assistant(text_field(row, "response"))]


def _node_problem(row: Any, seen: Mapping) -> str | None:
    if not isinstance(row, Mapping):
        return f"row is a {type(row).__name__}, not a mapping"
    message_id = row.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        return "missing field 'message_id'"
    if message_id in seen:
        return f"duplicate message_id {message_id!r}"
    if not isinstance(row.get("role"), str) or row["role"] not in _ROLES:
        return f"role {row.get('role')!r} is neither 'prompter' nor 'assistant'"
    if row.get("parent_id") is not None and not isinstance(row["parent_id"], str):
        return f"parent_id is {type(row['parent_id']).__name__}, not a string"
    if not isinstance(row.get("text"), str) or not row["text"].strip():
        return "field 'text' is missing or empty"
    if row.get("deleted"):
        return "message was deleted"
    return None


def _sibling_key(row: Mapping, order: int) -> tuple[float, int]:
    """Better siblings sort first: lower ``rank`` (0 = best), unranked last, then input order."""
    rank = row.get("rank")
    if isinstance(rank, bool) or not isinstance(rank, (int, float)) or math.isnan(rank):
        rank = math.inf
    return (rank, order)


def _leaf_paths(root: str, children: Mapping[str, list[str]]) -> Iterator[tuple[str, ...]]:
    stack = [(root,)]
    while stack:
        path = stack.pop()
        kids = children.get(path[-1])
        if kids:
            stack.extend(path + (kid,) for kid in kids)
        else:
            yield path


def oasst_threads(rows: Iterable[Any], *, max_threads_per_root: int | None = 1, lang: str | None = None,
                  rejected: list[dict] | None = None, used: set | None = None) -> Iterator[list[dict]]:
    """Rebuild conversations from oasst1 message rows (any order; all rows are read first).

    For each root prompter message, every leaf gives a thread: the path from the root, cut after its
    last assistant message. Threads are ranked by the ``rank`` of each message along the path compared
    from the root down (so the best-ranked reply wins at every branch; at a tie the longer thread wins)
    and the best ``max_threads_per_root`` (``None`` = all) distinct valid threads are yielded, roots
    in input order. ``lang`` keeps only trees whose root has that language code. Malformed or deleted
    messages are skipped (with their subtrees) and, when ``rejected`` is given, appended to it as
    ``{"reason", "row"}``; ``used`` (a set) receives the ``message_id`` of every message of a yielded thread.
    """
    nodes: dict[str, Mapping] = {}
    keys: dict[str, tuple[float, int]] = {}
    children: dict[str, list[str]] = defaultdict(list)
    roots: list[str] = []
    for order, row in enumerate(rows):
        problem = _node_problem(row, nodes)
        if problem is not None:
            if rejected is not None:
                rejected.append({"reason": problem, "row": row})
            continue
        message_id = row["message_id"]
        nodes[message_id] = row
        keys[message_id] = _sibling_key(row, order)
        if row.get("parent_id") is None:
            roots.append(message_id)
        else:
            children[row["parent_id"]].append(message_id)

    for root in roots:
        if lang is not None and nodes[root].get("lang") != lang:
            continue
        ranked: dict[tuple[str, ...], tuple] = {}
        for path in _leaf_paths(root, children):
            while path and nodes[path[-1]]["role"] != "assistant":
                path = path[:-1]
            if len(path) >= 2:
                ranked[path] = tuple(keys[m] for m in path) + (_END,)
        emitted = 0
        for path in sorted(ranked, key=ranked.__getitem__):
            if max_threads_per_root is not None and emitted >= max_threads_per_root:
                break
            thread = [message(_ROLES[nodes[m]["role"]], nodes[m]["text"].strip()) for m in path]
            try:
                validate_messages(thread)
            except FormatError:
                continue  # e.g. two prompter messages in a row
            emitted += 1
            if used is not None:
                used.update(path)
            yield thread
