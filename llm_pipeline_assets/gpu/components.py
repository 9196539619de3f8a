"""Connected components of the verified LSH edges on a GPU, with the CPU path's labels.

The CPU path (``dedup.components.connected_components``) labels every node with the lowest index of its
component.  Here the same labels come from, in order of preference:

1. cuGraph (``cugraph.weakly_connected_components``) when importable and the device is CUDA; its labels
   are arbitrary component ids, so ``canonical_labels`` maps each one to its component's lowest member;
2. ``torch_connected_components`` on any torch device: hook-and-compress on edge tensors.  Every round
   (a) pointer-jumps ``parent = parent[parent]`` until each node points at its root, then (b) for every
   edge whose endpoints have different roots hooks the higher root under the lower one
   (``scatter_reduce_(..., "amin")`` keeps the lowest candidate).  Pointers only ever decrease, so there
   are no cycles and each root is its component's minimum: the labels equal the union-find's whatever
   the edge order.  Edges inside one component are dropped each round, so the work shrinks;
3. (the CPU backend keeps using the numpy union-find; nothing here is on the default path).

All functions take ``(n, edges)`` with ``edges`` an ``(E, 2)`` integer array and return int64 numpy labels.
"""

from __future__ import annotations

import importlib.util
from typing import Tuple

import numpy as np

from llm_pipeline_assets.dedup.components import check_edges

__all__ = ["torch_connected_components", "canonical_labels", "cugraph_components", "components_on",
           "cugraph_available"]


def _compress(parent):
    """Pointer jumping until every node points at its root (torch)."""
    import torch

    while True:
        grand = parent[parent]
        if torch.equal(grand, parent):
            return parent
        parent = grand


def torch_connected_components(n: int, edges, device: str = "cuda") -> np.ndarray:
    """Lowest-index component label of each of ``n`` nodes, computed with torch on ``device``."""
    import torch

    edges = check_edges(n, edges)
    dev = torch.device(device)
    parent = torch.arange(n, dtype=torch.int64, device=dev)
    e = torch.from_numpy(edges).to(dev)
    u, v = e[:, 0], e[:, 1]
    while u.numel():
        parent = _compress(parent)
        ru, rv = parent[u], parent[v]
        open_ = ru != rv
        if not bool(open_.any()):
            break
        u, v, ru, rv = u[open_], v[open_], ru[open_], rv[open_]
        parent.scatter_reduce_(0, torch.maximum(ru, rv), torch.minimum(ru, rv), reduce="amin")
    return _compress(parent).cpu().numpy()


def canonical_labels(labels, device: str = "cpu") -> np.ndarray:
    """Relabel arbitrary component ids so each node's label is the lowest index holding the same id."""
    import torch

    lab = torch.as_tensor(np.asarray(labels), device=device)
    n = lab.numel()
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    _, dense = torch.unique(lab, return_inverse=True)
    lowest = torch.full((int(dense.max()) + 1,), n, dtype=torch.int64, device=lab.device)
    lowest.scatter_reduce_(0, dense, torch.arange(n, dtype=torch.int64, device=lab.device), reduce="amin")
    return lowest[dense].cpu().numpy()


def cugraph_available() -> bool:
    return importlib.util.find_spec("cugraph") is not None and importlib.util.find_spec("cudf") is not None


def cugraph_components(n: int, edges) -> np.ndarray:
    """Components through cuGraph (GPU only), canonicalised to lowest-index labels.

    Nodes that appear in no edge are singletons (cuGraph only sees edge endpoints); they keep unique ids
    ``>= n`` before canonicalisation so they never merge with a cuGraph component id.
    """
    import cudf
    import cugraph

    edges = check_edges(n, edges)
    raw = np.arange(n, dtype=np.int64) + n
    if edges.size:
        graph = cugraph.Graph(directed=False)
        graph.from_cudf_edgelist(cudf.DataFrame({"src": edges[:, 0], "dst": edges[:, 1]}),
                                 source="src", destination="dst")
        parts = cugraph.weakly_connected_components(graph)
        raw[parts["vertex"].to_numpy()] = parts["labels"].to_numpy().astype(np.int64)
    return canonical_labels(raw, device="cuda")


def components_on(n: int, edges, device: str, prefer_cugraph: bool = True) -> Tuple[np.ndarray, str]:
    """``(labels, engine)``: cuGraph when ``device`` is CUDA and cuGraph is importable, else torch on ``device``."""
    if prefer_cugraph and str(device).startswith("cuda") and cugraph_available():
        return cugraph_components(n, edges), "cugraph"
    return torch_connected_components(n, edges, device), "torch"
