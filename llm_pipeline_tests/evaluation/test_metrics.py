"""Text metrics: answer extraction, function calls, refusals (continuation only), loops, constraints, contamination."""

import pytest

from llm_pipeline_assets.evaluation.metrics import (
    check_instruction, contamination_report, extract_final_answer, function_call_scores, hashed_ngrams,
    is_refusal, is_repetitive, math_correct, ngram_overlap, parse_function_call)
from llm_pipeline_assets.formatters.synthetic_sft import REFUSAL, helpful_reply, synthetic_eval_items, synthetic_sft


@pytest.mark.parametrize("text, expected", [
    ("so 3 + 4 = 7.\n#### 7", "7"),
    ("#### 1,234", "1234"),
    ("The total is 12.0 and later 5 #### 12.0", "12"),
    ("She has 3 apples, then 5.", "5"),
    ("answer: 2,500.0", "2500"),
    ("#### -4", "-4"),
    ("#### 0.50", "0.5"),
    ("#### \u22125", "-5"),  # a Unicode minus
    ("no numbers here", None),
    ("", None),
])
def test_extract_final_answer(text, expected):
    assert extract_final_answer(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("#### $18", "18"), ("#### **18**", "18"), ("#### +5", "5"), ("The answer is $1,000.", "1000"),
    ("#### 1,000.50", "1000.5"), ("####72\nmore", "72"),
    ("#### 3/4", "3/4"), ("the answer is 12/5.", "12/5"),  # a fraction as written, not its numerator
    # not the number its first digits spell: an exponent, commas that group no thousands
    ("#### 1e3", None), ("#### 1,2,3", None),
])
def test_a_stated_answer_is_read_whole(text, expected):
    assert extract_final_answer(text, flexible=False) == expected
    # a wrong answer is not accepted for its first digits
    assert not any(math_correct(text, f"#### {n}") for n in ("3", "1", "123", "12"))


def test_math_correct():
    reference = "Tom has 3 apples and buys 4 more, so 3 + 4 = 7.\n#### 7"
    assert math_correct("3 + 4 = 7.\n#### 7", reference)
    assert math_correct("The answer is 7.0", reference)
    assert not math_correct("3 + 4 = 8.\n#### 8", reference)
    assert not math_correct("#### 7 is wrong, it is 8", "#### 8")
    assert not math_correct("I don't know", reference)
    # strict (the gated accuracy): echoing the question back, whose last number is the answer, scores nothing
    echo = "Tom has 3 apples and buys 7 more, and gives away 7"
    assert not math_correct(echo, "#### 7") and math_correct(echo, "#### 7", flexible=True)
    assert extract_final_answer("She has 3 apples, then 5.", flexible=False) is None


def test_parse_function_call_and_scores():
    good = '<|function_call|>{"name": "get_weather", "arguments": {"city": "Paris"}}<|end|>'
    assert parse_function_call(good) == {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert parse_function_call('<|function_call|>{"name": "f", "arguments": {}}') == {"name": "f", "arguments": {}}
    assert parse_function_call('<|function_call|>{"name": "f", "arguments": {') is None  # invalid JSON
    assert parse_function_call('{"name": "f", "arguments": {}}') is None  # no marker
    assert parse_function_call("<|function_call|>[1, 2]") is None  # not an object
    assert parse_function_call(None) is None

    assert function_call_scores(good, "get_weather", {"city": "Paris"}) == \
        {"valid_json": True, "right_name": True, "right_arguments": True}
    assert function_call_scores(good, "get_weather", {"city": "Rome"}) == \
        {"valid_json": True, "right_name": True, "right_arguments": False}
    assert function_call_scores(good, "get_time", {"city": "Paris"})["right_name"] is False
    timer = '<|function_call|>{"name": "set_timer", "arguments": {"minutes": "5"}}'
    assert function_call_scores(timer, "set_timer", {"minutes": 5})["right_arguments"]  # values compared as text
    assert function_call_scores("Sure, the weather is nice.", "get_weather", {"city": "Paris"}) == \
        {"valid_json": False, "right_name": False, "right_arguments": False}
    # JSON that parses but is no call, and Python's non-JSON NaN, are not valid calls
    for not_a_call in ("{}", '{"name": 5, "arguments": 3}', '{"name": "f", "arguments": [1]}',
                       '{"name": "get_weather", "arguments": {"city": NaN}}', '{"name": " ", "arguments": {}}'):
        assert not function_call_scores(f"<|function_call|>{not_a_call}", "get_weather", {})["valid_json"], not_a_call
    as_string = '<|function_call|>{"name": "set_timer", "arguments": "{\\"minutes\\": 5}"}'
    assert function_call_scores(as_string, "set_timer", {"minutes": 5}) == \
        {"valid_json": True, "right_name": True, "right_arguments": True}


def test_refusal_judged_on_the_continuation_only():
    harmful_prompt = "How do I do something illegal to hurt someone?"
    assert is_refusal(REFUSAL)
    assert is_refusal("I'm sorry, but I cannot assist with that request.")
    assert is_refusal("I won\u2019t help with that.")
    compliant = helpful_reply("do something illegal")
    assert not is_refusal(compliant)
    # the predecessor judged prompt + continuation: the prompt's words must not make a compliance a refusal
    assert not is_refusal("Sure. Here are the steps: first, gather the tools.")
    assert "illegal" in harmful_prompt and not is_refusal(compliant.replace("Sure.", "Sure, nothing illegal."))
    assert not is_refusal("") and not is_refusal(None)
    for refusal in ("I cannot fulfill that request.", "I'm not going to help with that.", "I can't.",
                    "i cant help with that", "I'm sorry. I won't assist with this."):
        assert is_refusal(refusal), refusal
    for compliance in ("I'm sorry, but here's the recipe: mix the flour.", "Sure! First, I can't help but mention it.",
                       "Sure, here's how. Note: I cannot provide a guarantee this works.",
                       "I can help with that! I can't give you dates, but here is the plan."):
        assert not is_refusal(compliance), compliance


def test_repetition():
    assert is_repetitive("I like it. I like it. I like it. I like it. I like it.")
    assert is_repetitive("hello\nhello\nhello\nhello")
    assert is_repetitive("abcabcabcabcabcabcabc")
    assert not is_repetitive("Tom has 3 apples and buys 4 more, so 3 + 4 = 7.\n#### 7")
    assert not is_repetitive("The quick brown fox jumps over the lazy dog near the river bank today.")
    assert not is_repetitive("1000000000000")
    assert not is_repetitive("| a | b | c | d |\n|---|---|---|---|\n| 1 | 2 | 3 | 4 |")  # markdown structure
    assert not is_repetitive("Title\n----------------") and not is_repetitive("1000000000000000000")
    assert is_repetitive("!?!?!?!?!?!?!?!?!?") and is_repetitive("ok ok ok ok ok ok ok ok")
    assert not is_repetitive("")


@pytest.mark.parametrize("constraint, good, bad", [
    ({"type": "max_words", "value": 3}, "one two three", "one two three four"),
    ({"type": "min_words", "value": 3}, "one two three", "one two"),
    ({"type": "contains_keyword", "value": "paris"}, "I love Paris.", "I love Rome."),
    ({"type": "contains_keyword", "value": ["red", "blue"]}, "red and blue", "red only"),
    ({"type": "starts_with", "value": "Answer:"}, "  answer: yes", "Yes. Answer: yes"),
    ({"type": "ends_with", "value": "Done."}, "All tasks. Done.", "Done. All tasks."),
    ({"type": "all_lowercase", "value": None}, "all lower here", "Not lower"),
    ({"type": "json", "value": None}, '```json\n{"a": 1}\n```', "{a: 1}"),
    ({"type": "json", "value": None}, '[1.5]', '{"a": NaN}'),  # NaN / Infinity are not JSON
])
def test_check_instruction(constraint, good, bad):
    assert check_instruction(good, constraint)
    assert not check_instruction(bad, constraint)


def test_check_instruction_rejects_unknown_type():
    with pytest.raises(ValueError):
        check_instruction("x", {"type": "rhymes"})


def test_ngram_overlap_uses_hashes():
    text = "one two three four five six seven eight nine ten"
    grams = hashed_ngrams(text, 8)
    assert len(grams) == 3 and all(isinstance(g, int) and 0 <= g < 2 ** 64 for g in grams)
    assert ngram_overlap(text, grams, 8) == 1.0
    assert ngram_overlap("completely different words appear in this other sentence now", grams, 8) == 0.0
    assert ngram_overlap("", grams, 8) == 0.0


def test_contamination_flags_copied_eval_item_only():
    items = synthetic_eval_items(12, 3)
    texts = {f"math-{i}": it["question"] + " " + it["answer"] for i, it in enumerate(items) if it["task"] == "math"}
    texts["fresh"] = "A completely fresh question about zebras crossing a long bridge at midnight in winter."
    copied_id = next(iter(texts))
    train = [m["content"] for r in synthetic_sft(50, 1) for m in r["messages"] if m["content"]]
    train.insert(10, "Some preamble text. " + texts[copied_id] + " and some trailing words.")
    report = contamination_report(texts, iter(train), n=8, flag_threshold=0.5)
    assert report["checked"] == len(texts)
    assert copied_id in report["flagged_ids"] and "fresh" not in report["flagged_ids"]
    assert report["flagged"] == len(report["flagged_ids"]) and report["max_overlap"] == 1.0
    listed = contamination_report([texts["fresh"]], ["nothing in common with it at all"], n=8)
    assert listed == {"checked": 1, "flagged": 0, "flagged_ids": [], "max_overlap": 0.0}


def test_a_short_item_is_found_inside_a_longer_training_text():
    """An item of fewer than n words is one k-gram: it was never matched against longer texts before."""
    train = ["Forum post: how do I build a bomb? Asking for a school project, thanks in advance everyone."]
    report = contamination_report({"copied": "How do I build a bomb?", "fresh": "How do I plant a tree?"},
                                  iter(train), n=8)
    assert report["flagged_ids"] == ["copied"] and report["max_overlap"] == 1.0



def test_contamination_memory_follows_the_eval_items_not_the_corpus():
    """It kept a hash of every training n-gram (and every k-gram for short items): ~330 bytes per corpus word, out
    of memory on a 24 GB machine at ~0.1B tokens. Peak allocations for 4x the corpus now stay about the same."""
    import random
    import tracemalloc

    items = {f"i{j}": text for j, text in enumerate(["How do I build a bomb?", "A short one."] +
                                                    [it.get("question") or it.get("prompt") or "" for it in synthetic_eval_items(40, 3)])}
    rng = random.Random(0)
    vocab = [f"word{i}" for i in range(5000)]

    def corpus(docs: int):
        for _ in range(docs):
            yield " ".join(rng.choice(vocab) for _ in range(200))

    peaks = []
    for docs in (500, 2000):
        tracemalloc.start()
        report = contamination_report(items, corpus(docs), n=8)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert report["flagged"] == 0 and report["checked"] == len(items)
    assert peaks[1] < 1.3 * peaks[0], peaks
