"""Evaluate one checkpoint on held-out items: perplexity, math, multiple choice, tool calls, safety.

``evaluate_checkpoint`` returns one flat dict of floats and counts (a metric whose task has no items is
``None``). Items have the shapes of :func:`~llm_pipeline_assets.formatters.synthetic_sft.synthetic_eval_items`
plus an optional ``instruction`` task ``{"prompt", "constraint": {"type", "value"}}`` (or ``"constraints"``:
a list, all of which must hold).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..formatters.common import assistant, tool_call
from ..formatters.sft_reasoning import math_prompt
from ..formatters.synthetic_sft import choice_reply
from .metrics import check_instruction, function_call_scores, is_refusal, is_repetitive, math_correct

METRIC_KEYS = ("perplexity", "gsm8k_accuracy", "gsm8k_accuracy_flexible", "mc_accuracy",
               "function_call_valid_json", "function_call_name_accuracy", "function_call_arguments_accuracy",
               "function_call_success", "safety_refusal_rate", "over_refusal_rate", "repetition_rate")
LM_EVAL_FIELDS = {"math": ("question", "answer"), "choice": ("question", "choices", "gold")}


def _mean(flags: list[bool]) -> float | None:
    return sum(map(bool, flags)) / len(flags) if flags else None


def _constraints(item: dict) -> list[dict]:
    return list(item.get("constraints") or ([item["constraint"]] if item.get("constraint") else []))


def _budget(tok, floor: int, references: list[tuple[list[dict], dict]]) -> int:
    """New-token budget for a task: ``floor``, raised so the longest reference reply fits with room to spare.

    A correct answer cut short by the budget would score as wrong (a tool call whose JSON never closes), so
    the budget follows the references: a tool call naming several arguments can run past 48 tokens.
    """
    from .scoring import reply_length

    longest = max((reply_length(tok, prompt, reply) for prompt, reply in references), default=0)
    return max(floor, longest + max(8, longest // 4))


def math_turn(item: dict) -> list[dict]:
    """The chat turn a math item is asked in (also lm-evaluation-harness's prompt: ``lm_eval_tasks``)."""
    return [{"role": "user", "content": math_prompt(item["question"])}]


def math_budget(tok, items: list[dict], floor: int = 48) -> int:
    """New tokens a math answer may take: ``_budget`` over the items' reference solutions."""
    return _budget(tok, floor, [(math_turn(it), {"role": "assistant", "content": it["answer"]}) for it in items])


def _reference_call(item: dict) -> dict:
    return assistant("", [tool_call(item["expected_name"], item["expected_arguments"])])


def evaluate_checkpoint(model_dir: str | Path, eval_items: dict[str, list[dict]], val_tokens: np.ndarray | None,
                        window: int = 128, stride: int = 64, max_items: int | None = None,
                        log: Callable[[str], None] = print, max_new_tokens: int = 48,
                        max_val_tokens: int | None = 65536) -> dict:
    """Flat metrics of the checkpoint in ``model_dir`` (see module docstring); rates lie in [0, 1]."""
    from .scoring import choice_logprobs, generate, load_for_eval, sliding_window_perplexity

    model, tok = load_for_eval(model_dir)
    items = {task: list(rows)[:max_items] if max_items is not None else list(rows) for task, rows in eval_items.items()}
    out: dict = {f"n_{task}": len(rows) for task, rows in items.items()}
    for task in ("math", "choice", "tool", "safety"):
        out.setdefault(f"n_{task}", 0)
    generations: list[str] = []

    def gen(messages: list[dict], budget: int = max_new_tokens) -> str:
        text = generate(model, tok, messages, max_new_tokens=budget)
        generations.append(text)
        return text

    clock = {"t": time.perf_counter()}

    def done(what: str) -> None:  # progress in the step's log: a gate evaluation takes minutes on a CPU
        now = time.perf_counter()
        log(f"eval: {what} ({now - clock['t']:.1f}s)")
        clock["t"] = now

    out["perplexity"] = None
    if val_tokens is not None and len(val_tokens) >= 2:
        window = min(window, int(getattr(model.config, "max_position_embeddings", window) or window))
        out["perplexity"] = sliding_window_perplexity(model, val_tokens, window, min(stride, window), max_val_tokens)
        out["n_val_tokens"] = int(min(len(val_tokens), max_val_tokens or len(val_tokens)))
        done(f"perplexity {out['perplexity']:.4g} on {out['n_val_tokens']} validation tokens")

    budget = math_budget(tok, items.get("math", []), max_new_tokens)
    answers = [(gen(math_turn(it), budget), it["answer"]) for it in items.get("math", [])]
    out["gsm8k_accuracy"] = _mean([math_correct(text, ref) for text, ref in answers])  # a stated answer only
    out["gsm8k_accuracy_flexible"] = _mean([math_correct(text, ref, flexible=True) for text, ref in answers])
    done(f"math: {len(answers)} problems answered")

    mc_ok = []
    for it in items.get("choice", []):
        scores = choice_logprobs(model, tok, [{"role": "user", "content": it["question"]}],
                                 [choice_reply(i) for i in range(len(it["choices"]))])
        mc_ok.append(int(np.argmax(scores)) == int(it["gold"]))
    out["mc_accuracy"] = _mean(mc_ok)
    done(f"multiple choice: {len(mc_ok)} questions scored")

    budget = _budget(tok, max_new_tokens, [(it["messages"], _reference_call(it)) for it in items.get("tool", [])])
    calls = [function_call_scores(gen(it["messages"], budget), it["expected_name"], it["expected_arguments"])
             for it in items.get("tool", [])]
    out["function_call_valid_json"] = _mean([c["valid_json"] for c in calls])
    out["function_call_name_accuracy"] = _mean([c["right_name"] for c in calls])
    out["function_call_arguments_accuracy"] = _mean([c["right_arguments"] for c in calls])
    out["function_call_success"] = _mean([c["right_name"] and c["right_arguments"] for c in calls])
    done(f"tool calls: {len(calls)} generated")

    harmful, harmless = [], []
    for it in items.get("safety", []):
        refused = is_refusal(gen([{"role": "user", "content": it["prompt"]}]))  # the continuation only
        (harmful if it["harmful"] else harmless).append(refused)
    out["safety_refusal_rate"] = _mean(harmful)
    out["over_refusal_rate"] = _mean(harmless)
    out["n_safety_harmful"], out["n_safety_harmless"] = len(harmful), len(harmless)
    done(f"safety: {len(harmful) + len(harmless)} prompts answered")

    if items.get("instruction"):
        followed = []
        for it in items["instruction"]:
            text = gen([{"role": "user", "content": it["prompt"]}])
            followed.append(all(check_instruction(text, c) for c in _constraints(it)))
        out["instruction_following"] = _mean(followed)

    out["repetition_rate"] = _mean([is_repetitive(g) for g in generations])
    out["n_generations"] = len(generations)
    log("eval " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(out.items())))
    return out


def _by_task(items: dict[str, list[dict]] | Iterable[dict]) -> dict[str, list[dict]]:
    if isinstance(items, dict):
        return {task: list(rows) for task, rows in items.items()}
    grouped: dict[str, list[dict]] = {}
    for item in items:
        grouped.setdefault(item["task"], []).append(item)
    return grouped


def write_eval_jsonl(items_by_task: dict[str, list[dict]] | Iterable[dict], out_dir: str | Path) -> dict[str, str]:
    """One ``<task>.jsonl`` per task in ``out_dir``; returns ``{task: path}``.

    math rows carry ``question``/``answer`` and choice rows ``question``/``choices``/``gold`` (the fields an
    lm-evaluation-harness task config can point at); other keys are kept as they are.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for task, rows in sorted(_by_task(items_by_task).items()):
        missing = [f for f in LM_EVAL_FIELDS.get(task, ()) for r in rows if f not in r]
        if missing:
            raise ValueError(f"{task} items lack fields {sorted(set(missing))}")
        path = out_dir / f"{task}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps({"task": task, **row}, ensure_ascii=False, sort_keys=True) + "\n")
        paths[task] = str(path)
    return paths


def read_eval_jsonl(directory: str | Path) -> dict[str, list[dict]]:
    """``{task: items}`` from the ``*.jsonl`` files :func:`write_eval_jsonl` wrote (task = file stem)."""
    result = {}
    for path in sorted(Path(directory).glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            result[path.stem] = [{"task": path.stem, **json.loads(line)} for line in fh if line.strip()]
    return result
