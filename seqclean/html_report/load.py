"""Reading WORKDIR (and the filter's OUT) into a `ReportData`.

Lazy Polars aggregations: never the whole scores file at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from seqclean.errors import InputDataError, MissingInputError
from seqclean.html_report.model import DEFAULT_THRESHOLD, POP_EDGES, WHY_COLUMNS, ReportData
from seqclean.io import input_errors
from seqclean.workdir import (
    CHANGES,
    FILTER_SUMMARY,
    ITEM_REPORT,
    ITEMS,
    MANIFEST,
    REMOVED,
    SCORE_SUMMARY,
    SCORES,
)

# --------------------------------------------------------------------------------------------- loading


def _threshold(summary: dict[str, Any]) -> float:
    t = summary.get("threshold")
    return DEFAULT_THRESHOLD if t is None else float(t)


def _read_json(path: Path, fix: str) -> dict[str, Any]:
    if not path.exists():
        raise MissingInputError(f"{path} not found; {fix}")
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputDataError(f"{path}: not valid JSON ({exc.msg}); {fix}") from exc
    return data


def _scan(path: Path, fix: str) -> pl.LazyFrame:
    if not path.exists():
        raise MissingInputError(f"{path} not found; {fix}")
    return pl.scan_parquet(path)


def popularity_buckets(item_report: pl.DataFrame) -> list[dict[str, Any]]:
    """Flag rate of the interactions on items grouped by how many interactions the item has."""
    rows = []
    edges = [*POP_EDGES, None]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        assert lo is not None
        sel = item_report.filter(pl.col("interactions") >= lo)
        if hi is not None:
            sel = sel.filter(pl.col("interactions") < hi)
        n = int(sel["interactions"].sum())
        if n == 0:
            continue
        flagged = int(sel["n_flagged"].sum())
        label = f"{lo}+" if hi is None else (str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}")
        rows.append(
            {
                "bucket": label,
                "items": sel.height,
                "interactions": n,
                "flagged": flagged,
                "flag_rate": flagged / n,
                "cold_share": int(sel["is_cold"].sum()) / sel.height,
            }
        )
    return rows


def load_report_data(
    workdir: Path, filter_out: Path | None = None, *, n_items: int = 12, n_users: int = 4, window: int = 24
) -> ReportData:
    """Read what the page needs from WORKDIR (after `score`) and, when given, the filter's OUT directory.

    Shows the `n_items` most-flagged items and the `n_users` users with the most flagged interactions, each
    through a `window` of consecutive positions."""
    with input_errors(workdir):
        return _load(workdir, filter_out, n_items, n_users, window)


def _load(workdir: Path, filter_out: Path | None, n_items: int, n_users: int, window: int) -> ReportData:
    fix = f"run `seqclean score --workdir {workdir}` first"
    summary = _read_json(workdir / SCORE_SUMMARY, fix)
    manifest_path = workdir / MANIFEST
    manifest = _read_json(manifest_path, "rerun `seqclean embed`") if manifest_path.exists() else {}
    threshold = _threshold(summary)

    scores = _scan(workdir / SCORES, fix)
    schema = scores.collect_schema()
    item_col = manifest.get("columns", {}).get("item", "item_id")
    user_col = manifest.get("columns", {}).get("user", "user_id")
    for col in (item_col, user_col, "position", "noise_score"):
        if col not in schema:
            raise InputDataError(f"{workdir / SCORES}: column '{col}' not found; {fix}")

    item_report = _scan(workdir / ITEM_REPORT, fix).collect()
    for col in (item_col, "interactions", "n_flagged", "flagged_share", "is_cold"):
        if col not in item_report.columns:
            raise InputDataError(f"{workdir / ITEM_REPORT}: column '{col}' not found; {fix}")
    titles = _titles(workdir / ITEMS, item_col)

    filter_summary = None
    changed: dict[int, tuple[str, Any]] = {}
    if filter_out is not None:
        filter_summary = _read_json(
            filter_out / FILTER_SUMMARY, f"run `seqclean filter --workdir {workdir} --out {filter_out}` first"
        )

    flagged = pl.col("noise_score") > threshold
    why = [c for c, _ in WHY_COLUMNS if c in schema]
    top = item_report.filter(pl.col("n_flagged") > 0).sort(
        ["n_flagged", "flagged_share", item_col], descending=[True, True, False]
    )
    top = top.head(n_items)
    comp: dict[Any, dict[str, Any]] = {}
    if top.height:
        agg = (
            scores.filter(flagged & pl.col(item_col).is_in(top[item_col].implode()))
            .group_by(item_col)
            .agg([pl.col(c).mean() for c in ["noise_score", *why]])
            .collect()
        )
        comp = {r[item_col]: r for r in agg.to_dicts()}
    top_items = []
    for r in top.to_dicts():
        c = comp.get(r[item_col], {})
        top_items.append(
            {
                "item": r[item_col],
                "title": titles.get(r[item_col], ""),
                "interactions": r["interactions"],
                "n_flagged": r["n_flagged"],
                "flagged_share": r["flagged_share"],
                "is_cold": bool(r["is_cold"]),
                "flagged_mean_score": c.get("noise_score"),
                "why": {name: c.get(col) for col, name in WHY_COLUMNS if col in why},
            }
        )

    users = (
        scores.filter(flagged)
        .group_by(user_col)
        .agg(pl.len().alias("n"))
        .sort(["n", user_col], descending=[True, False])
        .head(n_users)
        .collect()
    )
    sequences: list[dict[str, Any]] = []
    if users.height:
        extra = [c for c in ("row_index", "suggested_item", "suggestion_confidence") if c in schema]
        rows = (
            scores.filter(pl.col(user_col).is_in(users[user_col].implode()))
            .select([user_col, "position", item_col, "noise_score", *extra])
            .collect()
        )
        if filter_out is not None and "row_index" in rows.columns:
            changed = _changes(filter_out, rows["row_index"])
        lengths = rows.group_by(user_col).agg(pl.len().alias("len"))
        length = dict(zip(lengths[user_col].to_list(), lengths["len"].to_list(), strict=True))
        for u in users.to_dicts():
            uid = u[user_col]
            mine = rows.filter(pl.col(user_col) == uid)
            start = best_window(mine.filter(pl.col("noise_score") > threshold)["position"].to_list(), window)
            seq = mine.filter(pl.col("position").is_between(start, start + window - 1))
            items = []
            for r in seq.sort("position").to_dicts():
                action = changed.get(int(r["row_index"])) if "row_index" in r else None
                sug = r.get("suggested_item")
                items.append(
                    {
                        "position": r["position"],
                        "item": r[item_col],
                        "title": titles.get(r[item_col], ""),
                        "noise_score": r["noise_score"],
                        "flagged": r["noise_score"] > threshold,
                        "suggested": sug,
                        "suggested_title": titles.get(sug, "") if sug is not None else "",
                        "confidence": r.get("suggestion_confidence"),
                        "action": action[0] if action else None,
                    }
                )
            sequences.append({"user": uid, "length": length[uid], "n_flagged": u["n"], "items": items})

    return ReportData(
        workdir=str(workdir),
        summary=summary,
        manifest=manifest,
        filter_summary=filter_summary,
        filter_out=str(filter_out) if filter_out is not None else None,
        popularity=popularity_buckets(item_report),
        top_items=top_items,
        sequences=sequences,
    )


def best_window(flagged_positions: Sequence[int], window: int) -> int:
    """First position of the `window` consecutive positions holding the most flagged ones (earliest on ties),
    starting a little before the first of them so that the context shows."""
    pos = sorted(flagged_positions)
    if not pos:
        return 0
    best, best_n, j = pos[0], 0, 0
    for i, p in enumerate(pos):
        while pos[j] < p - window + 3:
            j += 1
        n = i - j + 1
        if n > best_n:
            best, best_n = pos[j], n
    return max(0, best - 2)


def _titles(items_path: Path, item_col: str) -> dict[Any, str]:
    """Item id -> its rendered text (the catalogue is small next to the log)."""
    if not items_path.exists():
        return {}
    lf = pl.scan_parquet(items_path)
    cols = lf.collect_schema()
    if item_col not in cols or "text" not in cols:
        return {}
    df = lf.select(item_col, "text").collect()
    return dict(zip(df[item_col].to_list(), df["text"].to_list(), strict=True))


def _changes(filter_out: Path, row_index: pl.Series) -> dict[int, tuple[str, Any]]:
    """What the filter did to these rows: removed, or replaced (by which item)."""
    out: dict[int, tuple[str, Any]] = {}
    wanted = row_index.implode()
    removed = filter_out / REMOVED
    if removed.exists():
        for r in (
            pl.scan_parquet(removed)
            .filter(pl.col("row_index").is_in(wanted))
            .select("row_index")
            .collect()["row_index"]
        ):
            out[int(r)] = ("removed", None)
    changes = filter_out / CHANGES
    if changes.exists():
        df = pl.scan_parquet(changes).filter(pl.col("row_index").is_in(wanted)).collect()
        for r in df.to_dicts():
            out[int(r["row_index"])] = ("replaced", r.get("suggested_item"))
    return out


# ------------------------------------------------------------------------------------------------- SVG
