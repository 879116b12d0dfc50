"""Scoring one chunk in parts on several threads at once.

A scorer's result for a row depends only on its own user's rows (the `Scorer` contract: chunk-invariant), so a
chunk cut into parts of whole users and scored part by part gives the same bits as the chunk in one piece. The
numpy half of `score` (features, the detector's inputs) runs on one core; on two or more, the parts' numpy and
ONNX Runtime work overlap (docs/performance.md, "a chunk in parts on threads"). numpy and ONNX Runtime release
the GIL in their kernels, so threads suffice: no second copy of the fitted scorer, no process start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from seqclean.errors import UsageError
from seqclean.interests import Segments

MAX_AUTO_THREADS = 4
"""`threads = 0` takes one thread per usable core, at most this many (measured on 2 cores only)."""

MIN_PART_ROWS = 5_000
"""A chunk is cut only into parts of at least this many rows: below it a part's fixed costs (the detector's
full batches, the catalogue products) outweigh the overlap."""

T = TypeVar("T", np.ndarray, dict[str, np.ndarray])


def check_chunking(chunk_users: int, threads: int) -> None:
    """`score`'s chunking options, before any work (exit 2)."""
    if chunk_users < 1:
        raise UsageError(f"--chunk-users {chunk_users}: must be at least 1")
    if threads < 0:
        raise UsageError(f"--score-threads {threads}: must be 0 (one per core) or more")


def resolve_threads(threads: int) -> int:
    """`threads`, or for 0 the usable cores (at most `MAX_AUTO_THREADS`)."""
    if threads > 0:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_AUTO_THREADS))


def user_parts(segs: Segments, parts: int, min_rows: int | None = None) -> list[tuple[int, int]]:
    """[lo, hi) row ranges of whole users, at most `parts` of them with about equal rows, each (but a lone
    one) at least `min_rows` rows (default `MIN_PART_ROWS`)."""
    n = segs.seg.size
    parts = max(1, min(parts, n // max(MIN_PART_ROWS if min_rows is None else min_rows, 1), segs.start.size))
    if parts <= 1:
        return [(0, n)]
    target = np.array([n * k // parts for k in range(1, parts)])
    after = np.minimum(np.searchsorted(segs.start, target), segs.start.size - 1)  # the user starts nearest each target
    before = np.maximum(after - 1, 0)
    near = np.where(target - segs.start[before] <= segs.start[after] - target, before, after)
    bounds = np.unique(np.concatenate([[0], segs.start[near], [n]]))
    return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def map_parts(fn: Callable[[np.ndarray, Segments], T], iid: np.ndarray, segs: Segments, threads: int) -> T:
    """`fn(iid, segs)` of the whole chunk, computed part by part on `threads` threads (0: `resolve_threads`) and
    joined in row order. `fn` must be safe to call from several threads at once (its lazy state built first)."""
    ranges = user_parts(segs, resolve_threads(threads))
    if len(ranges) == 1:
        return fn(iid, segs)

    def one(r: tuple[int, int]) -> T:
        lo, hi = r
        return fn(iid[lo:hi], Segments.from_sorted_ids(segs.seg[lo:hi]))

    with ThreadPoolExecutor(len(ranges)) as pool:
        outs = list(pool.map(one, ranges))
    if isinstance(outs[0], dict):
        return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}  # type: ignore[return-value]
    return np.concatenate(outs)
