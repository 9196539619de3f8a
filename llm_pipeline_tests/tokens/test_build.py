"""build_tokenizer (the tokenizer asset's library function) on shards of several sources."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
from transformers import AutoTokenizer

from llm_pipeline_assets.config import TokenizerConfig
from llm_pipeline_assets.tokens.build import build_tokenizer, iter_split_texts
from llm_pipeline_assets.tokens.tokenizer import bytes_per_token

ENGLISH = "the of and to in is that for it with as was on be at by this from have they".split()
CJK = list("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可里后小么心")


def _shards(tmp_path, per_source=(300, 300)):
    """Two sources in config order: English words, then CJK text (no spaces)."""
    rng = random.Random(0)
    tmp_path.mkdir(parents=True, exist_ok=True)
    files = []
    for (name, words, sep), n in zip((("a", ENGLISH, " "), ("b", CJK, "")), per_source):
        texts = [sep.join(rng.choice(words) for _ in range(80)) for _ in range(n)]
        path = tmp_path / f"{name}-part-00000.parquet"
        pq.write_table(pa.table({"id": [f"{name}{i}" for i in range(n)], "text": texts}), path)
        files.append(path)
    return files


def test_a_capped_training_sample_and_the_checks_span_every_source(tmp_path):
    """tokenizer.train_docs took the first documents read: every one from the first source, so the second (here
    CJK) got no merges and was encoded byte by byte (1.00 bytes/token); the check documents were the first ones
    too."""
    files = _shards(tmp_path)
    cfg = TokenizerConfig(vocab_size=1200, train_docs=250, check_docs=40)
    stats = build_tokenizer(files, tmp_path / "tok", cfg, 0.1, 42, 128, log=lambda m: None)
    assert 200 <= stats.train_docs <= 250
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tok"), local_files_only=True)
    held_out_cjk = list(iter_split_texts(files[1:], "val", 0.1, 42))
    assert bytes_per_token(tok, held_out_cjk) > 2.0  # CJK characters (3 bytes each) are whole tokens, at least
    # sources of unequal size: each gives its share (the last one too), whatever the config order
    uneven = _shards(tmp_path / "uneven", per_source=(900, 100))
    for wanted in (250, 40):
        sampled = list(iter_split_texts(uneven, "train", 0.1, 42, wanted=wanted))
        cjk = sum(" " not in t for t in sampled)
        assert wanted * 0.8 <= len(sampled) <= wanted and 0.05 <= cjk / len(sampled) <= 0.15, (wanted, cjk)
    assert stats.held_out_docs > 0 and stats.roundtrip_checked > 40 and not stats.roundtrip_failures
