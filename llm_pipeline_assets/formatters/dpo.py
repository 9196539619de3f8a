"""Preference pairs for the ``dpo_dataset`` asset: hh-rlhf, UltraFeedback, ready-made and synthetic pairs.

A pair is ``{"prompt", "chosen", "rejected"}`` either as plain strings (TRL's standard format) or
conversational: ``prompt`` a list of messages, ``chosen``/``rejected`` lists of assistant messages (TRL
applies the chat template). :func:`to_conversational` turns the first into the second; synthetic pairs
are conversational from the start because their tool calls are structured.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .common import FormatError, assistant, list_field, message, partition, text_field, tool_call, \
    validate_messages
from .synthetic_sft import REFUSAL, Sample, choice_reply, draw_arguments, draw_samples, math_solution

_HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):")


# ---- hh-rlhf ---------------------------------------------------------------------------------------------

def split_hh_dialogue(text: Any) -> tuple[str, str]:
    """Split ``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` at its LAST ``Assistant:`` turn.

    The prompt keeps everything up to and including that ``Assistant:`` (earlier turns included); the
    completion is the stripped rest. A dialogue that ends on a ``Human:`` turn is refused: that turn would be
    trained as part of the assistant's reply (the policy would learn to write user turns).
    """
    if not isinstance(text, str) or not text.strip():
        raise FormatError("dialogue is empty or not a string")
    turns = list(_HH_TURN.finditer(text))
    last = next((t for t in reversed(turns) if t.group(1) == "Assistant"), None)
    if last is None:
        raise FormatError("dialogue has no 'Assistant:' turn")
    if not any(t.group(1) == "Human" and t.start() < last.start() for t in turns):
        raise FormatError("dialogue has no 'Human:' turn before its last 'Assistant:' turn")
    if turns[-1] is not last:
        raise FormatError("dialogue ends with a 'Human:' turn after its last 'Assistant:' reply (no reply to compare)")
    return text[: last.end()], text[last.end():].strip()


def _dialogue(row: Any, name: str) -> str:
    text_field(row, name)  # present, a string, not blank
    return row[name]  # unstripped: the prompt is kept verbatim


def hh_rlhf_pair(row: Any) -> dict:
    """Anthropic/hh-rlhf ``{chosen, rejected}`` (two full dialogues) -> a string pair."""
    prompt, chosen = split_hh_dialogue(_dialogue(row, "chosen"))
    other_prompt, rejected = split_hh_dialogue(_dialogue(row, "rejected"))
    if prompt != other_prompt:
        raise FormatError("chosen and rejected dialogues do not share the same prompt")
    return validate_pair({"prompt": prompt, "chosen": chosen, "rejected": rejected})


def hh_messages(text: str) -> list[dict]:
    """An hh-style transcript as messages; a trailing empty ``Assistant:`` (the cue) is dropped."""
    turns = list(_HH_TURN.finditer(text))
    if not turns or text[: turns[0].start()].strip():
        return [message("user", text.strip())]
    ends = [t.start() for t in turns[1:]] + [len(text)]
    messages = [message("user" if t.group(1) == "Human" else "assistant", text[t.end(): end].strip())
                for t, end in zip(turns, ends)]
    if messages[-1]["role"] == "assistant" and not messages[-1]["content"]:
        messages.pop()
    return messages


# ---- UltraFeedback ---------------------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _mean(values: Iterable[Any]) -> float | None:
    numbers = [n for n in map(_number, values) if n is not None]
    return sum(numbers) / len(numbers) if numbers else None


def _fine_grained(completion: Mapping) -> float | None:
    return _number(completion.get("fine-grained_score"))


def _aspect_ratings(completion: Mapping) -> float | None:
    annotations = completion.get("annotations")
    if isinstance(annotations, Mapping):
        return _mean(a.get("Rating") for a in annotations.values() if isinstance(a, Mapping))
    return None


def _ratings(completion: Mapping) -> float | None:
    ratings = completion.get("ratings")
    if isinstance(ratings, Mapping):
        return _mean(ratings.values())
    return _mean(ratings) if isinstance(ratings, (list, tuple)) else _number(ratings)


def _overall(completion: Mapping) -> float | None:
    return _number(completion.get("overall_score"))


#: score kinds, most trusted first: the per-aspect ratings (``fine-grained_score`` is their mean). UltraFeedback's
#: ``overall_score`` comes from the critique and is known to mis-score (HF's and Argilla's binarized releases
#: dropped it), so it is used only for rows without ratings.
SCORE_KINDS: tuple[Callable[[Mapping], float | None], ...] = (_fine_grained, _aspect_ratings, _ratings, _overall)


def completion_score(completion: Mapping) -> float | None:
    """The completion's score by the first kind of ``SCORE_KINDS`` it has."""
    return next((v for v in (kind(completion) for kind in SCORE_KINDS) if v is not None), None)


def ultrafeedback_pairs(row: Any) -> dict:
    """openbmb/UltraFeedback ``{instruction|prompt, completions: [...]}`` -> best vs worst as a string pair;
    HuggingFaceH4/ultrafeedback_binarized ``{prompt, chosen, rejected}`` (message lists) -> a conversational pair.

    A row's completions are compared on one score kind: the first of ``SCORE_KINDS`` that at least two of them
    have (no mixing of 1-5 ratings with 1-10 critique scores). Completions without a response or that score are
    ignored; the first best-scored is chosen, the first worst-scored rejected; equal best and worst scores raise
    ``FormatError("tied ratings")``.
    """
    if isinstance(row, Mapping) and "completions" not in row and isinstance(row.get("chosen"), list):
        return _binarized_pair(row)
    prompt = text_field(row, "instruction", "prompt")
    answered = [c for c in list_field(row, "completions")
                if isinstance(c, Mapping) and isinstance(c.get("response"), str) and c["response"].strip()]
    scored: list = []
    for kind in SCORE_KINDS:
        scored = [(score, c["response"].strip()) for c in answered if (score := kind(c)) is not None]
        if len(scored) >= 2:
            break
    if len(scored) < 2:
        raise FormatError(f"{len(scored)} rated completion(s) with a response; need two")
    best = max(scored, key=lambda s: s[0])
    worst = min(scored, key=lambda s: s[0])
    if best[0] == worst[0]:
        raise FormatError("tied ratings")
    return validate_pair({"prompt": prompt, "chosen": best[1], "rejected": worst[1]})


def _binarized_pair(row: Mapping) -> dict:
    """chosen / rejected are whole conversations sharing their opening turns: those are the prompt."""
    chosen, rejected = row["chosen"], row.get("rejected")
    if not isinstance(rejected, list):
        raise FormatError("field 'rejected' must be a message list like 'chosen'")
    score = _number(row.get("score_chosen"))
    if score is not None and score == _number(row.get("score_rejected")):
        raise FormatError("tied ratings")
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    while shared and isinstance(chosen[shared - 1], Mapping) and chosen[shared - 1].get("role") == "assistant":
        shared -= 1  # the completions start at the first differing assistant turn
    if not shared:
        raise FormatError("chosen and rejected share no prompt turns")
    return validate_pair({"prompt": chosen[:shared], "chosen": chosen[shared:], "rejected": rejected[shared:]})


# ---- validation, conversion, whole sources ---------------------------------------------------------------

def _canonical(completion: str | list) -> str:
    if isinstance(completion, str):
        return " ".join(completion.split())
    normalized = [{**m, "content": " ".join(str(m.get("content", "")).split())} for m in completion]
    return json.dumps(normalized, sort_keys=True, default=str)


def validate_pair(pair: Any) -> Any:
    """Check a pair (string or conversational) and return it unchanged; :class:`FormatError` if unusable.

    All three fields present and non-empty; strings everywhere, or a message-list prompt with
    assistant-message-list completions that each make a valid conversation after it; chosen and
    rejected differ after whitespace normalization.
    """
    if not isinstance(pair, Mapping):
        raise FormatError(f"pair is a {type(pair).__name__}, not a mapping")
    for key in ("prompt", "chosen", "rejected"):
        if pair.get(key) is None:
            raise FormatError(f"missing field {key!r}")
    prompt, chosen, rejected = pair["prompt"], pair["chosen"], pair["rejected"]
    if all(isinstance(x, str) for x in (prompt, chosen, rejected)):
        for key in ("prompt", "chosen", "rejected"):
            if not pair[key].strip():
                raise FormatError(f"field {key!r} is empty")
    elif all(isinstance(x, list) for x in (prompt, chosen, rejected)):
        for key in ("chosen", "rejected"):
            if not pair[key] or any(not isinstance(m, Mapping) or m.get("role") != "assistant" for m in pair[key]):
                raise FormatError(f"field {key!r} must be a non-empty list of assistant messages")
            try:
                validate_messages([*prompt, *pair[key]])
            except FormatError as err:
                raise FormatError(f"prompt + {key}: {err}") from None
    else:
        raise FormatError("prompt, chosen and rejected must be all strings or all message lists")
    if _canonical(chosen) == _canonical(rejected):
        raise FormatError("chosen and rejected are the same")
    return pair


def to_conversational(pair: Mapping) -> dict:
    """A string pair -> TRL's conversational format (hh transcripts become turns); lists pass through."""
    def completion(value: Any) -> Any:
        return [assistant(value.strip())] if isinstance(value, str) else value

    if not isinstance(pair, Mapping):
        raise FormatError(f"pair is a {type(pair).__name__}, not a mapping")
    prompt = pair.get("prompt")
    converted = {**pair, "prompt": hh_messages(prompt) if isinstance(prompt, str) else prompt,
                 "chosen": completion(pair.get("chosen")), "rejected": completion(pair.get("rejected"))}
    return validate_pair(converted)


def _given_pair(row: Any) -> dict:
    validate_pair(row)
    return validate_pair({key: row.get(key) for key in ("prompt", "chosen", "rejected")})


DPO_FORMATTERS: dict[str, Callable[[Any], dict]] = {
    "hh-rlhf": hh_rlhf_pair,
    "ultrafeedback": ultrafeedback_pairs,
    "pairs": _given_pair,
}


def format_dpo_rows(kind: str, rows: Iterable[Any]) -> tuple[list[dict], list[dict]]:
    """(pairs, rejected ``{"reason", "row"}``) for every row; ``ValueError`` for an unknown kind."""
    if kind not in DPO_FORMATTERS:
        raise ValueError(f"unknown DPO source kind {kind!r}; known: {sorted(DPO_FORMATTERS)}")
    return partition(rows, DPO_FORMATTERS[kind])


# ---- synthetic pairs -------------------------------------------------------------------------------------

def _wrong_reply(sample: Sample, rng: random.Random) -> dict:
    info = sample.info
    if sample.task == "math":
        offset = rng.choice((1, 2, 3))
        wrong = info["answer"] - offset if info["answer"] >= offset and rng.random() < 0.5 else info["answer"] + offset
        return assistant(math_solution(info["lead"], wrong))
    if sample.task == "choice":
        return assistant(choice_reply(rng.choice([i for i in range(len(info["choices"])) if i != info["gold"]])))
    if sample.task == "tool":
        name = rng.choice([n for n in info["listed"] if n != info["name"]])
        return assistant("", [tool_call(name, draw_arguments(rng, name))])
    if info["harmful"]:
        return assistant(f"Sure! Here is how to {info['action']}. First get what you need, then go step by step.")
    return assistant(REFUSAL)  # over-refusing a harmless request is the rejected behaviour


def synthetic_dpo(n: int, seed: int) -> list[dict]:
    """``n`` conversational pairs ``{"task", "prompt", "chosen", "rejected"}`` on the synthetic SFT tasks.

    chosen is the correct reply (right answer, refusal of a harmful request, help with a harmless one,
    call of the requested function); rejected is a wrong number, a wrong letter, compliance with the
    harmful request (or refusal of the harmless one), or a call of another listed function.
    """
    rng = random.Random(f"synthetic-dpo-rejected:{seed}")
    return [{"task": s.task, "prompt": s.prompt, "chosen": [s.reply], "rejected": [_wrong_reply(s, rng)]}
            for s in draw_samples(n, f"synthetic-dpo:{seed}")]
