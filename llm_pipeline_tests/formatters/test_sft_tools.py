"""Tool-call sources (glaive, hermes, Gorilla/BFCL, ToolBench): structured calls, tool turns, the template."""

from __future__ import annotations

import json

import pytest

from llm_pipeline_assets.formatters.common import FormatError
from llm_pipeline_assets.formatters.sft import format_row
from llm_pipeline_assets.formatters.synthetic_sft import synthetic_sft
from llm_pipeline_assets.formatters.tool_parsing import calls_from_answer, calls_from_text, parse_object
from llm_pipeline_assets.tokens.specials import CHAT_TEMPLATE, FUNCTION_CALL, TOOL_RESPONSE

from .samples import SAMPLES


def call(name, **arguments):
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


def roles(messages):
    return [m["role"] for m in messages]


def test_glaive_turns_calls_and_function_responses():
    messages = format_row("glaive", SAMPLES["glaive"])
    assert roles(messages) == ["system", "user", "assistant", "tool", "assistant", "user", "assistant"]
    assert messages[0]["content"].startswith("You are a helpful assistant with access")  # "SYSTEM: " dropped
    assert messages[2] == {"role": "assistant", "content": "",
                           "tool_calls": [call("get_exchange_rate", base_currency="USD", target_currency="EUR")]}
    assert messages[3]["content"] == '{"exchange_rate": 0.85}'
    assert messages[4]["content"] == "The current exchange rate from USD to EUR is 0.85."
    assert not any("<|endoftext|>" in m["content"] for m in messages)


def test_glaive_without_functions_and_with_a_trailing_unanswered_turn():
    row = {"system": "SYSTEM: You are a helpful assistant, with no access to external functions.\n",
           "chat": "USER: Tell me a joke.\n\n\nASSISTANT: Why did the chicken cross the road? <|endoftext|>\n\n\n"
                   "USER: Another one?\n"}
    messages = format_row("glaive", row)
    assert roles(messages) == ["system", "user", "assistant"]  # nobody answered the last question
    json_arguments = {"system": "", "chat": 'USER: hi\nASSISTANT: <functioncall> {"name": "f", "arguments": {"a": 1}}'}
    assert format_row("glaive", json_arguments)[-1]["tool_calls"] == [call("f", a=1)]


def test_hermes_parallel_calls_and_tool_responses():
    messages = format_row("hermes", SAMPLES["hermes"])
    assert roles(messages) == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert messages[0]["content"].splitlines() == ["You can call these functions:", json.dumps({
        "name": "get_stock_price", "description": "Get the current stock price",
        "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}})]
    assert messages[2]["content"] == ""
    assert messages[2]["tool_calls"] == [call("get_stock_price", symbol="AAPL"), call("get_stock_price", symbol="MSFT")]
    assert messages[3]["content"] == "{'name': 'get_stock_price', 'content': {'price': 150.75}}"
    assert all("<tool_call>" not in m["content"] and "<tool_response>" not in m["content"] for m in messages)


def test_hermes_keeps_text_around_a_call_and_rejects_an_unclosed_one():
    row = {"conversations": [{"from": "human", "value": "weather in Oslo?"},
                             {"from": "gpt", "value": "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", "
                                                      "\"arguments\": \"{\\\"city\\\": \\\"Oslo\\\"}\"}\n</tool_call>"}]}
    last = format_row("hermes", row)[-1]
    assert last == {"role": "assistant", "content": "Let me check.", "tool_calls": [call("get_weather", city="Oslo")]}
    row["conversations"][1]["value"] = "<tool_call>\n{'name': 'f', 'arguments': {}}"
    with pytest.raises(FormatError, match="unclosed <tool_call>"):
        format_row("hermes", row)


def test_gorilla_bfcl_row():
    messages = format_row("gorilla", SAMPLES["gorilla"])
    assert roles(messages) == ["system", "user", "assistant"]
    listed = [json.loads(line) for line in messages[0]["content"].splitlines()[1:]]
    assert listed == SAMPLES["gorilla"]["function"]
    assert messages[1]["content"].startswith("Find the area of a triangle")
    assert messages[2]["tool_calls"] == [call("calculate_triangle_area", base=10, height=5, unit="units")]


SPEC = {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.mark.parametrize("answer,expected", [
    ('get_weather(city="Oslo")', [call("get_weather", city="Oslo")]),
    ("[get_weather(city='Oslo'), get_weather(city='Lima')]",
     [call("get_weather", city="Oslo"), call("get_weather", city="Lima")]),
    ('{"name": "get_weather", "arguments": {"city": "Oslo"}}', [call("get_weather", city="Oslo")]),
    ('{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}', [call("get_weather", city="Oslo")]),
    ({"name": "get_weather", "arguments": {"city": "Oslo"}}, [call("get_weather", city="Oslo")]),
    ([{"get_weather": {"city": ["Oslo", "oslo"], "unit": [""]}}], [call("get_weather", city="Oslo")]),
])
def test_gorilla_answer_styles(answer, expected):
    row = {"question": "What's the weather like in Oslo?", "function": SPEC, "answer": answer}
    assert format_row("gorilla", row)[-1]["tool_calls"] == expected


def test_python_call_parsing_refuses_what_it_cannot_map():
    assert calls_from_answer("math.factorial(number=5)") == [call("math.factorial", number=5)]
    for bad, reason in [("f(x)", "positional"), ("f(**kw)", "uses kwargs"), ("f(a=g())", "not a literal"),
                        ("f(a=", "unparsable"), ("42", "not a function call"), ("[]", "empty list")]:
        with pytest.raises(FormatError, match=reason):
            calls_from_answer(bad)


def test_lenient_object_parsing():
    assert parse_object("{'a': [1, 'b']}") == {"a": [1, "b"]}  # hermes' Python literals
    glaive = '{"name": "f", "arguments": \'{"text": "it\\\'s"}\'}'
    assert calls_from_text(glaive) == [call("f", text="it's")]
    with pytest.raises(FormatError, match="arguments of 'f'"):
        calls_from_text('{"name": "f", "arguments": "[1, 2]"}')
    with pytest.raises(FormatError, match="no function name"):
        calls_from_text('{"arguments": {}}')


def test_toolbench_actions_become_calls_and_finish_the_answer():
    messages = format_row("toolbench", SAMPLES["toolbench"])
    assert roles(messages) == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[2]["tool_calls"] == [call("current_weather_for_weatherapi", q="Oslo")]
    assert messages[2]["content"] == "Thought: I should call the weather API for Oslo."
    assert messages[4] == {"role": "assistant", "content": "It is 4 degrees Celsius in Oslo right now."}
    flat = format_row("toolbench", {"query": "Weather in Oslo?", "response": "Sunny."})
    assert flat == [{"role": "user", "content": "Weather in Oslo?"}, {"role": "assistant", "content": "Sunny."}]


def test_rendered_chat_uses_registered_markers_not_source_markers():
    """Every formatter's output (and the synthetic rows) renders with the project's chat template."""
    from transformers.utils.chat_template_utils import render_jinja_template

    conversations = [format_row(kind, row) for kind, row in SAMPLES.items()]
    conversations += [row["messages"] for row in synthetic_sft(40, seed=5)]
    rendered, _ = render_jinja_template(conversations=conversations, chat_template=CHAT_TEMPLATE)
    for text in rendered:
        for source_marker in ("<functioncall>", "<tool_call>", "<tool_response>", "FUNCTION RESPONSE:"):
            assert source_marker not in text
    by_kind = dict(zip(SAMPLES, rendered))
    assert by_kind["glaive"].count(FUNCTION_CALL) == 1 and by_kind["glaive"].count(TOOL_RESPONSE) == 1
    assert by_kind["hermes"].count(FUNCTION_CALL) == 2 and by_kind["hermes"].count(TOOL_RESPONSE) == 2
    assert f'{FUNCTION_CALL}{{"name": "calculate_triangle_area", "arguments": {{"base": 10' in by_kind["gorilla"]
