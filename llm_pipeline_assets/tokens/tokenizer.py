"""Byte-level BPE tokenizer: train on the deduplicated corpus (streamed), or adopt an existing one.

The result is a standard Hugging Face tokenizer directory (``tokenizer.json``, ``tokenizer_config.json``
with the chat template) that ``AutoTokenizer.from_pretrained`` loads offline. Byte-level BPE without a
normalizer is lossless: ``decode(encode(x)) == x`` for any text, which the asset checks on a sample.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from llm_pipeline_assets.tokens.specials import (
    BOS,
    CHAT_TEMPLATE,
    EOS,
    PAD,
    SPECIAL_TOKENS,
)

EXTRA_SPECIALS = [t for t in SPECIAL_TOKENS if t not in (BOS, EOS, PAD)]


def _wrap(tok, model_max_length: int):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, extra_special_tokens=EXTRA_SPECIALS,
        chat_template=CHAT_TEMPLATE, model_max_length=model_max_length, clean_up_tokenization_spaces=False,
    )


def train_bpe(texts: Iterable[str], vocab_size: int, min_frequency: int = 2, model_max_length: int = 2048,
              length: int | None = None):
    """Train a byte-level BPE (GPT-2 pre-tokenization) from an iterator of texts; specials get ids 0..9."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_batched(texts), trainer=trainer, length=length)
    return _wrap(tok, model_max_length)


def _batched(texts: Iterable[str], size: int = 1000) -> Iterator[list[str]]:
    batch: list[str] = []
    for t in texts:
        batch.append(t)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def load_existing(path: str, key: str = "tokenizer.path"):
    """Adopt a tokenizer directory: it must load offline and be fast; missing specials and template are added."""
    from transformers import AutoTokenizer

    p = Path(path).expanduser()
    if not (p / "tokenizer.json").exists() and not (p / "tokenizer_config.json").exists():
        raise FileNotFoundError(f"{key}: {str(p)!r} is not a tokenizer directory (no tokenizer.json)")
    try:
        tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True, trust_remote_code=False)
    except Exception as exc:
        raise ValueError(f"{key}: cannot load tokenizer from {str(p)!r}: {type(exc).__name__}: {exc}") from exc
    if not getattr(tok, "is_fast", False):
        raise ValueError(f"{key}: {str(p)!r} is a slow tokenizer; a fast (tokenizer.json) one is required")
    missing = [t for t in SPECIAL_TOKENS if t not in tok.get_vocab()]
    tok.add_special_tokens({"extra_special_tokens": [t for t in missing if t not in (BOS, EOS, PAD)]})
    if tok.eos_token is None:
        tok.add_special_tokens({"eos_token": EOS})
    if tok.pad_token is None:
        tok.add_special_tokens({"pad_token": PAD})
    if tok.bos_token is None:
        tok.add_special_tokens({"bos_token": BOS})
    if not tok.chat_template:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def roundtrip_failures(tok, texts: Sequence[str], limit: int = 10) -> list[dict]:
    """Texts for which ``decode(encode(x)) != x`` (first ``limit``), with the first differing offset."""
    failures = []
    for i, (text, ids) in enumerate(zip(texts, _encode(tok, texts))):
        back = tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if back != text:
            at = next((k for k, (a, b) in enumerate(zip(text, back)) if a != b), min(len(text), len(back)))
            failures.append({"index": i, "offset": at, "expected": text[at:at + 40], "got": back[at:at + 40]})
            if len(failures) >= limit:
                break
    return failures


def _encode(tok, texts: Sequence[str]) -> list[list[int]]:
    """Ids of corpus text, straight from the Rust tokenizer (no max-length warnings, all cores).

    As packing encodes it: plain text, so a literal "<|endoftext|>" in a document is not the EOS id.
    """
    backend = tok.backend_tokenizer
    before = backend.encode_special_tokens
    backend.encode_special_tokens = True
    try:
        return [e.ids for e in backend.encode_batch_fast(list(texts), add_special_tokens=False)]
    finally:
        backend.encode_special_tokens = before


def special_token_problems(tok) -> list[str]:
    """Specials (the tokenizer's eos/bos/pad and our chat markers) not encoding to exactly one id of their own."""
    problems, seen = [], {}
    wanted = [t for t in (tok.eos_token, tok.bos_token, tok.pad_token) if t] + EXTRA_SPECIALS
    for t in dict.fromkeys(wanted):
        ids = tok.encode(t, add_special_tokens=False)
        if len(ids) != 1:
            problems.append(f"{t} encodes to {len(ids)} ids {ids}")
        elif ids[0] in seen:
            problems.append(f"{t} shares id {ids[0]} with {seen[ids[0]]}")
        else:
            seen[ids[0]] = t
    return problems


def bytes_per_token(tok, texts: Sequence[str]) -> float:
    if not texts:
        return 0.0
    n_tokens = sum(len(ids) for ids in _encode(tok, texts))
    return sum(len(t.encode("utf-8")) for t in texts) / max(n_tokens, 1)


def top_merges(tok, n: int = 20) -> list[str]:
    model = json.loads(tok.backend_tokenizer.to_str()).get("model", {})
    merges = model.get("merges", [])[:n]
    return [" ".join(m) if isinstance(m, list) else str(m) for m in merges]
