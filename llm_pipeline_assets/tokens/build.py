"""The tokenizer asset's library function: train (or adopt) the tokenizer and measure it.

Training reads only the TRAIN split of the deduplicated shards (the split is by document id, the same
rule ``packed_tokens`` uses), so bytes/token is measured on text the tokenizer never saw.
"""

from __future__ import annotations

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
                     batch_docs: int = 1000, share: float = 1.0) -> Iterator[str]:
    """The texts of ``split``; with ``share`` < 1 a hash sample of that share of them, spread over every file and
    source (a cap on the first documents read took the first sources in config order only)."""
    for batch in iter_batches(files, batch_docs, columns=("id", "text")):
        for row in batch:
            if split_of(row["id"], val_fraction, seed) == split and (share >= 1.0 or _sampled(row["id"], share, seed)):
                yield row["text"]


def _sampled(doc_id: str, share: float, seed: int) -> bool:
    """In a stable ``share`` of the documents, independent of the train/val split (another salt)."""
    return split_of(f"tokenizer-sample:{doc_id}", share, seed) == "val"


def _share(files: Sequence[Path], split_fraction: float, wanted: int | None) -> float:
    """The share of a split's documents to read so that about ``wanted`` of them come (1.0: all)."""
    if wanted is None:
        return 1.0
    import pyarrow.parquet as pq

    expected = sum(pq.ParquetFile(f).metadata.num_rows for f in files) * split_fraction
    return 1.0 if expected <= wanted else min(1.0, 1.2 * wanted / expected)  # 20 % spare; the cap cuts the rest


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
            share = _share(files, 1.0 - val_fraction, tok_cfg.train_docs)
            for text in iter_split_texts(files, "train", val_fraction, seed, share=share):
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
    held_out = _take(iter_split_texts(files, "val", val_fraction, seed,
                                      share=_share(files, val_fraction, tok_cfg.check_docs)), tok_cfg.check_docs)
    sample = _take(iter_split_texts(files, "train", val_fraction, seed,
                                    share=_share(files, 1.0 - val_fraction, tok_cfg.check_docs)), tok_cfg.check_docs)
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
