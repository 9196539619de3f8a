"""Formatters for the function-calling sources: glaive, hermes, Gorilla/BFCL, ToolBench.

All produce structured calls (assistant ``tool_calls``) and ``tool`` messages for results; the chat
template renders them with the registered ``<|function_call|>`` / ``<|tool_response|>`` tokens, so no
inline marker string (``<functioncall>``, ``<tool_call>``) survives into the training text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .common import (FormatError, assistant, functions_system_prompt, list_field, message, optional_text,
                     text_field, tool_call, trim_to_last_assistant)
from .tool_parsing import calls_from_answer, calls_from_text, parse_arguments, parse_object

# ---- glaive: system + one "chat" string of USER: / ASSISTANT: / FUNCTION RESPONSE: turns ----------------

_GLAIVE_TURN = re.compile(r"(?m)^[ \t]*(USER|ASSISTANT|FUNCTION RESPONSE):[ \t]*")
_GLAIVE_CALL = "<functioncall>"


def _glaive_assistant(text: str) -> dict:
    if _GLAIVE_CALL not in text:
        return assistant(text)
    before, _, call = text.partition(_GLAIVE_CALL)
    return assistant(before.strip(), calls_from_text(call))


def glaive(row: Any) -> list[dict]:
    """glaiveai/glaive-function-calling-v2: system ("SYSTEM: ..."), chat (turns; calls as ``<functioncall> {json}``)."""
    system = re.sub(r"^SYSTEM:\s*", "", optional_text(row, "system"))
    chat = text_field(row, "chat")
    parts = _GLAIVE_TURN.split(chat)
    if parts[0].strip():
        raise FormatError("chat has text before its first USER:/ASSISTANT: turn")
    if len(parts) < 3:
        raise FormatError("chat has no USER:/ASSISTANT: turns")
    messages = [message("system", system)] if system else []
    for speaker, text in zip(parts[1::2], parts[2::2]):
        text = text.replace("<|endoftext|>", "").strip()
        if speaker == "USER":
            messages.append(message("user", text))
        elif speaker == "FUNCTION RESPONSE":
            messages.append(message("tool", text))
        else:
            messages.append(_glaive_assistant(text))
    return trim_to_last_assistant(messages)


# ---- ShareGPT-style turn lists (hermes, ToolBench) ---------------------------------------------------------

_SPEAKERS = {
    "system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
    "tool": "tool", "function": "tool", "function_response": "tool", "observation": "tool",
    "function_call": "call",  # a turn whose whole value is one call object
}


def _turns(row: Any) -> Iterator[tuple[str, str]]:
    """(role, value) for each ``{"from", "value"}`` turn (``role``/``content`` accepted too)."""
    for i, turn in enumerate(list_field(row, "conversations")):
        if not isinstance(turn, Mapping):
            raise FormatError(f"conversations[{i}] is a {type(turn).__name__}, not a mapping")
        speaker = turn.get("from", turn.get("role"))
        value = turn.get("value", turn.get("content"))
        if not isinstance(speaker, str) or speaker not in _SPEAKERS:
            raise FormatError(f"conversations[{i}] has unknown speaker {speaker!r}")
        if not isinstance(value, str):
            raise FormatError(f"conversations[{i}] value is {type(value).__name__}, not a string")
        yield _SPEAKERS[speaker], value.strip()


def _turn_messages(row: Any, on_assistant: Callable[[str], list[dict]], on_tool: Callable[[str], list[dict]],
                   on_system: Callable[[str], list[dict]] | None = None) -> list[dict]:
    messages: list[dict] = []
    for role, value in _turns(row):
        if role == "system" and on_system is not None:
            messages.extend(on_system(value))
        elif role == "assistant":
            messages.extend(on_assistant(value))
        elif role == "tool":
            messages.extend(on_tool(value))
        elif role == "call":
            messages.append(assistant("", calls_from_text(value)))
        else:
            messages.append(message(role, value))
    return trim_to_last_assistant(messages)


_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_TOOL_RESPONSE = re.compile(r"<tool_response>(.*?)</tool_response>", re.DOTALL)
_TOOLS = re.compile(r"<tools>(.*?)</tools>", re.DOTALL)


def _hermes_system(value: str) -> list[dict]:
    """The ``<tools>`` listing as the project's function list; the rest of that prompt (which tells the
    model to answer in ``<tool_call>`` tags, not what it is trained to emit) is dropped."""
    blocks = [block for block in _TOOLS.findall(value) if block.strip()]  # the prompt also names "<tools></tools>"
    if not blocks:
        return [message("system", value)]
    tools = parse_object(blocks[-1], what="<tools> list")
    tools = tools if isinstance(tools, list) else [tools]
    specs = [t["function"] if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping) else t for t in tools]
    if not specs or not all(isinstance(s, Mapping) and isinstance(s.get("name"), str) for s in specs):
        raise FormatError("<tools> list has a function without a name")
    return [message("system", functions_system_prompt(specs))]


def _hermes_assistant(value: str) -> list[dict]:
    calls = [call for block in _TOOL_CALL.findall(value) for call in calls_from_text(block)]
    content = _TOOL_CALL.sub("", value).strip()
    if "<tool_call>" in content:
        raise FormatError("assistant turn has an unclosed <tool_call>")
    return [assistant(content, calls)]


def _hermes_tool(value: str) -> list[dict]:
    blocks = [block.strip() for block in _TOOL_RESPONSE.findall(value)]
    return [message("tool", block) for block in blocks] if blocks else [message("tool", value)]


def hermes(row: Any) -> list[dict]:
    """NousResearch/hermes-function-calling-v1: conversations [{from: system|human|gpt|tool, value}].

    Calls sit in ``<tool_call>{json or Python dict}</tool_call>`` (several per turn possible), results in
    ``<tool_response>...</tool_response>`` (one tool message per block). A system turn with a
    ``<tools>`` list becomes the same function listing as the other sources (see ``_hermes_system``).
    """
    return _turn_messages(row, _hermes_assistant, _hermes_tool, _hermes_system)


_ACTION = re.compile(r"Action:[ \t]*(?P<name>[^\n]+?)[ \t]*\n+Action Input:[ \t]*(?P<args>.*)\Z", re.DOTALL)


def _toolbench_assistant(value: str) -> list[dict]:
    found = _ACTION.search(value)
    if not found:
        return [assistant(value)]
    name = found["name"].strip()
    arguments = parse_arguments(found["args"], name)
    if name == "Finish":
        answer = arguments.get("final_answer")
        if arguments.get("return_type") == "give_up_and_restart" or not isinstance(answer, str) \
                or not answer.strip():
            raise FormatError("ToolBench episode finishes without a final answer (gave up)")
        return [assistant(answer.strip())]
    return [assistant(value[: found.start()].strip(), [tool_call(name, arguments)])]


def toolbench(row: Any) -> list[dict]:
    """ToolBench: conversations [{from: system|user|assistant|function, value}] or flat query/response.

    Assistant turns ``Thought: ...\\nAction: f\\nAction Input: {json}`` become a call of ``f`` (the
    thought kept as content); ``Action: Finish`` becomes the final answer.
    """
    if isinstance(row, Mapping) and row.get("conversations") is None:
        return [message("user", text_field(row, "query")), assistant(text_field(row, "response"))]
    return _turn_messages(row, _toolbench_assistant, lambda value: [message("tool", value)])


# ---- Gorilla / Berkeley Function-Calling Leaderboard -------------------------------------------------------

def _gorilla_question(row: Any) -> str:
    """A plain string, or BFCL's ``[[{"role": "user", "content": ...}, ...]]``."""
    if isinstance(row, Mapping) and isinstance(row.get("question"), list):
        flat = row["question"]
        while flat and isinstance(flat[0], list):
            flat = [turn for turns in flat for turn in turns]
        texts = [t.get("content") for t in flat if isinstance(t, Mapping) and t.get("role") == "user"]
        if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise FormatError("field 'question' has no user message with text")
        return "\n".join(t.strip() for t in texts)
    return text_field(row, "question")


def _gorilla_functions(row: Any) -> list[dict]:
    if not isinstance(row, Mapping) or row.get("function", row.get("functions")) is None:
        raise FormatError("missing field 'function'")
    specs = row.get("function", row.get("functions"))
    if isinstance(specs, str):
        try:
            specs = json.loads(specs)
        except ValueError:
            raise FormatError("field 'function' is not valid JSON") from None
    specs = [specs] if isinstance(specs, Mapping) else specs
    if not isinstance(specs, list) or not specs:
        raise FormatError("field 'function' is not a non-empty list or object of function specs")
    for spec in specs:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise FormatError("field 'function' has a spec without a name")
    return [dict(spec) for spec in specs]


def gorilla(row: Any) -> list[dict]:
    """Gorilla OpenFunctions / BFCL: question, function (spec or list), answer (call string or JSON).

    The system message lists the functions; the answer must call only listed functions.
    """
    question = _gorilla_question(row)
    functions = _gorilla_functions(row)
    names = {spec["name"] for spec in functions}
    answer = next((row[k] for k in ("answer", "model_answer", "ground_truth") if row.get(k) is not None), None)
    if answer is None:
        raise FormatError("missing field 'answer'")
    calls = calls_from_answer(answer)
    for call in calls:
        if call["function"]["name"] not in names:
            raise FormatError(f"answer calls {call['function']['name']!r}, not one of the listed functions")
    return [message("system", functions_system_prompt(functions)), message("user", question),
            assistant("", calls)]
