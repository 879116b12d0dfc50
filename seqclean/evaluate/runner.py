"""The evaluation run: plant (optional), embed + score the noisy log, build every arm, train, report.

The scorer only ever sees the noisy log (a Parquet file under OUT/inputs, or the user's own file when
nothing is planted) and the workdir; planted labels stay in memory until the report and are written to
OUT/planted_labels.parquet, which no stage reads.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqclean.backbone.train import BackboneConfig
from seqclean.errors import InputDataError, UsageError
from seqclean.evaluate.downstream import DownstreamConfig, TrainResult, train_and_test
from seqclean.evaluate.plant import KINDS, plant_noise
from seqclean.evaluate.protocol import (
    PROTECTED,
    Arm,
    Split,
    make_split,
    random_rows,
    targets,
    top_k_rows,
    training_sequences,
)
from seqclean.io import ROW_INDEX, input_errors, scan_table, write_json, write_parquet
from seqclean.metrics import average_precision, precision_recall, roc_auc
from seqclean.progress import ProgressFn, no_progress

PLANTS = ("none", *KINDS)
STAGE_KEY = "evaluate_stage.json"
SINGLE_SPACE = {
    "collab_only": ("collab_only_score", 1.0),
    "semantic_only": ("semantic_only_score", 1.0),
    "iadsr_formula": ("iadsr_score", -1.0),
}


@dataclass
class EvaluateConfig:
    """Options of `seqclean evaluate` (docs/evaluation.md)."""

    interactions: Path
    items: Path
    workdir: Path
    out: Path
    plant: str = "uniform"
    ratio: float = 0.1
    plant_seed: int = 0
    seeds: int = 3
    budget: str | float = "auto"
    sweep: tuple[float, ...] = (0.0, 0.02, 0.05, 0.10, 0.15)
    sweep_seeds: int | None = None  # training seeds of the sweep arms (None: --seeds)
    labels: Path | None = None
    export_recbole: bool = False
    user_col: str = "user_id"
    item_col: str = "item_id"
    time_col: str = "timestamp"
    text_cols: list[str] = field(default_factory=lambda: ["title"])
    text_template: str | None = None
    seed: int = 0  # embed and score seed (the detector's)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    fit_users: int = 3000
    cold_k: float = 2.0
    device: str = "auto"
    downstream: DownstreamConfig = field(default_factory=DownstreamConfig)
    train_jobs: int = 1  # downstream trainings run in parallel processes
    reuse_workdir: bool = True

    def validate(self) -> None:
        if self.plant not in PLANTS:
            raise UsageError(f"--plant {self.plant}: choose one of {', '.join(PLANTS)}")
        if not 0.0 < self.ratio < 1.0 and self.plant != "none":
            raise UsageError(f"--ratio {self.ratio}: must be between 0 and 1, e.g. 0.1")
        if self.seeds < 1:
            raise UsageError(f"--seeds {self.seeds}: must be at least 1")
        if self.train_jobs < 1:
            raise UsageError(f"--train-jobs {self.train_jobs}: must be at least 1")
        if self.sweep_seeds is not None and not 1 <= self.sweep_seeds <= self.seeds:
            raise UsageError(f"--sweep-seeds {self.sweep_seeds}: must be between 1 and --seeds ({self.seeds})")
        if isinstance(self.budget, str) and self.budget != "auto":
            raise UsageError(f"--budget {self.budget}: give 'auto' or a share such as 0.05")
        if isinstance(self.budget, float) and not 0.0 <= self.budget < 1.0:
            raise UsageError(f"--budget {self.budget}: must be a share in [0, 1), e.g. 0.05")
        if any(not 0.0 <= s < 1.0 for s in self.sweep):
            raise UsageError(f"--sweep {','.join(map(str, self.sweep))}: shares must be in [0, 1)")
        if self.labels is not None and self.plant != "none":
            raise UsageError("--labels is for logs with known noise and --plant none; drop one of them")
        self.downstream.validate()


@dataclass
class EvaluateResult:
    report: dict[str, Any]
    markdown: str


def parse_budget(text: str) -> str | float:
    """`--budget auto` or a share like `0.05` (`5%` also accepted)."""
    t = text.strip().lower()
    if t == "auto":
        return "auto"
    try:
        v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise UsageError(f"--budget {text}: give 'auto' or a share such as 0.05") from None
    return v


def evaluate(cfg: EvaluateConfig, progress: ProgressFn = no_progress) -> EvaluateResult:
    """Run the whole comparison and write OUT/evaluation.json and OUT/evaluation.md."""
    from seqclean.evaluate.report import render_markdown
    from seqclean.readers import resolve_columns

    cfg.validate()
    t_start, c_start = time.perf_counter(), time.process_time()
    timings: dict[str, float] = {}
    with input_errors(cfg.interactions):
        raw = scan_table(cfg.interactions, what="interactions")
        user, item, tcol = resolve_columns(cfg.interactions, raw, cfg.user_col, cfg.item_col, cfg.time_col)
        log = raw.collect()
    for c, opt in ((user, "--user-col"), (item, "--item-col"), (tcol, "--time-col")):
        if c not in log.columns:
            raise InputDataError(
                f"{cfg.interactions}: column '{c}' not found (columns are: {', '.join(log.columns)}); "
                f"pass the right name with {opt}"
            )
    with input_errors(cfg.items):
        items_lf = scan_table(cfg.items, what="items")
        item_ids = items_lf.select(pl.col(_item_col_of(cfg.items, items_lf, item))).collect().to_series()
    catalogue = (
        pl.DataFrame({item: item_ids.cast(log[item].dtype, strict=False)})
        .unique()
        .sort(item)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("iid"))
    )
    n_items = catalogue.height

    clean_split = make_split(log, user, item, tcol, catalogue)
    if (clean_split.iid < 0).any() or np.isnan(clean_split.iid.astype(float)).any():
        raise InputDataError(f"{cfg.interactions}: items missing from {cfg.items}; add them to the item table")
    eligible = clean_split.training_by_row(log.height)
    labels: pl.DataFrame | None = None
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    if cfg.plant != "none":
        noisy, labels = plant_noise(log, cfg.ratio, cfg.plant, cfg.plant_seed, user, item, tcol, eligible=eligible)
        noisy_path = out / "inputs" / "interactions.parquet"
        if not (noisy_path.exists() and _same_frame(noisy_path, noisy)):  # unchanged: embed's record stays valid
            write_parquet(noisy, noisy_path)
    else:
        noisy, noisy_path = log, cfg.interactions
        if cfg.labels is not None:
            labels = _read_labels(cfg.labels, log, user, tcol)
    split = make_split(noisy, user, item, tcol, catalogue)
    tg = targets(split)
    ref = targets(clean_split)
    if not (np.array_equal(tg.valid, ref.valid) and np.array_equal(tg.test, ref.test)):
        raise AssertionError("planting changed a validation or test target")

    t0, c0 = time.perf_counter(), time.process_time()
    reused = _embed_and_score(cfg, noisy_path, user, item, tcol, progress)
    timings["embed_and_score_s"] = round(time.perf_counter() - t0, 1)
    timings["embed_and_score_cpu_s"] = round(time.process_time() - c0, 1)
    scores = _scores_by_row(cfg.workdir, noisy.height)

    # --- arms
    n_rows = noisy.height
    t0 = time.perf_counter()
    sc_removed, sc_summary = _filter_arm(cfg, "remove")
    rep_removed, rep_summary, replaced = _filter_arm(cfg, "replace", catalogue=catalogue, item=item)
    timings["filter_s"] = round(time.perf_counter() - t0, 1)
    k = len(sc_removed)
    arms: list[tuple[Arm, Split]] = []
    if cfg.plant != "none":
        arms.append((Arm("clean", note="the log before planting"), clean_split))
    arms.append((Arm("noisy" if cfg.plant != "none" else "raw", note="no cleaning"), split))
    arms.append((Arm("seqclean", removed=sc_removed, note=sc_summary["rule"]["name"]), split))
    arms.append((Arm("seqclean_replace", removed=rep_removed, replaced=replaced, note="--mode replace"), split))
    arms.append((Arm("random", removed=random_rows(split, n_rows, k, cfg.plant_seed + 1), note=f"{k} rows"), split))
    for name, (col, sign) in SINGLE_SPACE.items():
        arms.append((Arm(name, removed=top_k_rows(split, sign * scores[col], k), note=f"top {k} by {col}"), split))
    sweep: list[tuple[float, str, Arm]] = []
    for share in cfg.sweep:
        ks = int(round(share * n_rows))
        if ks == 0:
            continue
        sweep.append(
            (share, "seqclean", Arm(f"sweep_seqclean_{share:g}", removed=top_k_rows(split, scores["noise_score"], ks)))
        )
        sweep.append(
            (
                share,
                "random",
                Arm(f"sweep_random_{share:g}", removed=random_rows(split, n_rows, ks, cfg.plant_seed + 1)),
            )
        )

    # --- train every arm with every seed
    sweep_seeds = cfg.sweep_seeds or cfg.seeds
    jobs = [(a, s, cfg.seeds) for a, s in arms] + [(a, split, sweep_seeds) for _, _, a in sweep]
    total = sum(n for _, _, n in jobs)
    results: dict[str, list[TrainResult]] = {}
    done = 0
    t0 = time.perf_counter()
    tasks = []
    for arm, sp, n_seeds in jobs:
        seqs = training_sequences(sp, arm)
        results[arm.name] = []
        tasks += [(arm.name, (cfg.downstream, n_items, seqs, tg.valid, tg.test, s)) for s in range(n_seeds)]
    progress("downstream", 0, total)
    for (name, _), res in zip(tasks, _train_all([t for _, t in tasks], cfg.train_jobs), strict=True):
        results[name].append(res)
        done += 1
        progress(f"downstream | {name}", done, total)
    timings["downstream_s"] = round(time.perf_counter() - t0, 1)
    timings["downstream_cpu_s"] = round(sum(r.cpu_seconds for rs in results.values() for r in rs), 1)
    timings["trainings"] = total
    timings["mean_training_s"] = round(timings["downstream_s"] / max(total, 1), 1)

    if cfg.export_recbole:
        _export_recbole(cfg, arms, tg, catalogue, item)

    detection = _detection(labels, split, scores, sc_removed, n_rows) if labels is not None else None
    if labels is not None and cfg.plant != "none":
        write_parquet(labels, out / "planted_labels.parquet")
    timings["total_s"] = round(time.perf_counter() - t_start, 1)
    timings["total_cpu_s"] = round(
        time.process_time() - c_start + (timings["downstream_cpu_s"] if cfg.train_jobs > 1 else 0), 1
    )
    timings["train_jobs"] = cfg.train_jobs
    report = _report(cfg, arms, sweep, results, detection, sc_summary, rep_summary, k, n_rows, split, timings, reused)
    md = render_markdown(report)
    write_json(report, out / "evaluation.json")
    (out / "evaluation.md").write_text(md)
    return EvaluateResult(report=report, markdown=md)


# ---------------------------------------------------------------- helpers


def _train_one(args: tuple[Any, ...]) -> TrainResult:
    cfg, n_items, seqs, valid, test, seed = args
    return train_and_test(cfg, n_items, seqs, valid, test, seed=seed)


def _train_all(tasks: list[tuple[Any, ...]], jobs: int) -> Iterator[TrainResult]:
    """Every training, in order; with jobs > 1 in that many worker processes (each with the configured torch
    threads). Results do not depend on `jobs`: each training is seeded on its own."""
    if jobs <= 1:
        for t in tasks:
            yield _train_one(t)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        yield from pool.map(_train_one, tasks)


def _item_col_of(path: Path, lf: pl.LazyFrame, item: str) -> str:
    from seqclean.readers import resolve_item_col

    return resolve_item_col(path, lf, item)


def _same_frame(path: Path, frame: pl.DataFrame) -> bool:
    try:
        return pl.read_parquet(path).equals(frame)
    except (pl.exceptions.PolarsError, OSError):
        return False


def _read_labels(path: Path, log: pl.DataFrame, user: str, tcol: str) -> pl.DataFrame:
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


def _embed_and_score(
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
        workdir=cfg.workdir, fit_users=cfg.fit_users, cold_k=cfg.cold_k, device=cfg.device, seed=cfg.seed
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
    embed_ok = old.get("embed") == d_embed and (cfg.workdir / "manifest.json").exists()
    score_ok = embed_ok and old.get("score") == d_score and (cfg.workdir / "scores.parquet").exists()
    if not embed_ok:
        embed(ecfg, progress)
        write_json({"embed": d_embed}, marker)
    if not score_ok:
        score(scfg, progress)
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


def _scores_by_row(workdir: Path, n_rows: int) -> dict[str, np.ndarray]:
    """The columns the arms need, indexed by log row."""
    want = ["noise_score", "collab_only_score", "semantic_only_score", "iadsr_score", "is_cold"]
    s = pl.read_parquet(workdir / "scores.parquet")
    r = s[ROW_INDEX].to_numpy().astype(np.int64)
    out: dict[str, np.ndarray] = {}
    for c in want:
        if c not in s.columns:
            raise InputDataError(f"{workdir}/scores.parquet has no column '{c}'; rescore with --scorer iadsr")
        a = np.zeros(n_rows, dtype=np.float64 if c != "is_cold" else bool)
        a[r] = s[c].to_numpy()
        out[c] = a
    return out


def _filter_arm(cfg: EvaluateConfig, mode: str, catalogue: pl.DataFrame | None = None, item: str = "") -> Any:
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
        removed = pl.read_parquet(dest / "removed.parquet", columns=[ROW_INDEX])[ROW_INDEX].to_numpy().astype(np.int64)
        return np.sort(removed), r.summary
    assert catalogue is not None
    ch = pl.read_parquet(dest / "changes.parquet")
    dropped = ch.filter(pl.col("decision") == "drop")[ROW_INDEX].to_numpy().astype(np.int64)
    rep = ch.filter(pl.col("decision") == "replace").join(
        catalogue.select(pl.col(item).alias("suggested_item"), "iid"), on="suggested_item", how="left"
    )
    replaced = dict(zip(rep[ROW_INDEX].to_list(), rep["iid"].to_list(), strict=True))
    return np.sort(dropped), r.summary, {int(a): int(b) for a, b in replaced.items()}


def _detection(
    labels: pl.DataFrame, split: Split, scores: dict[str, np.ndarray], removed: np.ndarray, n_rows: int
) -> dict[str, Any]:
    """Detection quality on training positions (the only place noise is planted), overall / cold / warm."""
    y_all = np.zeros(n_rows, dtype=bool)
    y_all[labels[ROW_INDEX].to_numpy().astype(np.int64)] = labels["is_noise"].to_numpy()
    train = split.training_by_row(n_rows)
    flagged_rule = np.zeros(n_rows, dtype=bool)
    flagged_rule[removed] = True
    out: dict[str, Any] = {"rows": int(train.sum()), "true_noise_rate": float(y_all[train].mean())}
    for part, mask in (
        ("all", train),
        ("cold", train & scores["is_cold"]),
        ("warm", train & ~scores["is_cold"]),
    ):
        y = y_all[mask]
        s = scores["noise_score"][mask]
        p05, r05 = precision_recall(y, s > 0.5)
        pr, rr = precision_recall(y, flagged_rule[mask])
        row: dict[str, Any] = {
            "rows": int(mask.sum()),
            "noise_rate": _r(float(y.mean())) if mask.any() else None,
            "roc_auc": _r(roc_auc(y, s)),
            "average_precision": _r(average_precision(y, s)),
            "precision@0.5": _r(p05),
            "recall@0.5": _r(r05),
            "flagged@0.5": int((s > 0.5).sum()),
            "precision@filter": _r(pr),
            "recall@filter": _r(rr),
            "flagged@filter": int(flagged_rule[mask].sum()),
        }
        if part == "all":
            for name, (col, sign) in SINGLE_SPACE.items():
                row[f"roc_auc_{name}"] = _r(roc_auc(y, sign * scores[col][mask]))
                row[f"average_precision_{name}"] = _r(average_precision(y, sign * scores[col][mask]))
        out[part] = row
    return out


def _r(x: float) -> float | None:
    return None if x != x else round(float(x), 4)  # NaN -> null


def _stats(vals: list[float]) -> dict[str, float]:
    a = np.asarray(vals, dtype=np.float64)
    return {"mean": round(float(a.mean()), 5), "std": round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 5)}


def _report(
    cfg: EvaluateConfig,
    arms: list[tuple[Arm, Split]],
    sweep: list[tuple[float, str, Arm]],
    results: dict[str, list[TrainResult]],
    detection: dict[str, Any] | None,
    sc_summary: dict[str, Any],
    rep_summary: dict[str, Any],
    k: int,
    n_rows: int,
    split: Split,
    timings: dict[str, float],
    reused: str,
) -> dict[str, Any]:
    metrics = ("NDCG@10", "NDCG@20", "HR@10", "HR@20")

    def arm_entry(arm: Arm) -> dict[str, Any]:
        rs = results[arm.name]
        return {
            "removed": len(arm.removed),
            "replaced": len(arm.replaced),
            "note": arm.note,
            "test": {m: _stats([r.test[m] for r in rs]) for m in metrics},
            "valid": {m: _stats([r.valid[m] for r in rs]) for m in metrics},
            "per_seed": [
                {
                    "seed": s,
                    "test": {m: round(r.test[m], 5) for m in metrics},
                    "valid_ndcg@10": round(r.valid["NDCG@10"], 5),
                    "best_epoch": r.best_epoch,
                    "epochs_run": r.epochs_run,
                    "seconds": round(r.seconds, 1),
                }
                for s, r in enumerate(rs)
            ],
        }

    arm_rows = {a.name: arm_entry(a) for a, _ in arms}
    base = "noisy" if cfg.plant != "none" else "raw"
    nd = {name: e["test"]["NDCG@10"]["mean"] for name, e in arm_rows.items()}
    summary: dict[str, Any] = {"budget_rows": k, "budget_share": round(k / n_rows, 5) if n_rows else 0.0}
    if "clean" in nd:
        gap = nd["clean"] - nd[base]
        summary["ndcg10_gap_clean_minus_noisy"] = round(gap, 5)
        summary["gap_recovered_by_seqclean"] = round((nd["seqclean"] - nd[base]) / gap, 3) if gap > 0 else None
    summary["seqclean_minus_" + base] = round(nd["seqclean"] - nd[base], 5)
    sd = arm_rows["seqclean"]["test"]["NDCG@10"]["std"]
    summary["seqclean_beats_by_more_than_1sd"] = {
        other: bool(nd["seqclean"] - nd[other] > max(sd, arm_rows[other]["test"]["NDCG@10"]["std"]))
        for other in ("random", *SINGLE_SPACE)
    }
    sweep_rows: list[dict[str, Any]] = (
        [
            {"share": 0.0, "rows": 0, "method": m, "NDCG@10": arm_rows[base]["test"]["NDCG@10"]}
            for m in ("seqclean", "random")
        ]
        if 0.0 in cfg.sweep
        else []
    )
    for share, method, arm in sweep:
        sweep_rows.append(
            {
                "share": share,
                "rows": len(arm.removed),
                "method": method,
                "NDCG@10": _stats([r.test["NDCG@10"] for r in results[arm.name]]),
            }
        )
    sq = [r for r in sweep_rows if r["method"] == "seqclean"]
    if sq:
        best = max(sq, key=lambda r: r["NDCG@10"]["mean"])
        summary["sweep_best_share"] = best["share"]
        summary["auto_share"] = round(k / n_rows, 5) if n_rows else 0.0
    return {
        "config": {
            "interactions": str(cfg.interactions),
            "items": str(cfg.items),
            "plant": cfg.plant,
            "ratio": cfg.ratio if cfg.plant != "none" else None,
            "plant_seed": cfg.plant_seed,
            "seeds": cfg.seeds,
            "budget": cfg.budget,
            "sweep": list(cfg.sweep),
            "sweep_seeds": cfg.sweep_seeds or cfg.seeds,
            "detector_seed": cfg.seed,
            "downstream": cfg.downstream.as_dict(),
        },
        "data": {
            "interactions": n_rows,
            "users": split.n_users,
            "evaluated_users": int((split.length[split.position == 0] > PROTECTED).sum()),
            "training_rows": int(split.training.sum()),
        },
        "detection": detection,
        "filter": {"remove": sc_summary, "replace": rep_summary},
        "arms": arm_rows,
        "sweep": sweep_rows,
        "summary": summary,
        "timings": timings | {"embed_and_score_reused": reused},
    }


def _export_recbole(
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
