"""lm-evaluation-harness task configs over the project's held-out eval JSONL files.

``write_lm_eval_tasks(eval_dir, out_dir)`` writes one task YAML per supported task file, so the same
items the pipeline scores can be run through lm-evaluation-harness offline::

    python -m llm_pipeline_assets.evaluation.lm_eval_tasks <eval_sets>/tasks /tmp/lm_eval_tasks
    lm_eval --model hf --model_args pretrained=<checkpoint> --include_path /tmp/lm_eval_tasks \\
            --tasks llm_pipeline_choice --apply_chat_template

* ``llm_pipeline_choice``: multiple choice by log-likelihood of each reply "The answer is X." after the
  chat prompt (``acc``), the same scoring as the pipeline's ``mc_accuracy``.
* ``llm_pipeline_math``: greedy generation until the end-of-turn marker, exact match of the ``#### n``
  answer (``exact_match``), as in lm-evaluation-harness's gsm8k task.

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


def math_task_yaml(path: Path) -> str:
    template = math_prompt("{{question}}")
    return "\n".join([
        f"task: {TASK_PREFIX}math", *_data_files(path), "output_type: generate_until",
        f"doc_to_text: {_quote(template)}", 'doc_to_target: "{{answer}}"', 'target_delimiter: ""',
        "generation_kwargs:", '  until: ["<|end|>", "<|endoftext|>"]', "  do_sample: false",
        "  max_gen_toks: 48",
        "filter_list:", "  - name: strict-match", "    filter:", "      - function: regex",
        '        regex_pattern: "#### (\\\\-?[0-9\\\\.\\\\,]+)"', "      - function: take_first",
        "metric_list:", "  - metric: exact_match", "    aggregation: mean", "    higher_is_better: true",
        "    ignore_case: true", "    ignore_punctuation: false",
        '    regexes_to_ignore: [",", "\\\\$", "(?s).*#### ", "\\\\.$"]', ""])


WRITERS = {"choice": choice_task_yaml, "math": math_task_yaml}


def write_lm_eval_tasks(eval_dir: str | Path, out_dir: str | Path) -> dict[str, Path]:
    """``{task name: yaml path}`` for each supported ``<task>.jsonl`` in ``eval_dir``."""
    eval_dir, out_dir = Path(eval_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for task, writer in WRITERS.items():
        source = eval_dir / f"{task}.jsonl"
        if source.exists():
            target = out_dir / f"{TASK_PREFIX}{task}.yaml"
            target.write_text(writer(source), encoding="utf-8")
            written[f"{TASK_PREFIX}{task}"] = target
    if not written:
        raise FileNotFoundError(f"no {sorted(WRITERS)} task files (*.jsonl) in {eval_dir}")
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m llm_pipeline_assets.evaluation.lm_eval_tasks <eval tasks dir> <out dir>")
    for name, path in write_lm_eval_tasks(sys.argv[1], sys.argv[2]).items():
        print(f"{name}: {path}")
