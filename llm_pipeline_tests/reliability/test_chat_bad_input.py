"""Bad SFT conversations and DPO pairs: rejected with a reason and counted, good rows kept — through
``build_chat_dataset`` and through the real sft_dataset / dpo_dataset assets."""

from __future__ import annotations

import json

import pytest

from llm_pipeline_assets.config import ChatDataSource, parse_config
from llm_pipeline_assets.finetune.chat_data import build_chat_dataset
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_tests.reliability.helpers import asset_metadata, gz, jsonl, materialize_keys, read_jsonl, \
    table_counts


def _conv(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                         {"role": "assistant", "content": f"{i} + {i} = {2 * i}."}]}


def _hh(i: int) -> dict:
    return {"chosen": f"\n\nHuman: Count to {i}.\n\nAssistant: {i}.", "rejected": f"\n\nHuman: Count to {i}.\n\nAssistant: No."}


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
    assert rejected[0]["row"] == str(tmp_path / "in" / "b.jsonl.gz")  # the whole path: two x.jsonl stay apart
    assert 20 < stats.kept["gsm"] < 60 and stats.rows_in["gsm"] == stats.kept["gsm"] + 1


def test_rows_json_or_utf8_cannot_hold_are_rejected_not_fatal(tmp_path):
    """A lone surrogate (a ``\\ud800`` escape in the source JSON) or a timestamp beside a message's content failed
    the whole dataset when its line was written (UnicodeEncodeError / TypeError), naming no source or row."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datetime import datetime

    gsm = [{"question": f"What is {i} + 1?", "answer": f"#### {i + 1}"} for i in range(12)]
    (tmp_path / "gsm.jsonl").write_bytes(jsonl(*gsm[:6]) + b'{"question": "What is \\ud800 + 1?", "answer": "#### 1"}\n'
                                         + jsonl(*gsm[6:]))
    stamped = [[{"role": "user", "content": f"Hi {i}", "ts": datetime(2026, 1, 1)},
                {"role": "assistant", "content": "Hello", "ts": datetime(2026, 1, 2)}] for i in range(2)]
    pq.write_table(pa.table({"messages": [c["messages"] for c in (_conv(i) for i in range(12))]}),
                   tmp_path / "chat.parquet")
    pq.write_table(pa.table({"messages": stamped}), tmp_path / "stamped.parquet")
    hh = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello \ud800", "rejected": "\n\nHuman: Hi\n\nAssistant: Go away"}
    (tmp_path / "hh.jsonl").write_bytes(jsonl(*[_hh(i) for i in range(12)]) + (json.dumps(hh) + "\n").encode())
    sources = {"sft": [ChatDataSource(name="gsm", kind="local", format="gsm8k", path=str(tmp_path / "gsm.jsonl")),
                       ChatDataSource(name="chat", kind="local", format="messages", path=str(tmp_path / "*.parquet"))],
               "dpo": [ChatDataSource(name="hh", kind="local", format="hh-rlhf", path=str(tmp_path / "hh.jsonl"))]}
    for kind, srcs in sources.items():
        out = tmp_path / kind
        stats = build_chat_dataset(kind, srcs, out, 0.25, seed=0, log=lambda m: None)
        rejected = read_jsonl(out / "rejected.jsonl")  # readable, the odd characters escaped
        kept = read_jsonl(out / "train.jsonl") + read_jsonl(out / "val.jsonl")
        assert len(kept) == 24 if kind == "sft" else len(kept) == 12
        assert dict(stats.rejected) == ({"gsm": 1, "chat": 2} if kind == "sft" else {"hh": 1})
        assert all(r["reason"].startswith("unserializable: ") for r in rejected)
        reasons = " ".join(r["reason"] for r in rejected)
        assert "surrogates not allowed" in reasons and (kind == "dpo" or "datetime is not JSON" in reasons)


def test_a_formatter_error_nobody_foresaw_rejects_the_row():
    from llm_pipeline_assets.formatters.common import partition

    done, rejected = partition([1, 0, 2], lambda x: 10 // x)
    assert done == [10, 5] and rejected == [{"reason": "formatter_error: ZeroDivisionError: integer division or "
                                                       "modulo by zero", "row": 0}]


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
