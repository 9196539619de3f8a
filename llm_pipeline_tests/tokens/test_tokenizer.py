"""Tokenizer library: training, specials, chat template, adoption of an existing tokenizer."""

import pytest
from transformers import AutoTokenizer

from llm_pipeline_assets.sources.synthetic import generate_documents
from llm_pipeline_assets.tokens.specials import ASSISTANT, END_OF_TURN, EOS, FUNCTION_CALL, PAD, SPECIAL_TOKENS
from llm_pipeline_assets.tokens.tokenizer import (
    bytes_per_token,
    load_existing,
    roundtrip_failures,
    special_token_problems,
    top_merges,
    train_bpe,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    texts = [d.text for d in generate_documents("web", 600, seed=3)]
    tok = train_bpe(texts[:500], vocab_size=1500)
    path = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(str(path))
    return tok, path, texts[500:]


def test_trained_tokenizer_is_lossless_and_loads_offline(trained):
    tok, path, held_out = trained
    tricky = ["  leading spaces\tand tabs\n\nnew lines", "émigré naïve 日本語 🚀 \u200b", "x" * 5000, ""]
    assert roundtrip_failures(tok, held_out + tricky) == []
    loaded = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    assert len(loaded) == len(tok) == 1500
    assert loaded.eos_token == EOS and loaded.pad_token == PAD and loaded.eos_token_id == 0
    assert loaded.encode(held_out[0], add_special_tokens=False) == tok.encode(held_out[0], add_special_tokens=False)
    assert 2.5 < bytes_per_token(loaded, held_out) < 6.0  # compresses English-like text (1 byte/token = none)
    assert len(top_merges(loaded, 5)) == 5


def test_specials_are_single_ids_and_never_split(trained):
    tok, _, _ = trained
    assert special_token_problems(tok) == []
    ids = [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS]
    assert ids == list(range(len(SPECIAL_TOKENS)))
    text = f"call {FUNCTION_CALL}{{\"name\": \"f\"}}{END_OF_TURN}"
    assert tok.convert_tokens_to_ids(FUNCTION_CALL) in tok.encode(text, add_special_tokens=False)


def test_chat_template_marks_assistant_tokens_and_preserves_prefixes(trained):
    from trl.chat_template_utils import has_generation_markers, is_chat_template_prefix_preserving

    _, path, _ = trained
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": "4"}]
    rendered = tok.apply_chat_template(messages, tokenize=False)
    assert rendered.endswith(f"{ASSISTANT}\n4{END_OF_TURN}\n")
    out = tok.apply_chat_template(messages, return_assistant_tokens_mask=True, return_dict=True)
    masked = [i for i, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tok.decode(masked) == f"4{END_OF_TURN}\n"  # loss only on the assistant's answer
    assert has_generation_markers(tok.chat_template) and is_chat_template_prefix_preserving(tok)
    call = [{"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
                "name": "get_weather", "arguments": {"city": "Oslo"}}}]},
            {"role": "tool", "content": "sunny"}]
    text = tok.apply_chat_template(call, tokenize=False)
    assert f'{FUNCTION_CALL}{{"name": "get_weather", "arguments": {{"city": "Oslo"}}}}' in text
    assert "<|tool_response|>\nsunny" in text
    with pytest.raises(Exception, match="unknown chat role"):
        tok.apply_chat_template([{"role": "narrator", "content": "x"}], tokenize=False)


def test_tools_render_as_the_function_list_the_training_data_uses(trained):
    """``apply_chat_template(..., tools=...)`` gives the prompt the model was trained on for the same functions
    (the synthetic and glaive/hermes formatters put them in a system turn), for transformers' tool schema, the bare
    function object and a Python function."""
    from transformers.utils import get_json_schema

    from llm_pipeline_assets.formatters.common import functions_system_prompt
    from llm_pipeline_assets.formatters.synthetic_sft import tool_spec

    def get_weather(city: str) -> str:
        """Current weather in a city.

        Args:
            city: the city's name, e.g. Oslo
        """
        return city

    _, path, _ = trained
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    user = [{"role": "user", "content": "Is it raining in Oslo? ¿Llueve?"}]
    specs = [tool_spec("get_weather"), get_json_schema(get_weather)["function"]]
    trained_on = tok.apply_chat_template([{"role": "system", "content": functions_system_prompt(specs)}, *user],
                                         tokenize=False, add_generation_prompt=True)
    for tools in ([{"type": "function", "function": s} for s in specs], specs, [specs[0], get_weather]):
        assert tok.apply_chat_template(user, tools=tools, tokenize=False, add_generation_prompt=True) == trained_on
    assert "get_weather" not in tok.apply_chat_template(user, tokenize=False)


def test_adopting_an_existing_tokenizer_adds_missing_specials(tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(["plain text without any chat markers"] * 10, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="</s>").save_pretrained(str(tmp_path / "ext"))
    tok = load_existing(str(tmp_path / "ext"))
    assert tok.eos_token == "</s>" and tok.pad_token == PAD and tok.chat_template
    assert special_token_problems(tok) == []
    with pytest.raises(FileNotFoundError, match="tokenizer.path"):
        load_existing(str(tmp_path / "nowhere"))


def test_corpus_text_quoting_special_tokens_stays_plain_text(trained, tmp_path):
    """A document that quotes "<|endoftext|>" or chat markers gets no EOS or role id in its middle."""
    import numpy as np

    from llm_pipeline_assets.shards import ShardWriter
    from llm_pipeline_assets.tokens.pack_stage import load_fast_tokenizer, tokenize_to_streams
    from llm_pipeline_assets.tokens.stream import TokenStream

    tok, path, held_out = trained
    texts = [f"GPT-2 separates documents with {EOS} between texts.",
             f"A transcript: {ASSISTANT} hello {END_OF_TURN} and {FUNCTION_CALL}{{}}", held_out[0]]
    writer = ShardWriter(tmp_path / "shards", "part")
    writer.write_many({"id": str(i), "text": t, "source": "s"} for i, t in enumerate(texts))
    tokenize_to_streams(writer.close(), load_fast_tokenizer(path), tmp_path / "out", 0.0, 0, log=lambda m: None)
    stream = TokenStream(tmp_path / "out" / "train")
    special_ids = {tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    docs = sorted((np.asarray(stream.doc(i)) for i in range(len(stream))), key=len)
    assert len(docs) == 3
    for ids in docs:
        assert ids[-1] == tok.eos_token_id and not special_ids & set(ids[:-1].tolist())
    decoded = {tok.decode(ids[:-1].tolist(), skip_special_tokens=False) for ids in docs}
    assert decoded == set(texts)
    assert roundtrip_failures(tok, texts) == []
    assert tok.convert_tokens_to_ids(EOS) in tok.encode(EOS, add_special_tokens=False)  # the tokenizer left as it was
