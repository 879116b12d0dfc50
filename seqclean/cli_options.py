"""Every option of every command: the typed Typer aliases, and the builders that turn a command's parsed
options into library configs (so `embed`/`run`, `score`/`run` and `filter`/`run` cannot drift apart).
How commands run and fail (`guard`, one-line usage errors, the choice enums) is `seqclean.cli_runtime`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from seqclean.cli_runtime import (
    BackboneChoice,
    DeviceChoice,
    DuplicatesChoice,
    FallbackChoice,
    FormatChoice,
    ModeChoice,
    PrecisionChoice,
    ScorerChoice,
)

WorkdirOpt = Annotated[Path, typer.Option("--workdir", help="Directory for intermediate artefacts and the manifest.")]
Interactions = Annotated[
    Path, typer.Option("--interactions", help="Interaction log: Parquet file, directory of Parquet files, or CSV.")
]
Items = Annotated[Path, typer.Option("--items", help="Item table (Parquet or CSV) with the id and text columns.")]
UserCol = Annotated[str, typer.Option("--user-col", help="User id column in the log.")]
ItemCol = Annotated[str, typer.Option("--item-col", help="Item id column in the log and the item table.")]
TimeCol = Annotated[str, typer.Option("--time-col", help="Timestamp column in the log.")]
TextCols = Annotated[str, typer.Option("--text-cols", help="Comma-separated item text columns, e.g. title,genres.")]
Device = Annotated[DeviceChoice, typer.Option("--device", help="auto: CUDA when usable, else CPU.")]
Model = Annotated[
    Path | None, typer.Option("--model", help="Local sentence-transformers model dir (default: bundled MiniLM).")
]
Threshold = Annotated[float, typer.Option("--threshold", help="Drop interactions with noise_score above this.")]
FilterThreshold = Annotated[
    str,
    typer.Option("--threshold", help="Change rows with noise_score above this (0-1), 'auto' (data-driven), or 'none'."),
]
MaxFraction = Annotated[
    float | None, typer.Option("--max-fraction", help="Change at most this share of all rows (top noise scores).")
]
Mode = Annotated[
    ModeChoice, typer.Option("--mode", help="remove: drop flagged rows; replace: swap in a suggested item.")
]
MinSeqLen = Annotated[int, typer.Option("--min-seq-len", help="Never leave a user with fewer interactions.")]
MaxEdits = Annotated[
    str, typer.Option("--max-edits-per-user", help="Cap on changes per user: a count (2) or a share (20%).")
]
MaxUncertainty = Annotated[
    float, typer.Option("--max-uncertainty", help="Keep flagged rows whose uncertainty is above this (1 = off).")
]
KeepLast = Annotated[int, typer.Option("--keep-last", help="Never change each user's last N interactions.")]
ProtectCold = Annotated[bool, typer.Option("--protect-cold/--no-protect-cold", help="Never change cold items.")]
MinConfidence = Annotated[
    float, typer.Option("--min-confidence", help="Replace mode: least suggestion confidence to replace.")
]
Fallback = Annotated[
    FallbackChoice,
    typer.Option("--fallback", help="Replace mode: keep or drop a flagged row with no usable suggestion."),
]
Format = Annotated[
    FormatChoice, typer.Option("--format", help="parquet, or recbole (also writes RecBole atomic files).")
]
DatasetName = Annotated[str, typer.Option("--dataset-name", help="File stem of the RecBole files.")]
Out = Annotated[Path, typer.Option("--out", help="Output directory for cleaned.parquet and the audit.")]
ReportOut = Annotated[Path | None, typer.Option("--out", help="HTML file to write (default: WORKDIR/report.html).")]
FilterOut = Annotated[
    Path | None,
    typer.Option("--filter-out", help="The filter's output directory, to show what each guard held back."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary line (warnings still shown).")]
Rerun = Annotated[
    bool,
    typer.Option("--rerun", help="Recompute every stage even when complete outputs for these inputs exist."),
]
Force = Annotated[
    bool, typer.Option("--force", help="Filter even when the self-check gate found the scores unreliable (exit 7).")
]
Duplicates = Annotated[
    DuplicatesChoice,
    typer.Option(
        "--duplicates",
        help="Exact (user, item, time) repeats: drop them, keep them (scored once either way), or error (exit 4).",
    ),
]
MinDetectorAuc = Annotated[
    float, typer.Option("--min-detector-auc", help="Gate floor: detector held-out corruption AUC (0 disables).")
]
MinBackboneLift = Annotated[
    float, typer.Option("--min-backbone-lift", help="Gate floor: backbone validation HR@10 over chance (0 disables).")
]
MinAlignmentTop1 = Annotated[
    float, typer.Option("--min-alignment-top1", help="Gate floor: alignment held-out top-1 retrieval (0 disables).")
]
ChunkUsers = Annotated[int, typer.Option("--chunk-users", help="Users scored per chunk (bounds memory).")]
Scorer = Annotated[
    ScorerChoice,
    typer.Option("--scorer", help="iadsr (the full method) or baseline-semantic (text-only reference)."),
]
FitUsers = Annotated[int, typer.Option("--fit-users", help="Users sampled to fit the alignment and the detector.")]
ColdK = Annotated[
    float,
    typer.Option("--cold-k", help="Cold-item protection: weight n/(n+k) on collaborative evidence (0 disables)."),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed for everything stochastic.")]
TextTemplate = Annotated[
    str | None,
    typer.Option(
        "--text-template", help="Item text template over columns, e.g. '{title} | {genres}' (overrides --text-cols)."
    ),
]
Threads = Annotated[
    int | None, typer.Option("--threads", help="ONNX Runtime threads for the text encoder (default: all cores).")
]
Precision = Annotated[
    PrecisionChoice,
    typer.Option("--precision", help="Text encoder graph: int8 is quantised (faster on CPU), fp16 is for GPUs."),
]
EncoderBatch = Annotated[int, typer.Option("--encoder-batch-size", help="Texts per text-encoder batch.")]
Backbone = Annotated[BackboneChoice, typer.Option("--backbone", help="Backbone trained on the log.")]
Epochs = Annotated[int, typer.Option("--epochs", help="Most backbone training epochs (early stopping on validation).")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Backbone training batch size (sequence windows).")]
Patience = Annotated[
    int, typer.Option("--patience", help="Stop backbone training after this many epochs without improvement.")
]
Lr = Annotated[float, typer.Option("--lr", help="Backbone learning rate (Adam).")]
MaxLen = Annotated[int, typer.Option("--max-len", help="Backbone window: items of history per position.")]
CollabEmbeddings = Annotated[
    Path | None,
    typer.Option(
        "--collab-embeddings",
        help="Parquet of your own item vectors (item id column + 'vector'); skips backbone training.",
    ),
]

# `run` exposes only the main filter options; the rest take filter's defaults
RUN_FILTER_DEFAULTS: dict[str, Any] = {
    "max_edits_per_user": "20%",
    "max_uncertainty": 0.5,
    "protect_cold": False,
    "min_confidence": 0.5,
    "fallback": "keep",
    "fmt": "parquet",
    "dataset_name": "cleaned",
}


def embed_config(
    interactions: Path,
    items: Path,
    workdir: Path,
    user_col: str,
    item_col: str,
    time_col: str,
    text_cols: str,
    model: Path | None,
    device: str,
    seed: int,
    text_template: str | None,
    threads: int | None,
    precision: str,
    encoder_batch_size: int,
    backbone: str,
    epochs: int,
    batch_size: int,
    lr: float,
    patience: int,
    max_len: int,
    collab_embeddings: Path | None,
    duplicates: str,
    rerun: bool,
) -> Any:
    from seqclean.backbone.config import BackboneConfig
    from seqclean.embed import EmbedConfig
    from seqclean.errors import UsageError

    cols = [c.strip() for c in text_cols.split(",") if c.strip()]
    if not cols:
        raise UsageError("--text-cols is empty; name at least one item text column, e.g. --text-cols title")
    return EmbedConfig(
        interactions=interactions,
        items=items,
        workdir=workdir,
        user_col=user_col,
        item_col=item_col,
        time_col=time_col,
        text_cols=cols,
        model=model,
        device=device,
        seed=seed,
        text_template=text_template,
        threads=threads,
        precision=precision,
        batch_size=encoder_batch_size,
        backbone=BackboneConfig(
            model=backbone,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            max_len=max_len,
            seed=seed,
            device=device,
            patience=patience,
        ),
        collab_embeddings=collab_embeddings,
        duplicates=duplicates,
        rerun=rerun,
    )


def score_config(
    workdir: Path,
    scorer: str,
    chunk_users: int,
    fit_users: int,
    cold_k: float,
    device: str,
    seed: int,
    min_detector_auc: float,
    min_backbone_lift: float,
    min_alignment_top1: float,
    rerun: bool,
) -> Any:
    from seqclean.gate import Floors
    from seqclean.score import ScoreConfig

    return ScoreConfig(
        workdir=workdir,
        scorer=scorer,
        chunk_users=chunk_users,
        fit_users=fit_users,
        cold_k=cold_k,
        device=device,
        seed=seed,
        floors=Floors(
            detector_auc=min_detector_auc, backbone_lift=min_backbone_lift, alignment_top1=min_alignment_top1
        ),
        rerun=rerun,
    )


def filter_config(
    workdir: Path,
    out: Path,
    threshold: str,
    max_fraction: float | None,
    mode: str,
    min_seq_len: int,
    max_edits_per_user: str,
    max_uncertainty: float,
    keep_last: int,
    protect_cold: bool,
    min_confidence: float,
    fallback: str,
    fmt: str,
    dataset_name: str,
    force: bool,
    rerun: bool,
) -> Any:
    from seqclean.filter_rules import FilterConfig, parse_max_edits, parse_threshold

    edits, share = parse_max_edits(max_edits_per_user)
    return FilterConfig(
        workdir=workdir,
        out=out,
        threshold=parse_threshold(threshold),
        max_fraction=max_fraction,
        mode=mode,
        min_seq_len=min_seq_len,
        max_edits_per_user=edits,
        max_edit_share=share,
        max_uncertainty=None if max_uncertainty >= 1.0 else max_uncertainty,
        keep_last=keep_last,
        protect_cold=protect_cold,
        min_confidence=min_confidence,
        fallback=fallback,
        fmt=fmt,
        dataset_name=dataset_name,
        force=force,
        rerun=rerun,
    )


def build(builder: Callable[..., Any], options: dict[str, Any]) -> Any:
    """Call a config builder with the command's options of the same names.

    `embed` and `run` (and `score` and `run`) share their options; passing them by name from one dict means
    an option cannot be parsed and then silently dropped (a builder parameter without a matching command
    option is a KeyError at once, not a default).
    """
    return builder(**{name: options[name] for name in inspect.signature(builder).parameters})
