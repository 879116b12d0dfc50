"""Stage 1, `seqclean embed`: validate the inputs, build time-ordered sequences, embed every item.

Writes into the workdir:
- `sequences.parquet`: one row per interaction, sorted by user then position, with dense ids
  (`uid` from 0, `iid` from 1; 0 is padding) and the input's `row_index`.
- `items.parquet`: the catalogue (`iid`, item id, rendered `text`, `text_hash`, `n_interactions`).
- `semantic.parquet`: the item embedding cache (item id, `text_hash`, `vector`).
- `backbone/`: the collaborative backbone trained on the sequences (or `--collab-embeddings`), see
  `seqclean.backbone`.
- `manifest.json`: inputs, column mapping and options, so `score` and `filter` need only the workdir.

Config and the input tables live in `seqclean.embed_inputs` (re-exported here).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import polars as pl

from seqclean import __version__
from seqclean.backbone.config import CONFIG_JSON
from seqclean.backbone.loss import TRAINING
from seqclean.checks import input_checks, validate_duplicates_mode, warnings_for
from seqclean.columns import infer_embed_config
from seqclean.embed_inputs import EmbedConfig, EmbedResult, catalogue, embed_model_id, scan_items, scan_log
from seqclean.embed_sequences import write_sequences
from seqclean.encoder import DEFAULT_MODEL, check_precision, load_encoder
from seqclean.errors import InputDataError
from seqclean.io import file_fingerprint, scan_table, write_parquet
from seqclean.progress import ProgressFn, no_progress
from seqclean.ray_engine import check_engine
from seqclean.runtime import providers_for, release_memory
from seqclean.stages import fingerprint, is_complete, kill_point, locked, stage_record
from seqclean.workdir import BACKBONE_DIR, ITEMS, MANIFEST, SEMANTIC, SEQUENCES, WORKDIR_FORMAT, Workdir


def embed(cfg: EmbedConfig, progress: ProgressFn = no_progress) -> EmbedResult:
    """Run the embed stage end to end (see the module docstring for what it writes).

    Two stages, each reused when the workdir already holds its complete outputs for the same inputs
    and options (`seqclean.stages`): `embed` (sequences, catalogue, semantic vectors) and `backbone`.
    """
    providers_for(cfg.device)  # a bad --device, or cuda without a CUDA provider, fails before any work
    check_engine(cfg.engine, cfg.ray_actors, cfg.ray_address)  # exit 2, or 6 without Ray: before any work
    cfg = infer_embed_config(cfg)  # MovieLens / RecBole files: the column mapping from their layout
    check_precision(cfg.precision)
    validate_duplicates_mode(cfg.duplicates)
    wd = Workdir(cfg.workdir)
    for p, what in ((cfg.interactions, "interactions"), (cfg.items, "items")):
        scan_table(p, what=what)  # a missing or unreadable input fails before the workdir is created
    with locked(wd.path):
        return _embed_locked(cfg, wd, progress)


def embed_fingerprint(cfg: EmbedConfig) -> str:
    """What the `embed` stage's outputs depend on (not threads or batch size: they do not change them)."""
    inputs = {
        "interactions": file_fingerprint(cfg.interactions),
        "items": file_fingerprint(cfg.items),
        "model": embed_model_id(cfg),
    }
    options = {
        "columns": [cfg.user_col, cfg.item_col, cfg.time_col, cfg.text_cols],
        "template": cfg.template,
        "device": cfg.device,
        "precision": cfg.precision,
        "duplicates": cfg.duplicates,
    }
    return fingerprint("embed", inputs, options)


def backbone_fingerprint(cfg: EmbedConfig, embed_fp: str) -> str:
    """The backbone depends on the sequences (the embed stage) and its own options, or the BYO file. `training`
    names a change in how it trains that no option shows, so that a workdir's older backbone is retrained, not
    reused: the sampled loss's popularity prior (a backbone trained without it collapses at 200,000 items)."""
    p = cfg.collab_embeddings
    byo = (file_fingerprint(p) if p.exists() else str(p)) if p is not None else None  # missing: byo.py says so
    options = {**asdict(cfg.backbone), "training": TRAINING}
    return fingerprint("backbone", {"embed": embed_fp, "collab_embeddings": byo}, options)


def _read_manifest_or_none(wd: Workdir) -> dict[str, Any] | None:
    try:
        return wd.read_manifest() if wd.file(MANIFEST).exists() else None
    except InputDataError:
        return None


def _embed_locked(cfg: EmbedConfig, wd: Workdir, progress: ProgressFn) -> EmbedResult:
    old = _read_manifest_or_none(wd) or {}
    stages = old.get("stages") or {}
    efp = embed_fingerprint(cfg)
    reused: list[str] = []
    n_encoded, n_cached, provider = 0, 0, None
    if not cfg.rerun and is_complete(wd.path, stages.get("embed"), efp):
        manifest = old
        reused.append("embed")
    else:
        manifest, n_encoded, n_cached, provider = _embed_stage(cfg, wd, efp, old, progress)
        release_memory()  # the text vectors and the sequence build's buffers are freed before training
    kill_point("embed")

    bfp = backbone_fingerprint(cfg, efp)
    done = manifest.get("stages", {}).get("backbone")
    update: dict[str, Any] | None = None
    retrain = cfg.update is None or cfg.update.retrain
    if not (cfg.rerun or retrain) and "backbone" in manifest and is_complete(wd.path, done, bfp):
        reused.append("backbone")
    else:
        manifest.pop("score", None)
        manifest["stages"].pop("score", None)
        info = _backbone(cfg, wd, progress, old.get("backbone"))
        update = info.pop("update", None)  # what happened this time: in the result, not the byte-identical manifest
        files = [wd.file(f) for f in info["files"].values()] + [wd.file(f"{BACKBONE_DIR}/{CONFIG_JSON}")]
        manifest["backbone"] = info
        manifest["stages"]["backbone"] = stage_record(wd.path, bfp, [f for f in files if f.is_file()])
        wd.write_manifest(manifest)
    kill_point("backbone")

    checks = manifest.get("input_checks", {})
    return EmbedResult(
        n_users=manifest["embed"]["n_users"],
        n_items=manifest["embed"]["n_items"],
        n_interactions=manifest["embed"]["n_interactions"],
        n_encoded=n_encoded,
        n_cached=n_cached if "embed" not in reused else manifest["embed"]["n_items"],
        provider=provider,
        reused=reused,
        warnings=warnings_for(checks, cfg.interactions, cfg.items, cfg.duplicates),
        backbone_update=(
            {"action": "reused", "reason": "backbone stage complete for these inputs and options"}
            if "backbone" in reused
            else update
        ),
    )


def _embed_stage(
    cfg: EmbedConfig, wd: Workdir, efp: str, old: dict[str, Any], progress: ProgressFn
) -> tuple[dict[str, Any], int, int, str | None]:
    """Validate, build sequences and the catalogue, embed the text; write the manifest without `score`."""
    log = scan_log(cfg)
    items = scan_items(cfg, log.collect_schema()[cfg.item_col])

    cat = catalogue(cfg, items)  # in iid order (1..n)
    wd.path.mkdir(parents=True, exist_ok=True)
    built = write_sequences(cfg, log, cat, wd.file(SEQUENCES))  # bucket by bucket: memory follows a bucket
    n_dup, n_inter = built.n_duplicates, built.n_interactions
    cat = cat.with_columns(pl.Series("n_interactions", built.item_counts[1:], dtype=pl.Int64))
    checks = input_checks(pl.scan_parquet(wd.file(SEQUENCES)), cat, cfg.time_col, n_dup)
    kill_point("sequences")

    vectors, n_encoded, n_cached, provider = _semantic_vectors(cfg, wd, cat, progress)
    write_parquet(cat, wd.file(ITEMS))
    write_parquet(
        cat.select(pl.col(cfg.item_col), "text_hash").with_columns(
            pl.Series("vector", vectors, dtype=pl.Array(pl.Float32, vectors.shape[1]))
        ),
        wd.file(SEMANTIC),
    )
    manifest: dict[str, Any] = {
        "seqclean_version": __version__,
        "workdir_format": WORKDIR_FORMAT,
        "inputs": {
            "interactions": {
                "path": str(cfg.interactions.resolve()),
                "fingerprint": file_fingerprint(cfg.interactions),
            },
            "items": {"path": str(cfg.items.resolve()), "fingerprint": file_fingerprint(cfg.items)},
        },
        "columns": {"user": cfg.user_col, "item": cfg.item_col, "time": cfg.time_col, "text": cfg.text_cols},
        "embed": {
            "text_template": cfg.template,
            "model": str(cfg.model) if cfg.model else DEFAULT_MODEL,
            "device": cfg.device,
            "seed": cfg.seed,
            "n_users": built.n_users,
            "n_items": cat.height,
            "n_interactions": n_inter,
            "n_input_rows": n_inter + n_dup,
            "duplicates": cfg.duplicates,
            "semantic_dim": int(vectors.shape[1]),
            "semantic_model_id": embed_model_id(cfg),
            "precision": cfg.precision,
        },
        "input_checks": checks,
        "stages": {
            "embed": stage_record(wd.path, efp, [wd.file(SEQUENCES), wd.file(ITEMS), wd.file(SEMANTIC)]),
        },
    }
    # a backbone trained on exactly these sequences stays usable: keep its section and record
    if "backbone" in old and "backbone" in (old.get("stages") or {}):
        manifest["backbone"] = old["backbone"]
        manifest["stages"]["backbone"] = old["stages"]["backbone"]
    wd.write_manifest(manifest)
    return manifest, n_encoded, n_cached, provider


def _backbone(cfg: EmbedConfig, wd: Workdir, progress: ProgressFn, previous: dict[str, Any] | None) -> dict[str, Any]:
    """Train the collaborative backbone on sequences.parquet, or take the user's own item vectors."""
    if cfg.collab_embeddings is not None:
        from seqclean.backbone.byo import write_byo_backbone

        return write_byo_backbone(cfg.collab_embeddings, cfg.backbone, wd.path, cfg.item_col)
    from seqclean.backbone.incremental import update_backbone
    from seqclean.backbone.train import train_backbone

    if cfg.update is None:
        return train_backbone(cfg.backbone, wd.path, cfg.item_col, progress)
    # a grown log: reuse, fine-tune or retrain the previous backbone (`previous`: its manifest section)
    return update_backbone(cfg.backbone, wd.path, cfg.item_col, cfg.user_col, cfg.update, previous, progress)


def _semantic_vectors(
    cfg: EmbedConfig, wd: Workdir, catalogue: pl.DataFrame, progress: ProgressFn
) -> tuple[np.ndarray, int, int, str | None]:
    """Vectors in `iid` order, reusing cached ones whose text hash is unchanged (the hash covers model,
    template and text, so a nightly rerun encodes only new or changed items)."""
    cached: dict[str, np.ndarray] = {}
    cache_file = wd.file(SEMANTIC)
    if cache_file.exists():
        try:
            old = pl.read_parquet(cache_file, columns=["text_hash", "vector"])
            cached = dict(zip(old["text_hash"].to_list(), old["vector"].to_numpy(), strict=True))
        except (pl.exceptions.PolarsError, OSError):
            cached = {}
    hashes = catalogue["text_hash"].to_list()
    texts = catalogue["text"].to_list()
    todo = [k for k, h in enumerate(hashes) if h not in cached]
    new: np.ndarray | None = None
    provider: str | None = None
    if todo:
        encoder = load_encoder(
            cfg.model, device=cfg.device, threads=cfg.threads, batch_size=cfg.batch_size, precision=cfg.precision
        )
        if cfg.engine == "ray":  # the batches on an actor pool; the backbone still trains here, on the driver
            from seqclean.ray_engine import encode_ray

            new, provider = encode_ray(
                encoder, [texts[k] for k in todo], address=cfg.ray_address, actors=cfg.ray_actors, progress=progress
            )
        else:
            provider = encoder.provider
            new = encoder.encode([texts[k] for k in todo], progress)
    dim = new.shape[1] if new is not None else next(iter(cached.values())).shape[0]
    out = np.zeros((len(hashes), dim), dtype=np.float32)
    new_rows = dict(zip(todo, range(len(todo)), strict=True))
    for k, h in enumerate(hashes):
        if k in new_rows:
            assert new is not None
            out[k] = new[new_rows[k]]
        else:
            out[k] = cached[h]
    return out, len(todo), len(hashes) - len(todo), provider
