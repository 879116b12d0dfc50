"""Scoring a chunk in parts on threads (`seqclean.scorers.parts`): whole users, row order, the same bits."""

from __future__ import annotations

import numpy as np
import pytest

from seqclean.interests import Segments, leave_one_out_sum, window_sum
from seqclean.scorers import parts
from seqclean.scorers.parts import map_parts, resolve_threads, user_parts


def _segs(lengths: list[int]) -> Segments:
    return Segments.from_sorted_ids(np.repeat(np.arange(len(lengths)), lengths))


def test_parts_are_whole_users_covering_every_row_once() -> None:
    segs = _segs([5, 1, 30, 2, 2, 9, 14, 3])
    for k in (1, 2, 3, 4, 8, 20):
        ranges = user_parts(segs, k, min_rows=1)
        assert ranges[0][0] == 0 and ranges[-1][1] == segs.seg.size
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(ranges, ranges[1:], strict=False))
        assert {lo for lo, _ in ranges} <= set(segs.start.tolist())  # every part starts at a user's first row
        assert len(ranges) <= min(k, segs.start.size)
    assert len(user_parts(segs, 4, min_rows=1)) == 4
    assert user_parts(segs, 4, min_rows=100) == [(0, segs.seg.size)]  # too few rows to be worth cutting
    assert len(user_parts(segs, 4, min_rows=20)) == 3  # 66 rows: parts of 20 rows at least
    assert user_parts(_segs([50]), 4, min_rows=1) == [(0, 50)]  # one user is never cut


def test_map_parts_gives_the_bits_of_the_whole_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parts, "MIN_PART_ROWS", 1)
    rng = np.random.default_rng(0)
    segs = _segs(rng.integers(1, 40, size=50).tolist())
    x = rng.normal(size=(segs.seg.size, 24)).astype(np.float32)
    iid = np.arange(segs.seg.size)

    def fn(i: np.ndarray, s: Segments) -> dict[str, np.ndarray]:
        return {"w": window_sum(x[i], s, 3, 3), "l": leave_one_out_sum(x[i], s)[:, 0]}

    whole = fn(iid, segs)
    for threads in (1, 2, 5):
        got = map_parts(fn, iid, segs, threads)
        assert set(got) == {"w", "l"}
        assert got["w"].tobytes() == whole["w"].tobytes() and got["l"].tobytes() == whole["l"].tobytes()
    arr = map_parts(lambda i, s: leave_one_out_sum(x[i], s), iid, segs, 3)
    assert arr.tobytes() == leave_one_out_sum(x, segs).tobytes()
    calls: list[int] = []
    map_parts(lambda i, s: calls.append(i.size) or i, iid, segs, 3)
    assert sum(calls) == iid.size and len(calls) == 3


def test_resolve_threads() -> None:
    assert resolve_threads(3) == 3
    assert 1 <= resolve_threads(0) <= parts.MAX_AUTO_THREADS
