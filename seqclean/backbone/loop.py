"""The torch plumbing of the backbone's training loop: the device, the thread count, the batches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from seqclean.errors import RuntimeUnavailableError


def resolve_device(device: str) -> str:
    """torch device for training: `auto` takes CUDA when torch sees it."""
    import torch

    if device == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise RuntimeUnavailableError(
            "--device cuda: torch sees no CUDA GPU; install a CUDA build of torch on a GPU machine, or use --device cpu"
        )
    return "cpu"


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Use `threads`, or the cores this process may run on (affinity aware), restoring torch's setting after."""
    import torch

    before = torch.get_num_threads()
    n = threads
    if not n:
        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            n = os.cpu_count() or 1
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def length_batches(lengths: Any, batch_size: int, gen: Any, pool: int = 32) -> Iterator[Any]:
    """Shuffled batches of windows of similar length (less padding): shuffle, sort by length within pools
    of `pool` batches, then shuffle the batches. Deterministic given `gen`."""
    import torch

    order = torch.randperm(len(lengths), generator=gen)
    batches: list[Any] = []
    step = batch_size * pool
    for p in range(0, len(order), step):
        chunk = order[p : p + step]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    for i in torch.randperm(len(batches), generator=gen).tolist():
        yield batches[i]
