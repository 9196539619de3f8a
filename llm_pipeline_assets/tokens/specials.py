"""Special tokens and the chat template shared by the tokenizer, the SFT formatters and the trainers.

Every marker the formatters emit is a registered special token (one id each; the seed pipeline emitted
``<|function_call|>`` without registering it). The chat template wraps assistant turns in
``{% generation %}`` markers so TRL can compute the loss on assistant tokens only, and renders earlier
messages identically whatever follows (prefix-preserving), including tool calls and tool results.
"""

BOS = "<|bos|>"
EOS = "<|endoftext|>"
PAD = "<|pad|>"
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END_OF_TURN = "<|end|>"
FUNCTION_CALL = "<|function_call|>"
FUNCTION_RESPONSE = "<|function_response|>"
TOOL_RESPONSE = "<|tool_response|>"

ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT, "tool": TOOL_RESPONSE}
# Order fixes the ids: EOS is 0, BOS 1, PAD 2, ... in every tokenizer this project trains.
SPECIAL_TOKENS = (EOS, BOS, PAD, SYSTEM, USER, ASSISTANT, END_OF_TURN, FUNCTION_CALL, FUNCTION_RESPONSE,
                  TOOL_RESPONSE)

CHAT_TEMPLATE = (
    # tools=[...] (transformers' convention: {"type": "function", "function": {name, description, parameters}} or
    # the bare function object) renders as the system turn the training data lists functions in
    # (formatters.common.functions_system_prompt): one JSON object per line
    "{%- if tools -%}"
    "{{- '" + SYSTEM + "\nYou can call these functions:' -}}"
    "{%- for tool in tools -%}"
    "{{- '\n' + ((tool['function'] if 'function' in tool else tool) | tojson) -}}"
    "{%- endfor -%}"
    "{{- '" + END_OF_TURN + "\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '" + ASSISTANT + "\\n' -}}"
    "{%- generation -%}"
    "{{- message['content'] if message['content'] is string else '' -}}"
    "{%- for call in message.get('tool_calls') or [] -%}"
    "{%- set fn = call['function'] if 'function' in call else call -%}"
    "{%- set args = fn['arguments'] if 'arguments' in fn else {} -%}"
    # arguments may arrive as a JSON string (Arrow tables cannot hold dicts with varying keys): emit it verbatim
    "{{- '" + FUNCTION_CALL + "{\"name\": ' + (fn['name'] | tojson) + ', \"arguments\": '"
    " + (args if args is string else (args | tojson)) + '}' -}}"
    "{%- endfor -%}"
    "{{- '" + END_OF_TURN + "\\n' -}}"
    "{%- endgeneration -%}"
    "{%- elif message['role'] in ['system', 'user', 'tool'] -%}"
    "{{- {'system': '" + SYSTEM + "', 'user': '" + USER + "', 'tool': '" + TOOL_RESPONSE + "'}[message['role']]"
    " + '\\n' + message['content'] + '" + END_OF_TURN + "\\n' -}}"
    "{%- else -%}"
    "{{- raise_exception('unknown chat role: ' + message['role']) -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '" + ASSISTANT + "\\n' -}}{%- endif -%}"
)


def end_of_turn(tok) -> str | None:
    """The special token that closes an assistant turn in ``tok``'s chat template (``<|end|>`` in ours; an adopted
    tokenizer's own template may use another, e.g. ChatML's ``<|im_end|>``), or None when there is none: what the
    saved generation config and the evaluation stop at, so a model stops where its training data ended turns."""
    marker = "\x00reply\x00"
    try:
        text = tok.apply_chat_template([{"role": "user", "content": "q"}, {"role": "assistant", "content": marker}],
                                       tokenize=False)
    except Exception:  # noqa: BLE001 - a template that cannot render this: no end-of-turn token known
        return None
    after = text.split(marker, 1)[1] if marker in text else ""
    special = set(tok.all_special_tokens) | {t.content for t in getattr(tok, "added_tokens_decoder", {}).values()
                                             if getattr(t, "special", False)}
    for token in tok.tokenize(after):
        if token in special:
            return token
    return None
