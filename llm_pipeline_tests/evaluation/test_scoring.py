"""Model scoring on a tiny random checkpoint: generation, choice log-likelihoods, sliding-window perplexity."""

import copy
import math

import numpy as np
import pytest
import torch

from llm_pipeline_assets.evaluation.scoring import (
    choice_logprobs, generate, load_for_eval, sliding_window_perplexity)
from llm_pipeline_assets.tokens.specials import END_OF_TURN


@pytest.fixture(scope="module")
def loaded(tiny_model):
    return load_for_eval(tiny_model, device="cpu")


def test_generate_returns_only_the_continuation(loaded):
    model, tok = loaded
    messages = [{"role": "user", "content": "Which of these is a color? A) dog B) red C) car D) tree"}]
    text = generate(model, tok, messages, max_new_tokens=12)
    assert isinstance(text, str) and END_OF_TURN not in text and "<|user|>" not in text
    assert "Which of these" not in text
    assert text == generate(model, tok, messages, max_new_tokens=12)  # greedy: deterministic
    assert not model.training


def test_choice_logprobs_match_manual_sum(loaded):
    model, tok = loaded
    prompt = [{"role": "user", "content": "Which of these is a fruit? A) apple B) drum"}]
    choices = ["The answer is A.", "The answer is B."]
    scores = choice_logprobs(model, tok, prompt, choices)
    assert len(scores) == 2 and all(s < 0 for s in scores)

    prompt_ids = tok(tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True),
                     add_special_tokens=False)["input_ids"]
    full = tok(tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True) + choices[0],
               add_special_tokens=False)["input_ids"]
    assert full[:len(prompt_ids)] == prompt_ids
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([full])).logits[0].float(), -1)
    manual = sum(float(logp[i - 1, full[i]]) for i in range(len(prompt_ids), len(full)))
    assert scores[0] == pytest.approx(manual, abs=1e-4)


def test_choice_logprobs_rank_a_biased_choice_first(loaded):
    model, tok = loaded
    prompt = [{"role": "user", "content": "Pick one."}]
    choices = ["apple", "drum"]
    favoured = tok("drum", add_special_tokens=False)["input_ids"]
    head = model.get_output_embeddings()
    before = choice_logprobs(model, tok, prompt, choices)
    bias = torch.zeros(head.weight.shape[0])
    bias[favoured] = 50.0  # a hand-made preference for the tokens of "drum"
    head.bias = torch.nn.Parameter(bias)
    try:
        after = choice_logprobs(model, tok, prompt, choices)
    finally:
        head.bias = None
    assert after[1] > after[0] and after[1] > before[1]


def _direct_perplexity(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids.tolist()])).logits[0, :-1].float()
    nll = torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:].tolist()))
    return math.exp(float(nll))


def test_sliding_window_perplexity(loaded):
    model, tok = loaded
    ids = np.asarray(tok("Tom has 3 apples and buys 4 more. How many apples does Tom have? " * 6,
                         add_special_tokens=False)["input_ids"], dtype=np.uint16)
    assert len(ids) > 60
    direct = _direct_perplexity(model, ids)
    assert direct > 1
    assert sliding_window_perplexity(model, ids, window=len(ids), stride=len(ids)) == pytest.approx(direct, rel=1e-4)
    assert sliding_window_perplexity(model, ids, window=len(ids) + 50, stride=16) == pytest.approx(direct, rel=1e-4)
    strided = sliding_window_perplexity(model, ids, window=32, stride=16)
    assert math.isfinite(strided) and strided == pytest.approx(direct, rel=0.15)
    with pytest.raises(ValueError):
        sliding_window_perplexity(model, ids, window=16, stride=32)
    # stride == window: each window's first token has no context there; it is scored with one token of context
    # (as stride window - 1 does), not skipped, which left the hardest tokens out and read low
    assert sliding_window_perplexity(model, ids, window=32, stride=32) == pytest.approx(
        sliding_window_perplexity(model, ids, window=32, stride=31), rel=1e-6)
    # a diverged model (mean NLL beyond what exp() holds) reads inf, which fails its gate; it used to raise
    diverged = copy.deepcopy(model)
    with torch.no_grad():
        diverged.get_output_embeddings().weight.mul_(1e5)
    assert sliding_window_perplexity(diverged, ids, window=32, stride=16) == math.inf
