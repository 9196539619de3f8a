"""What every formatter shares: the error type, field readers, message builders and the validator.

A formatter turns one source row into a list of chat messages (``{"role", "content"}``; an assistant
message may add ``"tool_calls": [{"type": "function", "function": {"name", "arguments": dict}}]``).
It raises :class:`FormatError` for a row it cannot use; the error's text is the reason recorded with the
rejected row, so it names the field and what is wrong with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

ROLES = ("system", "user", "assistant", "tool")


class FormatError(ValueError):
    """A source row cannot become a training example; ``str(err)`` says why."""


def _lookup(row: Any, names: tuple[str, ...]) -> tuple[str | None, Any]:
    if not isinstance(row, Mapping):
        raise FormatError(f"row is a {type(row).__name__}, not a mapping")
    for name in names:
        if row.get(name) is not None:
            return name, row[name]
    return None, None


def _missing(names: tuple[str, ...]) -> FormatError:
    return FormatError("missing field " + " or ".join(repr(n) for n in names))


def text_field(row: Any, *names: str) -> str:
    """The first of ``names`` present in ``row``: a non-empty string, returned stripped."""
    name, value = _lookup(row, names)
    if name is None:
        raise _missing(names)
    if not isinstance(value, str):
        raise FormatError(f"field {name!r} is {type(value).__name__}, not a string")
    if not value.strip():
        raise FormatError(f"field {name!r} is empty")
    return value.strip()


def optional_text(row: Any, *names: str) -> str:
    """Like :func:`text_field`, but a missing or empty field gives ``""``."""
    name, value = _lookup(row, names)
    if name is None:
        return ""
    if not isinstance(value, str):
        raise FormatError(f"field {name!r} is {type(value).__name__}, not a string")
    return value.strip()


def list_field(row: Any, *names: str) -> list:
    """The first of ``names`` present in ``row``: a non-empty list (tuples accepted)."""
    name, value = _lookup(row, names)
    if name is None:
        raise _missing(names)
    if not isinstance(value, (list, tuple)):
        raise FormatError(f"field {name!r} is {type(value).__name__}, not a list")
    if not value:
        raise FormatError(f"field {name!r} is an empty list")
    return list(value)


def message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def assistant(content: str = "", tool_calls: list[dict] | None = None) -> dict:
    msg = {"role": "assistant", "content": content}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    return msg


def tool_call(name: Any, arguments: Any) -> dict:
    """One structured call, as the chat template renders it (``<|function_call|>{json}``)."""
    if not isinstance(name, str) or not name.strip():
        raise FormatError(f"tool call has no function name ({name!r})")
    if not isinstance(arguments, Mapping):
        raise FormatError(f"tool call {name!r} arguments are {type(arguments).__name__}, not an object")
    try:  # a Python literal may hold what JSON cannot (a set, bytes); the chat template renders arguments as JSON
        json.dumps(arguments)
    except (TypeError, ValueError, RecursionError) as exc:
        raise FormatError(f"tool call {name!r} arguments are not JSON: {exc}") from None
    return {"type": "function", "function": {"name": name.strip(), "arguments": dict(arguments)}}


def functions_system_prompt(specs: Iterable[Mapping]) -> str:
    """The system message that lists callable functions: one JSON object per line."""
    lines = [json.dumps(dict(spec), ensure_ascii=False) for spec in specs]
    return "You can call these functions:\n" + "\n".join(lines)


def trim_to_last_assistant(messages: list[dict]) -> list[dict]:
    """Drop trailing user/tool turns nobody answered (a conversation ends on what the model says)."""
    end = len(messages)
    while end and messages[end - 1]["role"] != "assistant":
        end -= 1
    return messages[:end] if end else messages


def _check_tool_calls(calls: Any, where: str) -> None:
    if not isinstance(calls, list) or not calls:
        raise FormatError(f"{where}: tool_calls must be a non-empty list")
    for call in calls:
        if not isinstance(call, Mapping) or call.get("type") != "function" \
                or not isinstance(call.get("function"), Mapping):
            raise FormatError(f"{where}: tool call is not {{'type': 'function', 'function': {{...}}}}")
        tool_call(call["function"].get("name"), call["function"].get("arguments"))


# Which roles may come right before each role (None = first message).
_MAY_FOLLOW = {
    "system": {None},
    "user": {None, "system", "assistant"},
    "assistant": {"user", "tool"},
    "tool": {"assistant+calls", "tool"},
}


def validate_messages(messages: Any) -> list[dict]:
    """Check a conversation is trainable and return it unchanged; raise :class:`FormatError` if not.

    Roles are known; a system message only comes first; user and assistant alternate; tool results
    follow an assistant message with ``tool_calls`` (or another tool result) and are answered by the
    assistant; every content is a string, non-empty except an assistant's that carries tool calls;
    there is at least one user turn and the last turn is the assistant's.
    """
    if not isinstance(messages, list) or not messages:
        raise FormatError("conversation has no messages")
    previous = None
    for i, msg in enumerate(messages):
        where = f"message {i}"
        if not isinstance(msg, Mapping):
            raise FormatError(f"{where} is a {type(msg).__name__}, not a mapping")
        role, content = msg.get("role"), msg.get("content")
        if role not in ROLES:
            raise FormatError(f"{where} has unknown role {role!r}")
        if not isinstance(content, str):
            raise FormatError(f"{where} ({role}) content is {type(content).__name__}, not a string")
        if previous not in _MAY_FOLLOW[role]:
            after = "the start" if previous is None else previous.replace("+calls", " with tool calls")
            raise FormatError(f"{where}: {role} turn cannot follow {after}")
        calls = msg.get("tool_calls")
        if calls is not None:
            if role != "assistant":
                raise FormatError(f"{where}: only assistant messages carry tool_calls")
            _check_tool_calls(calls, where)
        if not content.strip() and not calls:
            raise FormatError(f"{where} ({role}) is empty")
        previous = "assistant+calls" if calls else role
    if previous not in ("assistant", "assistant+calls"):
        raise FormatError(f"conversation ends with a {messages[-1]['role']} turn, not the assistant's")
    return messages


def partition(rows: Iterable[Any], convert: Callable[[Any], Any]) -> tuple[list, list[dict]]:
    """Apply ``convert`` to every row: (results, rejects as ``{"reason", "row"}``); no row is lost. A row that makes
    a formatter raise something else (a shape no check foresaw) is rejected too, as ``formatter_error: <type>: ...``,
    instead of failing the dataset with an error that names no source or row."""
    done: list = []
    rejected: list[dict] = []
    for row in rows:
        try:
            done.append(convert(row))
        except FormatError as err:
            rejected.append({"reason": str(err), "row": row})
        except Exception as exc:  # noqa: BLE001 - recorded with the row, counted under its own reason
            rejected.append({"reason": f"formatter_error: {type(exc).__name__}: {str(exc)[:200]}", "row": row})
    return done, rejected
