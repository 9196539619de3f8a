"""Entry points that run as child processes under Dagster Pipes (``python -m llm_pipeline_assets.runners.X``).

They import torch/transformers; the Dagster code location never imports them.
"""
