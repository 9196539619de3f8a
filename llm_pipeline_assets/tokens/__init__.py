"""Token storage and sequence packing behind the ``packed_tokens`` asset (framework-free, numpy only).

- :mod:`.stream`: flat token memmap ``<prefix>.bin`` + ``<prefix>.docs.npy`` document offsets.
- :mod:`.layout`: where document pieces go (best-fit-decreasing or concatenate-and-chunk).
- :mod:`.packing`: ``pack_stream`` writes fixed-length sequences + per-sequence segments + JSON index.
- :mod:`.dataset`: numpy reader, torch / Hugging Face adapters, stable document-level ``split_of``.

Submodules are imported explicitly (``from llm_pipeline_assets.tokens.packing import pack_stream``);
importing this package imports nothing.
"""
