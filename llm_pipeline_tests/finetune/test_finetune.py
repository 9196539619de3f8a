"""SFT, DPO and LoRA on a tiny model: loss on assistant tokens only, losses fall, outputs load."""

import pytest
import torch

from llm_pipeline_assets.finetune.preference import (DpoSettings, LoraSettings, build_dpo_trainer, run_dpo, run_lora,
                                                     save_lora)
from llm_pipeline_assets.finetune.sft import SftSettings, build_sft_trainer, evaluate_loss, run_sft, save_checkpoint
from llm_pipeline_assets.formatters.dpo import synthetic_dpo
from llm_pipeline_assets.formatters.synthetic_sft import synthetic_sft
from llm_pipeline_assets.tokens.specials import ASSISTANT, END_OF_TURN, USER
from llm_pipeline_tests.finetune.conftest import conversations as _convs


def test_sft_trains_on_assistant_tokens_only(base):
    trainer, tok = build_sft_trainer(SftSettings(max_steps=1), base / "base", _convs(40, 1), _convs(8, 2),
                                     base / "probe")
    batch = next(iter(trainer.get_train_dataloader()))
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    trained = tok.decode(ids[labels != -100].tolist())
    ignored = tok.decode(ids[labels == -100].tolist())
    assert END_OF_TURN in trained and USER not in trained and ASSISTANT not in trained
    assert USER in ignored and 0 < int((labels != -100).sum()) < int((labels == -100).sum() + (labels != -100).sum())
    assert "position_ids" in batch  # padding-free packing: positions restart per example


def test_validation_loss_sees_each_example_alone(base):
    """The packed validation loss is the loss of the examples each attended alone (padded, not packed): packing
    must not let one example see another, in evaluation as in training."""
    val = _convs(12, 2)
    packed, _ = build_sft_trainer(SftSettings(max_steps=1, micro_batch=64), base / "base", _convs(8, 1), val,
                                  base / "probe-packed")
    alone, _ = build_sft_trainer(SftSettings(max_steps=1, micro_batch=64, packing=False), base / "base",
                                 _convs(8, 1), val, base / "probe-padded")
    assert len(packed.eval_dataset) < len(val) == len(alone.eval_dataset)  # several examples per packed row
    assert abs(evaluate_loss(packed) - evaluate_loss(alone)) < 2e-5  # re-packed rows: 1.8e-4 apart here


def test_only_the_main_process_writes_checkpoints(base, monkeypatch):
    """Under torchrun every rank reaches the saves; a rank that is not the main process writes nothing (its
    clean-up of training_args.bin raced the main process's write)."""
    from peft import LoraConfig

    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], task_type="CAUSAL_LM")
    trainer, tok = build_sft_trainer(SftSettings(max_steps=1), base / "base", _convs(8, 1), _convs(4, 2),
                                     base / "ranks", peft_config=lora)
    monkeypatch.setattr(type(trainer.args), "should_save", property(lambda self: False))
    save_checkpoint(trainer, tok, base / "ranks" / "sft")
    save_lora(trainer, tok, base / "ranks" / "lora")
    assert not (base / "ranks" / "sft").exists() and not (base / "ranks" / "lora").exists()
    monkeypatch.undo()
    adapter, merged = save_lora(trainer, tok, base / "ranks" / "lora")
    assert (adapter / "adapter_config.json").exists() and (merged / "model.safetensors").exists()


def test_a_conversation_longer_than_max_length_is_truncated_not_split(base):
    """Split into pieces, the later pieces of a long conversation would train assistant tokens with its user turn
    out of view (positions restart per piece); truncated, every packed example starts at its conversation's start."""
    long_answer = " ".join(["the answer is forty two"] * 60)
    convs = _convs(6, 1) + [[{"role": "user", "content": "Explain."}, {"role": "assistant", "content": long_answer}]]
    trainer, _ = build_sft_trainer(SftSettings(max_steps=1, max_length=64), base / "base", convs, _convs(4, 2),
                                   base / "trunc")
    pieces = [n for row in trainer.train_dataset["seq_lengths"] for n in row]
    assert len(pieces) == len(convs) and max(pieces) == 64  # one piece per conversation, the long one cut at 64


def test_robust_dpo_uses_its_label_smoothing(base):
    """loss_type robust with label_smoothing is a different objective from sigmoid (at 0 it would be the same)."""
    pairs = synthetic_dpo(24, 5)

    def first_loss(**kw):
        trainer, _ = build_dpo_trainer(DpoSettings(max_steps=1, **kw), base / "base", pairs[:16], pairs[16:],
                                       base / "dpo-probe")
        with torch.no_grad():  # the policy moved away from the reference (equal, every loss type gives log 2)
            torch.manual_seed(0)
            for p in trainer.model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        return trainer.evaluate()["eval_loss"]

    sigmoid = first_loss(loss_type="sigmoid")
    assert abs(first_loss(loss_type="robust", label_smoothing=0.0) - sigmoid) < 1e-6
    assert abs(first_loss(loss_type="robust", label_smoothing=0.2) - sigmoid) > 1e-4


def test_dpo_sft_loss_weight_adds_the_chosen_replies_nll(base):
    """dpo.sft_loss_weight w: the loss is the preference loss plus w x the NLL of the chosen replies (RPO). With the
    policy equal to its reference the sigmoid loss is log 2, so the rest is w x NLL: positive and linear in w."""
    import math

    pairs = synthetic_dpo(24, 5)

    def loss(weight):
        trainer, _ = build_dpo_trainer(DpoSettings(max_steps=1, sft_loss_weight=weight), base / "base", pairs[:16],
                                       pairs[16:], base / "dpo-rpo")
        return trainer.evaluate()["eval_loss"]

    assert loss(0.0) == pytest.approx(math.log(2), abs=1e-6)
    one, two = loss(1.0) - math.log(2), loss(2.0) - math.log(2)
    assert one > 1.0 and two == pytest.approx(2 * one, rel=1e-4)  # an untrained model's NLL is several nats


def test_sft_dpo_lora_losses_fall_and_outputs_load(base):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sft = run_sft(SftSettings(max_steps=30, eval_every=15), base / "base", _convs(300, 3), _convs(30, 4),
                  base / "sft", log=lambda m: None)
    assert sft["val_loss"] < 0.9 * sft["val_loss_start"]
    tok = AutoTokenizer.from_pretrained(sft["final_dir"], local_files_only=True)
    assert tok.chat_template and AutoModelForCausalLM.from_pretrained(sft["final_dir"]) is not None

    pairs = synthetic_dpo(200, 5)
    dpo = run_dpo(DpoSettings(max_steps=15, eval_every=15, lr=2e-3), sft["final_dir"], pairs[:170], pairs[170:],
                  base / "dpo", log=lambda m: None)
    assert dpo["val_loss"] < dpo["val_loss_start"] and dpo["reward_accuracy"] > 0.5

    lora = run_lora(LoraSettings(r=4, alpha=8, sft=SftSettings(max_steps=15, eval_every=15)), dpo["final_dir"],
                    _convs(120, 6), _convs(16, 7), base / "lora", log=lambda m: None)
    assert lora["val_loss"] < lora["val_loss_start"] and lora["trainable_parameters"] < lora["total_parameters"]
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(dpo["final_dir"]), lora["adapter_dir"])
    merged = AutoModelForCausalLM.from_pretrained(lora["merged_dir"])
    x = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.allclose(peft_model(x).logits, merged(x).logits, atol=1e-4)


def test_tool_calls_survive_arrow_without_null_arguments(base):
    from transformers import AutoTokenizer

    from llm_pipeline_assets.finetune.sft import _conversational

    tok = AutoTokenizer.from_pretrained(str(base / "tok"), local_files_only=True)
    rows = [r["messages"] for r in synthetic_sft(40, 11) if any(m.get("tool_calls") for m in r["messages"])]
    assert len({tuple(sorted(m["tool_calls"][0]["function"]["arguments"])) for r in rows for m in r
                if m.get("tool_calls")}) > 1  # different argument keys: what Arrow would merge
    ds = _conversational(rows)
    for original, stored in zip(rows, ds["messages"]):
        assert tok.apply_chat_template(stored, tokenize=False) == tok.apply_chat_template(original, tokenize=False)
        assert "null" not in tok.apply_chat_template(stored, tokenize=False)
