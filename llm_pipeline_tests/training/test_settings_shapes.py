"""Settings and LR schedule, model shapes, LlamaConfig, parameter counts, the initial model, FLOPs/MFU."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from types import SimpleNamespace

import pytest

from llm_pipeline_assets.training.settings import PretrainSettings, lr_at, scheduler_state, seq_len_at
from llm_pipeline_assets.training.shapes import (MODEL_SHAPES, count_parameters, init_base_model, llama_config,
                                                 padded_vocab_size)
from llm_pipeline_assets.training.throughput import (attention_flops_per_token, matmul_parameters, mfu,
                                                     model_flops_per_token, peak_flops_for, throughput_report)

EXPECTED = {  # hidden, layers, heads, kv heads, FFN, context
    "tiny": (64, 2, 4, 2, 172, 512), "mini": (128, 4, 4, 2, 344, 512), "124m": (768, 12, 12, 12, 2048, 2048), "350m": (1024, 24, 16, 16, 2816, 2048),
    "1b": (2048, 24, 16, 4, 5504, 4096), "3b": (3072, 26, 24, 8, 8192, 4096), "7b": (4096, 32, 32, 8, 11008, 4096),
}


def test_shape_table():
    assert set(MODEL_SHAPES) == set(EXPECTED)
    for name, (d, layers, heads, kv, ffn, ctx) in EXPECTED.items():
        s = MODEL_SHAPES[name]
        got = (s["hidden_size"], s["num_hidden_layers"], s["num_attention_heads"], s["num_key_value_heads"],
               s["intermediate_size"], s["max_position_embeddings"])
        assert got == (d, layers, heads, kv, ffn, ctx), name


@pytest.mark.parametrize("vocab, padded", [(1, 64), (500, 512), (512, 512), (513, 576), (50257, 50304)])
def test_vocab_is_padded_up_to_a_multiple_of_64(vocab, padded):
    assert padded_vocab_size(vocab) == padded
    assert llama_config("tiny", vocab).vocab_size == padded


def test_llama_config_fields():
    c = llama_config("1b", 4000, max_position_embeddings=2048, bos_token_id=1, eos_token_id=[0, 6], pad_token_id=2)
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads) == (2048, 24, 16, 4)
    assert c.intermediate_size == 5504 and c.max_position_embeddings == 2048 and c.vocab_size == 4032
    assert c.rms_norm_eps == 1e-5 and c.hidden_act == "silu" and c.initializer_range == 0.02
    assert c.rope_parameters["rope_theta"] == 10000.0 and c.attention_dropout == 0.0
    assert (c.bos_token_id, c.eos_token_id, c.pad_token_id) == (1, [0, 6], 2)
    assert llama_config("1b", 4000).max_position_embeddings == 4096
    assert llama_config("7b", 4000).tie_word_embeddings is False
    assert llama_config("7b", 4000, tie_word_embeddings=True).tie_word_embeddings is True
    with pytest.raises(ValueError, match="unknown model shape"):
        llama_config("13b", 4000)


@pytest.mark.parametrize("tied", [True, False])
def test_count_parameters_matches_a_real_model(tied):
    import torch
    from transformers import LlamaForCausalLM

    config = llama_config("tiny", 300, tie_word_embeddings=tied)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    assert count_parameters(model) == count_parameters(config)
    assert count_parameters(config) - matmul_parameters(config) == (0 if tied else 320 * 64) + 5 * 64  # norms


def _safetensors_digest(path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_init_base_model_is_deterministic_and_loads_offline(packed_corpus, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = packed_corpus.init_info
    assert info["vocab_size"] == 512 and info["padded_vocab_size"] == 512 and info["shape"] == "tiny"
    again = init_base_model("tiny", packed_corpus.tokenizer_dir, tmp_path / "again", seed=0)
    other = init_base_model("tiny", packed_corpus.tokenizer_dir, tmp_path / "other", seed=1)
    assert again["parameters"] == info["parameters"] == count_parameters(llama_config("tiny", 512))
    assert _safetensors_digest(tmp_path / "again") == _safetensors_digest(packed_corpus.init_dir)
    assert _safetensors_digest(tmp_path / "other") != _safetensors_digest(packed_corpus.init_dir)

    tok = AutoTokenizer.from_pretrained(str(packed_corpus.init_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(packed_corpus.init_dir), local_files_only=True)
    assert tok.eos_token_id == 0 and tok.pad_token_id == 2
    end = tok.convert_tokens_to_ids("<|end|>")
    assert model.generation_config.eos_token_id == [0, end] and model.generation_config.pad_token_id == 2
    assert model.config.vocab_size == 512 and model.config.eos_token_id == [0, end]
    ids = tok("the", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert model(input_ids=ids).logits.shape == (1, ids.shape[1], 512)
    assert json.loads((packed_corpus.init_dir / "init_info.json").read_text())["parameters"] == info["parameters"]


def test_init_pads_an_odd_vocabulary(packed_corpus, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(packed_corpus.tokenizer_dir), local_files_only=True)
    tok.add_tokens([f"<extra_{i}>" for i in range(5)])  # 517 tokens
    tok.save_pretrained(str(tmp_path / "tok"))
    info = init_base_model("tiny", tmp_path / "tok", tmp_path / "model", seed=0, max_position_embeddings=256)
    assert (info["vocab_size"], info["padded_vocab_size"], info["max_position_embeddings"]) == (517, 576, 256)
    # the 59 padded ids decode to nothing: generation never picks them (an untrained base sampled some)
    config = json.loads((tmp_path / "model" / "generation_config.json").read_text())
    assert config["suppress_tokens"] == list(range(517, 576))


def test_an_adopted_chat_template_sets_where_generation_and_evaluation_stop(packed_corpus, tmp_path):
    """A tokenizer adopted with its own template (ChatML's <|im_end|> ends a turn) kept the project's <|end|> as the
    stop token: a model fine-tuned on that template ran past its turns in serving and in the evaluation."""
    from transformers import AutoTokenizer

    from llm_pipeline_assets.evaluation.scoring import _stop_ids

    tok = AutoTokenizer.from_pretrained(str(packed_corpus.tokenizer_dir), local_files_only=True)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
                         "{% generation %}{{ m['content'] }}{{ '<|im_end|>\n' }}{% endgeneration %}{% else %}"
                         "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endif %}"
                         "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    tok.save_pretrained(str(tmp_path / "tok"))
    init_base_model("tiny", tmp_path / "tok", tmp_path / "model", seed=0)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    config = json.loads((tmp_path / "model" / "generation_config.json").read_text())
    assert config["eos_token_id"] == [0, im_end]
    assert im_end in _stop_ids(AutoTokenizer.from_pretrained(str(tmp_path / "model"), local_files_only=True))


def test_flops_per_token_on_a_known_config():
    # GPT-2-small-like Llama: d=768, 12 layers, 12 heads (MHA), FFN 2048, vocab 50304, untied
    c = SimpleNamespace(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=12,
                        intermediate_size=2048, vocab_size=50304, head_dim=64)
    per_layer = 4 * 768 * 768 + 3 * 768 * 2048  # q, k, v, o + gate, up, down
    n = 12 * per_layer + 50304 * 768  # + output head
    assert matmul_parameters(c) == n == 123_568_128
    assert attention_flops_per_token(c, 1024) == 12 * 12 * 768 * 1024 == 113_246_208
    assert model_flops_per_token(c, 1024) == 6 * n + 113_246_208 == 854_654_976
    assert model_flops_per_token(llama_config("124m", 50304), 1024) == 854_654_976
    # GQA shrinks k/v: 1b has 4 kv heads of 128
    g = llama_config("1b", 32000)
    assert matmul_parameters(g) == 24 * (2 * 2048 * 2048 + 2 * 2048 * 512 + 3 * 2048 * 5504) + 32000 * 2048
    assert mfu(100_000, 854_654_976, 989e12) == pytest.approx(100_000 * 854_654_976 / 989e12)
    assert mfu(100_000, 854_654_976, 989e12) == pytest.approx(0.08642, abs=1e-5)
    with pytest.raises(ValueError):
        mfu(1.0, 1.0, 0.0)


def test_throughput_report_and_peaks():
    c = llama_config("124m", 50304)
    r = throughput_report(c, 1024, 2e5, peak_flops=peak_flops_for("NVIDIA H100 80GB HBM3"))
    assert r["flops_per_token"] == 854_654_976 and r["peak_flops"] == 989e12
    assert r["mfu"] == pytest.approx(2e5 * 854_654_976 / 989e12)
    assert r["attention_flops_fraction"] == pytest.approx(113_246_208 / 854_654_976)
    assert peak_flops_for("NVIDIA H100 PCIe") == 756e12 and peak_flops_for("NVIDIA H200") == 989e12
    assert peak_flops_for("Tesla T4") is None and throughput_report(c, 1024, 1.0)["mfu"] is None


def test_parent_side_modules_do_not_import_torch():
    code = ("import sys\n"
            "import llm_pipeline_assets.training, llm_pipeline_assets.training.pretrain\n"
            "import llm_pipeline_assets.training.settings, llm_pipeline_assets.training.shapes\n"
            "import llm_pipeline_assets.training.throughput\n"
            "from llm_pipeline_assets.training.pretrain import PretrainSettings, lr_at\n"
            "lr_at(3, PretrainSettings())\n"
            "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def settings(**kw) -> PretrainSettings:
    base = dict(max_steps=100, lr=1e-3, min_lr=1e-4, warmup_steps=10)
    base.update(kw)
    return PretrainSettings(**base)


def test_warmup_is_linear_from_zero_to_peak():
    s = settings()
    assert lr_at(0, s) == 0.0
    for step in range(11):
        assert lr_at(step, s) == pytest.approx(1e-3 * step / 10)
    assert lr_at(10, s) == pytest.approx(1e-3)  # the peak


def test_cosine_decays_to_a_real_min_lr():
    s = settings()
    assert lr_at(100, s) == pytest.approx(1e-4)  # the last update trains at min_lr, not 0 and not lr
    assert lr_at(55, s) == pytest.approx(1e-4 + 0.5 * (1e-3 - 1e-4))  # half way through the decay
    x = (70 - 10) / 90
    assert lr_at(70, s) == pytest.approx(1e-4 + 0.5 * 9e-4 * (1 + math.cos(math.pi * x)))
    decay = [lr_at(k, s) for k in range(10, 101)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))  # monotone after the peak
    assert min(decay) == pytest.approx(1e-4) and lr_at(150, s) == pytest.approx(1e-4)  # clamped past the end


def test_min_lr_is_not_ignored():
    assert lr_at(100, settings(min_lr=0.0)) == pytest.approx(0.0)
    assert lr_at(100, settings(min_lr=5e-4)) == pytest.approx(5e-4)
    assert lr_at(100, settings(min_lr=1e-3)) == pytest.approx(1e-3)  # constant after warmup


def test_no_warmup_and_all_warmup():
    assert lr_at(0, settings(warmup_steps=0)) == pytest.approx(1e-3)
    s = settings(warmup_steps=100)
    assert lr_at(50, s) == pytest.approx(5e-4) and lr_at(100, s) == pytest.approx(1e-3)


def test_scheduler_state_is_plain_data():
    state = scheduler_state(40, settings())
    assert state["step"] == 40 and state["lr"] == pytest.approx(lr_at(40, settings()))
    json.dumps(state)


def test_curriculum_lookup():
    cur = [(64, 20), (128, 50), (256, 60)]
    assert [seq_len_at(k, cur) for k in (0, 19, 20, 49, 50, 59, 60, 1000)] == [64, 64, 128, 128, 256, 256, 256, 256]
    assert seq_len_at(5, [(128, 1)]) == 128  # the last entry runs to the end
    with pytest.raises(ValueError):
        seq_len_at(0, [])


@pytest.mark.parametrize("bad", [
    dict(max_steps=0), dict(micro_batch=0), dict(min_lr=2e-3), dict(warmup_steps=101), dict(device="tpu"),
    dict(dtype="float16"), dict(attn_implementation="flex"), dict(keep_last=0), dict(curriculum=[(128, 50), (64, 20)]),
    dict(curriculum=[(4, 10)]), dict(log_every=0),
])
def test_invalid_settings_are_rejected(bad):
    with pytest.raises(ValueError, match="invalid PretrainSettings"):
        settings(**bad)


def test_flex_attention_is_refused_on_cpu_and_accepted_on_cuda():
    with pytest.raises(ValueError, match="flex_attention' trains on CUDA only"):
        settings(attn_implementation="flex_attention", device="cpu")
    assert settings(attn_implementation="flex_attention", device="cuda").attn_implementation == "flex_attention"


def test_settings_round_trip_through_json():
    s = settings(curriculum=[(64, 20), (128, 100)], betas=[0.9, 0.99], simulate_oom_above=2)
    d = json.loads(json.dumps(s.to_dict()))
    back = PretrainSettings.from_dict(d)
    assert back == s and back.curriculum == [(64, 20), (128, 100)] and back.betas == (0.9, 0.99)
    assert s.effective_batch == s.micro_batch * s.grad_accum
