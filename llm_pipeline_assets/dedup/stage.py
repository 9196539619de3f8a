"""Library function behind dedup_index (deduped_shards': ``dedup.filtering``).

``build_dedup_index`` streams every source's cleaned shards (sources in config order, rows in shard
order: that global order makes the survivor of each cluster deterministic — the first occurrence)
through ``DedupIndexBuilder`` and writes ``index.parquet``: one row per document with its source, id,
position in its source, ``keep``, why it was dropped and which document survived in its place.
``dedup.filtering.filter_source`` then keeps one source's survivors; ``count_exact_duplicates`` there re-derives
exact keys from the output so the blocking checks do not trust the index's own bookkeeping.

Hashing (exact keys + MinHash signatures) is the expensive part and is done per input shard as a resumable
work unit (``llm_pipeline_assets.work_units``): a rerun after a crash hashes only the shards not yet done.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from llm_pipeline_assets.dedup.components import cluster_size_histogram
from llm_pipeline_assets.dedup.index import DedupIndexBuilder, HashedDocs
from llm_pipeline_assets.dedup.lsh import s_curve
from llm_pipeline_assets.dedup.normalize import EXACT_KEY_DTYPE, count_repeated, exact_keys
from llm_pipeline_assets.dedup.params import DedupParams
from llm_pipeline_assets.shards import iter_batches, prefetch
from llm_pipeline_assets.work_units import WorkUnits, owned_scratch

INDEX_FILE = "index.parquet"
Logger = Callable[[str], None]


@dataclass
class DedupIndexStats:
    docs: int = 0
    kept: int = 0
    exact_removed: int = 0
    fuzzy_removed: int = 0
    cross_source_removed: int = 0
    candidate_pairs: int = 0
    verified_pairs: int = 0
    exact_dups_in_kept: int = 0
    bands: int = 0
    rows: int = 0
    seconds: float = 0.0
    units: int = 0  # input shards, each hashed as one resumable work unit
    resumed_units: int = 0  # of them, loaded from an interrupted run's work folder
    backend: str = "cpu"  # which dedup backend hashed and clustered (gpu/dedup_backend.py)
    cluster_sizes: dict = field(default_factory=dict)
    removed_by_source: Counter = field(default_factory=Counter)
    s_curve_markdown: str = ""


def params_from_config(cfg) -> DedupParams:
    return DedupParams(threshold=cfg.threshold, num_perm=cfg.num_perm, bands=cfg.bands, rows=cfg.rows,
                       ngram=cfg.ngram, seed=cfg.seed, verify=cfg.verify, exact=cfg.exact)


def s_curve_table(bands: int, rows: int, threshold: float) -> str:
    sims = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
    head = "| Jaccard | " + " | ".join(f"{s:.2f}" for s in sims) + " |"
    probs = "| P(candidate) | " + " | ".join(f"{s_curve(s, bands, rows):.3f}" for s in sims) + " |"
    note = f"\n\n{bands} bands x {rows} rows; candidates verified against threshold {threshold}."
    return "\n".join([head, "|---|" + "---:|" * len(sims), probs]) + note


def hash_unit(units: WorkUnits, tag: str, path: Path, builder: DedupIndexBuilder, batch_docs: int,
              parts: list[HashedDocs] | None = None) -> dict:
    """Hash one cleaned shard as work unit ``tag``: ``keys.npy``, ``signatures.u32`` (+ shingle sets). ``parts``: its
    hashes computed elsewhere (``dedup.parallel.ShardHashPool``), only written here."""
    scratch = units.scratch(tag)
    if parts is not None:
        return _commit_unit(units, tag, scratch, path, builder, parts)
    size = builder.hash_batch_docs(batch_docs)  # the CPU path's memory bound; a device takes whole batches
    columns = (batch.column(0) for batch in pq.ParquetFile(path).iter_batches(batch_size=size, columns=["text"]))
    # the Arrow column itself (no row dicts); the next batch is read and decoded while this one is hashed, and on a
    # device its host half is prepared too (gpu/textprep.arrow_bytes) while the device hashes this one
    if builder.signs_on_device:
        parts = [builder.hash_bytes(data, lengths) for data, lengths in prefetch(map(builder.backend.host_half, columns))]
    else:
        parts = [builder.hash_texts(column) for column in prefetch(columns)]
    return _commit_unit(units, tag, scratch, path, builder, parts)


def _commit_unit(units: WorkUnits, tag: str, scratch: Path, path: Path, builder: DedupIndexBuilder,
                 parts: list[HashedDocs]) -> dict:
    n = sum(len(p.keys) for p in parts)
    np.save(scratch / "keys.npy", np.concatenate([p.keys for p in parts]) if parts else
            np.zeros(0, EXACT_KEY_DTYPE))
    with open(scratch / "signatures.u32", "wb") as fh:
        for p in parts:
            fh.write(p.signatures.tobytes())
    if builder.params.verify == "jaccard":
        np.save(scratch / "set_sizes.npy", np.concatenate([p.set_sizes for p in parts]) if parts else
                np.zeros(0, np.int64))
        with open(scratch / "shingles.u64", "wb") as fh:
            for p in parts:
                fh.write(p.shingles.tobytes())
    return units.commit(tag, scratch, {"docs": n, "file": Path(path).name})


def load_unit(units: WorkUnits, marker: dict, params: DedupParams) -> HashedDocs:
    unit = units.unit_dir(marker["tag"])
    n = int(marker["stats"]["docs"])
    sig = np.fromfile(unit / "signatures.u32", dtype="<u4").reshape(n, params.num_perm)
    if params.verify != "jaccard":
        return HashedDocs(np.load(unit / "keys.npy"), sig)
    return HashedDocs(np.load(unit / "keys.npy"), sig, np.load(unit / "set_sizes.npy"),
                      np.fromfile(unit / "shingles.u64", dtype="<u8"))


def files_of(inputs) -> list[Path]:
    return [path for _, group in inputs for path in group]


def unit_tag(source: str, shard: int) -> str:
    """The work unit of ``source``'s ``shard``-th file (its name in the work folder)."""
    return f"{source}-{shard:05d}"


def _hash_pool(builder: DedupIndexBuilder, cfg, pending: int, shards: int, log: Logger):
    """A ``dedup.parallel.ShardHashPool`` of ``cfg.workers`` processes, or None (work in this process)."""
    workers = int(cfg.workers)
    if workers < 1 or shards == 0:
        return None
    from llm_pipeline_assets.dedup.parallel import ShardHashPool

    why = ShardHashPool.refusal(builder)
    if why:  # e.g. dedup.backend auto on a GPU machine with cuDF's MinHash
        log(f"{why}: dedup.workers {workers} is not used")
        return None
    pool = ShardHashPool(builder, workers, cfg.batch_docs)
    log(f"dedup_index: hashing {pending} of {shards} shards in {pool.engine}")
    return pool


def _next_parts(hashed, tag: str) -> list[HashedDocs]:
    got, parts = next(hashed, (None, None))
    if got != tag:  # the pool yields the pending shards in the order this loop visits them
        raise RuntimeError(f"dedup hashing pool returned shard {got} where {tag} was expected")
    return parts


def _add_shards(inputs, units: WorkUnits, builder: DedupIndexBuilder, cfg, log: Logger, hashed, todo: set):
    """Hash (or load) each shard's work unit and add it to ``builder``, in order: ``(source codes (index into
    inputs), ids, positions, resumed)``. ``todo``: the tags not done when the run began; ``hashed``: the pool's
    ``(tag, parts)`` of those, or None (hash here). Per document: 12 bytes of numpy and the id in Arrow (Python
    lists of ids, positions and source names cost ~175 bytes a document)."""
    params = builder.params
    codes, ids, positions, resumed, n = [], [], [], 0, 0
    for code, (name, files) in enumerate(inputs):
        pos = 0
        for j, path in enumerate(files):
            tag = unit_tag(name, j)
            if tag in todo:
                parts = _next_parts(hashed, tag) if hashed is not None else None
                marker = hash_unit(units, tag, path, builder, cfg.batch_docs, parts)
            else:  # done when the run began (hashed again here should it have gone since)
                marker = units.done(tag)
                resumed += marker is not None
                marker = marker or hash_unit(units, tag, path, builder, cfg.batch_docs)
            builder.add_hashed(load_unit(units, marker, params))
            column = pq.read_table(path, columns=["id"]).column("id").cast(pa.string())
            ids.extend(column.chunks)
            positions.append(np.arange(pos, pos + len(column), dtype=np.int64))
            codes.append(np.full(len(column), code, dtype=np.int32))
            pos, n = pos + len(column), n + len(column)
            if n != builder.n_docs:
                raise RuntimeError(f"dedup work unit {tag} holds {marker['stats']['docs']} documents, "
                                   f"{path} has a different number: remove {units.root} and rerun")
        log(f"dedup_index: hashed {name} ({pos} docs), {builder.n_docs} in total")
    return (np.concatenate(codes) if codes else np.zeros(0, np.int32), pa.chunked_array(ids, pa.string()),
            np.concatenate(positions) if positions else np.zeros(0, np.int64), resumed)


_TAKE_ROWS = 1 << 20


def _take(values, indices: np.ndarray) -> pa.ChunkedArray:
    """``values[indices]`` as a string column, 1M rows per chunk: one Arrow string array holds at most 2 GiB, which
    a whole corpus's ids (or n copies of a source name) pass; ``take`` on a chunked array would concatenate them."""
    wide = values.cast(pa.large_string())  # 64-bit offsets: one array can hold every id
    wide = wide.combine_chunks() if isinstance(wide, pa.ChunkedArray) else wide
    return pa.chunked_array([wide.take(pa.array(indices[i:i + _TAKE_ROWS])).cast(pa.string())
                             for i in range(0, len(indices), _TAKE_ROWS)], pa.string())


def build_dedup_index(inputs: Sequence[tuple[str, Sequence[Path]]], out_dir: Path, cfg,
                      log: Logger = print, work_dir: Path | None = None, backend=None) -> DedupIndexStats:
    """Hash every shard (one resumable work unit each, kept in ``work_dir`` when given), then dedup them all.

    ``cfg.workers`` > 0 hashes the shards in that many worker processes (``dedup.parallel``), in order.

    With ``work_dir`` (persistent, keyed by the inputs and the hashing parameters) the shards an interrupted
    run already hashed are loaded instead of hashed again; the index is the same either way.
    """
    start = time.perf_counter()
    params = params_from_config(cfg)
    # the builder's scratch (every signature) lives in the work folder when there is one: a killed run's is then
    # discarded with that folder; without one, a later build sweeps it from the temp folder (owned_scratch)
    with owned_scratch(work_dir if work_dir is not None else tempfile.gettempdir(),
                       ".builder" if work_dir is not None else "llm-dedup") as work:
        units = WorkUnits(work / "units" if work_dir is None else work_dir)
        units.remove_temps()
        builder = DedupIndexBuilder(work, params, backend=backend)
        todo = [(unit_tag(name, j), path) for name, files in inputs for j, path in enumerate(files)
                if units.done(unit_tag(name, j)) is None]
        pool = _hash_pool(builder, cfg, len(todo), len(files_of(inputs)), log)
        try:
            hashed = pool.hash_shards(todo) if pool is not None else None
            codes, ids, positions, resumed = _add_shards(inputs, units, builder, cfg, log, hashed,
                                                           {tag for tag, _ in todo})
            if resumed:
                log(f"dedup_index: {resumed} shards were already hashed in {units.root} (resumed)")
            result = builder.finish()
            # the blocking check's independent pass over the kept texts, in the same worker processes
            exact_dups_in_kept = _exact_dups_among_kept(inputs, result.keep, cfg.batch_docs,
                                                        pool.pool if pool is not None else None)
        finally:
            if pool is not None:
                pool.close()
    n = len(ids)
    # The document kept in each one's place: exact copies point at their first copy's fuzzy cluster.
    survivor = np.where(result.exact_dup_of >= 0, result.cluster[np.maximum(result.exact_dup_of, 0)], result.cluster)
    reason = np.where(result.keep, 0, np.where(result.exact_dup_of >= 0, 1, 2)).astype(np.int8)  # "", exact, fuzzy
    names = pa.array([name for name, _ in inputs], pa.string())
    table = pa.table({
        "source": _take(names, codes), "id": ids,
        "position": pa.array(positions, pa.int64()), "keep": pa.array(result.keep, pa.bool_()),
        "reason": _take(pa.array(["", "exact", "fuzzy"], pa.string()), reason),
        "cluster": pa.array(result.cluster, pa.int64()),
        "survivor_source": _take(names, codes[survivor]), "survivor_id": _take(ids, survivor),
    })
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    pq.write_table(table, Path(out_dir) / INDEX_FILE, compression="zstd")
    del table
    stats = DedupIndexStats(docs=n, kept=int(result.keep.sum()), bands=params.bands, rows=params.rows,
                            units=sum(len(files) for _, files in inputs), resumed_units=resumed,
                            backend=getattr(backend, "name", "cpu"))
    stats.exact_removed = int((reason == 1).sum())
    stats.fuzzy_removed = int((reason == 2).sum())
    removed = ~result.keep
    stats.cross_source_removed = int((removed & (codes != codes[survivor])).sum()) if n else 0
    per_source = np.bincount(codes[removed], minlength=len(inputs))
    stats.removed_by_source = Counter({inputs[c][0]: int(k) for c, k in enumerate(per_source) if k})
    stats.candidate_pairs = int(result.stats.get("candidate_pairs", 0))
    stats.verified_pairs = int(result.stats.get("verified_pairs", 0))
    stats.cluster_sizes = cluster_size_histogram(survivor) if n else {}
    stats.exact_dups_in_kept = exact_dups_in_kept
    stats.s_curve_markdown = s_curve_table(params.bands, params.rows, params.threshold)
    stats.seconds = time.perf_counter() - start
    log(f"dedup_index: {n} docs, {stats.exact_removed} exact and {stats.fuzzy_removed} near duplicates removed "
        f"in {stats.seconds:.1f}s")
    return stats


def kept_exact_keys(path: Path, keep: np.ndarray, batch_docs: int) -> np.ndarray:
    """Exact keys (``dedup.normalize.exact_keys``, from the texts) of one shard's documents where ``keep``."""
    parts, offset = [], 0
    for batch in iter_batches([path], batch_docs, columns=("text",)):
        mask = keep[offset:offset + len(batch)]
        offset += len(batch)
        parts.append(exact_keys([r["text"] for r, k in zip(batch, mask) if k]))
    return np.concatenate(parts) if parts else np.zeros(0, EXACT_KEY_DTYPE)


def _exact_dups_among_kept(inputs, keep: np.ndarray, batch_docs: int, pool=None) -> int:
    """Second, independent pass: exact keys of every kept document must be unique. ``pool``: a process pool
    (``dedup.workers``) that computes each shard's keys."""
    files = files_of(inputs)
    bounds = np.cumsum([0] + [pq.ParquetFile(path).metadata.num_rows for path in files])
    masks = [keep[bounds[i]:bounds[i + 1]] for i in range(len(files))]
    mapper = pool.map if pool is not None else map
    parts = list(mapper(kept_exact_keys, files, masks, [batch_docs] * len(files)))
    return count_repeated(np.concatenate(parts) if parts else np.zeros(0, EXACT_KEY_DTYPE))
