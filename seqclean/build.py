"""The library's stage configs (`EmbedConfig`, `ScoreConfig`, `FilterConfig`) from the option specs: the one
place where an option reaches the library, so a parsed option cannot be dropped on the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqclean.config import Options, flag
from seqclean.errors import UsageError


def need(value: Path | None, name: str) -> Path:
    if value is None:
        raise UsageError(f"{flag(name)} is required: give it on the command line or as {name} in [inputs] of --config")
    return value


def embed_config(o: Options) -> Any:
    """The `EmbedConfig` (with its `BackboneConfig`) these options describe."""
    from seqclean.backbone.train import BackboneConfig
    from seqclean.embed import EmbedConfig

    e, b, g = o.embed, o.backbone, o.general
    return EmbedConfig(
        interactions=need(o.inputs.interactions, "interactions"),
        items=need(o.inputs.items, "items"),
        workdir=need(o.inputs.workdir, "workdir"),
        user_col=e.user_col,
        item_col=e.item_col,
        time_col=e.time_col,
        text_cols=e.text_col_list,
        text_template=e.text_template,
        model=e.model,
        device=g.device,
        batch_size=e.encoder_batch_size,
        seed=g.seed,
        threads=e.threads,
        precision=e.precision,
        backbone=BackboneConfig(
            model=b.backbone,
            epochs=b.epochs,
            batch_size=b.batch_size,
            lr=b.lr,
            max_len=b.max_len,
            seed=g.seed,
            device=g.device,
            patience=b.patience,
            loss=b.loss,
            negatives=b.negatives,
            train_users=b.train_users,
            max_steps=b.max_steps,
            valid_users=b.valid_users,
            decoys=b.decoys,
        ),
        collab_embeddings=e.collab_embeddings,
        duplicates=e.duplicates,
        rerun=g.rerun,
        update=update_policy(o),
        engine=g.engine,
        ray_address=g.ray_address,
        ray_actors=g.ray_actors,
    )


def update_policy(o: Options) -> Any:
    """When a nightly embed reuses, fine-tunes or retrains the workdir's backbone."""
    from seqclean.backbone.incremental import UpdatePolicy

    b = o.backbone
    return UpdatePolicy(
        retrain=b.retrain or o.general.rerun,  # --rerun recomputes every stage, the backbone from scratch
        finetune_epochs=b.finetune_epochs,
        max_age_days=b.retrain_after_days,
        max_new_items=b.retrain_new_items,
        max_new_interactions=b.retrain_new_interactions,
    )


def score_config(o: Options) -> Any:
    from seqclean.gate import Floors
    from seqclean.score import ScoreConfig

    s, g = o.score, o.general
    return ScoreConfig(
        workdir=need(o.inputs.workdir, "workdir"),
        scorer=s.scorer,
        rounds=s.rounds,
        chunk_users=s.chunk_users,
        threads=s.score_threads,
        fit_users=s.fit_users,
        cold_k=s.cold_k,
        device=g.device,
        seed=g.seed,
        floors=Floors(
            detector_auc=s.min_detector_auc, backbone_lift=s.min_backbone_lift, alignment_top1=s.min_alignment_top1
        ),
        rerun=g.rerun,
        engine=g.engine,
        ray_address=g.ray_address,
        ray_actors=g.ray_actors,
    )


def filter_config(o: Options) -> Any:
    from seqclean.filter import FilterConfig

    f = o.filter
    edits, share = f.parsed_max_edits()
    return FilterConfig(
        workdir=need(o.inputs.workdir, "workdir"),
        out=need(o.inputs.out, "out"),
        threshold=f.parsed_threshold(),
        max_fraction=f.max_fraction,
        mode=f.mode,
        min_seq_len=f.min_seq_len,
        max_edits_per_user=edits,
        max_edit_share=share,
        max_uncertainty=None if f.max_uncertainty >= 1.0 else f.max_uncertainty,
        keep_last=f.keep_last,
        protect_cold=f.protect_cold,
        min_confidence=f.min_confidence,
        fallback=f.fallback,
        fmt=f.format,
        dataset_name=f.dataset_name,
        force=f.force,
        rerun=o.general.rerun,
    )
