"""Model-side scoring: load a checkpoint, greedy chat generation, choice log-likelihoods, perplexity.

torch and transformers are imported inside the functions so the package imports without them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..tokens.specials import ASSISTANT, END_OF_TURN, FUNCTION_RESPONSE, SYSTEM, TOOL_RESPONSE, USER, end_of_turn


def load_for_eval(model_dir: str | Path, device: str | None = None):
    """``(model, tokenizer)`` from ``model_dir`` (offline), the model in eval mode on CUDA when available."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
    model.to(device).eval()
    return model, tok


def _stop_ids(tok) -> list[int]:
    """EOS, end of turn, and the markers that open another turn (a reply running into a made-up user or tool turn
    ends there: what follows is not the assistant's answer)."""
    ids = [tok.eos_token_id] if tok.eos_token_id is not None else []
    vocab = tok.get_vocab()
    for marker in (end_of_turn(tok), END_OF_TURN, USER, SYSTEM, ASSISTANT, TOOL_RESPONSE, FUNCTION_RESPONSE):
        if marker in vocab and vocab[marker] not in ids:
            ids.append(vocab[marker])
    return ids


def _encode_chat(tok, messages: list[dict], add_generation_prompt: bool) -> list[int]:
    """Token ids of the chat-template rendering (the template carries every marker; no extra BOS)."""
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return tok(text, add_special_tokens=False)["input_ids"]


def generate(model, tok, messages: list[dict], max_new_tokens: int = 48) -> str:
    """Greedy continuation of ``messages`` as the assistant: only the new text, cut at ``<|end|>``/EOS or a marker
    that opens another turn.

    Special tokens are kept in the decoded text so ``<|function_call|>`` stays visible.
    """
    import torch

    ids = torch.tensor([_encode_chat(tok, messages, add_generation_prompt=True)], device=model.device)
    stops = _stop_ids(tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else (stops[0] if stops else 0)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=stops or None, pad_token_id=pad)
    new = out[0, ids.shape[1]:].tolist()
    for i, t in enumerate(new):
        if t in stops:
            new = new[:i]
            break
    text = tok.decode(new, skip_special_tokens=False)
    for marker in (end_of_turn(tok) or "", END_OF_TURN, tok.eos_token or ""):
        if marker:
            text = text.split(marker, 1)[0]
    return text


def reply_length(tok, prompt_messages: list[dict], reply: dict) -> int:
    """Tokens the chat template renders for ``reply`` (an assistant message) after the generation prompt."""
    prompt = tok.apply_chat_template(prompt_messages, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template([*prompt_messages, reply], tokenize=False)
    continuation = full[len(prompt):] if full.startswith(prompt) else full
    return len(tok(continuation, add_special_tokens=False)["input_ids"])


def _continuation_ids(tok, prompt_ids: list[int], prompt_text: str, continuation: str) -> list[int]:
    """Tokens of ``continuation`` as they follow the prompt (joint encoding when it keeps the prompt intact)."""
    joint = tok(prompt_text + continuation, add_special_tokens=False)["input_ids"]
    if joint[:len(prompt_ids)] == prompt_ids and len(joint) > len(prompt_ids):
        return joint[len(prompt_ids):]
    return tok(continuation, add_special_tokens=False)["input_ids"]


def choice_logprobs(model, tok, prompt_messages: list[dict], choices: list[str]) -> list[float]:
    """Summed log-probability of each choice's tokens as the assistant's reply to ``prompt_messages``.

    Multiple-choice by log-likelihood, as lm-evaluation-harness does: the prompt is rendered with the
    generation prompt, each choice is appended, and only the choice tokens are scored.
    """
    import torch

    prompt_text = tok.apply_chat_template(prompt_messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tok(prompt_text, add_special_tokens=False)["input_ids"]
    scores = []
    for choice in choices:
        cont = _continuation_ids(tok, prompt_ids, prompt_text, choice)
        ids = torch.tensor([prompt_ids + cont], device=model.device)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1:-1].float()
        logp = torch.log_softmax(logits, dim=-1)
        target = torch.tensor(cont, device=logp.device)
        scores.append(float(logp.gather(1, target[:, None]).sum()))
    return scores


def sliding_window_perplexity(model, token_ids: np.ndarray, window: int, stride: int,
                              max_tokens: int | None = None) -> float:
    """Perplexity of a flat token stream by the Hugging Face sliding-window recipe.

    Windows start every ``stride`` tokens and span ``window`` tokens; each scores only the tokens that
    the previous window did not (the rest are context, label -100), so every token after the first is
    scored exactly once (a ``stride`` equal to ``window`` is taken as ``window - 1``: with it, the first token
    of each window, which has no context there, would be scored by no window). ``window >= len(token_ids)``
    is a single forward pass.
    """
    import torch

    if stride < 1 or window < 2 or stride > window:
        raise ValueError(f"need 1 <= stride <= window and window >= 2, got window={window} stride={stride}")
    ids = torch.as_tensor(np.asarray(token_ids[:max_tokens] if max_tokens else token_ids, dtype=np.int64))
    n = int(ids.numel())
    if n < 2:
        raise ValueError("perplexity needs at least 2 tokens")
    stride = min(stride, window - 1)  # a window's first token has no context in it: the next window scores it
    total_nll, count, prev_end = 0.0, 0, 0
    for begin in range(0, n, stride):
        end = min(begin + window, n)
        trg_len = end - prev_end
        chunk = ids[begin:end][None].to(model.device)
        labels = chunk.clone()
        labels[:, :-trg_len] = -100
        with torch.no_grad():
            logits = model(input_ids=chunk).logits[0, :-1].float()
        targets = labels[0, 1:]
        keep = targets != -100
        if keep.any():
            nll = torch.nn.functional.cross_entropy(logits[keep], targets[keep], reduction="sum")
            total_nll += float(nll)
            count += int(keep.sum())
        prev_end = end
        if end == n:
            break
    mean = total_nll / count
    if math.isnan(mean):
        return math.nan  # NaN logits: reported as a missing metric, which fails the gate
    return math.exp(mean) if mean < 709.0 else math.inf  # a diverged model: inf (fails its gate), not OverflowError
