"""Host <-> device copies that do not wait for queued kernels (the dedup text preparation and MinHash).

A copy from pageable host memory to CUDA waits for everything already queued on the stream, and a copy back
waits with the host blocked; with a batch's kernels queued behind the previous batch's MinHash, either stalls the
pipeline. These go through pinned memory: ``to_device`` returns at once, ``to_host`` hands back a ready-function
that waits for that one copy. Off CUDA both are plain, zero-copy where numpy allows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_device", "to_host"]


def to_device(array: np.ndarray, device):
    """``array`` as a tensor on ``device``. To CUDA from pinned memory without waiting: a pageable copy would first
    wait for every kernel queued on the stream (the previous batch's MinHash included)."""
    import torch

    if torch.device(device).type != "cuda":
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)
    host = torch.from_numpy(np.ascontiguousarray(array)).pin_memory()
    return host.to(device, non_blocking=True)


def to_host(tensor):
    """``(numpy array, ready)``: ``tensor`` on the host, read it after ``ready()``. From a CUDA device the copy goes
    to pinned memory without waiting, and ``ready()`` waits for that copy only, not for work queued after it."""
    import torch

    if tensor.device.type != "cuda":
        return tensor.cpu().numpy(), lambda: None
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    done = torch.cuda.Event()
    done.record(torch.cuda.current_stream(tensor.device))  # the copy's stream (a non-default device has its own)
    return host.numpy(), done.synchronize
