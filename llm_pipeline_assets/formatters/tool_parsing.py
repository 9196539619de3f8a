"""Tool calls as the function-calling datasets write them -> structured ``tool_call`` dicts.

The sources disagree on syntax: glaive writes ``{"name": "f", "arguments": '{"a": 1}'}`` (arguments as a
single-quoted JSON string, which is not JSON), hermes writes Python dict literals with single quotes,
Gorilla/BFCL write Python calls (``get_weather(city="Oslo")``) or ``[{"f": {"a": [1]}}]`` ground truth,
ToolBench writes ``Action Input: {json}``. Everything here raises :class:`FormatError` when the text
cannot be read as a call; nothing is guessed.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from typing import Any

from .common import FormatError, tool_call

# glaive: "arguments": '{...}' as the last member of the object.
_QUOTED_ARGUMENTS = re.compile(r"""(["']arguments["']\s*:\s*)'(.*)'(\s*\}\s*)$""", re.DOTALL)


def _unquote_glaive_arguments(text: str) -> str | None:
    found = _QUOTED_ARGUMENTS.search(text)
    if not found:
        return None
    inner = found.group(2).replace("\\'", "'")
    return text[: found.start()] + found.group(1) + json.dumps(inner) + found.group(3)


def parse_object(text: str, what: str = "tool call") -> Any:
    """JSON, else glaive's quoted-arguments JSON, else a Python literal (hermes' single quotes)."""
    text = text.strip()
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past Python's limit
        pass
    fixed = _unquote_glaive_arguments(text)
    if fixed is not None:
        try:
            return json.loads(fixed)
        except (ValueError, RecursionError):
            pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise FormatError(f"unparsable {what}: {text[:80]!r}") from None


def parse_arguments(value: Any, name: str = "?") -> dict:
    """Call arguments as a dict: a dict as is, a (JSON / Python literal) string parsed, absent = {}."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        value = parse_object(value, what=f"arguments of {name!r}")
    if not isinstance(value, Mapping):
        raise FormatError(f"arguments of {name!r} are {type(value).__name__}, not an object")
    return dict(value)


def call_from_object(obj: Any) -> dict:
    """``{"name", "arguments"|"parameters"}`` (or OpenAI's ``{"function": {...}}``) -> a tool call."""
    if isinstance(obj, Mapping) and isinstance(obj.get("function"), Mapping):
        obj = obj["function"]
    if not isinstance(obj, Mapping):
        raise FormatError(f"tool call is {type(obj).__name__}, not an object")
    name = obj.get("name")
    arguments = obj.get("arguments", obj.get("parameters"))
    return tool_call(name, parse_arguments(arguments, name if isinstance(name, str) else "?"))


def calls_from_text(text: str) -> list[dict]:
    """One call object or a JSON list of them, from text."""
    parsed = parse_object(text)
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise FormatError("empty list of tool calls")
    return [call_from_object(item) for item in items]


def _dotted_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted_name(node.value)}.{node.attr}"
    raise FormatError("called object is not a (dotted) function name")


def _python_call(node: ast.AST) -> dict:
    if not isinstance(node, ast.Call):
        raise FormatError("answer is not a function call")
    name = _dotted_name(node.func)
    if node.args:
        raise FormatError(f"call to {name!r} has positional arguments; only keyword arguments are mapped")
    arguments = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise FormatError(f"call to {name!r} uses kwargs (**)")
        try:
            arguments[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):  # TypeError: {[1]: 2}
            raise FormatError(f"argument {keyword.arg!r} of {name!r} is not a literal") from None
    return tool_call(name, arguments)


def calls_from_python(text: str) -> list[dict]:
    """``f(a=1)``, ``m.f(a="x")`` or ``[f(a=1), g(b=2)]`` -> tool calls (keyword arguments only)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise FormatError(f"unparsable function call: {text.strip()[:80]!r}") from None
    body = tree.body
    nodes = body.elts if isinstance(body, (ast.List, ast.Tuple)) else [body]
    if not nodes:
        raise FormatError("empty list of function calls")
    return [_python_call(node) for node in nodes]


def _ground_truth_call(item: Mapping) -> dict:
    """BFCL ground truth ``{"f": {"a": [v, ...]}}``: the first accepted value of each argument."""
    if len(item) != 1:
        raise FormatError("ground-truth call must map exactly one function name to its arguments")
    (name, arguments), = item.items()
    if not isinstance(arguments, Mapping):
        raise FormatError(f"ground-truth arguments of {name!r} are not an object")
    chosen = {}
    for key, options in arguments.items():
        values = options if isinstance(options, list) else [options]
        values = [v for v in values if v != ""]  # BFCL writes "" for "may be omitted"
        if values:
            chosen[key] = values[0]
    return tool_call(name, chosen)


def calls_from_answer(answer: Any) -> list[dict]:
    """A Gorilla/BFCL answer (call string, JSON call(s), or ground-truth dicts) -> tool calls."""
    if isinstance(answer, str):
        if not answer.strip():
            raise FormatError("answer is empty")
        stripped = answer.strip()
        if stripped[0] in "{[":
            try:
                return _calls_from_structured(json.loads(stripped))
            except (ValueError, RecursionError):
                pass  # "[f(a=1)]" is a Python list of calls, not JSON
        return calls_from_python(stripped)
    return _calls_from_structured(answer)


def _calls_from_structured(value: Any) -> list[dict]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise FormatError("answer is an empty list")
    calls = []
    for item in items:
        if isinstance(item, str):
            calls.extend(calls_from_answer(item))
        elif isinstance(item, Mapping) and ("name" in item or "function" in item):
            calls.append(call_from_object(item))
        elif isinstance(item, Mapping):
            calls.append(_ground_truth_call(item))
        else:
            raise FormatError(f"answer item is {type(item).__name__}, not a call")
    return calls
