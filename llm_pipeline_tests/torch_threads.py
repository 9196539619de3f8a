"""One torch intra-op thread for the tests that use torch on this 2-core machine (a fixture, imported where used)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def one_torch_thread():
    """On a shared 2-core machine OpenMP spin-waiting made small torch ops ~20x slower; one thread avoids it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
