"""End-to-end: deduped shards -> tokenizer -> packed_tokens through Dagster, read back with numpy alone."""

import json

import dagster as dg
import numpy as np
import pyarrow.parquet as pq
import pytest
from transformers import AutoTokenizer

from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.materialize import run
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.shards import iter_batches, shard_files
from llm_pipeline_assets.tokens.dataset import PackedSequences, split_of
from llm_pipeline_tests.conftest import small_config


def _event(results, asset):
    for r in results:
        for e in r.get_asset_materialization_events():
            if e.materialization.asset_key.to_user_string() == asset:
                return e.materialization
    raise KeyError(asset)


@pytest.fixture(scope="module")
def token_run(tmp_path_factory):
    cfg = small_config(packing={"seq_lens": [64, 128], "val_fraction": 0.1},
                       tokenizer={"vocab_size": 1024, "check_docs": 50})
    root = tmp_path_factory.mktemp("art")
    defs = build_definitions(cfg, root=str(root))
    instance = dg.DagsterInstance.ephemeral()
    results = run(defs, "*packed_tokens", instance=instance, echo=lambda m: None)
    return cfg, ArtifactStore(root=str(root)), results, defs, instance


def test_checks_pass_and_metadata_is_reported(token_run):
    _, _, results, _, _ = token_run
    checks = {c.check_name: c.passed for r in results for c in r.get_asset_check_evaluations()}
    for name in ("roundtrip_lossless", "specials_single_id", "no_tokens_dropped", "eos_between_documents",
                 "splits_disjoint"):
        assert checks[name] is True, name
    md = {k: v.value for k, v in _event(results, "packed_tokens").metadata.items()}
    assert md["truncated_tokens"] == 0 and md["tokens"] == md["train_tokens"] + md["val_tokens"] > 0
    assert md["tokens_per_second"] > 0 and set(md["padding_fraction"]) == {"train-64", "train-128", "val-64",
                                                                            "val-128"}
    tok_md = {k: v.value for k, v in _event(results, "tokenizer").metadata.items()}
    assert tok_md["vocab_size"] == 1024 and tok_md["bytes_per_token_held_out"] > 2


def test_every_deduped_document_is_in_exactly_one_split_with_eos(token_run):
    cfg, store, _, _, _ = token_run
    out, _ = store.local_dir("packed_tokens")
    index = json.loads((out / "index.json").read_text())
    tok_dir, _ = store.local_dir("tokenizer")
    tok = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    deduped = {}
    for name in cfg.source_names:
        d, _ = store.local_dir("deduped_shards", name)
        deduped.update({(name, r["id"]): r["text"] for b in iter_batches(shard_files(d)) for r in b})
    seen = {}
    for split in ("train", "val"):
        docs = pq.read_table(out / f"{split}-documents.parquet").to_pylist()
        dtype = np.dtype(json.loads((out / f"{split}-64.json").read_text())["dtype"])
        tokens = np.fromfile(out / f"{split}.bin", dtype=dtype)  # numpy alone reads the stream
        offsets = np.load(out / f"{split}.docs.npy")
        assert len(offsets) == len(docs) + 1 and offsets[-1] == len(tokens) == index["tokens"][split]
        for i, doc in enumerate(docs):
            key = (doc["source"], doc["id"])
            assert key not in seen
            # by the document's id (stable when a text is corrected), the rule the tokenizer's held-out set uses
            assert split_of(doc["id"], cfg.packing.val_fraction, cfg.seed) == split
            seen[key] = split
            ids = tokens[offsets[i]:offsets[i + 1]]
            assert ids[-1] == tok.eos_token_id and doc["tokens"] == len(ids)
            if i % 17 == 0:
                assert tok.decode(ids[:-1].tolist()) == deduped[key]
    assert set(seen) == set(deduped)
    assert 0 < list(seen.values()).count("val") < 0.25 * len(seen)


def test_packed_sequences_hold_every_token_once(token_run):
    _, store, _, _, _ = token_run
    out, _ = store.local_dir("packed_tokens")
    tok = AutoTokenizer.from_pretrained(str(store.local_dir("tokenizer")[0]), local_files_only=True)
    for seq_len in (64, 128):
        packed = PackedSequences(out / f"train-{seq_len}")
        real = 0
        for i in range(len(packed)):
            item = packed[i]
            assert item["input_ids"].shape == (seq_len,)
            mask = item["attention_mask"].astype(bool)
            real += int(mask.sum())
            assert (item["input_ids"][~mask] == tok.pad_token_id).all() and (item["labels"][~mask] == -100).all()
            starts = np.flatnonzero(item["position_ids"] == 0)
            assert starts[0] == 0 and (item["segment_ids"][starts[1:]] != item["segment_ids"][starts[1:] - 1]).all()
        assert real == packed.index["tokens"] == json.loads((out / "index.json").read_text())["tokens"]["train"]


def test_rematerializing_unchanged_inputs_keeps_data_versions(token_run):
    _, store, results, defs, instance = token_run
    before = {a: _event(results, a).tags["dagster/data_version"] for a in ("tokenizer", "packed_tokens")}
    tok_json = (store.local_dir("tokenizer")[0] / "tokenizer.json").read_bytes()
    again = run(defs, "key:tokenizer or key:packed_tokens", instance=instance, echo=lambda m: None)
    after = {a: _event(again, a).tags["dagster/data_version"] for a in ("tokenizer", "packed_tokens")}
    assert after == before  # deterministic training: an unchanged corpus does not mark training stale
    assert (store.local_dir("tokenizer")[0] / "tokenizer.json").read_bytes() == tok_json
    # packing.batch_docs only sizes reads: packed_tokens keeps its data version, so training does not turn stale
    from llm_pipeline_assets.assets.tokens import inputs_hash

    cfg = token_run[0]
    smaller = cfg.model_copy(update={"packing": cfg.packing.model_copy(update={"batch_docs": 7})})
    longer = cfg.model_copy(update={"packing": cfg.packing.model_copy(update={"seq_lens": (64, 256)})})
    assert inputs_hash(smaller, store) == inputs_hash(cfg, store) != inputs_hash(longer, store)


def test_existing_tokenizer_path_is_adopted(token_run, tmp_path):
    _, store, _, _, _ = token_run
    tok_dir, _ = store.local_dir("tokenizer")
    cfg = small_config(sources=[{"name": "web", "kind": "synthetic", "num_docs": 80, "seed": 4}],
                       tokenizer={"path": str(tok_dir)}, packing={"seq_lens": [64]})
    results = run(build_definitions(cfg, root=str(tmp_path)), "*tokenizer", instance=dg.DagsterInstance.ephemeral(),
                  echo=lambda m: None)
    md = {k: v.value for k, v in _event(results, "tokenizer").metadata.items()}
    assert md["trained"] is False and md["vocab_size"] == 1024
