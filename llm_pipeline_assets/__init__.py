"""llm_pipeline_assets: an LLM training pipeline as a Dagster code location.

Library code (framework-free) lives in the subpackages ``sources``, ``curation`` and ``dedup``;
the Dagster glue lives in ``assets``, ``resources`` and ``definitions``. Importing this package is
cheap: nothing heavy (torch, transformers, datatrove) is imported at module level.
"""

__version__ = "0.1.0"
