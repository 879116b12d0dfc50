"""The stages `seqclean evaluate` runs around the arms: labels, embed + score with reuse, seqclean's filter,
the scores by row, and the RecBole export of the arms."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.errors import InputDataError
from seqclean.evaluate.config import EvaluateConfig
from seqclean.evaluate.protocol import PROTECTED, Arm, Split, training_sequences
from seqclean.io import ROW_INDEX, scan_table, write_json
from seqclean.progress import ProgressFn
from seqclean.workdir import CHANGES, MANIFEST, REMOVED, SCORES

STAGE_KEY = "evaluate_stage.json"


def item_col_of(path: Path, lf: pl.LazyFrame, item: str) -> str:
    from seqclean.readers import resolve_item_col

    return resolve_item_col(path, lf, item)


def same_frame(path: Path, frame: pl.DataFrame) -> bool:
    try:
        return pl.read_parquet(path).equals(frame)
    except (pl.exceptions.PolarsError, OSError):
        return False


def read_labels(path: Path, log: pl.DataFrame, user: str, tcol: str) -> pl.DataFrame:
    """Ground truth for a log with known noise: `is_noise` per (user, time), or per `row_index`."""
    lab = scan_table(path, what="labels").collect()
    keys = [ROW_INDEX] if ROW_INDEX in lab.columns else [user, tcol]
    missing = [c for c in [*keys, "is_noise"] if c not in lab.columns]
    if missing:
        raise InputDataError(f"{path}: column '{missing[0]}' not found; labels need {', '.join(keys)} and is_noise")
    if lab.select(keys).is_duplicated().any():
        raise InputDataError(f"{path}: duplicate keys {keys}; give one label per interaction (or a row_index column)")
    base = log.select(user, tcol).with_row_index(ROW_INDEX)
    if keys != [ROW_INDEX]:
        lab = lab.with_columns(pl.col(tcol).cast(log[tcol].dtype), pl.col(user).cast(log[user].dtype))
    j = base.join(lab.select(*keys, "is_noise"), on=keys, how="left", maintain_order="left")
    if j["is_noise"].null_count():
        raise InputDataError(f"{path}: {j['is_noise'].null_count()} interactions have no label; label every row")
    return j.select(ROW_INDEX, user, tcol, "is_noise")


def embed_and_score(
    cfg: EvaluateConfig, noisy_path: Path, user: str, item: str, tcol: str, progress: ProgressFn
) -> str:
    """embed + score on the workdir; each is skipped when the workdir already holds it for the same inputs
    and options (`WORKDIR/evaluate_stage.json`). Returns what was reused."""
    from seqclean.embed import EmbedConfig, embed
    from seqclean.io import file_fingerprint
    from seqclean.score import ScoreConfig, score

    ecfg = EmbedConfig(
        interactions=noisy_path,
        items=cfg.items,
        workdir=cfg.workdir,
        user_col=user,
        item_col=item,
        time_col=tcol,
        text_cols=cfg.text_cols,
        text_template=cfg.text_template,
        device=cfg.device,
        seed=cfg.seed,
        backbone=cfg.backbone,
    )
    scfg = ScoreConfig(
        workdir=cfg.workdir,
        fit_users=cfg.fit_users,
        cold_k=cfg.cold_k,
        device=cfg.device,
        seed=cfg.seed,
        rounds=cfg.rounds,
    )
    from seqclean import __version__

    embed_key = {
        "interactions": file_fingerprint(noisy_path),
        "items": file_fingerprint(cfg.items),
        "embed": {k: str(v) for k, v in asdict(ecfg).items() if k != "workdir"},
        "version": __version__,
    }
    d_embed = _digest(embed_key)
    d_score = _digest({"embed": d_embed, "score": {k: str(v) for k, v in asdict(scfg).items()}, "code": _code_hash()})
    marker = cfg.workdir / STAGE_KEY
    old: dict[str, Any] = {}
    if cfg.reuse_workdir and marker.exists():
        try:
            old = json.loads(marker.read_text())
        except json.JSONDecodeError:
            old = {}
    embed_ok = old.get("embed") == d_embed and (cfg.workdir / MANIFEST).exists()
    score_ok = embed_ok and old.get("score") == d_score and (cfg.workdir / SCORES).exists()
    if not embed_ok:
        embed(ecfg, progress)
        write_json({"embed": d_embed}, marker)
    if not score_ok:  # rerun: score's own manifest goes by the version, so it would keep scores of other code
        score(replace(scfg, rerun=True), progress)
        write_json({"embed": d_embed, "score": d_score}, marker)
    return "embed+score" if score_ok else "embed" if embed_ok else "none"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _code_hash() -> str:
    """Hash of seqclean's scoring code: a score made by other code is never reused (embed reuse goes by the
    version and the inputs, so that a changed detector only reruns `score`)."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        if "evaluate" in f.relative_to(root).parts or f.name == "cli.py":
            continue
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()
    return False


def scores_by_row(workdir: Path, n_rows: int) -> dict[str, np.ndarray]:
    """The columns the arms need, indexed by log row."""
    want = ["noise_score", "collab_only_score", "semantic_only_score", "iadsr_score", "is_cold"]
    s = pl.read_parquet(workdir / SCORES)
    r = s[ROW_INDEX].to_numpy().astype(np.int64)
    out: dict[str, np.ndarray] = {}
    for c in want:
        if c not in s.columns:
            raise InputDataError(f"{workdir}/scores.parquet has no column '{c}'; rescore with --scorer iadsr")
        a = np.zeros(n_rows, dtype=np.float64 if c != "is_cold" else bool)
        a[r] = s[c].to_numpy()
        out[c] = a
    return out


def filter_arm(cfg: EvaluateConfig, mode: str, catalogue: pl.DataFrame | None = None, item: str = "") -> Any:
    """seqclean's own filter on the workdir, targets protected with --keep-last 2."""
    from seqclean.filter import FilterConfig, filter_log

    dest = cfg.out / "arms" / f"seqclean_{mode}"
    threshold: float | str | None = "auto" if cfg.budget == "auto" else None
    fraction = None if cfg.budget == "auto" else float(cfg.budget)
    r = filter_log(
        FilterConfig(
            workdir=cfg.workdir, out=dest, threshold=threshold, max_fraction=fraction, mode=mode, keep_last=PROTECTED
        )
    )
    if mode == "remove":
        removed = pl.read_parquet(dest / REMOVED, columns=[ROW_INDEX])[ROW_INDEX].to_numpy().astype(np.int64)
        return np.sort(removed), r.summary
    assert catalogue is not None
    ch = pl.read_parquet(dest / CHANGES)
    dropped = ch.filter(pl.col("decision") == "drop")[ROW_INDEX].to_numpy().astype(np.int64)
    rep = ch.filter(pl.col("decision") == "replace").join(
        catalogue.select(pl.col(item).alias("suggested_item"), "iid"), on="suggested_item", how="left"
    )
    replaced = dict(zip(rep[ROW_INDEX].to_list(), rep["iid"].to_list(), strict=True))
    return np.sort(dropped), r.summary, {int(a): int(b) for a, b in replaced.items()}


def export_recbole(
    cfg: EvaluateConfig, arms: list[tuple[Arm, Split]], tg: Any, catalogue: pl.DataFrame, item: str
) -> None:
    """Each arm as RecBole atomic files, OUT/recbole/<arm>/<arm>.inter and .item: training inputs, then the
    validation and test targets; `timestamp` is the position in the user's sequence, so RecBole's time order
    (eval_args order TO, split LS valid_and_test) reproduces this split exactly."""
    ids = catalogue.sort("iid")[item].cast(pl.String).to_list()
    for arm, sp in arms:
        seqs = training_sequences(sp, arm)
        rows_u: list[str] = []
        rows_i: list[str] = []
        rows_t: list[int] = []
        for u, s, v, t in zip(tg.uids.tolist(), seqs, tg.valid.tolist(), tg.test.tolist(), strict=True):
            full = [*s.tolist(), v, t]
            rows_u += [str(sp.user_ids[u])] * len(full)
            rows_i += [ids[x - 1] for x in full]
            rows_t += list(range(len(full)))
        d = cfg.out / "recbole" / arm.name
        d.mkdir(parents=True, exist_ok=True)
        inter = pl.DataFrame({"user_id:token": rows_u, "item_id:token": rows_i, "timestamp:float": rows_t})
        inter.write_csv(d / f"{arm.name}.inter", separator="\t")
        pl.DataFrame({"item_id:token": ids}).write_csv(d / f"{arm.name}.item", separator="\t")
