"""Token stream: dtype choice, round trip through plain numpy, validation, crash safety."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from llm_pipeline_assets.tokens.stream import TokenStream, TokenStreamWriter, stream_files, token_dtype

from .helpers import EOS, random_lengths, write_stream


@pytest.mark.parametrize("vocab,expected", [(1, np.uint16), (50_257, np.uint16), (65_536, np.uint16),
                                            (65_537, np.uint32), (151_936, np.uint32), (2**32, np.uint32)])
def test_token_dtype(vocab, expected):
    assert token_dtype(vocab) == np.dtype(expected)


@pytest.mark.parametrize("vocab", [0, -5, 2**32 + 1])
def test_token_dtype_rejects(vocab):
    with pytest.raises(ValueError):
        token_dtype(vocab)


def test_round_trip(tmp_path):
    lengths = random_lengths(np.random.default_rng(1), 200, 64)
    docs = write_stream(tmp_path / "s", lengths, batches=4)
    stream = TokenStream(tmp_path / "s")
    assert len(stream) == len(docs) == stream.index["documents"]
    assert stream.offsets.dtype == np.int64 and stream.offsets[0] == 0 and stream.offsets.size == len(docs) + 1
    assert isinstance(stream.tokens, np.memmap) and stream.tokens.dtype == np.uint16
    np.testing.assert_array_equal(stream.lengths, lengths)
    for i in (0, 7, len(docs) - 1, -1):
        np.testing.assert_array_equal(stream.doc(i), docs[i])
    with pytest.raises(IndexError):
        stream.doc(len(docs))
    # plain numpy with the JSON index, no package code
    index = json.loads((tmp_path / "s.json").read_text())
    flat = np.memmap(tmp_path / index["bin"], dtype=index["dtype"], mode="r")
    offsets = np.load(tmp_path / index["offsets"])
    np.testing.assert_array_equal(flat, np.concatenate(docs))
    assert offsets[-1] == index["tokens"] == flat.size
    assert all(flat[o - 1] == EOS for o in offsets[1:])
    clone = pickle.loads(pickle.dumps(stream))
    np.testing.assert_array_equal(clone.doc(3), docs[3])


def test_close_returns_counts_and_accepts_lists(tmp_path):
    writer = TokenStreamWriter(tmp_path / "s", 100)
    writer.add([[5, 6, EOS], np.array([EOS], dtype=np.uint64)])
    writer.add([np.array([99, EOS], dtype=np.int32)])
    writer.add([])
    assert writer.close() == {"documents": 3, "tokens": 6}
    assert writer.close() == {"documents": 3, "tokens": 6}  # idempotent
    np.testing.assert_array_equal(TokenStream(tmp_path / "s").tokens, [5, 6, 0, 0, 99, 0])
    with pytest.raises(ValueError, match="closed"):
        writer.add([[1, EOS]])


def test_uint32_stream(tmp_path):
    with TokenStreamWriter(tmp_path / "s", 200_000) as writer:
        writer.add([[70_000, 199_999, 0], [65_536, 0]])
    stream = TokenStream(tmp_path / "s")
    assert stream.tokens.dtype == np.uint32
    np.testing.assert_array_equal(stream.doc(1), [65_536, 0])


@pytest.mark.parametrize("bad", [1000, 65_536, -1])
def test_out_of_range_id_is_named(tmp_path, bad):
    writer = TokenStreamWriter(tmp_path / "s", 1000)
    writer.add([[1, 2, 0]])
    with pytest.raises(ValueError, match=rf"token id {bad} in document 2 "):
        writer.add([[3, 0], [4, bad, 0]])
    assert writer.documents == 1  # the failing batch wrote nothing


def test_rejects_empty_document_missing_eos_and_floats(tmp_path):
    writer = TokenStreamWriter(tmp_path / "s", 1000, eos_id=EOS)
    with pytest.raises(ValueError, match="document 1 is empty"):
        writer.add([[1, EOS], []])
    with pytest.raises(ValueError, match="document 1 ends with 7, not EOS 0"):
        writer.add([[1, EOS], [3, 7]])
    with pytest.raises(ValueError, match="integers"):
        writer.add([np.array([1.0, 0.0])])
    with pytest.raises(ValueError, match="1-D"):
        writer.add([np.zeros((2, 2), dtype=np.int64)])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        TokenStreamWriter(tmp_path / "t", 10, eos_id=10)


def test_failed_with_block_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with TokenStreamWriter(tmp_path / "s", 1000) as writer:
            writer.add([[1, 2, 0]])
            raise RuntimeError("tokenizer crashed")
    assert list(tmp_path.iterdir()) == []
    assert not any(p.exists() for p in stream_files(tmp_path / "s").values())


def test_empty_stream(tmp_path):
    with TokenStreamWriter(tmp_path / "s", 1000):
        pass
    stream = TokenStream(tmp_path / "s")
    assert len(stream) == 0 and stream.tokens.size == 0 and list(stream.offsets) == [0]


def test_truncated_bin_is_detected(tmp_path):
    write_stream(tmp_path / "s", [3, 4, 5])
    with open(tmp_path / "s.bin", "r+b") as fh:
        fh.truncate(10)
    with pytest.raises(ValueError, match="expected 12 tokens"):
        TokenStream(tmp_path / "s")
