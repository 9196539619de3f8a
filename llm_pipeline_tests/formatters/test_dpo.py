"""Preference pairs: hh-rlhf splitting, UltraFeedback best-vs-worst, validation, conversion, row accounting."""

from __future__ import annotations

import pytest

from llm_pipeline_assets.formatters.common import FormatError
from llm_pipeline_assets.formatters.dpo import (format_dpo_rows, hh_rlhf_pair, split_hh_dialogue, to_conversational,
                                                ultrafeedback_pairs, validate_pair)

MULTI_TURN_PROMPT = ("\n\nHuman: What are some cuss words in english?\n\nAssistant: Here's an incomplete list. "
                     "Ass, dick, bugger.\n\nHuman: What's your favorite one?\n\nAssistant:")
HH_ROW = {"chosen": MULTI_TURN_PROMPT + " I haven't even thought about it.",
          "rejected": MULTI_TURN_PROMPT + " Ass."}


def test_split_at_the_last_assistant_turn():
    prompt, completion = split_hh_dialogue(HH_ROW["chosen"])
    assert prompt == MULTI_TURN_PROMPT  # earlier turns, the earlier "Assistant:" included, stay in the prompt
    assert completion == "I haven't even thought about it."
    single = "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?"
    assert split_hh_dialogue(single) == ("\n\nHuman: Hi there\n\nAssistant:", "Hello! How can I help?")
    # "Assistant:" inside a turn (not after a blank line) is not a turn marker
    inline = "\n\nHuman: Reply with 'Assistant: ok'\n\nAssistant: Assistant: ok"
    assert split_hh_dialogue(inline) == ("\n\nHuman: Reply with 'Assistant: ok'\n\nAssistant:", "Assistant: ok")


@pytest.mark.parametrize("text,reason", [
    ("\n\nHuman: Hi there", "no 'Assistant:' turn"),
    ("\n\nAssistant: I speak first", "no 'Human:' turn before"),
    # the trailing Human turn would be trained as part of the assistant's reply
    ("\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke", "ends with a 'Human:' turn"),
    ("", "empty"),
    (None, "not a string"),
])
def test_split_rejects_dialogues_without_turns(text, reason):
    with pytest.raises(FormatError, match=reason):
        split_hh_dialogue(text)


def test_hh_pair():
    assert hh_rlhf_pair(HH_ROW) == {"prompt": MULTI_TURN_PROMPT, "chosen": "I haven't even thought about it.",
                                    "rejected": "Ass."}
    other = {"chosen": HH_ROW["chosen"], "rejected": HH_ROW["rejected"].replace("favorite", "least favorite")}
    with pytest.raises(FormatError, match="do not share the same prompt"):
        hh_rlhf_pair(other)
    with pytest.raises(FormatError, match="field 'chosen' is empty"):
        hh_rlhf_pair({"chosen": MULTI_TURN_PROMPT, "rejected": HH_ROW["rejected"]})
    with pytest.raises(FormatError, match="missing field 'rejected'"):
        hh_rlhf_pair({"chosen": HH_ROW["chosen"]})


def completion(response, **score):
    return {"annotations": {}, "critique": "...", "custom_system_prompt": "", "model": "m", "principle": "helpfulness",
            "response": response, **score}


UF_ROW = {
    "source": "evol_instruct",
    "instruction": "Name a primary color.",
    "models": ["a", "b", "c", "d"],
    "completions": [
        completion("Red is a primary color.", overall_score=8.5, **{"fine-grained_score": 4.75}),
        completion("Purple.", overall_score=3.0, **{"fine-grained_score": 2.0}),
        completion("Blue.", overall_score=7.0, **{"fine-grained_score": 4.0}),
        completion("I don't know.", overall_score=3.0),
    ],
    "correct_answers": ["None"],
    "incorrect_answers": ["None"],
}


def test_ultrafeedback_best_versus_worst():
    assert ultrafeedback_pairs(UF_ROW) == {"prompt": "Name a primary color.", "chosen": "Red is a primary color.",
                                           "rejected": "Purple."}  # first of the two worst
    by_fine_grained = {"prompt": "Q", "completions": [completion("a", **{"fine-grained_score": 2.5}),
                                                      completion("b", **{"fine-grained_score": 4.5})]}
    assert ultrafeedback_pairs(by_fine_grained)["chosen"] == "b"
    by_ratings = {"prompt": "Q", "completions": [completion("a", ratings=[5, 4]), completion("b", ratings={"x": 2}),
                                                 completion("c")]}
    assert ultrafeedback_pairs(by_ratings) == {"prompt": "Q", "chosen": "a", "rejected": "b"}
    by_annotations = {"instruction": "Q", "completions": [
        completion("a", annotations={"helpfulness": {"Rating": "2"}, "honesty": {"Rating": "N/A"}}),
        completion("b", annotations={"helpfulness": {"Rating": "5"}, "honesty": {"Rating": "4"}})]}
    assert ultrafeedback_pairs(by_annotations)["chosen"] == "b"


def test_ultrafeedback_prefers_the_aspect_ratings_to_the_critique_score():
    """The critique's overall_score is known to mis-score; when a row has per-aspect ratings they decide."""
    row = {"instruction": "Q", "completions": [
        completion("a", overall_score=9.0, **{"fine-grained_score": 2.0}),
        completion("b", overall_score=3.0, **{"fine-grained_score": 4.5}),
        completion("c", overall_score=1.0)]}  # no ratings: not compared with the others on another scale
    assert ultrafeedback_pairs(row) == {"prompt": "Q", "chosen": "b", "rejected": "a"}


BINARIZED = {"prompt": "Name a primary color.", "prompt_id": "x1", "score_chosen": 8.0, "score_rejected": 3.0,
             "chosen": [{"role": "user", "content": "Name a primary color."},
                        {"role": "assistant", "content": "Red."}],
             "rejected": [{"role": "user", "content": "Name a primary color."},
                          {"role": "assistant", "content": "Purple."}],
             "messages": [{"role": "user", "content": "Name a primary color."},
                          {"role": "assistant", "content": "Red."}]}


def test_ultrafeedback_binarized_rows_become_conversational_pairs():
    assert ultrafeedback_pairs(BINARIZED) == {"prompt": [{"role": "user", "content": "Name a primary color."}],
                                              "chosen": [{"role": "assistant", "content": "Red."}],
                                              "rejected": [{"role": "assistant", "content": "Purple."}]}
    pairs, rejected = format_dpo_rows("ultrafeedback", [BINARIZED, UF_ROW])  # both schemas in one source
    assert len(pairs) == 2 and not rejected and to_conversational(pairs[0]) == pairs[0]
    with pytest.raises(FormatError, match="tied ratings"):
        ultrafeedback_pairs({**BINARIZED, "score_rejected": 8.0})
    with pytest.raises(FormatError, match="share no prompt turns"):
        ultrafeedback_pairs({**BINARIZED, "rejected": [{"role": "user", "content": "Other."},
                                                       {"role": "assistant", "content": "Purple."}]})


@pytest.mark.parametrize("completions,reason", [
    ([completion("a", overall_score=5), completion("b", overall_score=5.0)], "tied ratings"),
    ([completion("a", overall_score=5), completion("b")], "1 rated completion"),
    ([completion("a", overall_score=5), completion("", overall_score=1)], "1 rated completion"),
    ([completion("same answer", overall_score=9), completion("same  answer ", overall_score=1)],
     "chosen and rejected are the same"),
])
def test_ultrafeedback_rejects(completions, reason):
    with pytest.raises(FormatError, match=reason):
        ultrafeedback_pairs({"instruction": "Q", "completions": completions})


@pytest.mark.parametrize("pair,reason", [
    ({"prompt": "Q", "chosen": "a"}, "missing field 'rejected'"),
    ({"prompt": "Q", "chosen": "  ", "rejected": "b"}, "field 'chosen' is empty"),
    ({"prompt": "", "chosen": "a", "rejected": "b"}, "field 'prompt' is empty"),
    ({"prompt": "Q", "chosen": "The answer\nis 4.", "rejected": "The answer is  4. "}, "are the same"),
    ({"prompt": "Q", "chosen": "a", "rejected": ["b"]}, "all strings or all message lists"),
    ({"prompt": [{"role": "user", "content": "Q"}], "chosen": [{"role": "user", "content": "a"}],
      "rejected": [{"role": "assistant", "content": "b"}]}, "list of assistant messages"),
    ({"prompt": [{"role": "assistant", "content": "Q"}], "chosen": [{"role": "assistant", "content": "a"}],
      "rejected": [{"role": "assistant", "content": "b"}]}, "prompt \\+ chosen: message 0"),
    ("not a pair", "not a mapping"),
])
def test_validate_pair_rejects(pair, reason):
    with pytest.raises(FormatError, match=reason):
        validate_pair(pair)


def test_to_conversational_turns_hh_transcripts_into_messages():
    conversational = to_conversational(hh_rlhf_pair(HH_ROW))
    assert conversational["prompt"] == [
        {"role": "user", "content": "What are some cuss words in english?"},
        {"role": "assistant", "content": "Here's an incomplete list. Ass, dick, bugger."},
        {"role": "user", "content": "What's your favorite one?"},
    ]
    assert conversational["chosen"] == [{"role": "assistant", "content": "I haven't even thought about it."}]
    assert conversational["rejected"] == [{"role": "assistant", "content": "Ass."}]
    plain = to_conversational({"prompt": "Name a color.", "chosen": "Red.", "rejected": "Dog."})
    assert plain["prompt"] == [{"role": "user", "content": "Name a color."}]
    assert to_conversational(conversational) == conversational  # idempotent


def test_format_dpo_rows_loses_nothing():
    hh_rows = [HH_ROW, {"chosen": "no turns", "rejected": "no turns"}, HH_ROW, 42]
    pairs, rejected = format_dpo_rows("hh-rlhf", hh_rows)
    assert len(pairs) == 2 and len(rejected) == 2 and [r["row"] for r in rejected] == hh_rows[1::2]
    uf_rows = [UF_ROW, {"instruction": "Q", "completions": []}]
    pairs, rejected = format_dpo_rows("ultrafeedback", uf_rows)
    assert len(pairs) == 1 and rejected[0]["reason"] == "field 'completions' is an empty list"
    given = [{"prompt": "Q", "chosen": "a", "rejected": "b", "score_chosen": 9.0},
             {"prompt": "Q", "chosen": "a", "rejected": "a"}]
    pairs, rejected = format_dpo_rows("pairs", given)
    assert pairs == [{"prompt": "Q", "chosen": "a", "rejected": "b"}]
    assert rejected == [{"reason": "chosen and rejected are the same", "row": given[1]}]
    with pytest.raises(ValueError, match="unknown DPO source kind"):
        format_dpo_rows("shp", [])
