"""The lm-evaluation-harness math task scores a generation exactly as the pipeline's strict gsm8k_accuracy: the
task's own regex filter and exact_match (lm-eval's code), on the YAML this project writes."""

from __future__ import annotations

import pytest
import yaml

from llm_pipeline_assets.evaluation.lm_eval_tasks import math_task_yaml
from llm_pipeline_assets.evaluation.metrics import math_correct

CASES = [  # (generation, reference solution)
    ("so 3 + 4 = 7.\n#### 7", "#### 7"), ("#### 7.0", "#### 7"), ("#### 4.50", "#### 4.5"), ("#### 1.2350", "#### 1.235"),
    ("#### $18", "#### 18"), ("#### **18**", "#### 18"), ("#### +5", "#### 5"), ("#### 1,000", "#### 1000"),
    ("#### .5", "#### 0.5"), ("#### -0", "#### 0"), ("#### -0.50", "#### -.5"), ("#### 3/4", "#### 3/4"),
    ("#### 3/4", "#### 3"), ("#### 1e3", "#### 1"), ("#### 1,2,3", "#### 123"), ("#### 1,0000", "#### 10000"),
    ("The answer is 18.", "#### 18"), ("the final answer is: $1,200", "#### 1200"), ("The answer is 18", "#### 19"),
    ("the answer is 5, so #### 7", "#### 7"), ("the answer is 5, so #### 7", "#### 5"),
    ("#### none, the answer is 9", "#### 9"), ("I think 12", "#### 12"), ("", "#### 0"), ("#### 12\n#### 13", "#### 13"),
    ("#### -3", "#### -3"),
]


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return yaml.safe_load(math_task_yaml(tmp_path_factory.mktemp("t") / "math.jsonl"))


@pytest.mark.parametrize("generation, reference", CASES)
def test_lm_eval_scores_a_generation_as_the_pipeline_does(task, generation, reference):
    from lm_eval.api.metrics import exact_match_hf_evaluate
    from lm_eval.filters.extraction import RegexFilter

    step = task["filter_list"][0]["filter"][0]
    extracted = list(RegexFilter(regex_pattern=step["regex_pattern"]).apply([[generation]], [{}]))[0][0]
    metric = {k: v for k, v in task["metric_list"][0].items() if k not in ("metric", "aggregation", "higher_is_better")}
    theirs = exact_match_hf_evaluate([extracted], [reference], **metric)["exact_match"] == 1.0
    assert theirs == math_correct(generation, reference), extracted
