"""Bad SFT conversations and DPO pairs: rejected with a reason and counted, good rows kept — through
``build_chat_dataset`` and through the real sft_dataset / dpo_dataset assets."""

from __future__ import annotations

import pytest

from llm_pipeline_assets.config import ChatDataSource, parse_config
from llm_pipeline_assets.finetune.chat_data import build_chat_dataset
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_tests.reliability.helpers import asset_metadata, gz, jsonl, materialize_keys, read_jsonl, \
    table_counts


def _conv(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                         {"role": "assistant", "content": f"{i} + {i} = {2 * i}."}]}


def _pair(i: int) -> dict:
    return {"prompt": f"Name the number after {i}.", "chosen": f"{i + 1}.", "rejected": f"{i + 2}."}


BAD_CONVERSATIONS = [  # (row, a word of the expected reason)
    ({"messages": [{"content": "hi"}, {"role": "assistant", "content": "hello"}]}, "unknown role None"),
    ({"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]}, "unknown role"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]}, "is empty"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " \n"}]}, "is empty"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "not the assistant's"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": 5}]}, "not a string"),
    ({"messages": []}, "no messages"),
    ({"text": "no messages field"}, "no messages"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"},
                   {"role": "assistant", "content": "c"}]}, "cannot follow"),
]
BAD_PAIRS = [
    ({"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Paris."}, "are the same"),
    ({"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "  Paris. "}, "are the same"),
    ({"prompt": "Capital of France?", "chosen": "", "rejected": "Rome."}, "'chosen' is empty"),
    ({"prompt": "Capital of France?", "chosen": "Paris."}, "missing field 'rejected'"),
    ({"prompt": " ", "chosen": "Paris.", "rejected": "Rome."}, "'prompt' is empty"),
    ({"prompt": "Q?", "chosen": "A.", "rejected": ["B."]}, "all strings or all message lists"),
    ({"prompt": [{"role": "user", "content": "Q?"}], "chosen": [{"role": "user", "content": "A"}],
      "rejected": [{"role": "assistant", "content": "B"}]}, "list of assistant messages"),
    # An hh-style prompt that opens with an Assistant turn: it used to abort the whole dataset.
    ({"prompt": "\n\nAssistant: hi", "chosen": "a", "rejected": "b"}, "cannot follow the start"),
]


def _build(tmp_path, kind: str, fmt: str, data: bytes, name: str = "rows.jsonl"):
    (tmp_path / name).write_bytes(data)
    src = ChatDataSource(name="local", kind="local", format=fmt, path=str(tmp_path / name))
    stats = build_chat_dataset(kind, [src], tmp_path / "out", 0.25, seed=0, log=lambda m: None)
    kept = read_jsonl(tmp_path / "out" / "train.jsonl") + read_jsonl(tmp_path / "out" / "val.jsonl")
    return stats, kept, read_jsonl(tmp_path / "out" / "rejected.jsonl")


def test_bad_conversations_are_rejected_with_reasons(tmp_path):
    good = [_conv(i) for i in range(12)]
    rows = good[:6] + [row for row, _ in BAD_CONVERSATIONS] + good[6:]
    stats, kept, rejected = _build(tmp_path, "sft", "messages", jsonl(*rows, b"{broken json"))
    assert sorted(k["messages"][0]["content"] for k in kept) == sorted(g["messages"][0]["content"] for g in good)
    assert stats.kept["local"] == 12 and stats.rejected["local"] == len(BAD_CONVERSATIONS) + 1
    assert stats.rows_in["local"] == len(rows) + 1
    reasons = [r["reason"] for r in rejected]
    assert reasons[0].startswith("malformed_json")  # read errors come first, then formatter rejects in order
    for reason, (_, word) in zip(reasons[1:], BAD_CONVERSATIONS):
        assert word in reason


def test_bad_preference_pairs_are_rejected_with_reasons(tmp_path):
    good = [_pair(i) for i in range(12)]
    rows = good[:6] + [row for row, _ in BAD_PAIRS] + good[6:]
    stats, kept, rejected = _build(tmp_path, "dpo", "pairs", jsonl(*rows))
    assert sorted(k["chosen"][0]["content"] for k in kept) == sorted(g["chosen"] for g in good)
    assert all(k["chosen"] != k["rejected"] for k in kept)
    assert stats.kept["local"] == 12 and stats.rejected["local"] == len(BAD_PAIRS)
    for r, (_, word) in zip(rejected, BAD_PAIRS):
        assert word in r["reason"] and r["source"] == "local"


def test_gzipped_and_truncated_chat_files(tmp_path):
    good = [{"question": f"What is {i} + 1?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"} for i in range(40)]
    # .jsonl.gz used to be read as raw bytes: every row came out "malformed"; a cut-off file aborted the build.
    cut = gz(jsonl(*good))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl.gz").write_bytes(gz(jsonl(*good[:20])))
    (tmp_path / "in" / "b.jsonl.gz").write_bytes(cut[: len(cut) * 2 // 3])
    src = ChatDataSource(name="gsm", kind="local", format="gsm8k", path=str(tmp_path / "in"))
    stats = build_chat_dataset("sft", [src], tmp_path / "out", 0.25, seed=0, log=lambda m: None)
    rejected = read_jsonl(tmp_path / "out" / "rejected.jsonl")
    assert [r["reason"].split(":")[0] for r in rejected] == ["truncated_or_corrupt_file"]
    assert rejected[0]["row"] == "b.jsonl.gz"
    assert 20 < stats.kept["gsm"] < 60 and stats.rows_in["gsm"] == stats.kept["gsm"] + 1


@pytest.mark.parametrize("kind, fmt, good, bad", [
    ("sft", "messages", [_conv(i) for i in range(16)], [row for row, _ in BAD_CONVERSATIONS]),
    ("dpo", "pairs", [_pair(i) for i in range(16)], [row for row, _ in BAD_PAIRS]),
], ids=["sft", "dpo"])
def test_dataset_assets_report_rejects_in_metadata(tmp_path, kind, fmt, good, bad):
    (tmp_path / "rows.jsonl").write_bytes(jsonl(*good, *bad))
    section = {"sources": [{"name": "mine", "kind": "local", "format": fmt, "path": str(tmp_path / "rows.jsonl")}],
               "val_fraction": 0.25}
    cfg = parse_config({"name": "t", "sources": [{"name": "web", "kind": "synthetic", "num_docs": 5}],
                        kind: section})
    result = materialize_keys(cfg, str(tmp_path / "artifacts"), [f"{kind}_dataset"])
    assert result.success
    md = asset_metadata(result, f"{kind}_dataset")
    assert md["train"] + md["val"] == len(good) and md["rejected"] == len(bad)
    assert sum(table_counts(md["rejection_reasons"]).values()) == len(bad)
    published, _ = ArtifactStore(root=str(tmp_path / "artifacts")).local_dir(f"{kind}_dataset")
    rejected = read_jsonl(published / "rejected.jsonl")
    assert [r["row"] for r in rejected] == bad  # each bad row kept verbatim with its reason
