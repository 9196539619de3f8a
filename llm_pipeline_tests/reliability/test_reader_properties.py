"""Hypothesis properties of the readers: any bytes are accounted for line by line, good records always
come out exactly, and any JSON row fed to an SFT/DPO formatter is kept or rejected, never a crash."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_pipeline_assets.config import ChatDataSource
from llm_pipeline_assets.finetune.chat_data import build_chat_dataset
from llm_pipeline_assets.shards import Quarantine
from llm_pipeline_assets.sources.file_rows import iter_json_lines
from llm_pipeline_assets.sources.local_files import iter_local_records
from llm_pipeline_tests.formatters.samples import SAMPLES

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LINE = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" "))
TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40).filter(str.strip)
GOOD = st.builds(lambda i, t: {"id": i, "text": t}, st.text(max_size=8), TEXT)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10))
# Lines that can never be a document, each for a different reason.
BAD = st.one_of(
    st.binary(max_size=30).map(lambda b: b"\xff" + b.replace(b"\n", b"")),  # invalid UTF-8 or NUL
    st.text(st.characters(exclude_characters='"\\\n', exclude_categories=("Cs",)), max_size=20)
    .map(lambda s: ('{"text": "' + s).encode()),  # unterminated string
    st.one_of(SCALAR, st.lists(SCALAR, max_size=3)).map(lambda v: json.dumps(v).encode()),  # not an object
    st.dictionaries(st.text(max_size=5).filter(lambda k: k != "text"), SCALAR, max_size=3)
    .map(lambda d: json.dumps(d).encode()),  # no text field
    st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), max_size=2))
    .map(lambda v: json.dumps({"text": v}).encode()),  # text is not a string
    st.integers(1, 4).map(lambda n: b"[" * (n * 30_000)),  # nesting deeper than the parser's recursion
)
BLANK = st.sampled_from([b"", b" ", b"\t", b"\r"])


def _write(d: Path, name: str, body: bytes, compress: bool) -> Path:
    path = d / (name + (".jsonl.gz" if compress else ".jsonl"))
    path.write_bytes(gzip.compress(body) if compress else body)
    return path


@PROPS
@given(st.lists(LINE, max_size=25), st.booleans())
def test_every_line_of_any_file_is_accounted_for_once(lines, compress):
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), "any", b"\n".join(lines), compress)
        seen: list[str] = []
        for origin, _, _ in iter_json_lines(path, "any", lambda reason, origin, raw=None, **kw: seen.append(origin)):
            seen.append(origin)
    # a UTF-8 byte-order mark opening the file marks the encoding; it is not content
    content = [line.removeprefix(b"\xef\xbb\xbf") if i == 1 else line for i, line in enumerate(lines, 1)]
    numbered = [f"any:{i}" for i, line in enumerate(content, 1) if line.strip()]
    assert sorted(seen, key=lambda o: int(o.rsplit(":", 1)[-1]) if ":" in o else 0) == (numbered or ["any"])


@PROPS
@given(st.lists(st.one_of(GOOD.map(lambda g: ("good", g)), BAD.map(lambda b: ("bad", b)),
                          BLANK.map(lambda b: ("blank", b))), max_size=30), st.booleans())
def test_good_records_survive_any_mix_of_bad_lines(items, compress):
    body = b"\n".join(json.dumps(x).encode() if kind == "good" else x for kind, x in items)
    goods = [x for kind, x in items if kind == "good"]
    bads = [x for kind, x in items if kind == "bad"]
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp), "mix", body, compress)
        q = Quarantine(Path(tmp) / "q.jsonl")
        records = list(iter_local_records(str(Path(tmp) / "mix*"), "text", "id", q))
        q.close()
    assert [r["text"] for r in records] == [g["text"] for g in goods]
    assert [r["id"] for r in records] == [g["id"] for g in goods]
    assert q.total == (len(bads) if goods or bads else 1)  # an all-blank file is one "empty_file"


JSON = st.recursive(st.one_of(SCALAR, st.sampled_from(["user", "assistant", "system", "tool", "#### 4", "",
                                                        "\n\nHuman: q", "\n\nAssistant: a"])),
                    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(
                        st.sampled_from(["messages", "role", "content", "prompt", "chosen", "rejected", "question",
                                         "answer", "tool_calls", "function", "name", "arguments", "completions",
                                         "instruction", "output", "response"]), c, max_size=4)),
                    max_leaves=12)
WORDS = st.sampled_from(["A.", "B.", " ", "", "\n\nHuman: q", "\n\nAssistant: a", "\n\nHuman: q\n\nAssistant: a"])
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", "bot"]),
                                 "content": st.one_of(WORDS, JSON)})
# Rows shaped like the real schemas, with any value in any field: these reach deep into the formatters.
NEAR_VALID = st.one_of(
    st.fixed_dictionaries({"prompt": st.one_of(WORDS, st.lists(MESSAGE, max_size=3)),
                           "chosen": st.one_of(WORDS, st.lists(MESSAGE, max_size=2)),
                           "rejected": st.one_of(WORDS, st.lists(MESSAGE, max_size=2))}),
    st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=4)}),
    st.fixed_dictionaries({"instruction": WORDS, "completions": st.lists(
        st.fixed_dictionaries({"response": st.one_of(WORDS, JSON), "overall_score": JSON}), max_size=3)}),
)
# One valid row per format (the SFT ones are the formatter tests' samples of the real datasets).
GOOD_ROWS = {**{("sft", name): row for name, row in SAMPLES.items()},
             ("sft", "messages"): {"messages": [{"role": "user", "content": "hi"},
                                                {"role": "assistant", "content": "hello"}]},
             ("dpo", "pairs"): {"prompt": "Q?", "chosen": "A.", "rejected": "B."},
             ("dpo", "hh-rlhf"): {"chosen": "\n\nHuman: Q?\n\nAssistant: A.",
                                  "rejected": "\n\nHuman: Q?\n\nAssistant: B."},
             ("dpo", "ultrafeedback"): {"instruction": "Q?", "completions": [
                 {"response": "A.", "overall_score": 9}, {"response": "B.", "overall_score": 1}]}}


PROMPT_FIELDS = {"question", "instruction", "query", "prompt", "input", "content", "value", "text", "source",
                 "system_prompt", "system", "context", "premise", "problem"}


def _variant(row, i: int):
    """``row`` with ``i`` worked into its prompt (a user turn, else the first prompt-like text field), so the
    eight rows are distinct prompts."""
    done = [False]

    def mark(value: str) -> str:
        done[0] = True
        head, sep, tail = value.partition(" ")
        return f"{head} (case {i}){sep}{tail}"

    def walk(value, key="", users_only=True):
        if isinstance(value, dict):
            user = value.get("from", value.get("role")) in ("user", "human")
            return {k: (mark(v) if user and not done[0] and k in ("value", "content") and isinstance(v, str)
                        else walk(v, k, users_only)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key, users_only) for v in value]
        if isinstance(value, str) and "Q?" in value:  # the preference rows' prompt
            return value.replace("Q?", f"Q{i}?")
        if (not users_only and isinstance(value, str) and key in PROMPT_FIELDS and not done[0]
                and value[:1].isalpha() and (" " in value or key == "content")):
            return mark(value)
        return value

    first = walk(row)
    return first if done[0] else walk(row, users_only=False)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(GOOD_ROWS)), st.lists(st.one_of(JSON, NEAR_VALID), max_size=12))
def test_any_json_row_is_kept_or_rejected_never_a_crash(fmt, rows):
    kind, name = fmt
    good = GOOD_ROWS[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        # eight distinct prompts: the split is by prompt, and copies of one prompt all land on one side
        path.write_text("\n".join(json.dumps(r) for r in [_variant(good, i) for i in range(8)] + rows))
        src = ChatDataSource(name="fuzz", kind="local", format=name, path=str(path))
        stats = build_chat_dataset(kind, [src], Path(tmp) / "out", 0.5, seed=1, log=lambda m: None)
        written = sum(1 for s in ("train", "val", "rejected")
                      for line in (Path(tmp) / "out" / f"{s}.jsonl").read_text().split("\n") if line)
    assert stats.kept["fuzz"] >= 8 and stats.rows_in["fuzz"] == 8 + len(rows) == written
