"""tokenizer and packed_tokens: training-ready tokens from the deduplicated corpus."""

import hashlib
import json

import dagster as dg

from llm_pipeline_assets.assets.checks import check_spec, recorded, checked_inputs
from llm_pipeline_assets.assets.metadata import count_table
from llm_pipeline_assets.assets.policies import code_version, derived_data_condition
from llm_pipeline_assets.config import PipelineConfig
from llm_pipeline_assets.resources.store import ArtifactStore
from llm_pipeline_assets.shards import shard_files
from llm_pipeline_assets.tokens.specials import CHAT_TEMPLATE

TOKENIZER_VERSION = "tokenizer-2"  # 2: a train_docs cap samples every source
PACKED_VERSION = "packed-2"  # 2: corpus text encoded as plain text (quoted specials)


def _deduped_files(cfg: PipelineConfig, store: ArtifactStore, consumer: str) -> list:
    files = []  # config order: the token stream is deterministic
    for directory, _ in checked_inputs(store, consumer, [("deduped_shards", name) for name in cfg.source_names]):
        files += shard_files(directory)
    return files


def inputs_hash(cfg: PipelineConfig, store: ArtifactStore) -> str:
    """Content hash of packed_tokens' inputs and config: its DataVersion (unchanged inputs -> training stays fresh)."""
    h = hashlib.sha256(PACKED_VERSION.encode())
    for name in cfg.source_names:
        h.update(f"{name}:{store.read_manifest('deduped_shards', name).content_version('part-')}\n".encode())
    h.update(store.read_manifest("tokenizer").data_version.encode())
    # batch_docs only sizes reads (the code version leaves it out too): changing it must not make training stale
    h.update(json.dumps(cfg.packing.model_dump(exclude={"batch_docs"}), sort_keys=True).encode())
    h.update(str(cfg.seed).encode())
    return h.hexdigest()


def build_token_assets(cfg: PipelineConfig) -> list:
    deduped_all = dg.AssetDep("deduped_shards", partition_mapping=dg.AllPartitionMapping())
    tokenizer_settings = {"tokenizer": cfg.tokenizer.model_dump(mode="json", exclude={"check_docs"}),
                          "val_fraction": cfg.packing.val_fraction, "seed": cfg.seed,
                          "max_seq_len": max(cfg.packing.seq_lens), "sources": cfg.source_names,
                          "chat_template": CHAT_TEMPLATE}  # a template change makes the tokenizer (and after it) stale
    packing_settings = {"packing": cfg.packing.model_dump(mode="json", exclude={"batch_docs"}), "seed": cfg.seed,
                        "sources": cfg.source_names}

    @dg.asset(deps=[deduped_all], group_name="tokens", kinds={"huggingface"},
              code_version=code_version(TOKENIZER_VERSION, **tokenizer_settings),
              automation_condition=derived_data_condition(),
              check_specs=[check_spec("roundtrip_lossless", "tokenizer"),
                           check_spec("specials_single_id", "tokenizer")])
    def tokenizer(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
        """Byte-level BPE trained on the deduplicated corpus (train split), with chat roles and tool markers."""
        from llm_pipeline_assets.tokens.build import build_tokenizer

        files = _deduped_files(cfg, store, "tokenizer")
        extra: dict = {}
        with store.publish("tokenizer", extra=extra) as staging:
            stats = build_tokenizer(files, staging, cfg.tokenizer, cfg.packing.val_fraction, cfg.seed,
                                    max(cfg.packing.seq_lens), log=context.log.info)
            checks = [
                dg.AssetCheckResult(check_name="roundtrip_lossless", passed=not stats.roundtrip_failures,
                                    severity=dg.AssetCheckSeverity.ERROR,
                                    metadata={"checked_docs": stats.roundtrip_checked,
                                              "failures": dg.MetadataValue.json(stats.roundtrip_failures)}),
                dg.AssetCheckResult(check_name="specials_single_id", passed=not stats.special_problems,
                                    severity=dg.AssetCheckSeverity.ERROR,
                                    metadata={"problems": dg.MetadataValue.json(stats.special_problems)}),
            ]
            extra.update(recorded(checks))
        manifest = store.read_manifest("tokenizer")
        merges = "\n".join(f"{i + 1}. `{m}`" for i, m in enumerate(stats.top_merges))
        if stats.trained and stats.vocab_size < 0.9 * cfg.tokenizer.vocab_size:
            context.log.warning(f"tokenizer: {stats.vocab_size} tokens, not the {cfg.tokenizer.vocab_size} of "
                                f"tokenizer.vocab_size: the corpus has too few distinct pairs (train_docs "
                                f"{stats.train_docs}, tokenizer.min_frequency {cfg.tokenizer.min_frequency})")
        # measured on held-out documents, or (packing.val_fraction 0) on training ones: the key says which
        measured_on = "held_out" if stats.held_out_docs else "train"
        return dg.MaterializeResult(
            metadata={"vocab_size": stats.vocab_size, "trained": stats.trained, "train_docs": stats.train_docs,
                      "train_bytes": stats.train_bytes, "held_out_docs": stats.held_out_docs,
                      f"bytes_per_token_{measured_on}": round(stats.bytes_per_token, 4),
                      "vocab_size_requested": cfg.tokenizer.vocab_size,
                      "top_merges": dg.MetadataValue.md(merges or "(adopted tokenizer)"),
                      "seconds": round(stats.seconds, 2),
                      "uri": dg.MetadataValue.path(store.partition_dir("tokenizer"))},
            data_version=dg.DataVersion(manifest.data_version),
            check_results=checks,
        )

    @dg.asset(deps=[deduped_all, tokenizer], group_name="tokens", kinds={"numpy"},
              code_version=code_version(PACKED_VERSION, **packing_settings),
              automation_condition=derived_data_condition(),
              check_specs=[check_spec(n, "packed_tokens")
                           for n in ("no_tokens_dropped", "eos_between_documents", "splits_disjoint")])
    def packed_tokens(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
        """Token memmaps (EOS between documents) packed for every curriculum length; train/val split by document."""
        from transformers import AutoTokenizer

        from llm_pipeline_assets.tokens.pack_stage import build_packed_tokens
        from llm_pipeline_assets.tokens.verify import packed_problems

        [(tok_dir, _)] = checked_inputs(store, "packed_tokens", [("tokenizer", None)])
        files = _deduped_files(cfg, store, "packed_tokens")
        version = inputs_hash(cfg, store)
        extra: dict = {"inputs_hash": version}
        with store.publish("packed_tokens", extra=extra) as staging:
            stats = build_packed_tokens(files, tok_dir, staging, cfg.packing, cfg.seed, log=context.log.info)
            eos = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True).eos_token_id
            checks = [dg.AssetCheckResult(check_name=name, passed=not issues, severity=dg.AssetCheckSeverity.ERROR,
                                          metadata={"problems": dg.MetadataValue.json(issues)})
                      for name, issues in packed_problems(staging, eos).items()]
            extra.update(recorded(checks))
        table = {k: f"{v['n_sequences']} seqs, padding {v['padding_fraction']:.4f}" for k, v in stats.packed.items()}
        return dg.MaterializeResult(
            metadata={"tokens": sum(stats.tokens.values()), "train_tokens": stats.tokens.get("train", 0),
                      "val_tokens": stats.tokens.get("val", 0), "documents": sum(stats.documents.values()),
                      "val_documents": stats.documents.get("val", 0),
                      "sequences": count_table({k: v["n_sequences"] for k, v in stats.packed.items()},
                                               key="split@seq_len", value="sequences"),
                      "padding_fraction": dg.MetadataValue.json({k: v["padding_fraction"]
                                                                 for k, v in stats.packed.items()}),
                      "truncated_tokens": sum(v["truncated_tokens"] for v in stats.packed.values()),
                      "tokens_per_second": round(stats.tokens_per_second, 1),
                      "bytes_per_token": round(stats.text_bytes / max(sum(stats.tokens.values()), 1), 4),
                      "curriculum_files": dg.MetadataValue.json(table),
                      "uri": dg.MetadataValue.path(store.partition_dir("packed_tokens"))},
            data_version=dg.DataVersion(version),
            check_results=checks,
        )

    return [tokenizer, packed_tokens]
