"""Packing: no token lost, layouts consistent, BFD optimal-ish and fast, deterministic, helpers."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_pipeline_assets.tokens.layout import bfd_assign, document_pieces
from llm_pipeline_assets.tokens.packing import (document_mask, pack_curriculum, pack_stream, packed_files,
                                                position_ids, segment_ids)

from .helpers import EOS, check_packing, load_plain, naive_bfd, random_lengths, write_stream

SEQ_LENS = (16, 64, 256)


@pytest.fixture(scope="module")
def stream_prefix(tmp_path_factory) -> Path:
    prefix = tmp_path_factory.mktemp("stream") / "corpus"
    lengths = random_lengths(np.random.default_rng(0), 400, max(SEQ_LENS))
    assert (lengths == 1).any() and (lengths > max(SEQ_LENS)).any()
    write_stream(prefix, lengths)
    return prefix


@pytest.mark.parametrize("strategy", ["bfd", "concat"])
@pytest.mark.parametrize("seq_len", SEQ_LENS)
def test_every_token_once_in_order(stream_prefix, tmp_path, strategy, seq_len):
    index = pack_stream(stream_prefix, seq_len, tmp_path / "p", pad_id=EOS, strategy=strategy)
    assert index["strategy"] == strategy and index["truncated_tokens"] == 0
    assert index["split_documents"] > 0
    check_packing(stream_prefix, tmp_path / "p", index)


def test_pad_id_distinct_from_eos(stream_prefix, tmp_path):
    index = pack_stream(stream_prefix, 64, tmp_path / "p", pad_id=999)
    check_packing(stream_prefix, tmp_path / "p", index)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths=st.lists(st.integers(1, 90), max_size=40), seq_len=st.integers(1, 40),
       strategy=st.sampled_from(["bfd", "concat"]))
def test_pack_property(lengths, seq_len, strategy):
    with tempfile.TemporaryDirectory() as tmp:
        write_stream(Path(tmp) / "s", lengths, batches=2)
        index = pack_stream(Path(tmp) / "s", seq_len, Path(tmp) / "p", pad_id=EOS, strategy=strategy)
        check_packing(Path(tmp) / "s", Path(tmp) / "p", index)


@pytest.mark.parametrize("seed", range(4))
def test_bfd_matches_naive_reference(seed):
    rng = np.random.default_rng(seed)
    capacity = int(rng.integers(8, 64))
    sizes = rng.integers(1, capacity + 1, size=300)
    bins, starts, n_bins = bfd_assign(sizes, capacity)
    ref_bins, ref_starts, ref_n = naive_bfd(sizes, capacity)
    assert n_bins == ref_n
    np.testing.assert_array_equal(bins, ref_bins)
    np.testing.assert_array_equal(starts, ref_starts)


def test_bfd_is_fast_on_many_pieces():
    sizes = np.random.default_rng(0).integers(1, 2049, size=300_000)
    t0 = time.perf_counter()
    bins, _, n_bins = bfd_assign(sizes, 2048)
    assert time.perf_counter() - t0 < 15  # ~0.15 s here; an O(pieces x bins) scan would take hours
    assert np.bincount(bins, weights=sizes, minlength=n_bins).max() <= 2048


def test_bfd_rejects_bad_sizes():
    with pytest.raises(ValueError):
        bfd_assign([3, 0], 8)
    with pytest.raises(ValueError):
        bfd_assign([9], 8)


def test_document_pieces_cut_long_documents():
    doc, offset, length = document_pieces(np.array([5, 0, 12, 4]), 4)
    assert doc.tolist() == [0, 0, 2, 2, 2, 3]
    assert offset.tolist() == [0, 4, 0, 4, 8, 0]
    assert length.tolist() == [4, 1, 4, 4, 4, 4]


def test_bfd_padding_small_on_realistic_lengths(tmp_path):
    seq_len = 512
    lengths = np.maximum(1, np.random.default_rng(3).lognormal(np.log(seq_len / 3), 0.8, 3000).astype(np.int64))
    write_stream(tmp_path / "s", lengths)
    bfd = pack_stream(tmp_path / "s", seq_len, tmp_path / "bfd", pad_id=EOS, strategy="bfd")
    concat = pack_stream(tmp_path / "s", seq_len, tmp_path / "concat", pad_id=EOS, strategy="concat")
    assert bfd["padding_fraction"] < 0.02
    assert bfd["n_sequences"] >= concat["n_sequences"] == -(-bfd["tokens"] // seq_len)
    assert bfd["split_documents"] == bfd["long_documents"] < concat["split_documents"]


@pytest.mark.parametrize("strategy", ["bfd", "concat"])
def test_deterministic_byte_identical(stream_prefix, tmp_path, strategy):
    for run in ("a", "b"):
        pack_stream(stream_prefix, 64, tmp_path / run / "p", pad_id=EOS, strategy=strategy)
    other = packed_files(tmp_path / "b" / "p")
    for key, path in packed_files(tmp_path / "a" / "p").items():
        assert path.read_bytes() == other[key].read_bytes(), key
    assert not list((tmp_path / "a").glob("*.partial"))


def test_curriculum_packs_every_length(stream_prefix, tmp_path):
    out = pack_curriculum(stream_prefix, [64, 16, 64, 32], tmp_path, pad_id=EOS)
    assert sorted(out) == [16, 32, 64]
    for seq_len, index in out.items():
        assert index["seq_len"] == seq_len and index["truncated_tokens"] == 0
        check_packing(stream_prefix, tmp_path / f"packed-{seq_len}", index)


def test_uint32_stream_packs(tmp_path):
    from llm_pipeline_assets.tokens.stream import TokenStreamWriter

    with TokenStreamWriter(tmp_path / "s", 100_000, eos_id=0) as writer:
        writer.add([[99_999, 70_000, 0], [5, 0], [1, 2, 3, 4, 5, 0]])
    index = pack_stream(tmp_path / "s", 4, tmp_path / "p", pad_id=99_999)
    assert index["dtype"] == "uint32"
    check_packing(tmp_path / "s", tmp_path / "p", index)


def test_empty_stream_packs_to_nothing(tmp_path):
    write_stream(tmp_path / "s", [])
    for strategy in ("bfd", "concat"):
        index = pack_stream(tmp_path / "s", 8, tmp_path / strategy, pad_id=EOS, strategy=strategy)
        assert index["n_sequences"] == 0 and index["padding_fraction"] == 0.0
        _, tokens, segments = load_plain(tmp_path / strategy)
        assert tokens.shape == (0, 8) and segments.shape == (0, 4)


def test_rejects_bad_arguments(stream_prefix, tmp_path):
    with pytest.raises(ValueError, match="strategy"):
        pack_stream(stream_prefix, 16, tmp_path / "p", pad_id=0, strategy="greedy")
    with pytest.raises(ValueError, match="seq_len"):
        pack_stream(stream_prefix, 0, tmp_path / "p", pad_id=0)
    with pytest.raises(ValueError, match="pad_id"):
        pack_stream(stream_prefix, 16, tmp_path / "p", pad_id=65_536)


def test_position_segment_ids_and_mask():
    segs = np.array([[3, 0, 3, 10], [3, 3, 2, 4], [3, 5, 1, 7]])
    assert segment_ids(segs, 8).tolist() == [0, 0, 0, 1, 1, 2, -1, -1]
    assert position_ids(segs, 8).tolist() == [0, 1, 2, 0, 1, 0, 0, 1]
    assert position_ids(segs[:0], 3).tolist() == [0, 1, 2]
    mask = document_mask(segs, 8)
    seg = segment_ids(segs, 8)
    brute = np.array([[j <= i and seg[i] == seg[j] for j in range(8)] for i in range(8)])
    np.testing.assert_array_equal(mask, brute)
    assert mask.diagonal().all()  # no query row is fully masked
