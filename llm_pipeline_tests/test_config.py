import pytest

from llm_pipeline_assets.config import ConfigError, available_presets, load_config, parse_config

BASE = {"name": "t", "sources": [{"name": "web", "kind": "synthetic", "num_docs": 10}]}


def test_every_preset_validates():
    assert {"tiny", "124m", "1b", "7b"} <= set(available_presets())
    for name in available_presets():
        cfg = load_config(name)
        assert cfg.name == name and cfg.sources


def test_env_var_selects_preset_or_file(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_PIPELINE_CONFIG", "1b")
    assert load_config().name == "1b"
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nsources:\n  - {name: a, kind: synthetic, num_docs: 5}\n")
    monkeypatch.setenv("LLM_PIPELINE_CONFIG", str(path))
    assert load_config().source_names == ["a"]


@pytest.mark.parametrize(
    "patch, key",
    [
        ({"sources": [{"name": "web", "kind": "synthetic", "num_docs": 10, "colour": "red"}]}, "sources[0].colour"),
        ({"sources": [{"name": "web", "kind": "ftp"}]}, "sources[0]"),
        ({"sources": [{"name": "web", "kind": "local"}]}, "sources[0].path"),
        ({"sources": [{"name": "../etc", "kind": "synthetic"}]}, "sources[0].name"),
        ({"sources": [{"name": "web", "kind": "synthetic", "num_docs": -3}]}, "sources[0].num_docs"),
        ({"dedup": {"threshold": 1.5}}, "dedup.threshold"),
        ({"dedup": {"bands": 20, "rows": 10, "num_perm": 112}}, "dedup"),
        ({"cleaning": {"toxicity": {"threshold": "high"}}}, "cleaning.toxicity.threshold"),
        ({"shardz": {}}, "shardz"),
        # LoRA draws its mix from sft_dataset: keys it would ignore are errors, not silently accepted
        ({"lora": {"sources": [{"name": "mine", "kind": "local", "path": "x.jsonl", "format": "alpaca"}]}},
         "lora.sources"),
        ({"lora": {"val_fraction": 0.2}}, "lora.val_fraction"),
    ],
)
def test_bad_config_names_the_key(patch, key):
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, **patch}, origin="my.yaml")
    message = str(err.value)
    assert "my.yaml" in message and f"  {key}" in message
    assert "at least 1 item" not in message  # a bad source is reported as such, not as a missing one


def test_an_empty_source_list_is_still_reported():
    with pytest.raises(ConfigError, match=r"  sources: Tuple should have at least 1 item"):
        parse_config({**BASE, "sources": []})


def test_duplicate_source_names_rejected():
    with pytest.raises(ConfigError, match="duplicate source names"):
        parse_config({**BASE, "sources": [BASE["sources"][0], BASE["sources"][0]]})


def test_unknown_preset_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="neither a preset"):
        load_config("nonexistent-preset")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))


@pytest.mark.parametrize("patch, message", [
    ({"eval": {"gates_preset": "tinyy"}}, "eval.gates_preset: unknown gate preset 'tinyy'"),
    ({"dpo": {"loss_type": "robust"}}, "dpo.label_smoothing must be > 0 for loss_type robust"),
    ({"dpo": {"label_smoothing": 0.1}}, "dpo.label_smoothing 0.1 has no effect with dpo.loss_type 'sigmoid'"),
    ({"eval": {"gate_overrides": {"sft_to_dp0": {"repetition_rate": {"op": "<=", "value": 0.3}}}}},
     "eval.gate_overrides.sft_to_dp0: unknown gate .* did you mean 'sft_to_dpo'"),
    ({"eval": {"gate_overrides": {"sft_to_dpo": {"repetiton_rate": {"op": "<=", "value": 0.3}}}}},
     "eval.gate_overrides.sft_to_dpo.repetiton_rate: not a metric .* did you mean 'repetition_rate'"),
    # a metric no evaluation produces (not a near-miss of one): the gate would fail for certain after training
    ({"eval": {"gate_overrides": {"sft_to_dpo": {"humaneval_pass@1": {"op": ">=", "value": 0.5}}}}},
     r"eval.gate_overrides.sft_to_dpo.humaneval_pass@1: not a metric this gate's evaluation produces \(known: "),
    ({"eval": {"gate_overrides": {"sft_to_dpo": {"repetition_rate": {"op": "=<", "value": 0.3}}}}},
     "eval.gate_overrides.sft_to_dpo: .*unknown op '=<'"),
    ({"eval": {"gate_overrides": {"dpo_to_production": {"mc_accuracy": {"op": ">=", "value": "high"}}}}},
     "value must be a number"),
    ({"model": {"max_position_embeddings": 64}, "packing": {"seq_lens": [128, 256]},
      "pretrain": {"curriculum": [{"seq_len": 128, "until_step": 10}], "max_steps": 10}},
     r"model.max_position_embeddings \(64\) is shorter than the longest sequence pretraining reads \(128"),
    # a curriculum length with no steps of its own was skipped without a word (256 below never trained)
    ({"packing": {"seq_lens": [128, 256, 512]}, "pretrain": {"max_steps": 60, "curriculum": [
        {"seq_len": 128, "until_step": 30}, {"seq_len": 256, "until_step": 30}, {"seq_len": 512, "until_step": 60}]}},
     r"pretrain.curriculum\[1\].until_step \(30\) must be above curriculum\[0\].until_step \(30\)"),
    ({"packing": {"seq_lens": [128, 256]}, "pretrain": {"max_steps": 60, "curriculum": [
        {"seq_len": 128, "until_step": 60}, {"seq_len": 256, "until_step": 80}]}},
     r"pretrain.curriculum\[0\].until_step \(60\) reaches pretrain.max_steps \(60\)"),
    ({"packing": {"seq_lens": [128, 256, 512]}, "pretrain": {"max_steps": 2, "warmup_steps": 1}},
     r"pretrain.max_steps \(2\) is below the number of packing.seq_lens \(3\)"),
    # fine-tuning past a declared context (the 124m preset did: 2048 on a 1024-position model)
    ({"model": {"max_position_embeddings": 300}, "sft": {"max_length": 512}, "dpo": {"max_length": 400}},
     r"sft.max_length \(512\), dpo.max_length \(400\) are longer than model.max_position_embeddings \(300\)"),
    # a misspelt lora.mix task failed lora_adapter, after pretraining, SFT and DPO
    ({"lora": {"mix": {"tool": 0.5, "mathh": 0.5}}},
     r"lora.mix.mathh: no sft.sources give task 'mathh' \(did you mean 'math'\?\); they give \['choice', 'math'"),
    ({"sft": {"sources": [{"name": "g", "kind": "local", "path": "/d", "format": "gsm8k"}]},
      "lora": {"mix": {"math": 0.5, "tool": 0.5}}}, r"lora.mix.tool: no sft.sources give task 'tool'.* \['math'\]"),
])
def test_settings_that_would_fail_a_later_asset_fail_when_the_config_loads(patch, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**BASE, **patch}, origin="my.yaml")


def test_gate_overrides_of_known_metrics_and_every_preset_load():
    from llm_pipeline_assets.evaluation.gates import _read_presets, check_gate_settings

    cfg = parse_config({**BASE, "eval": {"gates_preset": "smoke", "gate_overrides": {
        "lora_promotion": {"general_delta": {"op": ">=", "value": 0.0}},
        "dpo_to_production": {"reward_accuracy": {"op": ">=", "value": 0.6}}}}})
    assert cfg.eval.gates_preset == "smoke"
    for name, gates in _read_presets().items():  # the shipped presets gate only on metrics that exist
        check_gate_settings(name, gates)


def test_config_reference_lists_every_key_as_the_code_has_it():
    """docs/config_reference.md is generated from the config models; regenerate it after changing a field
    (`python -m llm_pipeline_assets.config_reference > docs/config_reference.md`)."""
    from pathlib import Path

    from llm_pipeline_assets.config_reference import render

    doc = Path(__file__).resolve().parents[1] / "docs" / "config_reference.md"
    assert doc.read_text(encoding="utf-8") == render(), "docs/config_reference.md is stale: regenerate it"
    for key in ("`dpo.sft_loss_weight`", "`model.max_position_embeddings`", "`compute.fuse_projections`",
                "`eval.contamination_ngram`", "`dedup.gpu_minhash`", "`max_record_bytes`", "`backoff_seconds`"):
        assert key in doc.read_text(encoding="utf-8")


def test_base_model_has_the_positions_of_every_stage_unless_the_context_is_declared():
    cfg = parse_config({**BASE, "packing": {"seq_lens": [64, 128]}, "sft": {"max_length": 512}})
    assert cfg.model_context == 512  # SFT at 512 on a model pretrained at 128: a context extension, declared
    assert parse_config({**BASE, "packing": {"seq_lens": [64, 128]}}).model_context == 256  # finetune default 256
    assert parse_config({**BASE, "model": {"max_position_embeddings": 1024}}).model_context == 1024


def test_a_section_naming_one_key_keeps_the_other_defaults():
    """dpo/lora had their defaults on the PipelineConfig field (40 steps), not on the class (60): omitting the
    section gave 40 steps, writing `dpo: {beta: 0.2}` silently 60."""
    bare = parse_config(BASE)
    partial = parse_config({**BASE, "dpo": {"beta": 0.2}, "lora": {"r": 16}})
    for section in ("sft", "dpo", "lora"):
        assert getattr(partial, section).max_steps == getattr(bare, section).max_steps, section
    assert bare.dpo.max_steps == 40 and partial.dpo.beta == 0.2


def test_a_lora_mix_task_may_come_from_messages_rows():
    """``messages`` rows may name their own task: the mix is not judged at load then."""
    cfg = parse_config({**BASE, "sft": {"sources": [{"name": "m", "kind": "local", "path": "/d", "format": "messages"}]},
                        "lora": {"mix": {"legal": 1.0}}})
    assert cfg.lora.mix == {"legal": 1.0}


def test_a_section_without_its_kind_says_kind_is_required():
    """pydantic's "Unable to extract tag using discriminator 'kind'" did not say what to write."""
    with pytest.raises(ConfigError, match=r"sources\[0\].kind: Field required \(one of synthetic, local, "
                                          r"huggingface, remote\)"):
        parse_config({"name": "x", "sources": [{"name": "w", "path": "/data"}]})
    with pytest.raises(ConfigError, match=r"cleaning.executor.kind: Field required \(one of local, slurm, ray\)"):
        parse_config({"name": "x", "cleaning": {"executor": {"partition": "cpu"}}})
