"""Formatters for the reasoning and logic sources: math word problems, chain of thought, multiple choice.

Each takes one source row (the dataset's own column names) and returns a user/assistant conversation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .common import FormatError, assistant, list_field, message, text_field

MATH_PROMPT = "Solve this math problem step by step:\n"
_FINAL_ANSWER = re.compile(r"\n#### *\S[^\n]*\s*$")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def math_prompt(question: str) -> str:
    """The user turn of a math word problem (shared by gsm8k and the synthetic math task)."""
    return MATH_PROMPT + question


def gsm8k(row: Any) -> list[dict]:
    """openai/gsm8k: question, answer (worked solution ending in a ``#### n`` line, kept)."""
    question = text_field(row, "question")
    answer = text_field(row, "answer")
    if not _FINAL_ANSWER.search("\n" + answer):
        raise FormatError("field 'answer' has no final '#### <answer>' line")
    return [message("user", math_prompt(question)), assistant(answer)]


def orca_math(row: Any) -> list[dict]:
    """microsoft/orca-math-word-problems-200k: question, answer."""
    question = text_field(row, "question")
    return [message("user", "Solve this problem step by step:\n" + question),
            assistant(text_field(row, "answer"))]


def metamath(row: Any) -> list[dict]:
    """meta-math/MetaMathQA: query, response (both used as they are)."""
    return [message("user", text_field(row, "query")), assistant(text_field(row, "response"))]


def mathinstruct(row: Any) -> list[dict]:
    """TIGER-Lab/MathInstruct: instruction, output."""
    return [message("user", text_field(row, "instruction")), assistant(text_field(row, "output"))]


def cot_collection(row: Any) -> list[dict]:
    """kaist-ai/CoT-Collection: source (the task), rationale, target."""
    source = text_field(row, "source")
    rationale = text_field(row, "rationale")
    target = text_field(row, "target")
    return [message("user", source), assistant(f"{rationale}\nTherefore, the answer is: {target}")]


def choices_block(labels: Sequence[str], texts: Sequence[str]) -> str:
    return "\n".join(f"{label}) {text}" for label, text in zip(labels, texts))


def _string_list(values: list, name: str) -> list[str]:
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise FormatError(f"{name}[{i}] is not a non-empty string")
    return [value.strip() for value in values]


def _answer_index(value: Any, count: int) -> int:
    """An answer given as a 0-based index (int or digit string) or a letter."""
    if isinstance(value, bool):
        raise FormatError(f"answer {value!r} is a bool, not an index or letter")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper() in LETTERS:
        value = LETTERS.index(value.strip().upper())
    if not isinstance(value, int):
        raise FormatError(f"answer {value!r} is neither an option index nor a letter")
    if not 0 <= value < count:
        raise FormatError(f"answer {value!r} is out of range for {count} options")
    return value


def logiqa(row: Any) -> list[dict]:
    """LogiQA (1.0/2.0): context, query or question, options, answer (0-based index or letter)."""
    context = text_field(row, "context", "text")
    query = text_field(row, "query", "question")
    options = _string_list(list_field(row, "options"), "options")
    if len(options) < 2:
        raise FormatError("field 'options' needs at least two options")
    if len(options) > len(LETTERS):
        raise FormatError(f"field 'options' has {len(options)} options, more than there are letters")
    if row.get("answer") is not None:
        raw = row["answer"]
    elif row.get("correct_option") is not None:
        raw = row["correct_option"]
    else:
        raise FormatError("missing field 'answer' or 'correct_option'")
    index = _answer_index(raw, len(options))
    labels = LETTERS[: len(options)]
    prompt = f"{context}\n\nQuestion: {query}\n\n{choices_block(labels, options)}"
    return [message("user", prompt), assistant(f"The correct answer is {labels[index]}. {options[index]}")]


def arc(row: Any) -> list[dict]:
    """allenai/ai2_arc: question, choices {text: [...], label: [...]}, answerKey (one of the labels)."""
    question = text_field(row, "question")
    choices = row.get("choices")
    if not isinstance(choices, dict):
        raise FormatError("field 'choices' is missing or not a {text, label} mapping")
    texts = _string_list(list_field(choices, "text"), "choices.text")
    labels = _string_list(list_field(choices, "label"), "choices.label")
    if len(texts) != len(labels):
        raise FormatError(f"choices has {len(texts)} texts but {len(labels)} labels")
    key = text_field(row, "answerKey")
    if key not in labels:
        raise FormatError(f"answerKey {key!r} is not one of the labels {labels}")
    text = texts[labels.index(key)]
    prompt = f"{question}\n\n{choices_block(labels, texts)}"
    return [message("user", prompt), assistant(f"The answer is {key}. {text}")]
