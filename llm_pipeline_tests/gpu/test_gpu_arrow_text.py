"""Dedup text straight from Arrow columns (a shard's ``text`` as read): the same bytes, keys and signatures as
from Python strings, on the CPU path and on the device path, without a Python string per ASCII document."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llm_pipeline_assets.dedup import DedupIndexBuilder, DedupParams
from llm_pipeline_assets.dedup.stage import hash_unit, load_unit
from llm_pipeline_assets.gpu import dedup_backend as db
from llm_pipeline_assets.gpu.textprep import arrow_bytes, host_bytes, prepare_texts, text_passes
from llm_pipeline_assets.work_units import WorkUnits
from llm_pipeline_tests.gpu.helpers import (CASE_FOLDING, ascii_mess, cuda_only, one_torch_thread,  # noqa: F401
                                            shared_corpus, unicode_mess)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CORPORA = {"shared": shared_corpus, "ascii": lambda: ascii_mess(120), "unicode": lambda: unicode_mess(120),
           "folding": lambda: CASE_FOLDING["mixed-case"], "empty": lambda: ["", "", ""],
           "mixed": lambda: ascii_mess(40) + unicode_mess(40) + ["", "ABC"] + ascii_mess(10, seed=7)}


def _same(got, want):
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert got[0].dtype == np.uint8 and got[1].dtype == np.int64


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("name", sorted(CORPORA))
def test_arrow_bytes_equal_host_bytes(name, kind):
    texts = CORPORA[name]()
    _same(arrow_bytes(pa.array(texts, kind)), host_bytes(texts))


def test_slices_and_chunked_columns():
    texts = unicode_mess(30) + ascii_mess(30) + unicode_mess(30, seed=5)
    column = pa.array(texts)
    for a, b in [(0, 0), (5, 6), (17, 71), (31, 90), (89, 90)]:  # slices keep an offset into the shared buffers
        _same(arrow_bytes(column.slice(a, b - a)), host_bytes(texts[a:b]))
    chunked = pa.chunked_array([pa.array(texts[:40]), pa.array(texts[40:41]), pa.array([], pa.string()),
                               pa.array(texts[41:])])
    _same(arrow_bytes(chunked), host_bytes(texts))  # chunk by chunk (a string column's chunks may not fit one)
    _same(arrow_bytes(pa.chunked_array([], pa.string())), host_bytes([]))


def test_ascii_documents_come_straight_from_the_column_buffer():
    texts = ascii_mess(50)
    column = pa.array(texts)
    data, _ = arrow_bytes(column)
    # no copy: the bytes are the column's own data buffer (only non-ASCII documents are rebuilt)
    assert data.ctypes.data == column.buffers()[2].address
    mixed = pa.array(texts + ["Ünïcode"])
    data, _ = arrow_bytes(mixed)
    assert data.ctypes.data != mixed.buffers()[2].address  # rebuilt around the folded document
    assert bytes(data[-len("ünïcode".encode()):]) == "ünïcode".encode()


def test_bad_columns_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ValueError, match="1 null value"):
        arrow_bytes(pa.array(["a", None, "b"]))
    with pytest.raises(TypeError, match="int64"):
        arrow_bytes(pa.array([1, 2]))
    with pytest.raises(ValueError, match="null value"):  # the CPU path refuses nulls the same way
        DedupIndexBuilder(tmp_path, DedupParams()).hash_texts(pa.array(["a", None]))
    with pytest.raises(ValueError, match="2 null value"):
        text_passes(pa.array([None, "a", None]))
    with pytest.raises(RuntimeError, match="prepares text on its device"):  # the CPU builder has no device half
        DedupIndexBuilder(tmp_path / "cpu", DedupParams()).hash_bytes(*host_bytes(["a b c"]))


def test_passes_of_an_arrow_column_count_its_utf8_bytes():
    texts = ["é" * 10, "a" * 10, "b" * 30]  # 20, 10 and 30 bytes
    assert text_passes(pa.array(texts), max_chars=25) == [(0, 1), (1, 2), (2, 3)]
    assert text_passes(texts, max_chars=25) == [(0, 2), (2, 3)]  # str: 10, 10 and 30 characters
    column = pa.array(unicode_mess(60) + ascii_mess(60))
    whole, split = prepare_texts(column, "cpu"), prepare_texts(column, "cpu", max_chars=3000)
    for got, want in zip(split, whole):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("verify", ["signature", "jaccard"])
@pytest.mark.parametrize("backend", ["cpu", "torch-text"])
def test_hash_texts_of_a_column_equals_hash_texts_of_its_strings(tmp_path, backend, verify):
    texts = shared_corpus() + unicode_mess(40) + ascii_mess(40)
    make = (lambda: None) if backend == "cpu" else (lambda: db.TorchDedupBackend("cpu", text_on_device=True))
    params = DedupParams(verify=verify)
    got = DedupIndexBuilder(tmp_path / "a", params, backend=make()).hash_texts(pa.array(texts))
    want = DedupIndexBuilder(tmp_path / "b", params, backend=make()).hash_texts(texts)
    reference = DedupIndexBuilder(tmp_path / "c", params).hash_texts(texts)  # the numpy path on str
    for field in ("keys", "signatures", "set_sizes", "shingles"):
        assert np.array_equal(getattr(got, field), getattr(want, field)), field
        assert np.array_equal(getattr(got, field), getattr(reference, field)), field


def test_the_pipeline_hashes_a_shard_from_its_arrow_column(tmp_path):
    """``hash_unit`` (the dedup_index asset's per-shard work unit) through the device text path."""
    texts = shared_corpus() + unicode_mess(30)
    shard = tmp_path / "part-00000.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), shard, row_group_size=17)
    params = DedupParams(batch_size=8)  # the CPU path's cap on documents per hash_texts call
    units = WorkUnits(tmp_path / "units")
    backend = db.TorchDedupBackend("cpu", text_on_device=True)
    calls, threads = [], set()
    host_half = backend.host_half

    def spy(column):
        calls.append(len(column))
        threads.add(threading.current_thread().name)
        return host_half(column)

    backend.host_half = spy
    builder = DedupIndexBuilder(tmp_path / "gpu", params, backend=backend)
    marker = hash_unit(units, "shard-0", shard, builder, batch_docs=23)
    hashed = load_unit(units, marker, params)
    want = DedupIndexBuilder(tmp_path / "cpu", params).hash_texts(texts)
    assert marker["stats"]["docs"] == len(texts)
    assert np.array_equal(hashed.keys, want.keys) and np.array_equal(hashed.signatures, want.signatures)
    # the device takes whole batches of batch_docs (its per-call costs are fixed); the CPU path keeps its cap
    assert calls[:-1] == [23] * (len(calls) - 1) and sum(calls) == len(texts)
    assert threads == {"prefetch"}  # each batch's host half is prepared ahead, off the thread driving the device
    assert builder.hash_batch_docs(23) == 23 and DedupIndexBuilder(tmp_path / "c2", params).hash_batch_docs(23) == 8


@pytest.mark.parametrize("backend", ["cpu", "torch-text"])
def test_run_dedup_from_a_column_and_from_parquet_batches(tmp_path, backend):
    """``run_dedup`` (the dedup bench's driver) on the same documents as ``str``s, as an Arrow column and as Parquet
    row groups read where they are prepared (this process or worker processes): one result."""
    from llm_pipeline_assets.gpu.dedup_run import parquet_batches, run_dedup

    texts = shared_corpus() + unicode_mess(40) + ascii_mess(40)
    path = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=13)
    params = DedupParams()
    make = db.CpuDedupBackend if backend == "cpu" else (lambda: db.TorchDedupBackend("cpu", text_on_device=True))
    want, _ = run_dedup(texts, params, make(), batch_size=29)
    batches = parquet_batches([path], docs=29)
    assert [len(b.row_groups) for b in batches][:3] == [3, 3, 3]  # 13-row groups, >= 29 documents a batch
    assert sum(len(b.column()) for b in batches) == len(texts)
    runs = {"column": run_dedup(pa.array(texts), params, make(), batch_size=29),
            "column-workers": run_dedup(pa.chunked_array([pa.array(texts)]), params, make(), workers=2, batch_size=29),
            "parquet": run_dedup(iter(batches), params, make()),
            "parquet-workers": run_dedup(batches, params, make(), workers=2)}
    for name, (got, timings) in runs.items():
        for field in ("exact_dup_of", "cluster", "keep"):
            assert np.array_equal(getattr(got, field), getattr(want, field)), (name, field)
        assert timings["prepare"] > 0, name


def test_a_large_row_group_reaches_the_device_in_bounded_passes(tmp_path, monkeypatch):
    """A ``ParquetBatch`` is whole row groups (pyarrow's default: ~1M rows): the device half still takes it
    ``MAX_CHARS_PER_PASS`` bytes at a time, with the same result."""
    from llm_pipeline_assets.gpu import textprep
    from llm_pipeline_assets.gpu.dedup_run import parquet_batches, run_dedup

    texts = shared_corpus() + unicode_mess(40)
    path = tmp_path / "one-group.parquet"
    pq.write_table(pa.table({"text": texts}), path)  # a single row group
    params = DedupParams()
    want, _ = run_dedup(texts, params)
    monkeypatch.setattr(textprep, "MAX_CHARS_PER_PASS", 5000)
    backend = db.TorchDedupBackend("cpu", text_on_device=True)
    sizes = []
    prepare = backend.prepare_signatures
    backend.prepare_signatures = lambda data, lengths, hasher: sizes.append(len(data)) or prepare(data, lengths, hasher)
    got, _ = run_dedup(parquet_batches([path], docs=10 ** 6), params, backend)
    assert len(sizes) > 3 and max(sizes) <= max(5000, max(len(t.encode()) for t in texts))
    for field in ("exact_dup_of", "cluster", "keep"):
        assert np.array_equal(getattr(got, field), getattr(want, field)), field


@cuda_only
def test_cuda_signs_an_arrow_column_like_the_cpu_path(tmp_path):
    """On CUDA: the pinned text copy + event, the MinHash queued before the exact keys, from an Arrow column."""
    import torch

    texts = shared_corpus() + unicode_mess(200) + ascii_mess(200)
    want = DedupIndexBuilder(tmp_path / "cpu", DedupParams()).hash_texts(texts)
    devices = ["cuda:0"] + (["cuda:1"] if torch.cuda.device_count() > 1 else [])
    for device in devices:  # a non-default device has its own stream: the event must follow the copy there
        backend = db.TorchDedupBackend(device)
        assert backend.prepares_text
        keys, signatures = backend.sign_texts(pa.chunked_array([pa.array(texts[:100]), pa.array(texts[100:])]),
                                              DedupIndexBuilder(tmp_path / device, DedupParams()).hasher)
        assert np.array_equal(keys, want.keys) and np.array_equal(signatures, want.signatures), device
