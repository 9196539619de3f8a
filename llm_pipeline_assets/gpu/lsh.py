"""MinHash LSH on a torch device, with the CPU path's result: ``dedup.lsh.lsh_edges`` + signature verification.

The CPU path (``dedup/engine.dedup_arrays``) computes, for every band, a uint64 key per surviving document
(``dedup.lsh.band_keys``: a splitmix64 fold of the band's slots), groups equal keys into buckets, proposes
star edges (each member to its bucket's lowest index), verifies them (share of equal signature slots >=
threshold), re-anchors the members that failed on the lowest failed member of their bucket (up to 8
rounds), and finally keeps the distinct verified pairs. This module runs the same steps on the device:

* band keys in int64 holding the uint64 bits (``xxh3.mix64``; multiply/add wrap like uint64);
* buckets by a stable sort of the keys: torch sorts them as signed int64, numpy as uint64, so buckets come
  in another order, but a bucket is the same set of documents, ordered by index inside, so anchors, members
  and re-anchoring are the same;
* the verdict of a pair does not depend on when it is asked, so no cache is needed; the distinct proposed
  pairs (``candidate_pairs``) and the verified ones come from one ``unique`` at the end.

Edges come back as the CPU's ``(E, 2)`` int64 array sorted by ``lo * m + hi``; with the device's connected
components (``gpu/components.py``) the clusters are bit-identical (tests compare ``dedup_arrays`` with and
without it). Only ``verify="signature"`` and ``"none"``; Jaccard verification needs the shingle sets and
stays on the host. ``lsh_edges_on`` returns None when the survivors' signatures and the all-bands banding's
int64 tensors (~48 bytes per survivor and band) exceed half of ``memory_budget``, or the device runs out of memory
(the host path, with its band keys spilled to disk, takes over).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from llm_pipeline_assets.dedup.params import DedupParams
from llm_pipeline_assets.gpu.xxh3 import SHINGLE_MULT, mix64

__all__ = ["lsh_edges_on"]

MAX_ROUNDS = 8  # dedup.lsh.lsh_edges' max_rounds
PAIR_CHUNK = 1 << 18  # pairs compared at once (2 x PAIR_CHUNK x num_perm int32 gathered: 235 MB at 112)


def _band_keys(sig, bands: int, rows: int):
    """``dedup.lsh.band_keys(...)``, all bands at once: ``(bands, m)`` int64 from the (m, num_perm) int32 tensor
    holding the uint32 slots (one kernel sequence over every band, not one per band)."""
    slots = sig[:, :bands * rows].reshape(-1, bands, rows)  # int32 (a view when every slot is banded)

    def slot(c):  # (m, bands): the uint32 values of each band's slot c, as int64
        return slots[:, :, c].long() & 0xFFFFFFFF

    key = slot(0)
    for c in range(1, rows):
        key = mix64(key * SHINGLE_MULT + slot(c))
    return key.t().contiguous()


def _star(keys):
    """``dedup.lsh.bucket_star_edges`` of every band's keys ``(bands, m)`` on the device: (anchor, member, bucket),
    ordered by (band, bucket, index); bucket numbers are distinct across bands."""
    import torch

    bands, n = keys.shape
    if n < 2:
        empty = torch.zeros(0, dtype=torch.long, device=keys.device)
        return empty, empty, empty
    sk, order = torch.sort(keys, dim=1, stable=True)  # each band alone; equal keys keep index order
    first = torch.ones_like(sk, dtype=torch.bool)
    first[:, 1:] = sk[:, 1:] != sk[:, :-1]  # column 0 opens a bucket in every band
    first, order = first.view(-1), order.view(-1)
    bucket = torch.cumsum(first.long(), 0) - 1
    anchor = order[first][bucket]
    member = ~first
    return anchor[member], order[member], bucket[member]


def _verify(sig, left, right, need: float):
    import torch

    out = torch.empty(left.numel(), dtype=torch.bool, device=sig.device)
    for s in range(0, left.numel(), PAIR_CHUNK):
        li, ri = left[s:s + PAIR_CHUNK], right[s:s + PAIR_CHUNK]
        out[s:s + li.numel()] = (sig[li] == sig[ri]).sum(1) >= need
    return out


def lsh_edges_on(signatures: np.ndarray, surv: np.ndarray, params: DedupParams, device: str,
                 memory_budget: int) -> Optional[Tuple[np.ndarray, Dict[str, int]]]:
    """``(edges, stats)`` as ``dedup.lsh.lsh_edges`` gives them for ``surv``'s signatures, or None (host path)."""
    import torch

    m = int(surv.size)
    # the survivors' int32 signatures, plus ~6 int64 (bands, m) tensors of the all-bands banding (keys, sort, stars)
    if params.verify not in ("signature", "none") or m * (params.num_perm * 4 + params.bands * 48) > memory_budget // 2:
        return None
    try:
        return _edges(signatures, surv, params, device)
    except torch.OutOfMemoryError:  # the host path (band keys spilled to disk) takes over
        if str(device).startswith("cuda"):
            torch.cuda.empty_cache()
        return None


def _edges(signatures: np.ndarray, surv: np.ndarray, params: DedupParams, device: str):
    import torch

    m = int(surv.size)
    sig = torch.from_numpy(np.ascontiguousarray(signatures[surv], dtype=np.uint32).view(np.int32)).to(device)
    need = params.threshold * params.num_perm - 1e-9
    verify = params.verify == "signature"
    codes, verdicts = [], []
    # every band at once: buckets are independent, so the re-anchoring rounds of all bands run together
    # (a few host syncs per round instead of per band and round)
    anchor, member, bucket = _star(_band_keys(sig, params.bands, params.rows))
    for _ in range(MAX_ROUNDS):
        if member.numel() == 0:
            break
        ok = _verify(sig, anchor, member, need) if verify else torch.ones_like(member, dtype=torch.bool)
        codes.append(anchor * m + member)
        verdicts.append(ok)
        if not verify:
            break
        member, bucket = member[~ok], bucket[~ok]  # re-anchor the failures on their bucket's lowest one
        first = torch.ones(member.numel(), dtype=torch.bool, device=sig.device)
        first[1:] = bucket[1:] != bucket[:-1]
        anchor = member[first][torch.cumsum(first.long(), 0) - 1]
        member, bucket, anchor = member[~first], bucket[~first], anchor[~first]
    if codes:
        all_codes, inverse = torch.unique(torch.cat(codes), return_inverse=True)
        ok = torch.zeros(all_codes.numel(), dtype=torch.bool, device=sig.device)
        ok[inverse] = torch.cat(verdicts)
        kept = all_codes[ok]
        edges = torch.stack([kept // m, kept % m], 1).cpu().numpy().astype(np.int64)
        stats = {"candidate_pairs": int(all_codes.numel()), "verified_pairs": int(ok.sum())}
    else:
        edges, stats = np.zeros((0, 2), np.int64), {"candidate_pairs": 0, "verified_pairs": 0}
    return edges, stats
