"""packed_tokens' library function: tokenize the deduplicated corpus and pack it for every curriculum length.

1. Stream the deduped shards in batches; the Rust tokenizer encodes each batch on all cores
   (``encode_batch_fast``), EOS is appended to every document, and the ids go straight to the flat
   ``<split>.bin`` stream (``TokenStreamWriter``) — peak memory is one batch, whatever the corpus size.
   A document goes to train or val by a stable hash of its id (never both).
2. For each sequence length, ``pack_stream`` packs the stream's documents into fixed-length sequences
   (best-fit decreasing; long documents split, never truncated) with per-sequence segment tables.

Layout under the output folder: ``index.json``, ``{train,val}.bin`` + ``.docs.npy`` (the flat streams),
``{train,val}-<L>.bin`` + ``.segments.npy`` + ``.json`` (packed sequences of length L).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from llm_pipeline_assets.shards import iter_batches
from llm_pipeline_assets.tokens.dataset import split_of
from llm_pipeline_assets.tokens.packing import pack_stream
from llm_pipeline_assets.tokens.stream import TokenStreamWriter, token_dtype

Logger = Callable[[str], None]
SPLITS = ("train", "val")
INDEX_FILE = "index.json"
DOCS_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.string()), ("tokens", pa.int64())])


@dataclass
class PackStats:
    documents: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    packed: dict = field(default_factory=dict)  # "<split>-<L>" -> pack index
    text_bytes: int = 0
    tokenize_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return sum(self.tokens.values()) / max(self.tokenize_seconds, 1e-9)


@dataclass
class FastTokenizer:
    """Just what tokenizing needs: the Rust tokenizer and the special ids (no transformers/torch import)."""

    backend: object
    eos_token_id: int
    pad_token_id: int | None
    vocab_size: int

    def __len__(self) -> int:
        return self.vocab_size


def load_fast_tokenizer(tokenizer_dir: Path) -> FastTokenizer:
    """Read ``tokenizer.json`` + ``tokenizer_config.json`` of a Hugging Face tokenizer directory."""
    from tokenizers import Tokenizer

    tokenizer_dir = Path(tokenizer_dir)
    backend = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    # Corpus text is plain text: a document that quotes "<|endoftext|>" or "<|user|>" must not get the EOS or
    # a chat-role id in its middle (only the EOS appended after each document is special).
    backend.encode_special_tokens = True
    config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text(encoding="utf-8"))

    def special(name: str) -> int | None:
        token = config.get(name)
        token = token.get("content") if isinstance(token, dict) else token
        return backend.token_to_id(token) if token else None

    eos = special("eos_token")
    if eos is None:
        raise ValueError(f"tokenizer at {tokenizer_dir} has no eos_token: documents could not be separated")
    return FastTokenizer(backend, eos, special("pad_token"), backend.get_vocab_size(with_added_tokens=True))


def tokenize_to_streams(files: Sequence[Path], tok, out_dir: Path, val_fraction: float, seed: int,
                        batch_docs: int = 1000, log: Logger = print) -> PackStats:
    backend, eos = tok.backend, tok.eos_token_id
    dtype = token_dtype(len(tok))
    stats = PackStats()
    start = time.perf_counter()
    writers = {s: TokenStreamWriter(Path(out_dir) / s, len(tok), eos_id=eos) for s in SPLITS}
    # Which document went where (id, source, token count), for tracing and the split-disjointness check.
    doc_tables = {s: pq.ParquetWriter(Path(out_dir) / f"{s}-documents.parquet", DOCS_SCHEMA) for s in SPLITS}
    try:
        for batch in iter_batches(files, batch_docs, columns=("id", "text", "source")):
            texts = [r["text"] for r in batch]
            stats.text_bytes += sum(len(t.encode("utf-8")) for t in texts)
            encodings = backend.encode_batch_fast(texts, add_special_tokens=False)
            by_split: dict[str, list] = {s: [] for s in SPLITS}
            for row, enc in zip(batch, encodings):
                ids = np.empty(len(enc.ids) + 1, dtype=dtype)
                ids[:-1] = enc.ids
                ids[-1] = eos  # every document ends with EOS, so packed documents never run together
                by_split[split_of(row["id"], val_fraction, seed)].append((row, ids))
            for split, docs in by_split.items():
                if docs:
                    writers[split].add([ids for _, ids in docs])
                    doc_tables[split].write_table(pa.table({
                        "id": [r["id"] for r, _ in docs], "source": [r["source"] for r, _ in docs],
                        "tokens": [len(ids) for _, ids in docs]}, schema=DOCS_SCHEMA))
    except BaseException:
        for w in writers.values():
            w.abort()  # no stream that looks complete is left behind
        raise
    finally:
        for table in doc_tables.values():
            table.close()
    for split, w in writers.items():
        info = w.close()
        stats.documents[split], stats.tokens[split] = info["documents"], info["tokens"]
    stats.tokenize_seconds = time.perf_counter() - start
    log(f"packed_tokens: {sum(stats.tokens.values())} tokens from {sum(stats.documents.values())} documents "
        f"({stats.tokens_per_second:.0f} tokens/s)")
    return stats


def build_packed_tokens(files: Sequence[Path], tokenizer_dir: Path, out_dir: Path, cfg, seed: int,
                        log: Logger = print) -> PackStats:
    """Tokenize ``files`` and pack both splits at every ``cfg.seq_lens``; writes ``index.json``."""
    tok = load_fast_tokenizer(tokenizer_dir)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    start = time.perf_counter()
    out_dir = Path(out_dir)
    stats = tokenize_to_streams(files, tok, out_dir, cfg.val_fraction, seed, cfg.batch_docs, log)
    for split in SPLITS:
        if stats.documents[split] == 0:
            continue
        for seq_len in cfg.seq_lens:
            info = pack_stream(out_dir / split, seq_len, out_dir / f"{split}-{seq_len}", pad_id=pad,
                               strategy=cfg.strategy)
            stats.packed[f"{split}-{seq_len}"] = info
            log(f"packed_tokens: {split} @ {seq_len}: {info['n_sequences']} sequences, "
                f"padding {info['padding_fraction']:.4f}, truncated {info['truncated_tokens']}")
    stats.seconds = time.perf_counter() - start
    index = {
        "format": "llm_pipeline_assets.packed_tokens/1", "pad_id": pad, "seq_lens": list(cfg.seq_lens),
        "strategy": cfg.strategy, "val_fraction": cfg.val_fraction, "split_seed": seed,
        "documents": stats.documents, "tokens": stats.tokens,
        "streams": {s: {"bin": f"{s}.bin", "docs": f"{s}.docs.npy", "documents": f"{s}-documents.parquet"}
                    for s in SPLITS if stats.documents[s]},
        "packed": {k: {"prefix": k, **v} for k, v in stats.packed.items()},
    }
    (out_dir / INDEX_FILE).write_text(json.dumps(index, indent=1, sort_keys=True, default=str))
    return stats
