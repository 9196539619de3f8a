"""Keep attention (and the loss) inside documents of a packed row.

How transformers 5.24 takes a custom mask (``masking_utils._preprocess_mask_arguments``): a 4D
``attention_mask`` tensor is returned as-is by ``create_causal_mask`` and handed to every layer.

* ``sdpa`` passes it to ``torch.nn.functional.scaled_dot_product_attention`` as ``attn_mask``
  (``is_causal`` is then False): a BOOLEAN (B, 1, L, L) mask, True = may attend, works.
* ``eager`` ADDS it to the scores (``attn_weights + attention_mask``): it needs an additive float
  mask (0 where allowed, dtype-min elsewhere); a boolean one would be added as 0/1.
* ``flash_attention_2`` takes no mask: with ``attention_mask=None`` and ``position_ids`` restarting
  at 0 per document, transformers derives ``cu_seqlens`` from the position ids (varlen kernel).

Note: with ``attention_mask=None`` transformers 5.24 also infers packing from restarting
``position_ids`` (``find_packed_sequence_indices``) for sdpa/eager; we pass the explicit mask
anyway, so masking does not depend on that heuristic (a 2D mask, for instance, switches it off).
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100


def document_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """(B, 1, L, L) bool: query i attends key j iff j <= i and both are in the same segment.

    Padding (segment -1) attends earlier padding, so no row is empty (its labels are -100).
    """
    seg = segment_ids
    length = seg.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=seg.device).tril()
    same = seg[:, :, None] == seg[:, None, :]
    return (same & causal)[:, None, :, :]


def attention_kwargs(segment_ids: torch.Tensor, position_ids: torch.Tensor, implementation: str,
                     dtype: torch.dtype = torch.float32) -> dict:
    """Model keyword arguments that keep attention within documents for ``implementation``."""
    if implementation == "flash_attention_2":
        return {"position_ids": position_ids}
    mask = document_mask(segment_ids)
    if implementation == "eager":
        additive = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        mask = additive.masked_fill(~mask, torch.finfo(dtype).min)
    elif implementation != "sdpa":
        raise ValueError(f"no document masking for attn_implementation {implementation!r}")
    return {"position_ids": position_ids, "attention_mask": mask}


def document_labels(input_ids: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
    """Labels: ``input_ids``, -100 on padding AND at every segment start after position 0.

    The model shifts labels, so label ``t`` is predicted from position ``t - 1``; at a segment start
    that is the previous document's EOS, whose (masked) context says nothing about the new document.
    """
    labels = input_ids.masked_fill(segment_ids < 0, IGNORE_INDEX)
    starts = torch.zeros_like(segment_ids, dtype=torch.bool)
    starts[:, 1:] = segment_ids[:, 1:] != segment_ids[:, :-1]
    return labels.masked_fill(starts, IGNORE_INDEX)


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy (fp32) over labels != -100; the caller divides by the step's count."""
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    return torch.nn.functional.cross_entropy(
        shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX, reduction="sum")


def count_targets(labels: torch.Tensor) -> int:
    """Number of predicted tokens: labels != -100 after the shift."""
    return int((labels[:, 1:] != IGNORE_INDEX).sum())
