"""Shared test configuration: headless matplotlib, no stray run directories."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(request: pytest.FixtureRequest):
    """Torch tests (marked ``torch``) run on one thread, whatever the process chose before.

    Tiny models run fastest on one thread, and a shared machine punishes oversubscription
    (docs/torch.md, "CPU threads"); the previous setting is restored after the module.
    """
    if not any(m.name == "torch" for m in request.node.iter_markers()):
        yield
        return
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
