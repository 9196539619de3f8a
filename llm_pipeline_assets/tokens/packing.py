"""Pack a token stream into fixed-length sequences without dropping a token.

Files for an output prefix ``O`` (numpy alone reads them; see :func:`load_packed_arrays`)::

    O.bin           n_sequences x seq_len token ids, row-major, stream dtype, padded with pad_id
    O.segments.npy  int64 (n_segments, 4): (sequence, start, length, document) of every document
                    piece, sorted by (sequence, start)
    O.json          index: seq_len, n_sequences, dtype, tokens, padding_tokens, padding_fraction,
                    documents, split_documents, truncated_tokens (always 0), strategy, files, ...

Strategies: ``"bfd"`` (best-fit-decreasing; a document longer than seq_len becomes seq_len pieces
plus a remainder) and ``"concat"`` (the stream cut every seq_len tokens; only the last sequence
is padded). In both, a sequence's pieces fill it from 0 with no gap, so padding is only its tail,
and a document's pieces in (sequence, start) order are the document in order.
Positions restart at 0 at every segment start, so attention can be kept inside a piece with the
per-sequence segment ids (:func:`segment_ids`, :func:`document_mask`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from .layout import bfd_layout, concat_layout
from .stream import TokenStream, open_tokens

__all__ = ["STRATEGIES", "pack_stream", "pack_curriculum", "packed_files", "load_packed_arrays",
           "segment_ids", "position_ids", "document_mask"]

STRATEGIES = ("bfd", "concat")
_BLOCK_TOKENS = 1 << 21  # tokens of output built in RAM at a time (plus ~4 int64 index arrays)
_PARTIAL = ".partial"


def packed_files(out_prefix: Path) -> dict[str, Path]:
    """Paths of the three files that make up the packed sequences at ``out_prefix``."""
    out_prefix = Path(out_prefix)
    return {"bin": Path(f"{out_prefix}.bin"), "segments": Path(f"{out_prefix}.segments.npy"),
            "index": Path(f"{out_prefix}.json")}


def _gather_block(tokens, segments, src, first_seq, n_rows, seq_len, pad_id, dtype) -> np.ndarray:
    """Rows ``first_seq .. first_seq + n_rows`` of the packed array, built from their segments."""
    block = np.full(n_rows * seq_len, pad_id, dtype=dtype)
    if segments.shape[0]:
        lengths = segments[:, 2]
        within = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        dst = np.repeat((segments[:, 0] - first_seq) * seq_len + segments[:, 1], lengths) + within
        block[dst] = tokens[np.repeat(src, lengths) + within]
    return block


def _write_packed(fh, tokens, segments, src, n_seq, seq_len, pad_id, dtype, strategy) -> None:
    if strategy == "concat":  # the packed array is the stream itself followed by tail padding
        total = tokens.size
        for lo in range(0, total, _BLOCK_TOKENS):
            fh.write(np.ascontiguousarray(tokens[lo:lo + _BLOCK_TOKENS]).tobytes())
        fh.write(np.full(n_seq * seq_len - total, pad_id, dtype=dtype).tobytes())
        return
    rows = max(1, _BLOCK_TOKENS // seq_len)
    bounds = np.searchsorted(segments[:, 0], np.arange(0, n_seq + rows, rows, dtype=np.int64))
    for k, first in enumerate(range(0, n_seq, rows)):
        n_rows = min(rows, n_seq - first)
        a, b = bounds[k], bounds[k + 1]
        fh.write(_gather_block(tokens, segments[a:b], src[a:b], first, n_rows, seq_len, pad_id, dtype).tobytes())


def pack_stream(stream_prefix: Path, seq_len: int, out_prefix: Path, pad_id: int, strategy: str = "bfd") -> dict:
    """Pack the stream at ``stream_prefix`` into ``seq_len`` sequences at ``out_prefix``; returns the index.

    Deterministic: the same stream and arguments give byte-identical files. Files are written
    under temporary names and renamed, the JSON index last.
    """
    seq_len = int(seq_len)
    if seq_len <= 0:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown packing strategy {strategy!r}; expected one of {STRATEGIES}")
    stream = TokenStream(stream_prefix)
    dtype = stream.dtype
    pad_id = int(pad_id)
    if not 0 <= pad_id <= np.iinfo(dtype).max:
        raise ValueError(f"pad_id {pad_id} does not fit the stream dtype {dtype.name}")
    layout = bfd_layout if strategy == "bfd" else concat_layout
    segments, src = layout(stream.offsets, seq_len)
    n_seq = int(segments[-1, 0]) + 1 if segments.shape[0] else 0
    packed_tokens = int(segments[:, 2].sum())
    truncated = stream.n_tokens - packed_tokens
    if truncated:
        raise AssertionError(f"packing lost {truncated} tokens")  # cannot happen: every layout keeps all tokens

    files = packed_files(out_prefix)
    files["bin"].parent.mkdir(parents=True, exist_ok=True)
    tmp = {k: Path(str(p) + _PARTIAL) for k, p in files.items()}
    with open(tmp["bin"], "wb") as fh:
        _write_packed(fh, stream.tokens, segments, src, n_seq, seq_len, pad_id, dtype, strategy)
    with open(tmp["segments"], "wb") as fh:
        np.save(fh, segments)

    lengths = stream.lengths
    pieces_per_doc = np.bincount(segments[:, 3], minlength=len(stream)) if segments.shape[0] else np.zeros(0)
    slots = n_seq * seq_len
    index = {
        "format": "packed_tokens", "version": 1, "strategy": strategy, "seq_len": seq_len,
        "n_sequences": n_seq, "dtype": dtype.name, "vocab_size": stream.vocab_size, "pad_id": pad_id,
        "eos_id": stream.eos_id, "tokens": packed_tokens, "padding_tokens": slots - packed_tokens,
        "padding_fraction": (slots - packed_tokens) / slots if slots else 0.0,
        "documents": len(stream), "segments": int(segments.shape[0]),
        "split_documents": int(np.count_nonzero(pieces_per_doc > 1)),
        "long_documents": int(np.count_nonzero(lengths > seq_len)),
        "max_document_tokens": int(lengths.max()) if lengths.size else 0,
        "truncated_tokens": 0,
        "files": {"bin": files["bin"].name, "segments": files["segments"].name},
        "source": {"stream": stream.files["bin"].name, "tokens": stream.n_tokens},
    }
    os.replace(tmp["bin"], files["bin"])
    os.replace(tmp["segments"], files["segments"])
    tmp["index"].write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    os.replace(tmp["index"], files["index"])
    return index


def pack_curriculum(stream_prefix: Path, seq_lens: Iterable[int], out_dir: Path, pad_id: int,
                    strategy: str = "bfd", name: str = "packed") -> dict[int, dict]:
    """Pack one stream for every sequence length of a curriculum: ``<out_dir>/<name>-<seq_len>.*``."""
    out_dir = Path(out_dir)
    return {int(n): pack_stream(stream_prefix, int(n), out_dir / f"{name}-{int(n)}", pad_id, strategy)
            for n in sorted(set(int(s) for s in seq_lens))}


def load_packed_arrays(out_prefix: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    """(index, tokens as a read-only (n_sequences, seq_len) memmap, segments) with plain numpy."""
    files = packed_files(out_prefix)
    index = json.loads(files["index"].read_text())
    n_seq, seq_len = int(index["n_sequences"]), int(index["seq_len"])
    tokens = open_tokens(files["bin"], np.dtype(index["dtype"]), n_seq * seq_len, shape=(n_seq, seq_len))
    segments = np.load(files["segments"], mmap_mode="r").reshape(-1, 4)  # read where used: 32 B per segment
    return index, tokens, segments


def segment_ids(segments_for_seq: np.ndarray, seq_len: int) -> np.ndarray:
    """(seq_len,) int64: the ordinal of the segment covering each position (0, 1, ...), -1 on padding.

    ``segments_for_seq`` are the rows of one sequence (columns start, length at 1, 2), in start order.
    """
    segs = np.asarray(segments_for_seq, dtype=np.int64).reshape(-1, 4)
    out = np.full(int(seq_len), -1, dtype=np.int64)
    lengths = segs[:, 2]
    within = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[np.repeat(segs[:, 1], lengths) + within] = np.repeat(np.arange(segs.shape[0], dtype=np.int64), lengths)
    return out


def position_ids(segments_for_seq: np.ndarray, seq_len: int) -> np.ndarray:
    """(seq_len,) int64 positions restarting at 0 at every segment start; the padding tail counts from 0 too."""
    seg = segment_ids(segments_for_seq, seq_len)
    idx = np.arange(seg.size, dtype=np.int64)
    run_start = np.ones(seg.size, dtype=bool)
    run_start[1:] = seg[1:] != seg[:-1]
    return idx - np.maximum.accumulate(np.where(run_start, idx, 0))


def document_mask(segments_for_seq: np.ndarray, seq_len: int) -> np.ndarray:
    """(seq_len, seq_len) bool block-diagonal causal mask: query i may attend key j iff j <= i, same segment.

    Padding positions (segment -1) attend each other causally, so no row is empty; their labels are -100.
    """
    seg = segment_ids(segments_for_seq, seq_len)
    return (seg[:, None] == seg[None, :]) & np.tri(seg.size, dtype=bool)
