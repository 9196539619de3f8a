"""Dedup text preparation on a torch device: XXH3-64 of words, normalization and exact keys, bit for bit.

The reference is the CPU path itself (``normalized_words`` + ``xxhash`` + ``exact_key_from_normalized``);
torch on CPU runs the same kernels as CUDA, and the CUDA tests repeat the comparison on the GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import xxhash

from llm_pipeline_assets.dedup import DedupIndexBuilder, DedupParams, fuzzy_dedup_result
from llm_pipeline_assets.dedup.minhash import MinHasher
from llm_pipeline_assets.dedup.normalize import _PUNCT_RE, exact_key_from_normalized, exact_keys_from_digests, normalized_words
from llm_pipeline_assets.gpu import dedup_backend as db
from llm_pipeline_assets.gpu.dedup_run import run_dedup
from llm_pipeline_assets.gpu.textprep import MAX_DEVICE_WORD, _word_bytes, prepare_texts, word_char_table, xxh3_64_words
from llm_pipeline_tests.gpu.helpers import (CASE_FOLDING, ascii_mess, cuda_only, one_torch_thread,  # noqa: F401
                                            shared_corpus, unicode_mess)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cpu_reference(texts, ngram: int = 3):
    words = [normalized_words(t) for t in texts]
    keys = exact_keys_from_digests([exact_key_from_normalized(" ".join(w)) for w in words], len(words))
    shingles, counts = MinHasher(ngram=ngram).shingles_from_words(words)
    return keys, shingles, counts


def _random_words(device: str, n: int = 5000):
    import torch

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, MAX_DEVICE_WORD + 1, size=n)
    data = rng.integers(0, 256, size=int(lengths.sum()) + 8, dtype=np.uint8)  # every byte value, not only text
    starts = np.concatenate([[0], np.cumsum(lengths[:-1])])
    got = xxh3_64_words(torch.from_numpy(data).to(device), torch.from_numpy(starts).to(device),
                        torch.from_numpy(lengths).to(device)).cpu().numpy().view(np.uint64)
    want = np.array([xxhash.xxh3_64_intdigest(data[s:s + k].tobytes()) for s, k in zip(starts, lengths)],
                    dtype=np.uint64)
    return lengths, got, want


def test_xxh3_of_every_short_length_matches_xxhash():
    lengths, got, want = _random_words("cpu")
    for k in range(1, MAX_DEVICE_WORD + 1):  # each of XXH3's 1-3, 4-8 and 9-16 byte branches
        assert np.array_equal(got[lengths == k], want[lengths == k]), k


def test_words_are_the_runs_of_alphanumeric_characters_for_every_code_point():
    """The rule the device applies, against the CPU path's regex + split, for every Unicode character."""
    table = word_char_table()
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:  # lone surrogates cannot be encoded: both paths raise
            continue
        lowered = f"a{chr(c)}b".lower()
        runs, cur = [], ""
        for ch in lowered:
            if ch.isalnum():
                cur += ch
            elif cur:
                runs.append(cur)
                cur = ""
        runs += [cur] if cur else []
        assert _PUNCT_RE.sub(" ", lowered).split() == runs, hex(c)
        # the device table against the CPU rule itself: a word character is neither punctuation/symbol/_ nor space
        assert table[c] == (_PUNCT_RE.search(chr(c)) is None and not chr(c).isspace())


def test_every_byte_of_every_code_point_gets_its_characters_class():
    """``_word_bytes`` over the UTF-8 of every encodable character (1-4 bytes each): each byte, lead or
    continuation, is a word byte exactly when its character is in the table."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    encoded = [c.encode() for c in chars]
    want = np.repeat(word_char_table()[[ord(c) for c in chars]], [len(e) for e in encoded]).astype(bool)
    import torch

    got = _word_bytes(torch.from_numpy(np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()),
                      torch.from_numpy(word_char_table())).numpy()
    assert got.shape == want.shape and np.array_equal(got, want)


@pytest.mark.parametrize("name", ["shared", "ascii-mess", "unicode-mess", "single", "empty-docs", "all-empty",
                                  "mixed-case"])
@pytest.mark.parametrize("ngram", [3, 1, 5])
def test_prepared_texts_equal_the_cpu_path(name, ngram):
    texts = {"shared": shared_corpus(), "ascii-mess": ascii_mess(200), "unicode-mess": unicode_mess(150),
             "single": ["Hello,   WORLD!"], "empty-docs": ["", "!!!", "", "a b"], "all-empty": ["", " ", "?"],
             **CASE_FOLDING}[name]
    for got, want in zip(prepare_texts(texts, "cpu", ngram), _cpu_reference(texts, ngram)):
        assert np.array_equal(got, want)


def test_large_batches_are_taken_in_passes_with_the_same_result():
    texts = ascii_mess(80) + unicode_mess(80) + ["z" * 5000]  # one document longer than a pass
    whole = prepare_texts(texts, "cpu")
    split = prepare_texts(texts, "cpu", max_chars=2000)
    for got, want in zip(split, whole):
        assert np.array_equal(got, want)
    assert len(split[0]) == len(texts)


def test_no_texts():
    keys, hashes, counts = prepare_texts([], "cpu")
    assert len(keys) == len(hashes) == len(counts) == 0


def test_backend_prepares_on_device_with_identical_dedup(tmp_path):
    texts = shared_corpus() + ascii_mess(60) + unicode_mess(60)
    params = DedupParams()
    want = fuzzy_dedup_result(texts, params)
    backend = db.TorchDedupBackend("cpu", text_on_device=True)
    assert backend.prepares_text and backend.describe()["text"] == "device"
    got, timings = run_dedup(texts, params, backend, workers=2, batch_size=41)  # workers do the host half
    for field in ("exact_dup_of", "cluster", "keep"):
        assert np.array_equal(getattr(got, field), getattr(want, field)), field
    assert timings["prepare"] > timings["prepare_host"] > 0  # the host half is part of the preparation
    alone, _ = run_dedup(texts, params, backend, workers=0, batch_size=41)  # host half in this process
    assert np.array_equal(alone.keep, got.keep) and np.array_equal(alone.cluster, got.cluster)
    builder = DedupIndexBuilder(tmp_path / "gpu", DedupParams(verify="jaccard"), backend=backend)
    builder.add_batch(texts)
    reference = DedupIndexBuilder(tmp_path / "cpu", DedupParams(verify="jaccard"))
    reference.add_batch(texts)
    assert np.array_equal(builder.signatures(), reference.signatures())
    assert np.array_equal(builder.finish().keep, reference.finish().keep)
    # without Jaccard sets the shingles never leave the device: text preparation + MinHash in one go
    fused = db.TorchDedupBackend("cpu", text_on_device=True, fused_minhash=True)  # the CUDA default, eager here
    builder = DedupIndexBuilder(tmp_path / "fused", params, backend=fused)
    builder.add_batch(texts)
    reference = DedupIndexBuilder(tmp_path / "cpu-default", params)
    reference.add_batch(texts)
    assert np.array_equal(builder.signatures(), reference.signatures())
    assert np.array_equal(builder.finish().cluster, want.cluster)
    assert fused.describe()["minhash"] == "fused"
    assert not db.TorchDedupBackend("cpu").prepares_text  # off by default off CUDA
    assert not db.TorchDedupBackend("cuda", signature_engine="cudf").prepares_text  # cuDF needs word lists


@cuda_only
def test_cuda_text_preparation_is_bit_identical():
    lengths, got, want = _random_words("cuda", 20000)
    assert np.array_equal(got, want)
    texts = shared_corpus() + ascii_mess(300) + unicode_mess(300)
    for got, want in zip(prepare_texts(texts, "cuda"), _cpu_reference(texts)):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("texts", [ascii_mess(50) + unicode_mess(50), [], ["", " ", "?"]], ids=["mess", "none", "empty"])
def test_deferred_exact_keys_and_queued_signatures_equal_the_direct_ones(texts):
    """``prepare_signatures`` queues the MinHash before hashing the exact keys on the host (they overlap on CUDA):
    the keys from the deferred function, and the signatures read after them, are the direct path's."""
    import torch

    from llm_pipeline_assets.gpu.textprep import host_bytes, prepare_bytes

    data, lengths = host_bytes(texts)
    keys, shingles, counts = prepare_bytes(data, lengths, "cpu")
    exact_keys, on_device, counts2 = prepare_bytes(data, lengths, "cpu", shingles_on_device=True, defer_keys=True)
    assert callable(exact_keys) and isinstance(on_device, torch.Tensor)
    assert np.array_equal(exact_keys(), keys) and np.array_equal(counts2, counts)
    assert np.array_equal(on_device.numpy().view(np.uint64), shingles)
    backend = db.TorchDedupBackend("cpu", text_on_device=True)
    hasher = MinHasher()
    got_keys, got_counts, sig = backend.prepare_signatures(data, lengths, hasher)
    assert np.array_equal(got_keys, keys) and np.array_equal(got_counts, counts)
    assert sig.dtype == np.uint32 and np.array_equal(sig, backend.signatures(shingles, counts, hasher))
