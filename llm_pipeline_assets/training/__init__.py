"""Pretraining library: model shapes, the pretraining loop and its helpers.

Import rules (the Dagster process must stay light):

* torch-free at import: this package, :mod:`.settings` (with the LR schedule), :mod:`.shapes`,
  :mod:`.throughput` and :mod:`.pretrain` (which imports torch inside its functions), so the
  parent process can build :class:`~.settings.PretrainSettings` and look up shapes cheaply.
* child-only (import torch at module top): :mod:`.data` (batches, document masking),
  :mod:`.checkpoint`, :mod:`.loop` (the trainer, OOM recovery). Only the training process imports them.
"""
