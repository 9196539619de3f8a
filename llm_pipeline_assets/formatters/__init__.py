"""Source rows -> chat conversations (SFT) and preference pairs (DPO); framework-free, stdlib only.

- :mod:`.common`: ``FormatError``, field readers, message builders, ``validate_messages``.
- :mod:`.tool_parsing`: lenient tool-call parsing (JSON, Python literals, ``f(a=1)`` calls).
- :mod:`.sft_reasoning`, :mod:`.sft_tools`, :mod:`.sft_instruct`: one formatter per source schema.
- :mod:`.sft_oasst`: flat oasst rows and ``oasst_threads`` (oasst1 message trees -> threads).
- :mod:`.sft`: the ``SFT_FORMATTERS`` registry and ``format_rows``.
- :mod:`.synthetic_tasks`: the four learnable synthetic tasks and their held-out split.
- :mod:`.synthetic_sft`: ``synthetic_sft`` (training rows) and ``synthetic_eval_items`` (held out).
- :mod:`.dpo`: hh-rlhf / UltraFeedback pairs, ``validate_pair``, ``format_dpo_rows``, ``to_conversational``.
- :mod:`.synthetic_dpo`: ``synthetic_dpo`` (re-exported by :mod:`.dpo`).

Submodules are imported explicitly (``from llm_pipeline_assets.formatters.sft import format_rows``);
importing this package imports nothing.
"""
