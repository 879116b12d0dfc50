"""glibc's allocator around torch training loops: keep freed memory for the loop, give it back after.

Why: a training step allocates and frees the same large tensors every batch (the logits over the catalogue
alone are batch x length x items floats, 43 MB on MovieLens-100K). glibc serves blocks above its mmap
threshold (at most 32 MiB by default) with a fresh `mmap` and returns them with `munmap`, so every step
page-faults its tensors in again: on MovieLens-100K `embed` spent 57 of its 273 CPU seconds in the kernel
(33 million minor faults) and `evaluate`'s downstream trainings 15% of theirs. Inside `keep_freed_memory`
large blocks come from the heap and freed ones stay there for the next step; on leaving, the thresholds go
back to glibc's steady state and the kept memory is returned to the system. Results are unchanged (the
allocator does not touch numerics); docs/performance.md has the timings. Not glibc (macOS, musl): a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
HELD_MMAP = 1 << 30  # blocks up to 1 GiB from the heap while training
HELD_TRIM = 1 << 31  # keep up to 2 GiB of freed heap while training
AFTER_MMAP = 32 << 20  # glibc's largest dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit)
AFTER_TRIM = 2 * AFTER_MMAP  # what glibc's dynamic rule sets beside that threshold


@lru_cache(maxsize=1)
def _glibc() -> Any | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@contextmanager
def keep_freed_memory() -> Iterator[None]:
    """Large tensors from the heap, freed memory kept, for the duration of a training loop (see module doc)."""
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(M_MMAP_THRESHOLD, HELD_MMAP)
    libc.mallopt(M_TRIM_THRESHOLD, HELD_TRIM)
    try:
        yield
    finally:
        libc.mallopt(M_TRIM_THRESHOLD, AFTER_TRIM)
        libc.mallopt(M_MMAP_THRESHOLD, AFTER_MMAP)
        libc.malloc_trim(0)
