"""oasst1 message trees rebuilt into conversation threads."""

from __future__ import annotations

import random

from llm_pipeline_assets.formatters.common import validate_messages
from llm_pipeline_assets.formatters.sft_instruct import oasst_threads


def node(message_id, parent_id, role, text, rank=None, **extra):
    """A row shaped like OpenAssistant/oasst1 (the fields the rebuild reads, plus some it ignores)."""
    return {"message_id": message_id, "parent_id": parent_id, "user_id": "u-" + message_id,
            "created_date": "2023-02-05T14:23:50.983374+00:00", "text": text, "role": role, "lang": "en",
            "review_count": 3, "review_result": True, "deleted": False, "rank": rank, "synthetic": False,
            "model_name": None, "message_tree_id": "tree", "tree_state": "ready_for_export", **extra}


TREE = [
    node("r1", None, "prompter", "What is the capital of France?"),
    node("a1", "r1", "assistant", "Paris, I think.", rank=1),
    node("p2", "a1", "prompter", "Are you sure?"),  # never answered: this branch ends at a1
    node("a2", "r1", "assistant", "The capital of France is Paris.", rank=0),
    node("p3", "a2", "prompter", "What about Germany?", rank=0),
    node("a3", "p3", "assistant", "Berlin."),
    node("p4", "a2", "prompter", "And Spain?", rank=1),
    node("a4", "p4", "assistant", "Madrid.", rank=float("nan")),  # pandas writes a missing rank as NaN
    node("r2", None, "prompter", "Cuéntame un chiste.", lang="es"),
    node("a5", "r2", "assistant", "[deleted]", rank=0, deleted=True),
    node("a6", "r2", "assistant", "¿Por qué el pollo cruzó la calle?", rank=1),
    node("r3", None, "prompter", "Nobody answers this."),
]
MALFORMED = [
    node("m1", "r1", "moderator", "?"),
    node("m2", "r1", "assistant", "   "),
    {"parent_id": "r1", "role": "assistant", "text": "no id"},
    node("a2", "r1", "assistant", "A duplicate id."),
    node("x1", ["r1"], "assistant", "A list as parent."),  # failed the dataset: TypeError (unhashable)
    node("x2", "r1", ["assistant"], "A list as role."),
]


def texts(thread):
    return [m["content"] for m in thread]


def test_one_thread_per_root_following_the_best_ranked_replies():
    threads = list(oasst_threads(TREE))
    assert [texts(t) for t in threads] == [
        ["What is the capital of France?", "The capital of France is Paris.", "What about Germany?", "Berlin."],
        ["Cuéntame un chiste.", "¿Por qué el pollo cruzó la calle?"],  # the deleted best reply is skipped
    ]
    for thread in threads:
        validate_messages(thread)
        assert [m["role"] for m in thread][:2] == ["user", "assistant"]


def test_all_threads_are_paths_from_the_root_cut_after_the_last_assistant_turn():
    threads = [texts(t) for t in oasst_threads(TREE, max_threads_per_root=None)]
    assert threads == [
        ["What is the capital of France?", "The capital of France is Paris.", "What about Germany?", "Berlin."],
        ["What is the capital of France?", "The capital of France is Paris.", "And Spain?", "Madrid."],
        ["What is the capital of France?", "Paris, I think."],
        ["Cuéntame un chiste.", "¿Por qué el pollo cruzó la calle?"],
    ]
    assert [texts(t) for t in oasst_threads(TREE, max_threads_per_root=2)] == threads[:2] + threads[3:]


def test_row_order_does_not_matter_and_language_filters_trees():
    rows = TREE[:]
    random.Random(0).shuffle(rows)
    assert sorted(map(texts, oasst_threads(rows, max_threads_per_root=None))) == \
        sorted(map(texts, oasst_threads(TREE, max_threads_per_root=None)))
    english = list(oasst_threads(TREE, lang="en"))
    assert len(english) == 1 and english[0][0]["content"] == "What is the capital of France?"


def test_malformed_messages_are_skipped_and_reported():
    rejected = []
    threads = list(oasst_threads(TREE + MALFORMED + ["not a row"], rejected=rejected))
    assert [texts(t) for t in threads] == [texts(t) for t in oasst_threads(TREE)]
    reasons = [r["reason"] for r in rejected]
    assert reasons == ["message was deleted", "role 'moderator' is neither 'prompter' nor 'assistant'",
                       "field 'text' is missing or empty", "missing field 'message_id'",
                       "duplicate message_id 'a2'", "parent_id is list, not a string",
                       "role ['assistant'] is neither 'prompter' nor 'assistant'", "row is a str, not a mapping"]
    assert rejected[0]["row"]["message_id"] == "a5"


def test_a_branch_with_two_prompter_turns_in_a_row_is_not_emitted():
    rows = [node("r", None, "prompter", "Hi"), node("p", "r", "prompter", "Hello?"), node("a", "p", "assistant", "Hey")]
    assert list(oasst_threads(rows)) == []
