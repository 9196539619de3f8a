"""Bad pipeline configs, written as YAML files and loaded with ``load_config``: rejected before any asset
runs, with an error that names the file and the key path."""

from __future__ import annotations

import pytest

from llm_pipeline_assets.config import CONFIG_ENV, ConfigError, load_config

BASE = "name: t\n"
WEB = "sources:\n  - {name: web, kind: synthetic, num_docs: 10}\n"


def _load(tmp_path, text: str | bytes):
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path, lambda: load_config(str(path))


@pytest.mark.parametrize("yaml_text, key", [
    # unknown keys
    (WEB + "shardz: {max_docs: 5}\n", "shardz"),
    (WEB + "dedup: {treshold: 0.5}\n", "dedup.treshold"),
    ("sources:\n  - {name: web, kind: synthetic, colour: red}\n", "sources[0].colour"),
    (WEB + "pretrain: {max_step: 5}\n", "pretrain.max_step"),
    (WEB + "sft: {sources: [{name: a, kind: local, path: x.jsonl, formatt: gsm8k}]}\n", "sft.sources[0].formatt"),
    # wrong types
    (WEB + "dedup: {threshold: high}\n", "dedup.threshold"),
    (WEB + "shards: {max_docs: many}\n", "shards.max_docs"),
    ("sources: web\n", "sources"),
    (WEB + "packing: {seq_lens: 128}\n", "packing.seq_lens"),
    (WEB + "pretrain: {max_steps: 1.5}\n", "pretrain.max_steps"),
    (WEB + "cleaning: {pii: maybe}\n", "cleaning.pii"),
    ("sources:\n  - {name: web, kind: local, path: [a, b]}\n", "sources[0].path"),
    # impossible values
    (WEB + "dedup: {threshold: 1.5}\n", "dedup.threshold"),
    (WEB + "dedup: {num_perm: 0}\n", "dedup.num_perm"),
    (WEB + "pretrain: {max_steps: -5}\n", "pretrain.max_steps"),
    (WEB + "pretrain: {warmup_steps: -1}\n", "pretrain.warmup_steps"),
    (WEB + "pretrain: {max_steps: 10, warmup_steps: 100}\n", "pretrain"),
    (WEB + "pretrain: {lr: 0}\n", "pretrain.lr"),
    (WEB + "sft: {max_steps: 0}\n", "sft.max_steps"),
    (WEB + "dpo: {beta: -0.1}\n", "dpo.beta"),
    (WEB + "packing: {val_fraction: 1.0}\n", "packing.val_fraction"),
    (WEB + "packing: {seq_lens: [256, 128]}\n", "packing.seq_lens"),
    (WEB + "shards: {max_bytes: 10}\n", "shards.max_bytes"),
    (WEB + "tokenizer: {vocab_size: 100}\n", "tokenizer.vocab_size"),
    (WEB + "cleaning: {language: {languages: []}}\n", "cleaning.language.languages"),
    (WEB + "cleaning: {quality: {gopher_quality: {min_doc_words: 500, max_doc_words: 100}}}\n",
     "cleaning.quality.gopher_quality"),
    (WEB + "cleaning: {toxicity: {threshold: 0}}\n", "cleaning.toxicity.threshold"),
    (WEB + "lora: {mix: {tool: 0.9, math: 0.9}}\n", "lora.mix"),
    (WEB + "eval: {window: 64, stride: 128}\n", "eval"),
    ("sources:\n  - {name: web, kind: synthetic, weight: 0}\n", "sources[0].weight"),
    ("sources:\n  - {name: web, kind: local, path: x.jsonl, max_record_bytes: 0}\n", "sources[0].max_record_bytes"),
    ("sources:\n  - {name: web, kind: local, path: x.jsonl, text_field: ''}\n", "sources[0].text_field"),
    ("sources:\n  - {name: web, kind: huggingface, dataset: a/b, retries: 99}\n", "sources[0].retries"),
    ("sources: []\n", "sources"),
    # chat data sources: unknown format for the stage, duplicates, none at all
    (WEB + "sft: {sources: [{name: a, kind: local, path: x.jsonl, format: gsm9k}]}\n", "sft.sources"),
    (WEB + "dpo: {sources: [{name: a, kind: local, path: x.jsonl, format: alpaca}]}\n", "dpo.sources"),
    (WEB + "sft: {sources: [{name: a}, {name: a}]}\n", "sft.sources"),
    (WEB + "sft: {sources: []}\n", "sft.sources"),
    (WEB + "dpo: {sources: [{name: a, kind: local, format: pairs}]}\n", "dpo.sources[0]"),
])
def test_bad_value_names_file_and_key(tmp_path, yaml_text, key):
    path, load = _load(tmp_path, BASE + yaml_text)
    with pytest.raises(ConfigError) as err:
        load()
    message = str(err.value)
    assert message.startswith(f"{path}: invalid pipeline config:")
    assert f"\n  {key}: " in message, message


def test_the_same_keys_with_good_values_load(tmp_path):
    # The control for the table above: the keys exist and take these values.
    _, load = _load(tmp_path, BASE + WEB + "dedup: {threshold: 0.7, num_perm: 64}\n"
                    "pretrain: {max_steps: 10, warmup_steps: 2, lr: 0.001}\npacking: {seq_lens: [64, 128]}\n"
                    "cleaning: {language: {languages: [en, fr]}}\neval: {window: 64, stride: 32}\n"
                    "sft: {sources: [{name: a, kind: local, path: x.jsonl, format: gsm8k}]}\n"
                    "dpo: {sources: [{name: a, kind: local, path: x.jsonl, format: pairs}]}\n"
                    "lora: {mix: {math: 1.0}}\n")  # gsm8k rows teach math: the LoRA mix draws from that task
    cfg = load()
    assert cfg.dedup.threshold == 0.7 and cfg.pretrain.warmup_steps == 2 and cfg.eval.stride == 32
    assert cfg.sft.sources[0].format == "gsm8k" and cfg.dpo.sources[0].format == "pairs"


@pytest.mark.parametrize("text, fragment", [
    (BASE + WEB + "dedup: {threshold: 0.5}\ndedup: {threshold: 0.9}\n", "key 'dedup' appears twice (lines 4 and 5)"),
    (BASE + "sources:\n  - {name: web, kind: synthetic, seed: 1, seed: 2}\n", "key 'seed' appears twice"),
    (b"name: caf\xe9\n" + WEB.encode(), "not valid YAML"),
    (BASE + WEB + "dedup: {threshold: [unclosed\n", "not valid YAML"),
    (BASE + WEB + "x: !!python/object/apply:os.system [echo hi]\n", "not valid YAML"),
    ("", "the top level must be a mapping"),
])
def test_unparseable_files_name_the_file(tmp_path, text, fragment):
    path, load = _load(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load()
    assert str(err.value).startswith(str(path)) and fragment in str(err.value)


def test_code_location_refuses_a_bad_config_before_any_work(tmp_path, monkeypatch):
    from llm_pipeline_assets.definitions import build_definitions

    path, _ = _load(tmp_path, BASE + WEB + "dedup: {threshold: 1.5}\n")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    root = tmp_path / "artifacts"
    with pytest.raises(ConfigError, match=r"dedup\.threshold"):
        build_definitions(root=str(root))
    assert not root.exists()  # nothing ran, nothing was written


def test_config_and_root_paths_as_a_shell_user_writes_them(tmp_path, monkeypatch):
    """A directory given as the config raised IsADirectoryError; "~" in LLM_PIPELINE_ROOT made a folder named "~"
    in the working directory; a relative root moved with the working directory."""
    from llm_pipeline_assets.config import artifact_root

    (tmp_path / "configs.yaml").mkdir()
    with pytest.raises(ConfigError, match="is a directory, not a YAML file"):
        load_config(str(tmp_path / "configs.yaml"))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "p.yaml").write_text(BASE + WEB)
    assert load_config("~/p.yaml").sources[0].name == "web"
    monkeypatch.setenv("LLM_PIPELINE_ROOT", "~/llm-artifacts")
    assert artifact_root() == str(tmp_path / "llm-artifacts")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_PIPELINE_ROOT", "rel/art")
    assert artifact_root() == str(tmp_path / "rel" / "art")
    monkeypatch.setenv("LLM_PIPELINE_ROOT", "s3://bucket/prefix")
    assert artifact_root() == "s3://bucket/prefix"
    for bad in ("s3://llm//double", "s3:///prefix", "s3://"):
        monkeypatch.setenv("LLM_PIPELINE_ROOT", bad)
        with pytest.raises(ConfigError, match="empty path segment"):
            artifact_root()
