"""Connected components with deterministic labels (lowest index survives).

``connected_components`` is a vectorized union–find: a ``parent`` array in
which every pointer goes to a *lower* index.  Each round

1. *path compression*: pointer jumping ``parent = parent[parent]`` until
   every node points straight at its root;
2. *union*: for every edge whose endpoints have different roots, the higher
   root is hooked under the lower one (``np.minimum.at`` keeps the lowest
   candidate when several edges hook the same root); edges already inside
   one component are dropped.

Because pointers only ever decrease, there are no cycles and the root of a
component is its minimum index, so ``label[i]`` is the lowest index of
``i``'s component regardless of edge order.  Rounds are O(log n) in
practice; each round is a few numpy passes over the remaining edges.
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np

__all__ = ["connected_components", "cluster_size_histogram", "check_edges", "ComponentsFn"]

#: ``components(n, edges) -> int64 labels``: the hook a dedup backend (``gpu/``) plugs into ``dedup_arrays``.
ComponentsFn = Callable[[int, np.ndarray], np.ndarray]


def _compress(parent: np.ndarray) -> np.ndarray:
    """Pointer jumping until every node points at its root."""
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


def check_edges(n: int, edges) -> np.ndarray:
    """``edges`` as an ``(E, 2)`` int64 array; ValueError for ``n < 0`` or endpoints outside ``[0, n)``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if edges.size and (edges.min() < 0 or edges.max() >= n):
        raise ValueError(f"edge endpoints must be in [0, {n})")
    return edges


def connected_components(n: int, edges: np.ndarray) -> np.ndarray:
    """Label each of ``n`` nodes with the lowest index of its component.

    ``edges`` is an ``(E, 2)`` integer array (any order, duplicates and
    self-loops allowed).  Returns an int64 array of shape ``(n,)``.
    """
    edges = check_edges(n, edges)
    parent = np.arange(n, dtype=np.int64)
    u, v = edges[:, 0], edges[:, 1]
    while u.size:
        parent = _compress(parent)
        ru, rv = parent[u], parent[v]
        open_ = ru != rv
        if not open_.any():
            break
        u, v, ru, rv = u[open_], v[open_], ru[open_], rv[open_]
        lo, hi = np.minimum(ru, rv), np.maximum(ru, rv)
        np.minimum.at(parent, hi, lo)  # hook higher roots under lower ones
    return _compress(parent)


def cluster_size_histogram(labels: np.ndarray) -> Dict[int, int]:
    """``{cluster size: number of clusters of that size}`` for a label array."""
    if len(labels) == 0:
        return {}
    _, sizes = np.unique(labels, return_counts=True)
    size_vals, n_clusters = np.unique(sizes, return_counts=True)
    return {int(s): int(c) for s, c in zip(size_vals, n_clusters)}
