"""Stage 3, `seqclean filter`: drop (or replace) the interactions the scores flag, within the guards.

Reads `WORKDIR/scores.parquet` in chunks of whole users (the file is sorted by user and position and
holds each user's rows contiguously), decides every row with `seqclean.decide.decide`, and spills only
the changed rows (narrow: row number, scores, reason) to Parquet parts in a temporary folder in OUT. The
input log is then re-scanned one range of rows at a time and joined with the changes of that range
(`seqclean.filter_outputs`), so memory follows the chunk size, never the log or the number of changes.

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
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from seqclean.decide import DROP, GUARDS, KEEP, REPLACE, Policy, decide
from seqclean.errors import InputDataError, MissingInputError, UsageError
from seqclean.filter_frames import Changes, change_schema, user_chunks
from seqclean.filter_outputs import add_duplicates, write_outputs
from seqclean.filter_rules import FilterConfig, parse_max_edits, parse_threshold, resolve_rule, validate
from seqclean.gate import require_reliable
from seqclean.io import ROW_INDEX, input_errors, scan_table, write_json
from seqclean.recbole import write_recbole
from seqclean.spill import spill_dir
from seqclean.stages import (
    fingerprint,
    is_complete,
    kill_point,
    locked,
    read_success,
    reject_file,
    stage_record,
    write_success,
)
from seqclean.workdir import (
    CHANGES,
    CLEANED,
    FILTER_SUMMARY,
    REMOVED,
    SCORE_SUMMARY,
    SCORES,
    SUCCESS,
    Workdir,
    check_unchanged,
)

__all__ = ["FilterConfig", "FilterResult", "filter_log", "parse_max_edits", "parse_threshold"]

OPTIONAL = ("uncertainty", "is_cold", "suggested_item", "suggestion_confidence")


@dataclass
class FilterResult:
    n_input: int
    n_removed: int
    n_replaced: int
    summary: dict[str, Any]
    reused: bool = False  # OUT already held complete outputs for these inputs and options


def filter_log(cfg: FilterConfig) -> FilterResult:
    """Write the cleaned log, the audit of every change and the summary (see the module docstring).

    Refuses (exit 7, nothing written) when `score` judged the scores unreliable, unless `force`.
    Reuses OUT as it is when `OUT/_SUCCESS` records complete outputs for the same inputs and options.
    """
    validate(cfg)
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
        return FilterResult(summ["input_interactions"], summ["removed"], summ["replaced"], summ, reused=True)
    (cfg.out / SUCCESS).unlink(missing_ok=True)  # OUT is about to change: it is no longer a finished run

    scores = pl.scan_parquet(scores_path)
    with input_errors(scores_path):
        schema = scores.collect_schema()
    present, notes = _optional_columns(cfg, schema, scores_path, manifest)
    n_scored = int(scores.select(pl.len()).collect().item())
    n_distinct = int(manifest["embed"]["n_interactions"])
    n_input = int(manifest["embed"].get("n_input_rows", n_distinct))
    if n_scored != n_distinct:
        raise InputDataError(
            f"{scores_path}: {n_scored} scored rows but the log has {n_distinct}; rerun `seqclean score`"
        )
    threshold, top, rule, rule_info = resolve_rule(cfg, wd, scores, n_scored)
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
    user, item, time = cols["user"], cols["item"], cols["time"]
    read_cols = [user, item, time, ROW_INDEX, "position", "noise_score", *sorted(present)]
    log = scan_table(input_path, what="interactions")
    log_cols = log.collect_schema()
    indexed = log.with_row_index(ROW_INDEX)
    dup_mode = manifest["embed"].get("duplicates", "drop")
    dup_counts = {"rows": 0}
    with spill_dir(cfg.out, ".filter-changes-") as tmp:
        changes = Changes(Path(tmp), change_schema(read_cols, schema, item), n_input, cfg.chunk_rows)
        counts, guards, n_candidates = _decide_all(scores_path, read_cols, policy, user, cfg.chunk_rows, changes)
        changes.seal()
        if n_input > n_distinct:  # exact repeats were scored once: they follow --duplicates
            with input_errors(input_path), tempfile.TemporaryDirectory(dir=tmp) as pieces:
                dup_counts = add_duplicates(
                    indexed, changes, (user, item, time), dup_mode, cfg.keep_last, n_input, cfg.chunk_rows, Path(pieces)
                )
            counts[DROP] += dup_counts[DROP]
            counts[REPLACE] += dup_counts[REPLACE]
        write_outputs(cfg, input_path, log, log_cols, changes, cols)
    n_dup_changed = dup_counts["rows"]

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
        "duplicates": {"mode": dup_mode, "rows": n_input - n_distinct, "changed": n_dup_changed},
        "notes": notes,
        "outputs": [CLEANED, CHANGES if cfg.mode == "replace" else REMOVED],
    }
    if cfg.mode == "replace":
        summary["replacement"] = {"min_confidence": cfg.min_confidence, "fallback": cfg.fallback}
    if cfg.fmt == "recbole":
        summary["outputs"] += write_recbole(cfg.out, cfg.dataset_name, manifest, cfg.out / CLEANED, log_cols)
    write_json(summary, cfg.out / FILTER_SUMMARY)
    written = [cfg.out / f for f in [*summary["outputs"], FILTER_SUMMARY]]
    kill_point("filter-summary")
    write_success(cfg.out, stage_record(cfg.out, ffp, written), summary)  # last: OUT is complete
    return FilterResult(n_input=n_input, n_removed=counts[DROP], n_replaced=counts[REPLACE], summary=summary)


def _optional_columns(
    cfg: FilterConfig, schema: pl.Schema, scores_path: Path, manifest: dict[str, Any]
) -> tuple[set[str], list[str]]:
    """Which optional score columns exist; refuse options that need a missing one, note guards skipped."""
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
    return present, notes


def _decide_all(
    scores_path: Path, read_cols: list[str], policy: Policy, user: str, chunk_rows: int, changes: Changes
) -> tuple[dict[str, int], dict[str, int], int]:
    """Decide every row, chunk by chunk of whole users; spill the changed rows, keep only the counts."""
    counts = {KEEP: 0, DROP: 0, REPLACE: 0}
    guards = dict.fromkeys(GUARDS, 0)
    n_candidates = 0
    for chunk in user_chunks(scores_path, read_cols, user, chunk_rows):
        d = decide(chunk, policy, user)
        for k, v in d.group_by("decision").len().iter_rows():
            counts[k] += int(v)
        for k, v in d.filter(pl.col("guard").is_not_null()).group_by("guard").len().iter_rows():
            guards[k] += int(v)
        n_candidates += int((d["guard"].is_not_null() | (d["decision"] != KEEP)).sum())
        changes.add(d.filter(pl.col("decision") != KEEP))
    return counts, guards, n_candidates
