"""compute.fuse_projections: one GEMM for q/k/v and one for gate/up give the unfused model's results."""

import copy
import json
from pathlib import Path

import pytest
import torch

from llm_pipeline_assets.training import varlen
from llm_pipeline_assets.training.data import attention_kwargs
from llm_pipeline_assets.training.fused import fuse_projections
from llm_pipeline_assets.training.pretrain import PretrainSettings, pretrain
from llm_pipeline_assets.training.shapes import llama_config
from llm_pipeline_tests.training.conftest import quiet

SETTINGS = {"max_steps": 4, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 1, "micro_batch": 4, "grad_accum": 1,
            "curriculum": [[64, 4]], "eval_every": 0, "eval_batches": 1, "save_every": 0, "seed": 0}


def _pair(attn: str):
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    config = llama_config("tiny", 256)
    config._attn_implementation = attn
    plain = LlamaForCausalLM(config)
    fused = copy.deepcopy(plain)
    assert fuse_projections(fused) == 2 * config.num_hidden_layers  # every attention and every MLP
    return plain, fused


def _packed_batch():
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 256, (2, 48), generator=gen)
    seg = torch.tensor([[0] * 20 + [1] * 28, [0] * 7 + [1] * 30 + [2] * 11])  # documents packed in a row
    pos = torch.cat([torch.arange(n) for n in (20, 28, 7, 30, 11)]).reshape(2, 48)
    return ids, seg, pos


@pytest.mark.parametrize("attn", ["sdpa", "eager", varlen.NAME])
def test_fused_layers_give_the_unfused_logits_and_gradients(attn):
    if attn == varlen.NAME:
        varlen.register()
    plain, fused = _pair(attn)
    ids, seg, pos = _packed_batch()
    kwargs = ({"position_ids": pos, **varlen.varlen_kwargs(seg, "cpu")} if attn == varlen.NAME
              else attention_kwargs(seg, pos, attn))
    outs = []
    for model in (plain, fused):
        logits = model(input_ids=ids, use_cache=False, **kwargs).logits
        (logits.float() ** 2).mean().backward()
        outs.append(logits)
    assert torch.allclose(outs[0], outs[1], atol=1e-5, rtol=1e-4)
    grads = {n: p.grad for n, p in fused.named_parameters()}
    for name, param in plain.named_parameters():  # same parameters, same names: gradients of each
        assert torch.allclose(param.grad, grads[name], atol=1e-6, rtol=1e-4), name
    assert plain.state_dict().keys() == fused.state_dict().keys()


def test_fused_pretraining_matches_and_saves_the_hf_layout(packed_corpus, tmp_path):
    from transformers import AutoModelForCausalLM

    import torch._dynamo

    losses = {}
    for name, fuse, compiled in (("plain", False, False), ("fused", True, False), ("compiled", True, True)):
        torch._dynamo.reset()
        summary = pretrain(PretrainSettings(**SETTINGS, fuse_projections=fuse, compile=compiled),
                           packed_corpus.packed_dir, packed_corpus.init_dir, tmp_path / name, log=quiet)
        losses[name] = [h["loss"] for h in json.loads(Path(summary["metrics_path"]).read_text())["history"]]
    assert losses["fused"] == pytest.approx(losses["plain"], rel=1e-4)
    assert losses["compiled"] == pytest.approx(losses["plain"], rel=2e-3)  # the GPU default: regional compile
    assert losses["fused"][-1] < losses["fused"][0]
    saved = AutoModelForCausalLM.from_pretrained(str(tmp_path / "fused" / "final"))
    reference = AutoModelForCausalLM.from_pretrained(str(tmp_path / "plain" / "final"))
    for (name, a), (_, b) in zip(saved.state_dict().items(), reference.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-4), name  # the same weights under the same names


def test_layers_that_are_not_plain_linear_are_left_alone_and_misuse_is_refused():
    from transformers import LlamaForCausalLM

    class Adapter(torch.nn.Linear):  # what PEFT or FP8 put in place of a projection
        pass

    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config("tiny", 256))
    for layer in model.model.layers:
        layer.self_attn.k_proj = Adapter(layer.self_attn.k_proj.in_features, layer.self_attn.k_proj.out_features,
                                         bias=False)
    assert fuse_projections(model) == len(model.model.layers)  # the MLPs only
    assert "forward" not in vars(model.model.layers[0].self_attn)
    assert fuse_projections(torch.nn.Linear(4, 4)) == 0
    with pytest.raises(ValueError, match="fuse_projections and liger_kernels"):
        PretrainSettings(**SETTINGS, fuse_projections=True, liger_kernels=True, device="cuda")
    from llm_pipeline_assets.config import ComputeConfig

    with pytest.raises(ValueError, match="compute.liger_kernels and compute.fuse_projections"):
        ComputeConfig(liger_kernels=True, fuse_projections=True)  # refused where the user wrote it
    _, fused = _pair("sdpa")
    ids, seg, pos = _packed_batch()
    with pytest.raises(RuntimeError, match="no KV cache"):
        fused(input_ids=ids, use_cache=True)
