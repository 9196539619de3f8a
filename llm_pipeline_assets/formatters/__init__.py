"""Source rows -> chat conversations (SFT) and preference pairs (DPO); framework-free, stdlib only.

- :mod:`.common`: ``FormatError``, field readers, message builders, ``validate_messages``.
- :mod:`.tool_parsing`: lenient tool-call parsing (JSON, Python literals, ``f(a=1)`` calls).
- :mod:`.sft_reasoning`, :mod:`.sft_tools`, :mod:`.sft_instruct`: one formatter per source schema;
  ``oasst_threads`` (in :mod:`.sft_instruct`) rebuilds oasst1 message trees into threads.
- :mod:`.sft`: the ``SFT_FORMATTERS`` registry and ``format_rows``.
- :mod:`.synthetic_sft`: four learnable synthetic tasks: ``synthetic_sft`` (training rows) and
  ``synthetic_eval_items`` (held-out prompts).
- :mod:`.dpo`: hh-rlhf / UltraFeedback pairs, ``validate_pair``, ``format_dpo_rows``, ``to_conversational``,
  ``synthetic_dpo``.

Submodules are imported explicitly (``from llm_pipeline_assets.formatters.sft import format_rows``);
importing this package imports nothing.
"""
