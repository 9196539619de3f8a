"""Shared helpers for the token tests: random streams, a naive BFD reference, packing invariants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llm_pipeline_assets.tokens.stream import TokenStream, TokenStreamWriter

EOS = 0
VOCAB = 1000


def random_lengths(rng: np.random.Generator, n: int, max_len: int) -> np.ndarray:
    """Document lengths (EOS included): mostly lognormal, plus 1-token docs and docs far over max_len."""
    lengths = np.maximum(1, rng.lognormal(np.log(max_len / 6), 1.0, size=n).astype(np.int64))
    lengths[rng.random(n) < 0.05] = 1  # a document that is only its EOS
    long = rng.random(n) < 0.05
    lengths[long] = rng.integers(max_len, 3 * max_len + 7, size=int(long.sum()))
    return lengths


def write_stream(prefix: Path, lengths, seed: int = 0, vocab: int = VOCAB, batches: int = 3) -> list[np.ndarray]:
    """Write documents of the given lengths (random ids in [1, vocab), EOS last); returns them."""
    rng = np.random.default_rng(seed)
    docs = [np.append(rng.integers(1, vocab, size=int(n) - 1), EOS) for n in lengths]
    with TokenStreamWriter(prefix, vocab, eos_id=EOS) as writer:
        for part in np.array_split(np.arange(len(docs)), batches):
            writer.add([docs[i] for i in part])
    return docs


def naive_bfd(sizes, capacity: int) -> tuple[list[int], list[int], int]:
    """O(P * bins) best-fit-decreasing: largest first (ties by index), tightest bin (ties by lowest id)."""
    order = sorted(range(len(sizes)), key=lambda i: (-int(sizes[i]), i))
    rooms: list[int] = []
    bins, starts = [0] * len(sizes), [0] * len(sizes)
    for i in order:
        s = int(sizes[i])
        fits = [(room, b) for b, room in enumerate(rooms) if room >= s]
        if fits:
            room, b = min(fits)
        else:
            b, room = len(rooms), capacity
            rooms.append(capacity)
        bins[i], starts[i] = b, capacity - room
        rooms[b] = room - s
    return bins, starts, len(rooms)


def load_plain(out_prefix: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    """Read packed files with json + np.memmap + np.load only, as a consumer without the package would."""
    out_prefix = Path(out_prefix)
    index = json.loads(Path(f"{out_prefix}.json").read_text())
    n, seq_len = index["n_sequences"], index["seq_len"]
    bin_path = out_prefix.parent / index["files"]["bin"]
    if n:
        tokens = np.memmap(bin_path, dtype=np.dtype(index["dtype"]), mode="r", shape=(n, seq_len))
    else:
        tokens = np.zeros((0, seq_len), dtype=np.dtype(index["dtype"]))
        assert bin_path.stat().st_size == 0
    segments = np.load(out_prefix.parent / index["files"]["segments"])
    return index, tokens, segments


def check_packing(stream_prefix: Path, out_prefix: Path, index: dict) -> None:
    """Every invariant a packed output must satisfy, checked against the source stream."""
    stream = TokenStream(stream_prefix)
    idx, tokens, segs = load_plain(out_prefix)
    assert idx == index
    seq_len, n_seq = index["seq_len"], index["n_sequences"]
    assert tokens.shape == (n_seq, seq_len) and tokens.dtype == stream.dtype
    assert segs.dtype == np.int64 and segs.shape == (index["segments"], 4)
    assert index["truncated_tokens"] == 0 and index["tokens"] == stream.n_tokens
    assert index["documents"] == len(stream)
    seq, start, length, doc = segs.T
    assert np.all(length >= 1) and np.all(start >= 0)
    assert np.all(start + length <= seq_len), "a segment crosses a sequence boundary"
    assert np.all(np.diff(seq * seq_len + start) > 0), "segments not sorted by (sequence, start)"
    # pieces of each sequence fill [0, used) back to back, so padding is exactly the tail
    first = np.ones(len(segs), dtype=bool)
    first[1:] = seq[1:] != seq[:-1]
    assert np.all(start[first] == 0)
    assert np.all(start[~first] == (start + length)[np.flatnonzero(~first) - 1])
    used = np.bincount(seq, weights=length, minlength=n_seq).astype(np.int64)
    assert n_seq == 0 or (used.min() >= 1 and np.unique(seq).size == n_seq)
    pad_mask = np.arange(seq_len)[None, :] >= used[:, None]
    assert np.all(tokens[pad_mask] == index["pad_id"])
    assert index["padding_tokens"] == int(pad_mask.sum()) == n_seq * seq_len - stream.n_tokens
    expected_frac = pad_mask.sum() / pad_mask.size if pad_mask.size else 0.0
    assert abs(index["padding_fraction"] - expected_frac) < 1e-12
    # every document is rebuilt exactly from its pieces, taken in (sequence, start) order
    by_doc = np.argsort(doc, kind="stable")
    bounds = np.searchsorted(doc[by_doc], np.arange(len(stream) + 1))
    flat = np.asarray(tokens).reshape(-1)
    for d in range(len(stream)):
        rows = by_doc[bounds[d]:bounds[d + 1]]
        pieces = [flat[seq[r] * seq_len + start[r]: seq[r] * seq_len + start[r] + length[r]] for r in rows]
        rebuilt = np.concatenate(pieces) if pieces else np.zeros(0, dtype=stream.dtype)
        np.testing.assert_array_equal(rebuilt, stream.doc(d))
        assert rebuilt.size == 0 or rebuilt[-1] == stream.eos_id
    pieces_per_doc = np.diff(bounds)
    assert index["split_documents"] == int(np.count_nonzero(pieces_per_doc > 1))
    lengths = stream.lengths
    assert index["long_documents"] == int(np.count_nonzero(lengths > seq_len))
    if index["strategy"] == "concat":
        assert n_seq == -(-stream.n_tokens // seq_len)
        assert np.array_equal(flat[:stream.n_tokens], stream.tokens)
    else:
        assert np.array_equal(pieces_per_doc, -(-lengths // seq_len))  # bfd splits only long documents
