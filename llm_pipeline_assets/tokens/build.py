"""The tokenizer asset's library function: train (or adopt) the tokenizer and measure it.

Training reads only the TRAIN split of the deduplicated shards (the split is by document id, the same
rule ``packed_tokens`` uses), so bytes/token is measured on text the tokenizer never saw.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from llm_pipeline_assets.shards import iter_batches
from llm_pipeline_assets.tokens.dataset import split_of
from llm_pipeline_assets.tokens.tokenizer import (
    bytes_per_token,
    load_existing,
    roundtrip_failures,
    special_token_problems,
    top_merges,
    train_bpe,
)

Logger = Callable[[str], None]


@dataclass
class TokenizerStats:
    trained: bool = True
    vocab_size: int = 0
    train_docs: int = 0
    train_bytes: int = 0
    held_out_docs: int = 0
    bytes_per_token: float = 0.0
    roundtrip_checked: int = 0
    roundtrip_failures: list = field(default_factory=list)
    special_problems: list = field(default_factory=list)
    top_merges: list = field(default_factory=list)
    seconds: float = 0.0


def iter_split_texts(files: Sequence[Path], split: str, val_fraction: float, seed: int,
                     batch_docs: int = 1000, wanted: int | None = None) -> Iterator[str]:
    """The texts of ``split``; with ``wanted``, about that many: a stable hash sample from every file, each file
    giving its share by row count (a cap on the first documents read took the first sources in config order only;
    one cap over a sample read file after file still cut off the last source)."""
    rows = _rows(files) if wanted is not None else []
    in_split = sum(rows) * (val_fraction if split == "val" else 1.0 - val_fraction)
    sampling = wanted is not None and in_split > wanted
    share = min(1.0, 1.2 * wanted / in_split) if sampling else 1.0  # 20 % spare: each file's quota cuts the rest
    quotas = _quotas(rows, wanted) if sampling else [None] * len(files)
    for path, quota in zip(files, quotas):
        texts = (row["text"] for batch in iter_batches([path], batch_docs, columns=("id", "text")) for row in batch
                 if split_of(row["id"], val_fraction, seed) == split
                 and (share >= 1.0 or _sampled(row["id"], share, seed)))
        yield from itertools.islice(texts, quota)


def _sampled(doc_id: str, share: float, seed: int) -> bool:
    """In a stable ``share`` of the documents, independent of the train/val split (another salt)."""
    return split_of(f"tokenizer-sample:{doc_id}", share, seed) == "val"


def _rows(files: Sequence[Path]) -> list[int]:
    import pyarrow.parquet as pq

    return [pq.ParquetFile(f).metadata.num_rows for f in files]


def _quotas(rows: list[int], wanted: int) -> list[int]:
    """``wanted`` split over the files by row count (largest remainders), summing to ``wanted`` exactly."""
    total = max(1, sum(rows))
    exact = [wanted * n / total for n in rows]
    quotas = [int(e) for e in exact]
    for i in sorted(range(len(rows)), key=lambda i: exact[i] - quotas[i], reverse=True)[:wanted - sum(quotas)]:
        quotas[i] += 1
    return quotas


def build_tokenizer(files: Sequence[Path], out_dir: Path, tok_cfg, val_fraction: float, seed: int,
                    model_max_length: int, log: Logger = print) -> TokenizerStats:
    """Train on ``files`` (deduped shards, all sources) or adopt ``tokenizer.path``; save to ``out_dir``."""
    start = time.perf_counter()
    stats = TokenizerStats(trained=tok_cfg.path is None)
    if tok_cfg.path:
        tok = load_existing(tok_cfg.path)
        log(f"tokenizer: adopted {tok_cfg.path} ({len(tok)} tokens)")
    else:
        counted = {"docs": 0, "bytes": 0}

        def training_texts() -> Iterator[str]:
            for text in iter_split_texts(files, "train", val_fraction, seed, wanted=tok_cfg.train_docs):
                if tok_cfg.train_docs is not None and counted["docs"] >= tok_cfg.train_docs:
                    return
                counted["docs"] += 1
                counted["bytes"] += len(text.encode("utf-8"))
                if counted["docs"] % 50_000 == 0:
                    log(f"tokenizer: read {counted['docs']} training documents")
                yield text

        tok = train_bpe(training_texts(), tok_cfg.vocab_size, tok_cfg.min_frequency, model_max_length)
        stats.train_docs, stats.train_bytes = counted["docs"], counted["bytes"]
        if stats.train_docs == 0:
            raise ValueError("tokenizer: no training documents (is deduped_shards empty, or packing.val_fraction ~1?)")
        log(f"tokenizer: trained {len(tok)} tokens on {stats.train_docs} documents")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(out_dir))

    # check documents from every source too
    checks = tok_cfg.check_docs
    held_out = _take(iter_split_texts(files, "val", val_fraction, seed, wanted=checks), checks)
    sample = _take(iter_split_texts(files, "train", val_fraction, seed, wanted=checks), checks)
    stats.vocab_size = len(tok)
    stats.held_out_docs = len(held_out)
    stats.bytes_per_token = bytes_per_token(tok, held_out or sample)
    checked = sample + held_out
    stats.roundtrip_checked = len(checked)
    stats.roundtrip_failures = roundtrip_failures(tok, checked)
    stats.special_problems = special_token_problems(tok)
    stats.top_merges = top_merges(tok, 20)
    stats.seconds = time.perf_counter() - start
    return stats


def _take(it: Iterator[str], n: int) -> list[str]:
    out = []
    for text in it:
        if len(out) >= n:
            break
        out.append(text)
    return out
