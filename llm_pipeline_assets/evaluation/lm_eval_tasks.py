"""lm-evaluation-harness task configs over the project's held-out eval JSONL files.

``write_lm_eval_tasks(eval_dir, out_dir)`` writes one task YAML per supported task file, so the same
items the pipeline scores can be run through lm-evaluation-harness offline::

    python -m llm_pipeline_assets.evaluation.lm_eval_tasks <eval_sets>/tasks /tmp/lm_eval_tasks [<checkpoint>]
    lm_eval --model hf --model_args pretrained=<checkpoint> --include_path /tmp/lm_eval_tasks \\
            --tasks llm_pipeline_choice --apply_chat_template

* ``llm_pipeline_choice``: multiple choice by log-likelihood of each reply "The answer is X." after the
  chat prompt (``acc``), the same scoring as the pipeline's ``mc_accuracy``.
* ``llm_pipeline_math``: greedy generation until the end-of-turn marker, exact match of the ``#### n``
  answer (``exact_match``), as in lm-evaluation-harness's gsm8k task; scored like the pipeline's strict
  ``gsm8k_accuracy``, with the same generation budget when the checkpoint is named (its tokenizer counts the
  reference answers).

The YAML files reference the JSONL files by absolute path (lm-evaluation-harness resolves ``data_files``
against the working directory, not the YAML).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..formatters.sft_reasoning import LETTERS, math_prompt
from ..formatters.synthetic_sft import choice_reply

TASK_PREFIX = "llm_pipeline_"


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def _data_files(path: Path) -> list[str]:
    return ["dataset_path: json", "dataset_kwargs:", "  data_files:", f"    test: {_quote(str(path.resolve()))}",
            "test_split: test"]


def choice_task_yaml(path: Path) -> str:
    replies = [choice_reply(i) for i in range(len(LETTERS))]
    return "\n".join([
        f"task: {TASK_PREFIX}choice", *_data_files(path), "output_type: multiple_choice",
        'doc_to_text: "{{question}}"',
        # one reply per listed option, exactly the strings the pipeline scores
        f"doc_to_choice: {_quote('{{ ' + json.dumps(replies) + '[:choices|length] }}')}",
        'doc_to_target: "{{gold}}"', 'target_delimiter: ""',
        "metric_list:", "  - metric: acc", "    aggregation: mean", "    higher_is_better: true", ""])


# lm-eval's RegexFilter takes the first match of one pattern: the pipeline's rule (metrics.extract_final_answer,
# strict) as one anchored pattern, the first valid "#### n", else (none anywhere) the first "the answer is n"
_NUMBER = r"(?:\*\*)?\s*\$?\s*({num})(?![\d/]|,\d|\.\d|[eE][-+]?\d)"
_NUM = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|[-+]?\.\d+"
_STATED = _NUMBER.format(num=_NUM)
_HASHES = r"####\s*" + _STATED
MATH_ANSWER_PATTERN = (r"(?s)^(?:.*?" + _HASHES + r"|(?!.*?####\s*" + _NUMBER.format(num="?:" + _NUM) + r")"
                       r".*?(?i:\bthe (?:final )?answer is:?)\s*" + _STATED + ")")
# both sides then read as metrics._normalise_number does: commas, a trailing ".", a leading "+", trailing decimal
# zeros and "-0" dropped; "0.5" and ".5" both become ".5" (lm-eval can only delete, not add the "0")
MATH_IGNORE = [",", "(?s).*#### ", "\\.$", "^\\+", "\\.0+$", *(f"(?<=\\.\\d{{{n}}})0+$" for n in range(1, 7)),
               "^0(?=\\.)", "(?<=^-)0(?=\\.)", "^-(?=0$)"]


def math_task_yaml(path: Path, max_gen_toks: int = 48) -> str:
    """Greedy generation scored like the pipeline's strict ``gsm8k_accuracy`` (``MATH_ANSWER_PATTERN``,
    ``MATH_IGNORE``)."""
    template = math_prompt("{{question}}")
    return "\n".join([
        f"task: {TASK_PREFIX}math", *_data_files(path), "output_type: generate_until",
        f"doc_to_text: {_quote(template)}", 'doc_to_target: "{{answer}}"', 'target_delimiter: ""',
        "generation_kwargs:", '  until: ["<|end|>", "<|endoftext|>"]', "  do_sample: false",
        f"  max_gen_toks: {int(max_gen_toks)}",
        "filter_list:", "  - name: strict-match", "    filter:", "      - function: regex",
        "        regex_pattern: " + _quote(MATH_ANSWER_PATTERN), "      - function: take_first",
        "metric_list:", "  - metric: exact_match", "    aggregation: mean", "    higher_is_better: true",
        "    ignore_case: true", "    ignore_punctuation: false",
        "    regexes_to_ignore: " + json.dumps(MATH_IGNORE), ""])


def _math_gen_tokens(eval_dir: Path, tokenizer: str | Path | None, floor: int) -> int:
    """The pipeline's generation budget for the math items (``suite.math_budget``) with ``tokenizer`` (a checkpoint
    or tokenizer directory), so that a reference answer fits as it does in the pipeline; ``floor`` without one."""
    source = eval_dir / "math.jsonl"
    if tokenizer is None or not source.exists():
        return floor
    from transformers import AutoTokenizer

    from .suite import math_budget, read_eval_jsonl

    tok = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)
    return math_budget(tok, read_eval_jsonl(eval_dir)["math"], floor)


WRITERS = {"choice": choice_task_yaml, "math": math_task_yaml}


def write_lm_eval_tasks(eval_dir: str | Path, out_dir: str | Path, tokenizer: str | Path | None = None,
                        max_new_tokens: int = 48) -> dict[str, Path]:
    """``{task name: yaml path}`` for each supported ``<task>.jsonl`` in ``eval_dir``. With ``tokenizer`` (the
    checkpoint to evaluate), the math task's ``max_gen_toks`` is the pipeline's budget for the same items
    (``max_new_tokens``, raised so the longest reference answer fits); without, ``max_new_tokens``."""
    eval_dir, out_dir = Path(eval_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for task, writer in WRITERS.items():
        source = eval_dir / f"{task}.jsonl"
        if source.exists():
            target = out_dir / f"{TASK_PREFIX}{task}.yaml"
            text = (writer(source, _math_gen_tokens(eval_dir, tokenizer, max_new_tokens)) if task == "math"
                    else writer(source))
            target.write_text(text, encoding="utf-8")
            written[f"{TASK_PREFIX}{task}"] = target
    if not written:
        raise FileNotFoundError(f"no {sorted(WRITERS)} task files (*.jsonl) in {eval_dir}")
    return written


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: python -m llm_pipeline_assets.evaluation.lm_eval_tasks <eval tasks dir> <out dir> "
                 "[<checkpoint dir: the math task's generation budget from its tokenizer>]")
    for name, path in write_lm_eval_tasks(*sys.argv[1:]).items():
        print(f"{name}: {path}")
