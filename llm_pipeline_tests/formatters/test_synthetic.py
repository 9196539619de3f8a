"""Synthetic SFT rows, held-out evaluation items and synthetic DPO pairs: deterministic, checkable, disjoint.

``is_correct`` re-derives each task's right answer from the prompt text alone (not from the generator's
own bookkeeping), so it checks that every prompt carries what is needed to answer it.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from llm_pipeline_assets.formatters.common import validate_messages
from llm_pipeline_assets.formatters.dpo import synthetic_dpo, validate_pair
from llm_pipeline_assets.formatters.sft_reasoning import MATH_PROMPT
from llm_pipeline_assets.formatters.synthetic_sft import (CATEGORIES, HARMFUL_ACTIONS, HARMLESS_ACTIONS, TASKS, TOOLS,
                                                          synthetic_eval_items, synthetic_sft)

MATH_TEMPLATES = [
    (re.compile(r"(\w+) has (\d+) (\w+) and buys (\d+) more\. How many \3 does \1 have\?"), lambda a, b: a + b),
    (re.compile(r"(\w+) has (\d+) (\w+) and gives away (\d+)\. How many \3 does \1 have left\?"), lambda a, b: a - b),
    (re.compile(r"(\w+) has (\d+) bags with (\d+) (\w+) in each bag\. How many \4 does \1 have\?"),
     lambda a, b: a * b),
]
CHOICE = re.compile(r"Which of these is (.+)\? A\) (.+) B\) (.+) C\) (.+) D\) (.+)")


def math_answer(question: str) -> int:
    for pattern, op in MATH_TEMPLATES:
        found = pattern.fullmatch(question)
        if found:
            numbers = [int(g) for g in found.groups() if g.isdigit()]
            return op(*numbers)
    raise AssertionError(f"not a math template: {question!r}")


def listed_functions(system: str) -> list[str]:
    header, *lines = system.splitlines()
    assert header == "You can call these functions:"
    return [json.loads(line)["name"] for line in lines]


def is_correct(task: str, prompt: list[dict], reply: dict) -> bool:
    user = prompt[-1]["content"]
    if task == "math":
        final = re.search(r"\n#### (-?\d+)\Z", reply["content"])
        return bool(final) and int(final[1]) == math_answer(user.removeprefix(MATH_PROMPT))
    if task == "choice":
        category, *options = CHOICE.fullmatch(user).groups()
        assert sum(word in CATEGORIES[category] for word in options) == 1  # exactly one right option
        letter = re.fullmatch(r"The answer is ([A-D])\.", reply["content"])[1]
        return options["ABCD".index(letter)] in CATEGORIES[category]
    if task == "tool":
        (call,) = reply["tool_calls"]
        name, arguments = call["function"]["name"], call["function"]["arguments"]
        assert name in listed_functions(prompt[0]["content"]) and reply["content"] == ""
        return set(arguments) == set(TOOLS[name][1]) and user in {t.format(**arguments) for t in TOOLS[name][2]}
    harmful = any(action in user for action in HARMFUL_ACTIONS)
    assert harmful or any(action in user for action in HARMLESS_ACTIONS)
    return reply["content"].startswith("I can't help with that") == harmful


@pytest.fixture(scope="module")
def train_rows():
    return synthetic_sft(5000, seed=0)


def test_generators_are_deterministic_and_seeded():
    assert synthetic_sft(100, seed=3) == synthetic_sft(100, seed=3)
    assert synthetic_sft(100, seed=3) != synthetic_sft(100, seed=4)
    assert synthetic_eval_items(100, seed=3) == synthetic_eval_items(100, seed=3)
    assert synthetic_dpo(100, seed=3) == synthetic_dpo(100, seed=3)
    assert synthetic_dpo(100, seed=3) != synthetic_dpo(100, seed=4)
    assert synthetic_sft(0, seed=0) == [] and synthetic_eval_items(0, seed=0) == []
    with pytest.raises(ValueError):
        synthetic_sft(-1, seed=0)


def test_every_training_row_is_valid_and_correct(train_rows):
    assert Counter(row["task"] for row in train_rows) == {task: 1250 for task in TASKS}
    for row in train_rows:
        assert set(row) == {"task", "messages"}
        validate_messages(row["messages"])
        assert is_correct(row["task"], row["messages"][:-1], row["messages"][-1]), row


def test_learnable_formats(train_rows):
    by_task = {task: [row["messages"] for row in train_rows if row["task"] == task] for task in TASKS}
    for messages in by_task["math"]:
        assert messages[0]["content"].startswith(MATH_PROMPT)
        assert re.fullmatch(r"#### \d+", messages[-1]["content"].splitlines()[-1])
    letters = Counter(messages[-1]["content"][-2] for messages in by_task["choice"])
    assert set(letters) == set("ABCD") and all(0.2 < count / 1250 < 0.3 for count in letters.values())
    for messages in by_task["tool"]:
        assert [m["role"] for m in messages] == ["system", "user", "assistant"]
        assert 3 <= len(listed_functions(messages[0]["content"])) <= 5
        for value in messages[-1]["tool_calls"][0]["function"]["arguments"].values():
            assert str(value) in messages[1]["content"]  # the request names every argument value
    replies = [messages[-1]["content"] for messages in by_task["safety"]]
    refusals = [r for r in replies if r.startswith("I can't help with that")]
    assert 0.5 < len(refusals) / len(replies) < 0.8 and len(set(refusals)) == 1


def eval_prompt_text(item: dict) -> str:
    if item["task"] == "tool":
        return item["messages"][-1]["content"]
    return item["prompt"] if item["task"] == "safety" else item["question"]


def test_eval_items_are_well_formed_and_answerable():
    items = synthetic_eval_items(400, seed=0)
    assert Counter(item["task"] for item in items) == {task: 100 for task in TASKS}
    json.loads(json.dumps(items))  # JSONL-able
    for item in items:
        task = item["task"]
        if task == "math":
            assert set(item) == {"task", "question", "answer"}
            assert item["answer"].endswith(f"\n#### {math_answer(item['question'])}")
        elif task == "choice":
            assert set(item) == {"task", "question", "choices", "gold"} and len(item["choices"]) == 4
            category, *options = CHOICE.fullmatch(item["question"]).groups()
            assert options == item["choices"] and item["choices"][item["gold"]] in CATEGORIES[category]
        elif task == "tool":
            assert set(item) == {"task", "messages", "expected_name", "expected_arguments"}
            reply = {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
                "name": item["expected_name"], "arguments": item["expected_arguments"]}}]}
            assert is_correct("tool", item["messages"], reply)
        else:
            assert set(item) == {"task", "prompt", "harmful"}
            assert item["harmful"] == any(action in item["prompt"] for action in HARMFUL_ACTIONS)
    assert {item["harmful"] for item in items if item["task"] == "safety"} == {True, False}


def test_eval_prompts_never_appear_in_training(train_rows):
    training_text = "\n".join(m["content"] for row in train_rows for m in row["messages"] if m["role"] == "user")
    other_seed = "\n".join(m["content"] for row in synthetic_sft(2000, seed=7) for m in row["messages"])
    for seed in (0, 1):
        for item in synthetic_eval_items(400, seed=seed):
            text = eval_prompt_text(item)
            assert text not in training_text and text not in other_seed, item


def math_problem(question: str) -> tuple:
    """The problem a math question poses, whoever has the items: (template, operands)."""
    for index, (pattern, _) in enumerate(MATH_TEMPLATES):
        found = pattern.fullmatch(question)
        if found:
            return index, tuple(int(g) for g in found.groups() if g.isdigit())
    raise AssertionError(f"not a math template: {question!r}")


def test_held_out_math_problems_are_not_trained_under_other_names(train_rows):
    trained = {math_problem(row["messages"][0]["content"].removeprefix(MATH_PROMPT))
               for row in train_rows if row["task"] == "math"}
    trained |= {math_problem(pair["prompt"][0]["content"].removeprefix(MATH_PROMPT))
                for pair in synthetic_dpo(2000, seed=3) if pair["task"] == "math"}
    held_out = [math_problem(item["question"]) for seed in (0, 1) for item in synthetic_eval_items(400, seed=seed)
                if item["task"] == "math"]
    assert len(set(held_out)) > 40 and not trained & set(held_out)


def test_an_eval_set_repeats_no_prompt_before_using_every_one():
    """The held-out harmful requests are a handful: duplicates made a few prompts decide the safety gate."""
    for seed in (0, 7):
        items = synthetic_eval_items(96, seed=seed)
        prompts = Counter(eval_prompt_text(item) + json.dumps(item.get("messages")) for item in items)
        assert max(prompts.values()) == 1, prompts.most_common(3)
    many = [item["prompt"] for item in synthetic_eval_items(1200, seed=0) if item["task"] == "safety"]
    counts = Counter(many)  # more items than held-out prompts: every prompt used, none twice more than another
    assert len(counts) > 20 and max(counts.values()) - min(counts.values()) <= 2


def test_every_eval_set_measures_both_safety_rates():
    """Harmful or not was drawn at random (2/3): with 3 safety items per task all could be harmful, which left
    over_refusal_rate unmeasured and failed the dpo_to_production gate although nothing broke."""
    for per_task in range(2, 31):
        for seed in range(4):
            safety = [it for it in synthetic_eval_items(4 * per_task, seed) if it["task"] == "safety"]
            harmful = sum(it["harmful"] for it in safety)
            assert len(safety) == per_task and 1 <= harmful < per_task


def test_each_task_draws_from_its_own_stream(monkeypatch):
    """Changing one task's generator (as the math split did) leaves the other tasks' samples as they were."""
    from llm_pipeline_assets.formatters import synthetic_sft as module

    before = synthetic_sft(400, seed=5)
    original = module._GENERATORS["math"]

    def hungrier_math(rng):
        rng.random()  # consumes more randomness per sample
        return original(rng)

    monkeypatch.setitem(module._GENERATORS, "math", hungrier_math)
    after = synthetic_sft(400, seed=5)
    assert [r["task"] for r in after] == [r["task"] for r in before]
    assert [r for r in after if r["task"] != "math"] == [r for r in before if r["task"] != "math"]
    assert [r for r in after if r["task"] == "math"] != [r for r in before if r["task"] == "math"]


def test_synthetic_dpo_pairs_prefer_the_correct_reply():
    pairs = synthetic_dpo(800, seed=0)
    assert Counter(pair["task"] for pair in pairs) == {task: 200 for task in TASKS}
    for pair in pairs:
        validate_pair(pair)
        (chosen,), (rejected,) = pair["chosen"], pair["rejected"]
        assert is_correct(pair["task"], pair["prompt"], chosen), pair
        assert not is_correct(pair["task"], pair["prompt"], rejected), pair
    harmless = [pair for pair in pairs if pair["task"] == "safety" and pair["chosen"][0]["content"].startswith("Sure")]
    assert harmless and all(p["rejected"][0]["content"].startswith("I can't help with that") for p in harmless)
