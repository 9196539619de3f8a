"""Where every document piece goes: best-fit-decreasing and concatenate-and-chunk layouts.

A layout is ``(segments, src)``: ``segments`` is an int64 ``(n_segments, 4)`` array of
``(sequence, start, length, document)`` rows sorted by ``(sequence, start)``; ``src`` holds each
row's offset in the flat token stream. Nothing here touches token values, only document lengths,
so a layout costs a few int64 arrays of O(documents + sequences) entries.

Invariant of both layouts: the pieces of one document, taken in ``(sequence, start)`` order, are
the document in order, and in every sequence the pieces fill ``[0, used)`` with no gap, so
padding is only ever the tail of a sequence.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, insort
from heapq import heappop, heappush

import numpy as np

__all__ = ["bfd_assign", "bfd_layout", "concat_layout", "document_pieces"]


def document_pieces(lengths: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut documents into ``seq_len`` pieces plus a remainder; returns (doc, offset in doc, length) per piece.

    Pieces are ordered by (document, offset). Every token is in exactly one piece; a document of
    length 0 has no piece.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n_pieces = -(-lengths // seq_len)
    doc = np.repeat(np.arange(lengths.size, dtype=np.int64), n_pieces)
    first = np.cumsum(n_pieces) - n_pieces
    offset = (np.arange(doc.size, dtype=np.int64) - np.repeat(first, n_pieces)) * seq_len
    length = np.minimum(seq_len, lengths[doc] - offset)
    return doc, offset, length


def _bfd_loop(sizes: list[int], capacity: int, first_bin: int) -> tuple[array, array, int]:
    """Best fit for items already in decreasing order; bins with equal room are kept in a min-heap by id.

    ``rooms`` is the sorted list of distinct remaining capacities (at most ``capacity`` values), so
    each item costs a bisect, one heap pop/push and at most one list insert/delete of a short list.
    """
    rooms: list[int] = []
    by_room: dict[int, list[int]] = {}
    bins, starts = array("q"), array("q")
    n_bins = first_bin
    for size in sizes:
        j = bisect_left(rooms, size)
        if j == len(rooms):
            b, start, left = n_bins, 0, capacity - size
            n_bins += 1
        else:
            room = rooms[j]
            heap = by_room[room]
            b = heappop(heap)
            if not heap:
                del rooms[j]
                del by_room[room]
            start, left = capacity - room, room - size
        if left:
            heap = by_room.get(left)
            if heap is None:
                by_room[left] = [b]
                insort(rooms, left)
            else:
                heappush(heap, b)
        bins.append(b)
        starts.append(start)
    return bins, starts, n_bins


def bfd_assign(sizes: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Best-fit-decreasing bin packing; returns (bin, start within bin, number of bins).

    Items are placed largest first, ties by input position; each goes into the open bin with the
    least room that still fits it, ties by lowest bin id; a new bin opens when none fits. Bins are
    numbered in opening order and each bin's items are placed back to back from 0. O(P log P).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    capacity = int(capacity)
    if sizes.size and (sizes.min() <= 0 or sizes.max() > capacity):
        raise ValueError(f"item sizes must lie in [1, {capacity}], got [{sizes.min()}, {sizes.max()}]")
    order = np.argsort(-sizes, kind="stable")
    n_full = int(np.count_nonzero(sizes == capacity))
    bins = np.empty(sizes.size, dtype=np.int64)
    starts = np.empty(sizes.size, dtype=np.int64)
    bins[order[:n_full]] = np.arange(n_full, dtype=np.int64)  # full items: one fresh bin each
    starts[order[:n_full]] = 0
    rest = order[n_full:]
    rest_bins, rest_starts, n_bins = _bfd_loop(sizes[rest].tolist(), capacity, n_full)
    bins[rest] = np.frombuffer(rest_bins, dtype=np.int64) if len(rest_bins) else 0
    starts[rest] = np.frombuffer(rest_starts, dtype=np.int64) if len(rest_starts) else 0
    return bins, starts, n_bins


def _sorted_layout(seq, start, length, doc, src) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((start, seq))
    segments = np.stack([seq, start, length, doc], axis=1)[order].astype(np.int64, copy=False)
    return np.ascontiguousarray(segments), src[order]


def bfd_layout(offsets: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Best-fit-decreasing layout of the documents delimited by ``offsets`` into ``seq_len`` sequences."""
    offsets = np.asarray(offsets, dtype=np.int64)
    doc, offset, length = document_pieces(np.diff(offsets), seq_len)
    seq, start, _ = bfd_assign(length, seq_len)
    return _sorted_layout(seq, start, length, doc, offsets[doc] + offset)


def concat_layout(offsets: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate-and-chunk: the stream cut every ``seq_len`` tokens; a piece ends at a doc or sequence end."""
    offsets = np.asarray(offsets, dtype=np.int64)
    total = int(offsets[-1])
    cuts = np.union1d(offsets, np.arange(0, total, seq_len, dtype=np.int64))
    a, b = cuts[:-1], cuts[1:]
    doc = np.searchsorted(offsets, a, side="right") - 1
    return _sorted_layout(a // seq_len, a % seq_len, b - a, doc, a)
