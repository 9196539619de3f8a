"""sft_dataset / dpo_dataset library: sources -> formatters -> JSONL splits; nothing lost."""

import json

import pytest

from llm_pipeline_assets.config import ChatDataSource
from llm_pipeline_assets.finetune.chat_data import build_chat_dataset


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_local_gsm8k_and_synthetic_sources(tmp_path):
    rows = [{"question": f"What is {i} + {i}?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"} for i in range(30)]
    rows += [{"question": "no answer"}, {"question": 5, "answer": "#### 5"}]
    (tmp_path / "gsm.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken json\n")
    sources = [ChatDataSource(name="gsm", kind="local", format="gsm8k", path=str(tmp_path / "gsm.jsonl")),
               ChatDataSource(name="synthetic", num=40, seed=3)]
    stats = build_chat_dataset("sft", sources, tmp_path / "out", 0.2, seed=1, log=lambda m: None)
    train, val = _read(tmp_path / "out" / "train.jsonl"), _read(tmp_path / "out" / "val.jsonl")
    rejected = _read(tmp_path / "out" / "rejected.jsonl")
    assert len(train) + len(val) == 70 and len(rejected) == 3
    assert stats.kept["gsm"] == 30 and stats.rejected["gsm"] == 3 and stats.rows_in["gsm"] == 33
    assert {r["source"] for r in rejected} == {"gsm"} and all(r["reason"] for r in rejected)
    assert {"math", "choice", "tool", "safety"} == set(stats.tasks)  # gsm8k rows teach math, as synthetic math does
    gsm = [r for r in train + val if r["source"] == "gsm"]
    assert {r["task"] for r in gsm} == {"math"}
    assert gsm[0]["messages"][-1]["role"] == "assistant" and "####" in gsm[0]["messages"][-1]["content"]
    again = build_chat_dataset("sft", sources, tmp_path / "again", 0.2, seed=1, log=lambda m: None)
    assert again.split == stats.split  # deterministic split


def test_hh_rlhf_pairs_and_invalid_pairs(tmp_path):
    goods = [{"chosen": f"\n\nHuman: Hi {i}\n\nAssistant: Hello!\n\nHuman: Capital of France?\n\nAssistant: Paris.",
              "rejected": f"\n\nHuman: Hi {i}\n\nAssistant: Hello!\n\nHuman: Capital of France?\n\nAssistant: No idea."}
             for i in range(12)]
    same = {"chosen": goods[0]["chosen"], "rejected": goods[0]["chosen"]}
    (tmp_path / "hh.jsonl").write_text("\n".join(json.dumps(r) for r in goods + [same, {"chosen": "x"}]))
    src = [ChatDataSource(name="hh", kind="local", format="hh-rlhf", path=str(tmp_path / "hh.jsonl"))]
    stats = build_chat_dataset("dpo", src, tmp_path / "out", 0.25, seed=0, log=lambda m: None)
    pairs = _read(tmp_path / "out" / "train.jsonl") + _read(tmp_path / "out" / "val.jsonl")
    assert len(pairs) == 12 and stats.rejected["hh"] == 2
    p = pairs[0]
    assert p["prompt"][-1] == {"role": "user", "content": "Capital of France?"}
    assert p["chosen"][0]["content"] == "Paris." and p["rejected"][0]["content"] == "No idea."
    reasons = [r["reason"] for r in _read(tmp_path / "out" / "rejected.jsonl")]
    assert any("same" in r for r in reasons)


@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_validation_prompts_are_never_trained_on(tmp_path, kind):
    """The synthetic tasks repeat prompts (and real datasets hold duplicates): a prompt's every copy lands on one
    side, so validation loss is measured on prompts the model never saw (split by position: 67 of 240 SFT
    validation examples were verbatim in train.jsonl)."""
    from llm_pipeline_assets.finetune.chat_data import prompt_key

    build_chat_dataset(kind, [ChatDataSource(name="synthetic", num=1200, seed=0)], tmp_path, 0.1, seed=42,
                       log=lambda m: None)
    train, val = _read(tmp_path / "train.jsonl"), _read(tmp_path / "val.jsonl")
    train_prompts = {prompt_key(r) for r in train}
    assert len(train) > len(train_prompts)  # the data does repeat prompts
    assert val and not [r for r in val if prompt_key(r) in train_prompts]


def test_empty_split_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="both splits"):
        build_chat_dataset("sft", [ChatDataSource(name="s", num=1)], tmp_path, 0.01, seed=0, log=lambda m: None)


def test_oasst_message_rows_become_threads(tmp_path):
    """OpenAssistant/oasst1 as published (one message per row) through the sft_dataset library function: each
    tree gives its best-ranked thread, malformed messages are rejected with a reason, flat rows still work."""
    from llm_pipeline_assets.formatters.sft import UNUSED_OASST
    from llm_pipeline_tests.formatters.test_oasst import MALFORMED, TREE

    rows = TREE + MALFORMED + [{"instruction": "Say hi.", "response": "Hi!"}]
    data = tmp_path / "oasst.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    src = [ChatDataSource(name="oasst", kind="local", format="oasst", path=str(data))]
    stats = build_chat_dataset("sft", src, tmp_path / "out", 0.3, seed=3, log=lambda m: None)
    kept = [json.loads(line) for split in ("train", "val") for line in (tmp_path / "out" / f"{split}.jsonl").open()]
    convs = sorted([m["content"] for m in r["messages"]] for r in kept)
    assert convs == sorted([["What is the capital of France?", "The capital of France is Paris.",
                             "What about Germany?", "Berlin."],
                            ["Cuéntame un chiste.", "¿Por qué el pollo cruzó la calle?"], ["Say hi.", "Hi!"]])
    rejected = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").open()]
    unused = [r["row"]["message_id"] for r in rejected if r["reason"] == UNUSED_OASST]
    assert sorted(unused) == ["a1", "a4", "p2", "p4", "r3"]  # other branches, unanswered prompts: accounted for
    assert len(rejected) - len(unused) == len(MALFORMED) + 1  # + the deleted message
    assert len(rejected) + 7 == len(rows)  # kept threads hold 7 rows: nothing lost
    assert stats.kept["oasst"] == 3 and stats.rejected["oasst"] == len(rejected)


def test_lora_mix_has_the_configured_shares_and_repeats_rows_only_when_a_task_is_short():
    from llm_pipeline_assets.assets.finetune import mix_by_task

    rows = [{"task": "math", "i": i} for i in range(100)] + [{"task": "tool", "i": i} for i in range(10)]
    mixed = mix_by_task(rows, {"math": 0.6, "tool": 0.4}, 50, seed=1)
    math = [r["i"] for r in mixed if r["task"] == "math"]
    tool = [r["i"] for r in mixed if r["task"] == "tool"]
    assert len(math) == 30 and len(set(math)) == 30  # plenty of math rows: all distinct
    assert len(tool) == 20 and set(tool) == set(range(10))  # 10 tool rows for 20 places: repeated
    assert mix_by_task(rows, {"math": 0.6, "tool": 0.4}, 50, seed=1) == mixed
    with pytest.raises(ValueError, match="lora.mix names tasks"):
        mix_by_task(rows, {"chat": 1.0}, 5, seed=1)


@pytest.mark.parametrize("total", [5, 25, 40, 399, 400])
def test_lora_mix_draws_exactly_the_requested_number_of_rows(total):
    """The default mix (0.6/0.2/0.1/0.1) at the sizes users set: exactly ``total`` rows, each task within one row
    of its share (rounding each share alone drew 24 of 25 and 4 of 5, and no safety rows of 25)."""
    from llm_pipeline_assets.assets.finetune import mix_by_task
    from llm_pipeline_assets.config_training import LoraTrainConfig

    mix = LoraTrainConfig().mix
    rows = [{"task": task, "i": i} for task in mix for i in range(50)]
    mixed = mix_by_task(rows, mix, total, seed=0)
    counts = {task: sum(r["task"] == task for r in mixed) for task in mix}
    assert len(mixed) == total
    assert all(abs(counts[t] - share * total) < 1 for t, share in mix.items()), counts  # each share within a row


def test_the_lora_mix_draws_the_real_sources_of_each_task_not_only_the_synthetic_rows(tmp_path):
    """The GPU presets name real SFT sources (gsm8k, alpaca, glaive, ...) and keep the default lora.mix (tool, math,
    choice, safety): each real row carries the task it teaches, so the mix draws them with the synthetic ones."""
    from llm_pipeline_assets.assets.finetune import mix_by_task
    from llm_pipeline_assets.config_training import LoraTrainConfig

    gsm = [{"question": f"What is {i} + 1?", "answer": f"#### {i + 1}"} for i in range(40)]
    alpaca = [{"instruction": f"Say {i}.", "input": "", "output": f"{i}"} for i in range(40)]
    own = [{"messages": [{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": f"A{i}"}],
            **({"task": "choice"} if i % 2 else {})} for i in range(20)]
    for name, rows in (("gsm", gsm), ("alpaca", alpaca), ("own", own)):
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    sources = [ChatDataSource(name="gsm", kind="local", format="gsm8k", path=str(tmp_path / "gsm.jsonl")),
               ChatDataSource(name="alpaca", kind="local", format="alpaca", path=str(tmp_path / "alpaca.jsonl")),
               ChatDataSource(name="own", kind="local", format="messages", path=str(tmp_path / "own.jsonl")),
               ChatDataSource(name="synthetic", num=40, seed=3)]
    stats = build_chat_dataset("sft", sources, tmp_path / "out", 0.1, seed=1, log=lambda m: None)
    assert stats.tasks["general"] == 50 and stats.tasks["math"] == 50  # alpaca + own rows without a task; gsm + 10
    rows = _read(tmp_path / "out" / "train.jsonl") + _read(tmp_path / "out" / "val.jsonl")
    assert {r["task"] for r in rows if r["source"] == "own"} == {"general", "choice"}  # a row's own task is kept
    mixed = mix_by_task(rows, LoraTrainConfig().mix, 200, seed=0)
    drawn = {r["source"] for r in mixed}
    assert {"gsm", "synthetic", "own"} <= drawn and "alpaca" not in drawn  # general has no share in the default mix
    assert sum(r["source"] == "gsm" for r in mixed) > sum(r["source"] == "synthetic" and r["task"] == "math"
                                                         for r in mixed)  # 40 gsm rows vs 10 synthetic math rows


def test_messages_rows_with_openai_style_string_arguments_are_kept_as_objects(tmp_path):
    """OpenAI-format tool calls carry ``arguments`` as a JSON string: parsed into the object the template renders
    (kept, not rejected); arguments that are not an object are rejected with the reason."""
    def row(arguments):
        return {"messages": [{"role": "user", "content": "Weather in Paris?"},
                             {"role": "assistant", "content": "", "tool_calls": [
                                 {"type": "function", "function": {"name": "get_weather", "arguments": arguments}}]},
                             {"role": "tool", "content": "18 C"}, {"role": "assistant", "content": "18 C in Paris."}]}

    rows = [row('{"city": "Paris", "unit": "C"}'), row({"city": "Paris"}), row("[1, 2]"), row("{not json")]
    (tmp_path / "chat.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    src = ChatDataSource(name="chat", kind="local", format="messages", path=str(tmp_path / "chat.jsonl"))
    stats = build_chat_dataset("sft", [src], tmp_path / "out", 0.5, seed=1, log=lambda m: None)
    kept = _read(tmp_path / "out" / "train.jsonl") + _read(tmp_path / "out" / "val.jsonl")
    rejected = _read(tmp_path / "out" / "rejected.jsonl")
    assert stats.kept["chat"] == 2 and len(rejected) == 2
    args = sorted(json.dumps(r["messages"][1]["tool_calls"][0]["function"]["arguments"]) for r in kept)
    assert args == ['{"city": "Paris", "unit": "C"}', '{"city": "Paris"}']  # objects, as from a dict
    assert all("get_weather" in r["reason"] for r in rejected)


def test_a_val_split_without_a_small_task_draws_the_other_tasks_and_says_so():
    """The val split (a few percent, split by prompt hash) of a small SFT source held no math or safety rows, and
    lora_adapter failed after pretraining, SFT and DPO with "sft_dataset does not have ['math', 'safety']"."""
    from llm_pipeline_assets.assets.finetune import mix_by_task

    val = [{"task": "tool", "i": i} for i in range(3)] + [{"task": "choice", "i": i} for i in range(2)]
    mix = {"tool": 0.6, "math": 0.2, "choice": 0.1, "safety": 0.1}
    said = []
    mixed = mix_by_task(val, mix, 10, seed=0, split="val", log=said.append)
    assert len(mixed) == 10 and {r["task"] for r in mixed} == {"tool", "choice"}
    assert sum(r["task"] == "tool" for r in mixed) == 9  # 0.6 : 0.1 of the 10 places the present tasks share
    assert len(said) == 1 and "val split has no rows of lora.mix tasks ['math', 'safety']" in said[0]
    with pytest.raises(ValueError, match=r"sft_dataset's train split does not have \(it has \['choice', 'tool'\]\)"
                       r"|tasks \['math', 'safety'\] that sft_dataset's train split"):
        mix_by_task(val, mix, 10, seed=0)  # the train split must hold every task of the mix
    with pytest.raises(ValueError, match="val split does not have"):
        mix_by_task([{"task": "chat"}], mix, 10, seed=0, split="val")  # none of the mix's tasks at all
