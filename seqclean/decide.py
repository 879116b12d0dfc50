"""The filter's decision logic as pure functions over small frames: which rows to keep, drop or replace.

No I/O: `filter.py` feeds `decide` chunks of whole users read from `scores.parquet` and writes what
it returns. Keeping the rules here makes them property-testable with hypothesis on tiny frames.

A row is a *candidate* when the threshold rule says so (`noise_score > threshold` and/or inside the
global top-k cut of `--max-fraction`). A candidate becomes a change unless a guard holds it; guards
are checked in this order and the first that holds a row is its `guard`:

1. `uncertainty`: `uncertainty > max_uncertainty` (the decision rests on thin evidence);
2. `cold`: the item is cold and `protect_cold` is set;
3. `keep_last`: the row is among the user's last `keep_last` positions (leave-one-out targets);
4. `low_confidence` (replace mode, `fallback="keep"`): no suggestion, a suggestion below
   `min_confidence`, or the same suggestion already given to a higher-scored row of the user;
5. `min_seq_len`: dropping it would leave the user with fewer than `min_seq_len` rows
   (replacements do not shorten a sequence, so only drops count here);
6. `max_edits`: the user already has `cap` changes, cap = `max_edits` or else
   max(1, floor(max_edit_share * length)).

Within a user, candidates compete in priority order: higher `noise_score` first, then lower
`row_index`; so the guards 4-6 keep the least noisy candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

KEEP, DROP, REPLACE = "keep", "drop", "replace"
GUARDS = ("uncertainty", "cold", "keep_last", "low_confidence", "min_seq_len", "max_edits")
MODES = ("remove", "replace")
FALLBACKS = ("keep", "drop")
NO_CUT = (math.inf, -1)
"""A `top` cut that admits no row (max-fraction 0)."""


@dataclass(frozen=True)
class Policy:
    """Everything the decision depends on; `filter.py` resolves `--threshold auto` before building it."""

    threshold: float | None = 0.5
    top: tuple[float, int] | None = None  # (score, row_index) of the last row inside the max-fraction cut
    rule: str = "noise_score > 0.5"  # human description, quoted in each change's reason
    mode: str = "remove"
    min_seq_len: int = 3
    max_edits: int | None = None
    max_edit_share: float = 0.2
    max_uncertainty: float | None = 0.5
    protect_cold: bool = False
    keep_last: int = 0
    min_confidence: float = 0.5
    fallback: str = "keep"


def candidate_expr(policy: Policy) -> pl.Expr:
    """True where the threshold rule flags a row (before any guard)."""
    score = pl.col("noise_score")
    cand = pl.lit(True)
    if policy.threshold is not None:
        cand = cand & (score > policy.threshold)
    if policy.top is not None:
        s, r = policy.top
        cand = cand & ((score > s) | ((score == s) & (pl.col("row_index") <= r)))
    if policy.threshold is None and policy.top is None:
        cand = pl.lit(False)
    return cand


def decide(scores: pl.DataFrame, policy: Policy, user_col: str) -> pl.DataFrame:
    """Add `decision` (keep/drop/replace), `guard` (the guard that held a candidate, else null) and
    `reason` (why a row changed or was held; null for rows that were never candidates).

    `scores` holds whole users: `user_col`, `position`, `row_index`, `noise_score`, and optionally
    `uncertainty`, `is_cold`, `suggested_item`, `suggestion_confidence` (required in replace mode).
    Row order is preserved.
    """
    cols = set(scores.columns)
    u = user_col
    f = scores.with_row_index("_i").with_columns(
        candidate_expr(policy).alias("_cand"),
        pl.len().over(u).cast(pl.Int64).alias("_n"),
        (pl.len().over(u).cast(pl.Int64) - pl.col("position").rank("ordinal").over(u).cast(pl.Int64)).alias(
            "_from_end"
        ),
    )
    guard = pl.lit(None, dtype=pl.String)
    if policy.max_uncertainty is not None and "uncertainty" in cols:
        guard = pl.when(pl.col("_cand") & (pl.col("uncertainty") > policy.max_uncertainty)).then(pl.lit("uncertainty"))
    if policy.protect_cold and "is_cold" in cols:
        guard = pl.when(guard.is_null() & pl.col("_cand") & pl.col("is_cold")).then(pl.lit("cold")).otherwise(guard)
    if policy.keep_last > 0:
        guard = (
            pl.when(guard.is_null() & pl.col("_cand") & (pl.col("_from_end") < policy.keep_last))
            .then(pl.lit("keep_last"))
            .otherwise(guard)
        )
    f = f.with_columns(guard.alias("guard"))
    live = pl.col("_cand") & pl.col("guard").is_null()

    # priority order within a user: noisiest first, then earliest row
    f = f.sort([u, "noise_score", "row_index"], descending=[False, True, False], maintain_order=True)
    if policy.mode == "replace":
        ok = live & pl.col("suggested_item").is_not_null() & (pl.col("suggestion_confidence") >= policy.min_confidence)
        f = f.with_columns(ok.alias("_ok"))
        first = pl.int_range(pl.len()).over([u, "suggested_item", "_ok"]) == 0
        f = f.with_columns((pl.col("_ok") & first).alias("_rep"))
        if policy.fallback == "keep":
            f = f.with_columns(
                pl.when(live & ~pl.col("_rep")).then(pl.lit("low_confidence")).otherwise(pl.col("guard")).alias("guard")
            )
            f = f.with_columns((pl.col("_rep") & pl.col("guard").is_null()).alias("_rep"))
        f = f.with_columns((live & ~pl.col("_rep")).alias("_drop"))
    else:
        f = f.with_columns(pl.lit(False).alias("_rep"), live.alias("_drop"))

    allowed = pl.max_horizontal(pl.col("_n") - policy.min_seq_len, pl.lit(0))
    drops_before = pl.col("_drop").cast(pl.Int64).cum_sum().over(u) - pl.col("_drop").cast(pl.Int64)
    f = f.with_columns(
        pl.when(pl.col("_drop") & (drops_before >= allowed))
        .then(pl.lit("min_seq_len"))
        .otherwise(pl.col("guard"))
        .alias("guard")
    ).with_columns(
        pl.col("_drop") & pl.col("guard").is_null(),
        pl.col("_rep") & pl.col("guard").is_null(),
    )
    if policy.max_edits is not None:
        cap = pl.lit(policy.max_edits)
    else:
        cap = pl.max_horizontal((pl.col("_n") * policy.max_edit_share).floor().cast(pl.Int64), pl.lit(1))
    edit = (pl.col("_drop") | pl.col("_rep")).cast(pl.Int64)
    f = f.with_columns(
        pl.when((edit == 1) & (edit.cum_sum().over(u) - edit >= cap))
        .then(pl.lit("max_edits"))
        .otherwise(pl.col("guard"))
        .alias("guard")
    ).with_columns(
        pl.col("_drop") & pl.col("guard").is_null(),
        pl.col("_rep") & pl.col("guard").is_null(),
    )
    decision = (
        pl.when(pl.col("_drop")).then(pl.lit(DROP)).when(pl.col("_rep")).then(pl.lit(REPLACE)).otherwise(pl.lit(KEEP))
    )
    f = f.with_columns(decision.alias("decision"))
    f = f.with_columns(_reason(policy, cols).alias("reason")).sort("_i")
    return f.drop([c for c in f.columns if c.startswith("_")])


def _reason(policy: Policy, cols: set[str]) -> pl.Expr:
    score = pl.format("noise_score {} ({})", pl.col("noise_score").round(4), pl.lit(policy.rule))
    conf = pl.col("suggestion_confidence").round(4) if "suggestion_confidence" in cols else pl.lit(None)
    unc = pl.col("uncertainty").round(4) if "uncertainty" in cols else pl.lit(None)
    g = pl.col("guard")
    held = (
        pl.when(g == "uncertainty")
        .then(pl.format("kept by guard uncertainty: {} > {}", unc, pl.lit(policy.max_uncertainty)))
        .when(g == "cold")
        .then(pl.lit("kept by guard cold: cold item protected"))
        .when(g == "keep_last")
        .then(pl.format("kept by guard keep_last: among the user's last {}", pl.lit(policy.keep_last)))
        .when(g == "low_confidence")
        .then(
            pl.format(
                "kept by guard low_confidence: no suggestion, confidence {} < {}, or already used for this user",
                conf,
                pl.lit(policy.min_confidence),
            )
        )
        .when(g == "min_seq_len")
        .then(pl.format("kept by guard min_seq_len: user would fall below {}", pl.lit(policy.min_seq_len)))
        .otherwise(pl.lit("kept by guard max_edits: user's edit cap reached"))
    )
    return (
        pl.when(pl.col("decision") == REPLACE)
        .then(pl.format("{}; replaced, suggestion confidence {}", score, conf))
        .when(pl.col("decision") == DROP)
        .then(score if policy.mode == "remove" else pl.format("{}; dropped, no usable suggestion", score))
        .when(g.is_not_null())
        .then(pl.format("{}; {}", score, held))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def otsu_threshold(counts: np.ndarray) -> float:
    """Otsu's cut on a histogram of `noise_score` over [0, 1] with `counts.size` equal bins.

    Returns the upper edge of the last bin of the low class, so `noise_score > t` is the high
    (noisy) class. The cut maximises the between-class variance: a data-driven split of a score
    distribution that has a clean bulk and a noisy tail. 1.0 when the histogram is empty.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 1.0
    b = counts.size
    mids = (np.arange(b) + 0.5) / b
    w0 = np.cumsum(counts)[:-1]
    m0 = np.cumsum(counts * mids)[:-1]
    w1 = total - w0
    m_all = float((counts * mids).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0 * w1 - (m_all - m0) * w0) ** 2 / (w0 * w1)
    between = np.where((w0 > 0) & (w1 > 0), between, -1.0)
    k = int(np.argmax(between))
    if between[k] < 0:
        return 1.0
    return (k + 1) / b
