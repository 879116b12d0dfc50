"""Stage 3, `seqclean filter`: drop (or replace) the interactions the scores flag, within the guards.

Reads `WORKDIR/scores.parquet` in chunks of whole users (the file is sorted by user and position and
holds each user's rows contiguously), decides every row with `seqclean.decide.decide`, and keeps only
the changed rows (narrow: row number, scores, reason). The input log is then re-scanned lazily and
joined on `row_index`, so memory is bounded by the chunk size plus the number of changes, never by
the width or length of the log.

Writes into OUT:
- `cleaned.parquet`: the input's exact columns, dtypes and row order, minus dropped rows (replace
  mode: replaced rows carry the suggested item id in the item column);
- `removed.parquet` (remove mode): every dropped row, all input columns + `row_index`, `noise_score`,
  `uncertainty`, `reason`; or `changes.parquet` (replace mode): every changed row with `row_index`,
  user, time, `original_item`, `suggested_item`, `suggestion_confidence`, `noise_score`,
  `uncertainty`, `decision`, `reason`;
- `summary.json`: the rule that ran, counts per decision and per guard, notes;
- with `fmt="recbole"`: `recbole/<name>.inter` and `recbole/<name>.item` (RecBole atomic files).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.decide import DROP, FALLBACKS, GUARDS, KEEP, MODES, NO_CUT, REPLACE, Policy, decide, otsu_threshold
from seqclean.errors import InputDataError, MissingInputError, UsageError
from seqclean.gate import require_reliable
from seqclean.io import (
    ROW_INDEX,
    Workdir,
    atomic_path,
    check_unchanged,
    input_errors,
    scan_table,
    write_json,
    write_parquet,
)
from seqclean.score import SCORES
from seqclean.score import SUMMARY as SCORE_SUMMARY
from seqclean.stages import (
    SUCCESS,
    fingerprint,
    is_complete,
    kill_point,
    locked,
    read_success,
    reject_file,
    stage_record,
    write_success,
)

CLEANED = "cleaned.parquet"
REMOVED = "removed.parquet"
CHANGES = "changes.parquet"
FILTER_SUMMARY = "summary.json"
RECBOLE_DIR = "recbole"
FORMATS = ("parquet", "recbole")
OTSU_BINS = 1000
OPTIONAL = ("uncertainty", "is_cold", "suggested_item", "suggestion_confidence")


@dataclass
class FilterConfig:
    """Options of `seqclean filter`; see docs/filter.md for what each means and why the defaults."""

    workdir: Path
    out: Path
    threshold: float | str | None = 0.5  # a float in [0, 1], "auto", or None (only --max-fraction)
    max_fraction: float | None = None
    mode: str = "remove"
    min_seq_len: int = 3
    max_edits_per_user: int | None = None  # None: max(1, floor(max_edit_share * length))
    max_edit_share: float = 0.2
    max_uncertainty: float | None = 0.5  # None: guard off
    protect_cold: bool = False
    keep_last: int = 0
    min_confidence: float = 0.5
    fallback: str = "keep"
    fmt: str = "parquet"
    dataset_name: str = "cleaned"
    chunk_rows: int = 1_000_000
    force: bool = False  # filter even when `score` judged the result unreliable (seqclean.gate)
    rerun: bool = False  # recompute even when OUT holds complete outputs (OUT/_SUCCESS) for these inputs and options


@dataclass
class FilterResult:
    n_input: int
    n_removed: int
    n_replaced: int
    summary: dict[str, Any]
    reused: bool = False  # OUT already held complete outputs for these inputs and options


def parse_threshold(text: str) -> float | str | None:
    """`--threshold` value: a number in [0, 1], `auto`, or `none` (only --max-fraction applies)."""
    t = text.strip().lower()
    if t in {"auto", "none"}:
        return None if t == "none" else "auto"
    try:
        v = float(t)
    except ValueError:
        raise UsageError(f"--threshold {text}: give a number between 0 and 1, 'auto' or 'none'") from None
    return v


def parse_max_edits(text: str) -> tuple[int | None, float]:
    """`--max-edits-per-user`: a count (`2`) or a share of the user's length (`20%`, at least 1)."""
    t = text.strip()
    try:
        if t.endswith("%"):
            share = float(t[:-1]) / 100.0
            if not 0.0 < share <= 1.0:
                raise ValueError
            return None, share
        n = int(t)
        if n < 0:
            raise ValueError
        return n, 0.2
    except ValueError:
        raise UsageError(
            f"--max-edits-per-user {text}: give a count like 2 or a share of the user's length like 20%"
        ) from None


def _validate(cfg: FilterConfig) -> None:
    if isinstance(cfg.threshold, str) and cfg.threshold != "auto":
        raise UsageError(f"--threshold {cfg.threshold}: give a number between 0 and 1, 'auto' or 'none'")
    if isinstance(cfg.threshold, float | int) and not 0.0 <= cfg.threshold <= 1.0:
        raise UsageError(f"--threshold {cfg.threshold}: must be between 0 and 1 (1 removes nothing)")
    if cfg.max_fraction is not None and not 0.0 <= cfg.max_fraction <= 1.0:
        raise UsageError(f"--max-fraction {cfg.max_fraction}: must be between 0 and 1, e.g. 0.1 for the top 10%")
    if cfg.threshold is None and cfg.max_fraction is None:
        raise UsageError("--threshold none needs --max-fraction; give a threshold, 'auto', or a max fraction")
    if cfg.mode not in MODES:
        raise UsageError(f"--mode {cfg.mode}: choose remove or replace")
    if cfg.fallback not in FALLBACKS:
        raise UsageError(f"--fallback {cfg.fallback}: choose keep or drop")
    if cfg.fmt not in FORMATS:
        raise UsageError(f"--format {cfg.fmt}: choose parquet or recbole")
    if cfg.min_seq_len < 0:
        raise UsageError(f"--min-seq-len {cfg.min_seq_len}: must be 0 or more")
    if cfg.keep_last < 0:
        raise UsageError(f"--keep-last {cfg.keep_last}: must be 0 or more")
    if cfg.max_edits_per_user is not None and cfg.max_edits_per_user < 0:
        raise UsageError(f"--max-edits-per-user {cfg.max_edits_per_user}: must be 0 or more")
    if not 0.0 < cfg.max_edit_share <= 1.0:
        raise UsageError(f"--max-edits-per-user {cfg.max_edit_share:.0%}: the share must be in (0%, 100%]")
    if cfg.max_uncertainty is not None and not 0.0 <= cfg.max_uncertainty <= 1.0:
        raise UsageError(f"--max-uncertainty {cfg.max_uncertainty}: must be between 0 and 1 (1 turns it off)")
    if not 0.0 <= cfg.min_confidence <= 1.0:
        raise UsageError(f"--min-confidence {cfg.min_confidence}: must be between 0 and 1")
    if cfg.chunk_rows < 1:
        raise UsageError(f"chunk_rows {cfg.chunk_rows}: must be at least 1")
    if not cfg.dataset_name or any(c in cfg.dataset_name for c in "/\\\t\n"):
        raise UsageError(f"--dataset-name {cfg.dataset_name!r}: give a plain file name such as 'cleaned'")


def filter_log(cfg: FilterConfig) -> FilterResult:
    """Write the cleaned log, the audit of every change and the summary (see the module docstring).

    Refuses (exit 7, nothing written) when `score` judged the scores unreliable, unless `force`.
    Reuses OUT as it is when `OUT/_SUCCESS` records complete outputs for the same inputs and options.
    """
    _validate(cfg)
    wd = Workdir(cfg.workdir)
    reject_file(wd.path, "--workdir")
    reject_file(cfg.out, "--out")
    wd.read_manifest()
    with locked(wd.path), locked(cfg.out, "--out"):
        return _filter_locked(cfg, wd)


def filter_fingerprint(cfg: FilterConfig, manifest: dict[str, Any]) -> str:
    """Outputs depend on the scores (the score stage), the input files and every option but the paths."""
    options = {k: v for k, v in asdict(cfg).items() if k not in {"workdir", "out", "rerun", "chunk_rows"}}
    upstream = {
        "score": ((manifest.get("stages") or {}).get("score") or {}).get("fingerprint"),
        "inputs": manifest.get("inputs"),
    }
    return fingerprint("filter", upstream, options)


def _filter_locked(cfg: FilterConfig, wd: Workdir) -> FilterResult:
    manifest = wd.read_manifest()
    scores_path = wd.require(SCORES, "score")
    if "score" not in manifest:
        raise MissingInputError(f"{wd.path}: the scores are not complete; run `seqclean score --workdir {wd.path}`")
    cols = manifest["columns"]
    user, item, time = cols["user"], cols["item"], cols["time"]
    src = manifest["inputs"]["interactions"]
    input_path = Path(src["path"])
    check_unchanged(src["fingerprint"], input_path, "interactions")
    score_summary_path = wd.require(SCORE_SUMMARY, "score")
    try:
        score_summary = json.loads(score_summary_path.read_text())
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{score_summary_path}: unreadable ({exc}); rerun `seqclean score`") from exc
    reliable = require_reliable(score_summary, score_summary_path, cfg.force)

    ffp = filter_fingerprint(cfg, manifest)
    done = read_success(cfg.out)
    if not cfg.rerun and done and is_complete(cfg.out, done.get("stage"), ffp):
        summ = done["summary"]
        return FilterResult(
            n_input=summ["input_interactions"],
            n_removed=summ["removed"],
            n_replaced=summ["replaced"],
            summary=summ,
            reused=True,
        )
    (cfg.out / SUCCESS).unlink(missing_ok=True)  # OUT is about to change: it is no longer a finished run

    scores = pl.scan_parquet(scores_path)
    with input_errors(scores_path):
        schema = scores.collect_schema()
    present = {c for c in OPTIONAL if c in schema}
    notes: list[str] = []
    if cfg.mode == "replace" and not {"suggested_item", "suggestion_confidence"} <= present:
        raise UsageError(
            f"--mode replace: {scores_path} has no suggested_item/suggestion_confidence columns (scorer "
            f"{manifest.get('score', {}).get('scorer')}); rescore with a scorer that suggests items, "
            "or use --mode remove"
        )
    if cfg.protect_cold and "is_cold" not in present:
        raise UsageError(f"--protect-cold: {scores_path} has no is_cold column; rescore or drop --protect-cold")
    if cfg.max_uncertainty is not None and "uncertainty" not in present:
        notes.append("uncertainty guard skipped: the scores have no 'uncertainty' column")

    n_scored = int(scores.select(pl.len()).collect().item())
    n_distinct = int(manifest["embed"]["n_interactions"])
    n_input = int(manifest["embed"].get("n_input_rows", n_distinct))
    if n_scored != n_distinct:
        raise InputDataError(
            f"{scores_path}: {n_scored} scored rows but the log has {n_distinct}; rerun `seqclean score`"
        )
    threshold, top, rule, rule_info = _resolve_rule(cfg, wd, scores, n_scored)
    policy = Policy(
        threshold=threshold,
        top=top,
        rule=rule,
        mode=cfg.mode,
        min_seq_len=cfg.min_seq_len,
        max_edits=cfg.max_edits_per_user,
        max_edit_share=cfg.max_edit_share,
        max_uncertainty=cfg.max_uncertainty if "uncertainty" in present else None,
        protect_cold=cfg.protect_cold,
        keep_last=cfg.keep_last,
        min_confidence=cfg.min_confidence,
        fallback=cfg.fallback,
    )

    read_cols = [user, item, time, ROW_INDEX, "position", "noise_score", *sorted(present)]
    counts = {KEEP: 0, DROP: 0, REPLACE: 0}
    guards = dict.fromkeys(GUARDS, 0)
    n_candidates = 0
    changed: list[pl.DataFrame] = []
    for chunk in _user_chunks(scores_path, read_cols, user, cfg.chunk_rows):
        d = decide(chunk, policy, user)
        for k, v in d.group_by("decision").len().iter_rows():
            counts[k] += int(v)
        for k, v in d.filter(pl.col("guard").is_not_null()).group_by("guard").len().iter_rows():
            guards[k] += int(v)
        n_candidates += int((d["guard"].is_not_null() | (d["decision"] != KEEP)).sum())
        changed.append(d.filter(pl.col("decision") != KEEP))
    log = scan_table(input_path, what="interactions")
    log_cols = log.collect_schema()
    indexed = log.with_row_index(ROW_INDEX)
    dup_mode = manifest["embed"].get("duplicates", "drop")
    if n_input > n_distinct:
        changed.append(_duplicate_changes(indexed, changed, (user, item, time), dup_mode))
        n_dup_changed = changed[-1].height
        counts[DROP] += int((changed[-1]["decision"] == DROP).sum())
        counts[REPLACE] += int((changed[-1]["decision"] == REPLACE).sum())
    else:
        n_dup_changed = 0
    changes = _changes_frame(changed, read_cols, schema, item)
    drops = changes.filter(pl.col("decision") == DROP).select(ROW_INDEX).lazy()
    cleaned = indexed.join(drops, on=ROW_INDEX, how="anti", maintain_order="left")
    out = cfg.out
    with input_errors(input_path):
        if cfg.mode == "replace":
            reps = changes.filter(pl.col("decision") == REPLACE).select(ROW_INDEX, pl.col("suggested_item").alias("_s"))
            cleaned = cleaned.join(reps.lazy(), on=ROW_INDEX, how="left", maintain_order="left").with_columns(
                pl.coalesce(pl.col("_s").cast(log_cols[item]), pl.col(item)).alias(item)
            )
            write_parquet(cleaned.select(log_cols.names()), out / CLEANED)
            kill_point("filter-cleaned")
            audit = changes.select(
                ROW_INDEX,
                user,
                time,
                pl.col(item).alias("original_item"),
                "suggested_item",
                "suggestion_confidence",
                "noise_score",
                "uncertainty",
                "decision",
                "reason",
            )
            write_parquet(audit, out / CHANGES)
        else:
            write_parquet(cleaned.select(log_cols.names()), out / CLEANED)
            kill_point("filter-cleaned")
            extra = changes.select(ROW_INDEX, "noise_score", "uncertainty", "reason").lazy()
            removed = indexed.join(extra, on=ROW_INDEX, how="inner", maintain_order="left")
            write_parquet(
                removed.select(*log_cols.names(), ROW_INDEX, "noise_score", "uncertainty", "reason"), out / REMOVED
            )

    summary: dict[str, Any] = {
        "rule": rule_info,
        "mode": cfg.mode,
        "input_interactions": n_input,
        "candidates": n_candidates,
        "removed": counts[DROP],
        "replaced": counts[REPLACE],
        "kept": n_input - counts[DROP],
        "removed_share": round(counts[DROP] / n_input, 6) if n_input else None,
        "changed_share": round((counts[DROP] + counts[REPLACE]) / n_input, 6) if n_input else None,
        "held_by_guard": guards,
        "guards": {
            "min_seq_len": cfg.min_seq_len,
            "max_edits_per_user": cfg.max_edits_per_user
            if cfg.max_edits_per_user is not None
            else f"{cfg.max_edit_share:.0%} of the user's length, at least 1",
            "max_uncertainty": policy.max_uncertainty,
            "protect_cold": cfg.protect_cold,
            "keep_last": cfg.keep_last,
        },
        "scorer": manifest.get("score", {}).get("scorer"),
        "reliable": reliable,
        "forced": bool(cfg.force and not reliable),
        "unreliable_reasons": score_summary.get("unreliable_reasons", []),
        "duplicates": {
            "mode": dup_mode,
            "rows": n_input - n_distinct,
            "changed": n_dup_changed,
        },
        "notes": notes,
        "outputs": [CLEANED, CHANGES if cfg.mode == "replace" else REMOVED],
    }
    if cfg.mode == "replace":
        summary["replacement"] = {"min_confidence": cfg.min_confidence, "fallback": cfg.fallback}
    if cfg.fmt == "recbole":
        summary["outputs"] += _write_recbole(cfg, manifest, out / CLEANED, log_cols)
    write_json(summary, out / FILTER_SUMMARY)
    written = [out / f for f in [*summary["outputs"], FILTER_SUMMARY]]
    kill_point("filter-summary")
    write_success(out, stage_record(out, ffp, written), summary)  # last: OUT is complete
    return FilterResult(n_input=n_input, n_removed=counts[DROP], n_replaced=counts[REPLACE], summary=summary)


def _duplicate_changes(
    indexed: pl.LazyFrame, changed: list[pl.DataFrame], cols: tuple[str, str, str], mode: str
) -> pl.DataFrame:
    """Rows for the exact repeats of an earlier (user, item, time) row, which were not scored.

    `drop`: every repeat is dropped (a logging fault, not a user signal). `keep`: a repeat follows its
    first row: dropped or replaced with it, otherwise kept (no row here).
    """
    u, i, t = cols
    dups = (
        indexed.select(ROW_INDEX, u, i, t)
        .with_columns(pl.col(ROW_INDEX).min().over([u, i, t]).alias("_first"))
        .filter(pl.col(ROW_INDEX) != pl.col("_first"))
        .collect()
    )
    if mode == "drop":
        return dups.select(
            ROW_INDEX,
            u,
            i,
            t,
            pl.lit(DROP).alias("decision"),
            pl.format("exact duplicate of row {} (--duplicates drop)", "_first").alias("reason"),
        )
    firsts = [c for c in changed if c.height]
    if not firsts:
        return dups.head(0).select(ROW_INDEX, u, i, t)
    base = pl.concat(firsts, how="diagonal_relaxed").drop(u, i, t, "position", strict=False)
    base = base.rename({ROW_INDEX: "_first"})
    return (
        dups.join(base, on="_first", how="inner")
        .with_columns(pl.format("same as row {}, its exact duplicate: {}", "_first", "reason").alias("reason"))
        .drop("_first")
    )


def _resolve_rule(
    cfg: FilterConfig, wd: Workdir, scores: pl.LazyFrame, n: int
) -> tuple[float | None, tuple[float, int] | None, str, dict[str, Any]]:
    """Turn --threshold / --max-fraction into (threshold, top cut, description, summary entry)."""
    threshold: float | None = None
    top: tuple[float, int] | None = None
    parts: list[str] = []
    info: dict[str, Any] = {}
    if cfg.threshold == "auto":
        rate = _estimated_noise_rate(wd)
        if rate is not None:
            top = _top_cut(scores, int(round(rate * n)))
            info["auto"] = {"method": "estimated_noise_rate", "estimated_noise_rate": rate}
            parts.append(f"auto: top {rate:.2%} by the scorer's estimated noise rate")
        else:
            hist = _histogram(scores)
            threshold = otsu_threshold(hist)
            info["auto"] = {"method": "otsu", "bins": OTSU_BINS}
            parts.append(f"auto: noise_score > threshold {threshold:g} (Otsu)")
    elif cfg.threshold is not None:
        threshold = float(cfg.threshold)
        parts.append(f"noise_score > threshold {threshold:g}")
    if cfg.max_fraction is not None:
        k = int(np.floor(cfg.max_fraction * n))
        cut = _top_cut(scores, k)
        top = cut if top is None else max(top, cut, key=lambda c: (c[0], -c[1]))  # the stricter cut
        parts.append(f"top {cfg.max_fraction:.2%} of all interactions ({k} rows)")
        info["max_fraction"] = cfg.max_fraction
    info["threshold"] = threshold
    info["top_cut_noise_score"] = None if top is None or top == NO_CUT else top[0]
    info["name"] = " and ".join(parts)
    return threshold, top, info["name"], info


def _estimated_noise_rate(wd: Workdir) -> float | None:
    p = wd.file(SCORE_SUMMARY)
    if not p.exists():
        return None
    try:
        rate = json.loads(p.read_text()).get("estimated_noise_rate")
    except json.JSONDecodeError:
        return None
    if rate is None or not 0.0 <= float(rate) <= 1.0:
        return None
    return float(rate)


def _top_cut(scores: pl.LazyFrame, k: int) -> tuple[float, int]:
    """(score, row_index) of the k-th row in (noise_score desc, row_index asc) order; NO_CUT for k = 0."""
    if k <= 0:
        return NO_CUT
    top = (
        scores.select("noise_score", ROW_INDEX)
        .top_k(k, by=["noise_score", pl.col(ROW_INDEX).cast(pl.Int64).neg()])
        .sort(["noise_score", ROW_INDEX], descending=[False, True])
        .head(1)
        .collect()
    )
    return float(top["noise_score"][0]), int(top[ROW_INDEX][0])


def _histogram(scores: pl.LazyFrame) -> np.ndarray:
    b = (pl.col("noise_score") * OTSU_BINS).floor().clip(0, OTSU_BINS - 1).cast(pl.Int64).alias("b")
    h = scores.select(b).group_by("b").len().collect()
    out = np.zeros(OTSU_BINS, dtype=np.int64)
    out[h["b"].to_numpy()] = h["len"].to_numpy()
    return out


def _user_chunks(path: Path, columns: list[str], user: str, rows: int) -> Iterator[pl.DataFrame]:
    """Frames of whole users, about `rows` rows each: the rows of the last user of a batch are
    carried into the next batch, so a user is never split."""
    import pyarrow.parquet as pq

    carry: pl.DataFrame | None = None
    with input_errors(path):
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=rows, columns=columns):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            if carry is not None:
                frame = pl.concat([carry, frame])
            last = frame[user][-1]
            is_last = (frame[user] == last).to_numpy()
            cut = int(np.argmax(is_last))
            if cut == 0:  # the whole frame is one user so far
                carry = frame
                continue
            carry = frame[cut:]
            yield frame[:cut]
    if carry is not None and carry.height:
        yield carry


def _changes_frame(parts: list[pl.DataFrame], read_cols: list[str], schema: pl.Schema, item: str) -> pl.DataFrame:
    """All changed rows, sorted by row_index, with every optional column present (null if absent)."""
    want: dict[str, Any] = {c: schema[c] for c in read_cols}
    want.update(
        {
            "uncertainty": schema.get("uncertainty", pl.Float32),
            "suggested_item": schema.get("suggested_item", schema[item]),
            "suggestion_confidence": schema.get("suggestion_confidence", pl.Float32),
            "decision": pl.String,
            "guard": pl.String,
            "reason": pl.String,
        }
    )
    frames = [p for p in parts if p.height]
    if not frames:
        return pl.DataFrame(schema=want)
    f = pl.concat(frames, how="diagonal_relaxed")
    return (
        f.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in want.items() if c not in f.columns])
        .select(list(want))
        .sort(ROW_INDEX)
    )


def _write_recbole(cfg: FilterConfig, manifest: dict[str, Any], cleaned: Path, log_cols: pl.Schema) -> list[str]:
    """RecBole atomic files: `.inter` (user_id, item_id, timestamp + other columns) and `.item` (text)."""
    cols = manifest["columns"]
    user, item, time = cols["user"], cols["item"], cols["time"]
    std = {user: "user_id", item: "item_id", time: "timestamp"}
    clash = [c for c in log_cols.names() if c not in std and c in std.values()]
    if clash:
        raise UsageError(
            f"--format recbole: column '{clash[0]}' would clash with RecBole's standard field of that name; "
            "rename it in the input"
        )
    exprs = []
    for c, t in log_cols.items():
        name = std.get(c, c)
        if c == time or (c not in std and t.is_numeric()):
            e = pl.col(c).dt.epoch("s") if t.is_temporal() else pl.col(c)
            exprs.append(e.cast(pl.Float64).alias(f"{name}:float"))
        else:
            exprs.append(_token(pl.col(c)).alias(f"{name}:token"))
    dest = cfg.out / RECBOLE_DIR
    inter = dest / f"{cfg.dataset_name}.inter"
    item_file = dest / f"{cfg.dataset_name}.item"
    with atomic_path(inter) as tmp:
        pl.scan_parquet(cleaned).select(exprs).sink_csv(tmp, separator="\t", quote_style="never")
    src = manifest["inputs"]["items"]
    items_path = Path(src["path"])
    items = scan_table(items_path, what="items")
    text = [c for c in cols.get("text", []) if c in items.collect_schema() and c != item]
    with input_errors(items_path), atomic_path(item_file) as tmp:
        items.sort(item).select(
            _token(pl.col(item)).alias("item_id:token"),
            *(_token(pl.col(c)).alias(f"{c}:token_seq") for c in text),
        ).sink_csv(tmp, separator="\t", quote_style="never")
    return [f"{RECBOLE_DIR}/{inter.name}", f"{RECBOLE_DIR}/{item_file.name}"]


def _token(e: pl.Expr) -> pl.Expr:
    """As text with tabs and newlines flattened to spaces (RecBole's files are tab-separated lines)."""
    return e.cast(pl.String).str.replace_all(r"[\t\r\n]+", " ").fill_null("")
