"""Training data: the packed sets of the curriculum, a resumable shuffled order, micro-batches as tensors.

Order: for each sequence length, epoch ``e`` visits the sequences in ``torch.randperm`` order drawn
from a ``torch.Generator`` seeded with ``(seed, seq_len, e)``; the position is ``(epoch, cursor)``
per length, a few ints that go into the checkpoint, so a resumed run reads exactly the sequences an
uninterrupted one would. A step takes all of its samples at once, so OOM recovery can redo it with
the same samples split into smaller micro-batches.

Attention (and the loss) is kept inside the documents of a packed row. transformers 5.24 takes a
custom mask like this (``masking_utils._preprocess_mask_arguments``): a 4D ``attention_mask``
tensor is returned as-is by ``create_causal_mask`` and handed to every layer.

* ``sdpa`` passes it to ``torch.nn.functional.scaled_dot_product_attention`` as ``attn_mask``
  (``is_causal`` is then False): a BOOLEAN (B, 1, L, L) mask, True = may attend, works.
* ``eager`` ADDS it to the scores (``attn_weights + attention_mask``): it needs an additive float
  mask (0 where allowed, dtype-min elsewhere); a boolean one would be added as 0/1.
* ``flash_attention_2`` takes no mask: it gets the documents' ``cu_seq_lens_q/k`` over the flattened
  batch (``varlen.varlen_kwargs``) and runs flash-attn's varlen kernel. Restarting ``position_ids`` alone
  are not enough: transformers infers documents from them only for a batch of one row.
* ``flex_attention`` takes a ``BlockMask`` built from the same rule (``document_block_mask``):
  transformers passes a 4D BlockMask through unchanged; the fused kernel skips blocks that are
  entirely masked, so document masking costs less than causal attention over the whole row
  (a boolean mask sends SDPA to its memory-efficient kernel instead of flash).

Note: with ``attention_mask=None`` AND ``use_cache=False`` transformers 5.24 also infers packing
from restarting ``position_ids`` (``find_packed_sequence_indices``); with the default
``use_cache=True`` (a cache exists) or any 2D mask it does not, and documents then attend to each
other (checked in the tests). We pass the explicit 4D mask so masking never rests on that heuristic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from llm_pipeline_assets.tokens.dataset import PackedSequences

INDEX_FILE = "index.json"
IGNORE_INDEX = -100


def block_causal_mask(segment_ids: torch.Tensor) -> torch.Tensor:
    """(B, 1, L, L) bool: query i attends key j iff j <= i and both are in the same segment.

    Padding (segment -1) attends earlier padding, so no row is empty (its labels are -100).
    """
    seg = segment_ids
    length = seg.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=seg.device).tril()
    same = seg[:, :, None] == seg[:, None, :]
    return (same & causal)[:, None, :, :]


def document_block_mask(segment_ids: torch.Tensor):
    """flex_attention ``BlockMask`` of ``block_causal_mask(segment_ids)`` (same rule, blocks of 128)."""
    from torch.nn.attention.flex_attention import create_block_mask

    seg = segment_ids

    def same_document_causal(b, h, q_idx, kv_idx):
        return (kv_idx <= q_idx) & (seg[b, q_idx] == seg[b, kv_idx])

    batch, length = seg.shape
    # compiled mask construction on CUDA (one compile per batch shape; eager vmap over B*L*L otherwise)
    return create_block_mask(same_document_causal, batch, None, length, length, device=seg.device,
                             _compile=seg.is_cuda)


def attention_kwargs(segment_ids: torch.Tensor, position_ids: torch.Tensor, implementation: str,
                     dtype: torch.dtype = torch.float32) -> dict:
    """Model keyword arguments that keep attention within documents for ``implementation``."""
    if implementation == "flash_attention_2":  # the documents as varlen sequences (from a host copy of the ids)
        from .varlen import varlen_kwargs

        return {"position_ids": position_ids, **varlen_kwargs(segment_ids, position_ids.device, implementation)}
    if implementation == "flex_attention":
        return {"position_ids": position_ids, "attention_mask": document_block_mask(segment_ids)}
    mask = block_causal_mask(segment_ids)
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


def packed_seq_lens(packed_dir: Path) -> list[int]:
    """Sequence lengths the packed_tokens output holds (``index.json`` ``seq_lens``)."""
    return [int(s) for s in json.loads((Path(packed_dir) / INDEX_FILE).read_text())["seq_lens"]]


def open_split(packed_dir: Path, split: str, seq_len: int) -> PackedSequences | None:
    """``<packed_dir>/<split>-<seq_len>`` or None when that split was not packed (e.g. no val documents)."""
    prefix = Path(packed_dir) / f"{split}-{seq_len}"
    return PackedSequences(prefix) if Path(f"{prefix}.json").exists() else None


def _order_seed(seed: int, seq_len: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + int(seq_len) * 7_919 + int(epoch)) % (2**63 - 1)


class CurriculumData:
    """The train sets of every curriculum length with a resumable per-length shuffled order."""

    def __init__(self, packed_dir: Path, seq_lens: list[int], seed: int):
        self.seed = int(seed)
        self.sets: dict[int, PackedSequences] = {}
        for n in sorted(set(seq_lens)):
            packed = open_split(packed_dir, "train", n)
            if packed is None or len(packed) == 0:
                raise FileNotFoundError(f"no packed train sequences of length {n} under {packed_dir} "
                                        f"(packed lengths: {packed_seq_lens(packed_dir)})")
            self.sets[n] = packed
        self.position = {n: {"epoch": 0, "cursor": 0} for n in self.sets}
        self._orders: dict[tuple[int, int], torch.Tensor] = {}

    def _order(self, seq_len: int, epoch: int) -> torch.Tensor:
        key = (seq_len, epoch)
        if key not in self._orders:
            self._orders = {k: v for k, v in self._orders.items() if k[0] != seq_len}  # keep one epoch per length
            gen = torch.Generator().manual_seed(_order_seed(self.seed, seq_len, epoch))
            self._orders[key] = torch.randperm(len(self.sets[seq_len]), generator=gen)
        return self._orders[key]

    def take(self, seq_len: int, n: int) -> list[int]:
        """The next ``n`` sequence indices of ``seq_len`` (crossing into the next epoch when needed)."""
        pos = self.position[seq_len]
        out: list[int] = []
        while len(out) < n:
            order = self._order(seq_len, pos["epoch"])
            chunk = order[pos["cursor"]:pos["cursor"] + n - len(out)].tolist()
            out.extend(chunk)
            pos["cursor"] += len(chunk)
            if pos["cursor"] >= len(order):
                pos["epoch"], pos["cursor"] = pos["epoch"] + 1, 0
        return out

    def state_dict(self) -> dict:
        return {"seed": self.seed, "position": {str(n): dict(p) for n, p in self.position.items()}}

    def load_state_dict(self, state: dict) -> None:
        if int(state["seed"]) != self.seed:
            raise ValueError(f"checkpoint data seed {state['seed']} != settings.seed {self.seed}")
        for key, pos in state["position"].items():
            if int(key) in self.position:
                self.position[int(key)] = {"epoch": int(pos["epoch"]), "cursor": int(pos["cursor"])}


def collate(packed: PackedSequences, indices: list[int]) -> dict[str, torch.Tensor]:
    """Stack sequences into int64 (B, L) tensors with document-boundary labels."""
    rows = [packed[i] for i in indices]
    batch = {k: torch.from_numpy(np.stack([r[k] for r in rows])) for k in ("input_ids", "position_ids",
                                                                            "segment_ids", "attention_mask")}
    batch["labels"] = document_labels(batch["input_ids"], batch["segment_ids"])
    return batch


def to_device(tensor: torch.Tensor, device: str) -> torch.Tensor:
    """Host tensor to ``device``; to CUDA from pinned memory, so the copy does not wait for queued kernels."""
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def model_inputs(batch: dict, device: str, implementation: str, mask_dtype: torch.dtype) -> dict:
    """Keyword arguments for the model's forward (no labels: the loss is computed by the caller)."""
    if implementation in ("torch_varlen", "flash_attention_2"):  # cu_seqlens from the host copy of the ids
        from .varlen import varlen_kwargs

        return {"input_ids": to_device(batch["input_ids"], device), "use_cache": False,
                "position_ids": to_device(batch["position_ids"], device),
                **varlen_kwargs(batch["segment_ids"], device, implementation)}
    input_ids, seg, pos = (to_device(batch[k], device) for k in ("input_ids", "segment_ids", "position_ids"))
    return {"input_ids": input_ids, "use_cache": False, **attention_kwargs(seg, pos, implementation, mask_dtype)}


def micro_batches(packed: PackedSequences, indices: list[int], micro_batch: int) -> list[dict]:
    """The step's samples collated in consecutive chunks of ``micro_batch``, each with its target count."""
    out = []
    for lo in range(0, len(indices), micro_batch):
        batch = collate(packed, indices[lo:lo + micro_batch])
        batch["targets"] = count_targets(batch["labels"])
        batch["tokens"] = int(batch["attention_mask"].sum())
        out.append(batch)
    return out


def eval_indices(packed: PackedSequences, n: int) -> list[int]:
    """``n`` validation sequences spread evenly over the split (all of them when fewer): deterministic across runs.

    Not the first ``n``: best-fit-decreasing packing opens its sequences with the longest pieces, so the first
    sequences held chunks of a few long documents and the validation loss never saw a short one."""
    total = len(packed)
    if n >= total:
        return list(range(total))
    return [int(i) for i in np.linspace(0, total - 1, int(n)).round().astype(np.int64)] if n > 0 else []
