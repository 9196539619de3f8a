"""sft_dataset / dpo_dataset library function: rows from each configured source -> formatter -> JSONL splits.

Every input row ends up either in ``train.jsonl``/``val.jsonl`` (split by a stable hash of its prompt, fraction
from config) or in ``rejected.jsonl`` with the formatter's reason — nothing is lost. Splitting by the prompt, not
by the row's position, keeps repeated examples (and every answer to one prompt) on one side: the validation loss
is measured on prompts the model was not trained on.
SFT rows are ``{"messages": [...], "source", "task"}``; DPO rows are ``{"prompt", "chosen", "rejected",
"source", "task"}`` in TRL's conversational preference format.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from llm_pipeline_assets.tokens.dataset import split_of

Logger = Callable[[str], None]


@dataclass
class ChatDataStats:
    rows_in: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    tasks: Counter = field(default_factory=Counter)
    split: Counter = field(default_factory=Counter)


def iter_file_rows(path: str, rejects: list, source: str) -> Iterator[dict]:
    """Rows of .jsonl/.json (.gz, .zst) and .parquet files (a file, directory or glob).

    Bad lines, oversized lines, truncated files and damaged Parquet row groups become rejected rows with
    their reason (the same readers as the corpus sources); the good rows around them are kept.
    """
    from llm_pipeline_assets.sources.file_rows import iter_json_lines, iter_parquet_rows, open_parquet
    from llm_pipeline_assets.sources.compressed import file_kind
    from llm_pipeline_assets.sources.local_files import resolve_files

    def reject(reason: str, origin: str, raw: object = None, **extra) -> None:
        rejects.append({"source": source, "reason": reason, "row": origin, **extra})

    unsupported: list = []
    files = resolve_files(path, f"{source}.path", unsupported)
    for f in unsupported:
        reject("unsupported_file: not JSON lines, JSON or Parquet", str(f))
    for f in files:  # origins name the whole path: a/x.jsonl and b/x.jsonl stay apart in rejected.jsonl
        if file_kind(f.name) == ("parquet", ""):
            pf = open_parquet(f, str(f), reject)
            if pf is not None:
                yield from (row for _, row in iter_parquet_rows(pf, str(f), reject))
            continue
        yield from (row for _, row, _ in iter_json_lines(f, str(f), reject))


def iter_source_rows(src, rejects: list) -> Iterator[dict]:
    if src.kind == "local":
        rows = iter_file_rows(src.path, rejects, src.name)
    elif src.kind == "huggingface":
        import datasets

        try:
            rows = iter(datasets.load_dataset(src.dataset, src.subset, split=src.split, streaming=True))
        except Exception as exc:
            raise RuntimeError(f"data source {src.name!r}: cannot load {src.dataset!r}: {exc}") from exc
    else:
        raise ValueError(f"data source {src.name!r}: kind {src.kind!r} has no row reader")
    read = 0
    try:
        for row in rows:
            if src.max_samples is not None and read >= src.max_samples:
                return
            read += 1
            yield row
    except Exception as exc:
        if src.kind != "huggingface":
            raise
        # datasets stops at the first bad line of a JSON/CSV file; kind: local quarantines it and reads on
        raise RuntimeError(f"data source {src.name!r}: reading {src.dataset!r} failed after {read} rows: "
                           f"{type(exc).__name__}: {exc} (local JSON lines or Parquet files: kind: local sets a "
                           "malformed line aside and keeps the rest)") from exc


def _formatted(kind: str, src, rejects: list) -> Iterator[dict]:
    """Formatted examples of one source; rejected rows appended to ``rejects``."""
    from llm_pipeline_assets.formatters import dpo as dpo_fmt
    from llm_pipeline_assets.formatters import sft as sft_fmt
    from llm_pipeline_assets.formatters import synthetic_sft
    from llm_pipeline_assets.formatters.common import partition

    if src.kind == "synthetic":
        if kind == "sft":
            for row in synthetic_sft.synthetic_sft(src.num, src.seed):
                yield {"messages": row["messages"], "task": row["task"]}
        else:
            for pair in dpo_fmt.synthetic_dpo(src.num, src.seed):
                yield {**dpo_fmt.to_conversational(pair), "task": pair.get("task", "synthetic")}
        return
    rows = list(iter_source_rows(src, rejects))
    if kind == "sft":
        task = sft_fmt.SFT_TASKS[src.format]
        if src.format == "messages":  # rows already hold chat messages: validate them only (a row may name its task)
            good, bad = partition(rows, lambda r: _messages_row(r, task))
            examples = ({"messages": m, "task": t} for m, t in good)
        else:
            good, bad = sft_fmt.format_rows(src.format, rows)
            examples = ({"messages": m, "task": task} for m in good)
    else:
        pairs, bad = dpo_fmt.format_dpo_rows(src.format, rows)
        # Conversion can still fail (an hh-style prompt that opens with an Assistant turn): a rejected row too.
        good, unconvertible = partition(pairs, dpo_fmt.to_conversational)
        bad += unconvertible
        examples = ({**p, "task": src.format} for p in good)
    rejects.extend({"source": src.name, **r} for r in bad)
    yield from examples


def _messages_row(row, task: str) -> tuple:
    """A ``messages``-format row: ``(validated messages, task)``; a dict row may carry its own ``task`` string.
    Tool-call arguments given as a JSON string (OpenAI's format) are parsed into the object the chat template
    renders (one that does not parse is rejected with the reason)."""
    from llm_pipeline_assets.formatters.common import validate_messages

    own = row.get("task") if isinstance(row, dict) else None
    messages = row.get("messages") if isinstance(row, dict) else row
    return validate_messages(_parsed_arguments(messages)), own if isinstance(own, str) and own.strip() else task


def _parsed_arguments(messages):
    """``messages`` with every ``tool_calls[].function.arguments`` string parsed (``parse_arguments``)."""
    from llm_pipeline_assets.formatters.tool_parsing import parse_arguments

    if not isinstance(messages, list):
        return messages
    out = []
    for m in messages:
        calls = m.get("tool_calls") if isinstance(m, dict) else None
        if isinstance(calls, list):
            calls = [{**c, "function": {**c["function"], "arguments": parse_arguments(
                c["function"].get("arguments"), str(c["function"].get("name")))}}
                if isinstance(c, dict) and isinstance(c.get("function"), dict)
                and isinstance(c["function"].get("arguments"), str) else c for c in calls]
            m = {**m, "tool_calls": calls}
        out.append(m)
    return out


def _json_line(example: dict) -> tuple[str, str | None]:
    """``(JSON line, None)``, or ``("", reason)`` for an example that JSON or UTF-8 cannot hold (a timestamp in a
    message's extra key, a lone surrogate from a ``\\ud800`` escape: the tokenizer could not read it either)."""
    try:
        line = json.dumps(example, ensure_ascii=False)
        line.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        return "", f"unserializable: {type(exc).__name__}: {str(exc)[:200]}"
    return line + "\n", None


def prompt_key(example: dict) -> str:
    """What decides an example's split: its prompt (SFT: the messages before the final assistant reply)."""
    if "prompt" in example:
        prompt = example["prompt"]
    else:
        messages = example["messages"]
        end = len(messages)
        while end > 1 and messages[end - 1].get("role") == "assistant":
            end -= 1
        prompt = messages[:end]
    return json.dumps(prompt, ensure_ascii=False, sort_keys=True)


def build_chat_dataset(kind: str, sources, out_dir: Path, val_fraction: float, seed: int,
                       log: Logger = print) -> ChatDataStats:
    """Write ``train.jsonl``, ``val.jsonl``, ``rejected.jsonl`` for ``kind`` in ("sft", "dpo")."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = ChatDataStats()
    files = {s: open(out_dir / f"{s}.jsonl", "w", encoding="utf-8") for s in ("train", "val", "rejected")}
    try:
        for src in sources:
            rejects: list = []
            n = 0
            for example in _formatted(kind, src, rejects):
                line, problem = _json_line({**example, "source": src.name})
                if problem is not None:
                    rejects.append({"source": src.name, "reason": problem, "row": example})
                    continue
                split = split_of(prompt_key(example), val_fraction, seed)
                files[split].write(line)
                stats.split[split] += 1
                stats.tasks[example["task"]] += 1
                n += 1
            for r in rejects:  # ASCII: a lone surrogate or any other oddity of the rejected row is kept, escaped
                files["rejected"].write(json.dumps(r, ensure_ascii=True, default=str) + "\n")
                stats.reasons[str(r["reason"]).split(":")[0]] += 1
            stats.kept[src.name], stats.rejected[src.name] = n, len(rejects)
            stats.rows_in[src.name] = n + len(rejects)
            log(f"{kind}_dataset: {src.name}: {n} examples, {len(rejects)} rejected")
            crashed = sum(str(r["reason"]).startswith("formatter_error") for r in rejects)
            if crashed:  # rejected rather than fatal, but a formatter bug would look the same: say so
                log(f"WARNING {kind}_dataset: {src.name}: {crashed} rows made the {src.format} formatter raise an "
                    "unexpected error (reason formatter_error in rejected.jsonl): a row shape it does not know, or a "
                    "formatter bug if that is most rows")
    finally:
        for fh in files.values():
            fh.close()
    if stats.split["train"] == 0 or stats.split["val"] == 0:
        raise ValueError(f"{kind}_dataset: need examples in both splits, got {dict(stats.split)}")
    return stats
