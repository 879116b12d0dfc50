"""The fixed downstream protocol of `seqclean evaluate`: splits, arms and removal budgets.

Split (time-ordered leave-one-out): a user's sequence is ordered by (time, input row), as everywhere in
seqclean; the last interaction is the test target, the second last the validation target, everything
before are *training inputs*. Users with fewer than 3 interactions have no training input and are not
evaluated; all their rows count as protected. An arm is a set of changes to training inputs only
(removals or item replacements); targets are read from the same log for every arm and never change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from seqclean.io import ROW_INDEX

PROTECTED = 2  # the validation and test targets at the end of every sequence


@dataclass
class Split:
    """A log in sequence order with its leave-one-out roles; arrays are aligned with the log's rows."""

    row_index: np.ndarray  # row in the log, in sequence order (user, time, row)
    uid: np.ndarray  # dense user number, in sequence order
    iid: np.ndarray  # dense item number (1-based; 0 = padding), in sequence order
    position: np.ndarray
    length: np.ndarray  # the user's sequence length, per row
    n_users: int
    user_ids: list[object]  # the user id of each dense user number

    @property
    def training(self) -> np.ndarray:
        """Rows that are training inputs (True) rather than validation/test targets."""
        return (self.position < self.length - PROTECTED) & (self.length > PROTECTED)

    def training_by_row(self, n_rows: int) -> np.ndarray:
        """`training` indexed by log row instead of sequence order."""
        out = np.zeros(n_rows, dtype=bool)
        out[self.row_index] = self.training
        return out


def make_split(log: pl.DataFrame, user: str, item: str, time: str, item_index: pl.DataFrame) -> Split:
    """Sequence order and roles of `log`; `item_index` maps item id -> dense iid (columns: `item`, iid)."""
    seq = (
        log.select(user, item, time)
        .with_row_index("_r")
        .sort([user, time, "_r"])
        .with_columns(
            pl.col(user).rank("dense").cast(pl.Int64).sub(1).alias("_uid"),
            pl.int_range(pl.len()).over(user).alias("_pos"),
            pl.len().over(user).alias("_len"),
        )
        .join(item_index.select(item, "iid"), on=item, how="left", maintain_order="left")
    )
    return Split(
        row_index=seq["_r"].to_numpy().astype(np.int64),
        uid=seq["_uid"].to_numpy(),
        iid=seq["iid"].to_numpy().astype(np.int64),
        position=seq["_pos"].to_numpy().astype(np.int64),
        length=seq["_len"].to_numpy().astype(np.int64),
        n_users=int(seq["_uid"].n_unique()),
        user_ids=seq[user].unique(maintain_order=True).to_list(),
    )


@dataclass
class Arm:
    """One training log of the comparison: the split's training inputs minus `removed` rows, with `replaced`
    rows' items swapped (rows are log rows of the split's log)."""

    name: str
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    replaced: dict[int, int] = field(default_factory=dict)  # log row -> new iid
    note: str = ""


@dataclass
class Targets:
    """Per evaluated user (uid order): validation and test targets, shared by every arm."""

    uids: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def targets(split: Split) -> Targets:
    last = split.position == split.length - 1
    second = split.position == split.length - 2
    keep = split.length > PROTECTED
    uids = split.uid[last & keep]
    return Targets(uids=uids, valid=split.iid[second & keep], test=split.iid[last & keep])


def training_sequences(split: Split, arm: Arm) -> list[np.ndarray]:
    """Per evaluated user (uid order), the arm's training inputs in sequence order.

    Only training rows can be removed or replaced: a change on a target row is a protocol violation.
    """
    n_rows = int(split.row_index.max()) + 1 if len(split.row_index) else 0
    train_by_row = split.training_by_row(n_rows)
    bad = arm.removed[~train_by_row[arm.removed]] if len(arm.removed) else arm.removed
    rep_rows = np.fromiter(arm.replaced.keys(), dtype=np.int64, count=len(arm.replaced))
    if len(bad) or (len(rep_rows) and not train_by_row[rep_rows].all()):
        raise AssertionError(f"arm {arm.name}: changes a validation or test target")
    drop = np.zeros(n_rows, dtype=bool)
    drop[arm.removed] = True
    iid = split.iid.copy()
    if arm.replaced:
        by_row = np.full(n_rows, -1, dtype=np.int64)
        by_row[rep_rows] = np.fromiter(arm.replaced.values(), dtype=np.int64, count=len(arm.replaced))
        new = by_row[split.row_index]
        iid = np.where(new >= 0, new, iid)
    keep = split.training & ~drop[split.row_index]
    evaluated = split.length > PROTECTED
    uid_k, iid_k = split.uid[keep], iid[keep]
    users = np.unique(split.uid[evaluated])
    bounds = np.searchsorted(uid_k, users, side="left"), np.searchsorted(uid_k, users, side="right")
    return [iid_k[a:b] for a, b in zip(bounds[0], bounds[1], strict=True)]


def rows_before_last_window(split: Split, max_len: int) -> int:
    """Training inputs before each user's last `max_len + 1`: a model trained on the last window never sees them."""
    n_train = np.maximum(split.length[split.position == 0] - PROTECTED, 0)
    return int(np.maximum(n_train - (max_len + 1), 0).sum())


def top_k_rows(split: Split, score_by_row: np.ndarray, k: int) -> np.ndarray:
    """The k training rows with the highest score (ties: lower row first); log rows."""
    n_rows = len(score_by_row)
    cand = np.flatnonzero(split.training_by_row(n_rows))
    order = np.lexsort((cand, -score_by_row[cand]))
    return np.sort(cand[order[:k]])


def labelled_rows(labels: pl.DataFrame, split: Split, n_rows: int) -> np.ndarray:
    """The training rows labelled noise (`row_index`, `is_noise`): the arm of a detector that makes no mistake.

    Labelled rows that are validation or test targets stay: no arm may change a target.
    """
    return np.flatnonzero(noise_by_row(labels, n_rows) & split.training_by_row(n_rows))


def noise_by_row(labels: pl.DataFrame, n_rows: int) -> np.ndarray:
    """`is_noise` indexed by log row (labels carry `row_index`)."""
    noise = np.zeros(n_rows, dtype=bool)
    noise[labels[ROW_INDEX].to_numpy().astype(np.int64)] = labels["is_noise"].to_numpy()
    return noise


def random_rows(split: Split, n_rows: int, k: int, seed: int) -> np.ndarray:
    """k training rows drawn uniformly (nested across k for one seed: a prefix of one permutation)."""
    cand = np.flatnonzero(split.training_by_row(n_rows))
    perm = np.random.default_rng(seed).permutation(cand)
    return np.sort(perm[:k])
