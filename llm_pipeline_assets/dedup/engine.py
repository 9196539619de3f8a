"""Exact-then-fuzzy dedup over precomputed keys and signatures.

``dedup_arrays`` is the single implementation behind both ``fuzzy_dedup``
(in memory) and ``DedupIndexBuilder.finish`` (signatures in an on-disk
memmap).  Steps:

1. exact duplicates: documents with equal 128-bit normalized-text keys; the
   lowest index of each group survives (``exact_dup_of``);
2. band keys of the exact survivors, written band-major (to a memmap when a
   ``workdir`` is given) so that each band is one contiguous ``(m,)`` array;
3. per band: sort-based buckets -> star candidate edges -> verification
   (``lsh.lsh_edges``), keeping one band's keys in RAM at a time;
4. union–find components over verified edges; a cluster's label is its
   lowest index; exact duplicates inherit the cluster of their survivor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from .components import ComponentsFn, cluster_size_histogram, connected_components
from .lsh import band_keys, lsh_edges
from .normalize import first_occurrence
from .params import DedupParams

__all__ = ["DedupResult", "dedup_arrays", "signature_verifier", "jaccard_verifier", "jaccard"]

#: ``provider(global_indices) -> list of sorted distinct uint64 shingle arrays``
ShingleProvider = Callable[[np.ndarray], Sequence[np.ndarray]]

_ROW_CHUNK = 1 << 16  # signature rows per read when building band keys
_PAIR_CHUNK = 1 << 15  # candidate pairs per signature comparison


@dataclass
class DedupResult:
    """Per-document outcome, indexed by global document index."""

    exact_dup_of: np.ndarray  # int64: index of the first exact copy, or -1
    cluster: np.ndarray  # int64: lowest index of the fuzzy cluster
    keep: np.ndarray  # bool: survivor of exact and fuzzy dedup
    stats: Dict[str, object] = field(default_factory=dict)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted distinct arrays (two empty sets -> 1.0)."""
    union = a.size + b.size
    if union == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (union - inter)


def signature_verifier(signatures: np.ndarray, doc_index: np.ndarray, threshold: float):
    """Pass pairs whose share of equal signature slots is >= ``threshold``."""
    num_perm = signatures.shape[1]
    need = threshold * num_perm - 1e-9

    def verify(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        out = np.empty(left.size, dtype=bool)
        for s in range(0, left.size, _PAIR_CHUNK):
            li, ri = doc_index[left[s : s + _PAIR_CHUNK]], doc_index[right[s : s + _PAIR_CHUNK]]
            equal = np.count_nonzero(signatures[li] == signatures[ri], axis=1)
            out[s : s + li.size] = equal >= need
        return out

    return verify


def jaccard_verifier(provider: ShingleProvider, doc_index: np.ndarray, threshold: float):
    """Pass pairs whose true shingle-set Jaccard is >= ``threshold``."""

    def verify(left: np.ndarray, right: np.ndarray) -> np.ndarray:
        docs = np.unique(np.concatenate([left, right]))
        sets = dict(zip(docs.tolist(), provider(doc_index[docs])))
        return np.array(
            [jaccard(sets[i], sets[j]) >= threshold - 1e-12 for i, j in zip(left.tolist(), right.tolist())],
            dtype=bool,
        )

    return verify


def _band_key_store(signatures: np.ndarray, rows_idx: np.ndarray, params: DedupParams, workdir: Optional[str]):
    """Band-major ``(bands, m)`` uint64 keys, on disk when ``workdir`` is set."""
    m = rows_idx.size
    shape = (params.bands, m)
    if workdir is None or m == 0:
        store = np.empty(shape, dtype=np.uint64)
    else:
        store = np.lib.format.open_memmap(os.path.join(workdir, "band_keys.npy"), "w+", np.uint64, shape)
    for s in range(0, m, _ROW_CHUNK):
        rows = np.asarray(signatures[rows_idx[s : s + _ROW_CHUNK]])
        store[:, s : s + rows.shape[0]] = band_keys(rows, params.bands, params.rows).T
    return store


def _host_lsh(signatures, surv: np.ndarray, params: DedupParams, shingle_provider, workdir):
    """Verified LSH edges among ``surv`` on the host, band keys spilled to ``workdir`` when given."""
    store = _band_key_store(signatures, surv, params, workdir)
    if params.verify == "signature":
        verifier = signature_verifier(signatures, surv, params.threshold)
    elif params.verify == "jaccard":
        verifier = jaccard_verifier(shingle_provider, surv, params.threshold)
    else:
        verifier = None
    found = lsh_edges(lambda b: np.asarray(store[b]), surv.size, params.bands, verifier)
    spill = getattr(store, "filename", None)
    del store
    if spill is not None and os.path.exists(spill):
        os.remove(spill)  # band keys are scratch space
    return found


def dedup_arrays(
    keys: np.ndarray,
    signatures: np.ndarray,
    params: DedupParams,
    shingle_provider: Optional[ShingleProvider] = None,
    workdir: Optional[str] = None,
    components: ComponentsFn = connected_components,
    lsh=None,
) -> DedupResult:
    """Exact + MinHash-LSH dedup of ``len(keys)`` documents.

    ``keys``: exact keys (``EXACT_KEY_DTYPE`` or any sortable 1-D array);
    ``signatures``: uint32 ``(N, num_perm)`` array or memmap;
    ``shingle_provider``: required for ``verify="jaccard"``;
    ``components``: connected-components function (a GPU backend's; it must return the union-find's
    lowest-index labels);
    ``lsh``: ``(signatures, survivors, params) -> (edges, stats)`` or None, a backend's device LSH that must
    give ``lsh_edges``' edges (``gpu/lsh.py``); None from it, or no ``lsh``, runs the host path below.
    """
    n = len(keys)
    if signatures.shape != (n, params.num_perm):
        raise ValueError(f"signatures shape {signatures.shape} != ({n}, {params.num_perm})")
    if params.verify == "jaccard" and shingle_provider is None:
        raise ValueError('verify="jaccard" needs a shingle provider')
    idx = np.arange(n, dtype=np.int64)
    first = first_occurrence(keys) if params.exact else idx
    exact_dup_of = np.where(first == idx, -1, first)
    surv = np.flatnonzero(first == idx)

    found = lsh(signatures, surv, params) if lsh is not None else None
    edges, lsh_stats = found if found is not None else _host_lsh(signatures, surv, params, shingle_provider, workdir)

    cluster = np.empty(n, dtype=np.int64)
    cluster[surv] = surv[components(surv.size, edges)]
    dups = exact_dup_of >= 0
    cluster[dups] = cluster[exact_dup_of[dups]]
    keep = cluster == idx
    exact_removed = int(dups.sum())
    stats: Dict[str, object] = {
        "n_docs": n,
        "exact_removed": exact_removed,
        "fuzzy_removed": int(n - exact_removed - keep.sum()),
        "kept": int(keep.sum()),
        **lsh_stats,
        "bands": params.bands,
        "rows": params.rows,
        "cluster_size_histogram": cluster_size_histogram(cluster),
    }
    return DedupResult(exact_dup_of=exact_dup_of, cluster=cluster, keep=keep, stats=stats)

