"""Properties of the filter's decision function on small random frames (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqclean.decide import DROP, KEEP, NO_CUT, REPLACE, Policy, decide, otsu_threshold

SCORES = st.one_of(st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]), st.floats(0.0, 1.0))


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    """Whole users, sorted by (user, position), row_index a permutation (the input's order differs)."""
    lengths = draw(st.lists(st.integers(1, 12), min_size=1, max_size=6))
    n = sum(lengths)
    user = np.repeat(np.arange(len(lengths)) * 7 + 3, lengths)
    position = np.concatenate([np.arange(k) for k in lengths])
    perm = draw(st.permutations(list(range(n))))
    return pl.DataFrame(
        {
            "user": user,
            "position": position.astype(np.int32),
            "row_index": np.asarray(perm, dtype=np.uint32),
            "noise_score": draw(st.lists(SCORES, min_size=n, max_size=n)),
            "uncertainty": draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)),
            "is_cold": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
            "suggested_item": draw(st.lists(st.one_of(st.none(), st.integers(1, 4)), min_size=n, max_size=n)),
            "suggestion_confidence": draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)),
        },
        schema_overrides={"suggested_item": pl.Int64, "uncertainty": pl.Float32, "suggestion_confidence": pl.Float32},
    )


policies = st.builds(
    Policy,
    threshold=st.floats(0.0, 1.0),
    mode=st.sampled_from(["remove", "replace"]),
    min_seq_len=st.integers(0, 6),
    max_edits=st.one_of(st.none(), st.integers(0, 4)),
    max_edit_share=st.sampled_from([0.1, 0.2, 0.5, 1.0]),
    max_uncertainty=st.one_of(st.none(), st.floats(0.0, 1.0)),
    protect_cold=st.booleans(),
    keep_last=st.integers(0, 3),
    min_confidence=st.floats(0.0, 1.0),
    fallback=st.sampled_from(["keep", "drop"]),
)


def _changed(d: pl.DataFrame) -> pl.DataFrame:
    return d.filter(pl.col("decision") != KEEP)


@settings(max_examples=100, deadline=None)
@given(frames(), policies)
def test_threshold_one_changes_nothing(f: pl.DataFrame, p: Policy) -> None:
    d = decide(f, Policy(**{**p.__dict__, "threshold": 1.0}), "user")
    assert (d["decision"] == KEEP).all()
    assert d["reason"].null_count() == d.height - int((f["noise_score"] > 1.0).sum())


@settings(max_examples=100, deadline=None)
@given(frames(), policies, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_higher_threshold_never_removes_more(f: pl.DataFrame, p: Policy, a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    base = {**p.__dict__, "mode": "remove"}
    d_lo = decide(f, Policy(**{**base, "threshold": lo}), "user")
    d_hi = decide(f, Policy(**{**base, "threshold": hi}), "user")
    drop_lo = set(d_lo.filter(pl.col("decision") == DROP)["row_index"].to_list())
    drop_hi = set(d_hi.filter(pl.col("decision") == DROP)["row_index"].to_list())
    assert drop_hi <= drop_lo


@settings(max_examples=150, deadline=None)
@given(frames(), policies)
def test_guards_hold(f: pl.DataFrame, p: Policy) -> None:
    d = decide(f, p, "user")
    # same rows, same order, valid decisions
    assert d.select(f.columns).equals(f)
    assert set(d["decision"].unique().to_list()) <= {KEEP, DROP, REPLACE}
    ch = _changed(d)
    assert (ch["noise_score"] > p.threshold).all()
    if p.max_uncertainty is not None:
        assert (ch["uncertainty"] <= p.max_uncertainty).all()
    if p.protect_cold:
        assert not ch["is_cold"].any()
    if p.mode == "remove":
        assert (d["decision"] != REPLACE).all()
    rep = d.filter(pl.col("decision") == REPLACE)
    assert rep["suggested_item"].null_count() == 0
    assert (rep["suggestion_confidence"] >= p.min_confidence).all()
    assert not rep.select("user", "suggested_item").is_duplicated().any()
    if p.mode == "replace" and p.fallback == "keep":
        assert (d["decision"] != DROP).all()
    per_user = d.group_by("user").agg(
        pl.len().alias("n"),
        (pl.col("decision") == DROP).sum().alias("drops"),
        (pl.col("decision") != KEEP).sum().alias("edits"),
        ((pl.col("decision") != KEEP) & (pl.col("position") >= pl.len() - p.keep_last)).sum().alias("late"),
    )
    for n, drops, edits, late in per_user.select("n", "drops", "edits", "late").iter_rows():
        assert n - drops >= min(n, p.min_seq_len)
        cap = p.max_edits if p.max_edits is not None else max(1, math.floor(n * p.max_edit_share))
        assert edits <= cap
        assert late == 0
    # every held candidate names its guard, every change has a reason
    assert ch["reason"].null_count() == 0
    assert (d.filter(pl.col("guard").is_not_null())["decision"] == KEEP).all()


@settings(max_examples=80, deadline=None)
@given(frames(), st.floats(0.0, 1.0))
def test_max_fraction_cut(f: pl.DataFrame, frac: float) -> None:
    k = math.floor(frac * f.height)
    ordered = f.sort(["noise_score", "row_index"], descending=[True, False])
    top = NO_CUT if k == 0 else (float(ordered["noise_score"][k - 1]), int(ordered["row_index"][k - 1]))
    p = Policy(threshold=None, top=top, min_seq_len=0, max_edits=100, max_uncertainty=None)
    d = decide(f, p, "user")
    got = set(_changed(d)["row_index"].to_list())
    assert got == set(ordered.head(k)["row_index"].to_list())


def test_guard_precedence_and_priority() -> None:
    """One user of 5: the two noisiest are dropped (cap 2), the last row is protected."""
    f = pl.DataFrame(
        {
            "u": ["a"] * 5,
            "position": [0, 1, 2, 3, 4],
            "row_index": [4, 3, 2, 1, 0],
            "noise_score": [0.9, 0.8, 0.7, 0.6, 0.95],
            "uncertainty": [0.1, 0.1, 0.9, 0.1, 0.1],
        }
    )
    d = decide(f, Policy(threshold=0.5, min_seq_len=0, max_edits=2, keep_last=1), "u")
    assert d["decision"].to_list() == [DROP, DROP, KEEP, KEEP, KEEP]
    assert d["guard"].to_list() == [None, None, "uncertainty", "max_edits", "keep_last"]
    d = decide(f, Policy(threshold=0.5, min_seq_len=4, max_edits=5, max_uncertainty=None), "u")
    assert d["decision"].to_list() == [KEEP, KEEP, KEEP, KEEP, DROP]
    assert d["guard"].to_list() == ["min_seq_len", "min_seq_len", "min_seq_len", "min_seq_len", None]


def _least_within_class_variance_cut(counts: np.ndarray) -> float:
    """Otsu by its other definition, by brute force: the cut (upper edge of the low class's last bin) with
    the least weighted within-class variance; the first such cut on ties."""
    mids = (np.arange(counts.size) + 0.5) / counts.size
    best, cut = np.inf, 1.0
    for k in range(counts.size - 1):
        within = 0.0
        for part, m in ((counts[: k + 1], mids[: k + 1]), (counts[k + 1 :], mids[k + 1 :])):
            if part.sum() == 0:
                within = np.inf
                break
            mean = (part * m).sum() / part.sum()
            within += (part * (m - mean) ** 2).sum()
        if within < best - 1e-12:
            best, cut = within, (k + 1) / counts.size
    return cut


@pytest.mark.parametrize("seed", range(6))
def test_otsu_is_the_least_within_class_variance_cut(seed: int) -> None:
    """Overlapping bulk and tail at random places: the cut moves with them and equals the brute-force one."""
    rng = np.random.default_rng(seed)
    mids = (np.arange(200) + 0.5) / 200
    lo_mean, hi_mean = rng.uniform(0.1, 0.4), rng.uniform(0.55, 0.9)
    bulk = np.exp(-0.5 * ((mids - lo_mean) / rng.uniform(0.04, 0.1)) ** 2) * 1000
    tail = np.exp(-0.5 * ((mids - hi_mean) / rng.uniform(0.03, 0.08)) ** 2) * rng.uniform(50, 300)
    bins = np.round(bulk + tail).astype(np.int64)
    assert otsu_threshold(bins) == pytest.approx(_least_within_class_variance_cut(bins), abs=1e-12)


@pytest.mark.parametrize(("low", "high"), [((20, 30), (70, 75)), ((5, 15), (25, 30)), ((55, 65), (85, 90))])
def test_otsu_splits_two_separate_modes(low: tuple[int, int], high: tuple[int, int]) -> None:
    bins = np.zeros(100, dtype=np.int64)
    bins[low[0] : low[1]] = 100  # clean bulk
    bins[high[0] : high[1]] = 20  # noisy tail
    t = otsu_threshold(bins)
    assert low[1] / 100 <= t <= high[0] / 100  # every bulk bin at or below the cut, every tail bin above
    assert otsu_threshold(np.zeros(10)) == 1.0
