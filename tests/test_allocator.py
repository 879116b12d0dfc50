"""seqclean.allocator: large blocks are reused inside a training loop, and the process is left as glibc runs it."""

from __future__ import annotations

import ctypes
import resource

import numpy as np
import pytest

from seqclean.allocator import _glibc, keep_freed_memory

BLOCK = 64 << 20  # above glibc's largest dynamic mmap threshold (32 MiB): mmapped per allocation by default
PAGES = BLOCK // resource.getpagesize()


def _faults_of_allocations(n: int) -> int:
    """Minor page faults of `n` malloc/touch/free rounds of one block, as a training step does with a tensor
    (straight through libc: numpy asks for huge pages on large arrays, torch does not)."""
    libc = _glibc()
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        block = libc.malloc(BLOCK)
        ctypes.memset(block, 1, BLOCK)  # touch every page
        libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(_glibc() is None, reason="glibc's mallopt is not available here")
def test_freed_blocks_are_reused_inside_the_loop() -> None:
    with keep_freed_memory():
        inside = _faults_of_allocations(10)
    outside = _faults_of_allocations(10)
    # inside: the first block is faulted in once, the nine after it reuse it; outside: every block is fresh
    assert inside < 3 * PAGES
    assert outside > 8 * PAGES


def test_no_glibc_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    import seqclean.allocator as allocator

    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    with allocator.keep_freed_memory():
        assert np.ones(3).sum() == 3.0
