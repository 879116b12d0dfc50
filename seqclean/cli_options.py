"""Every option of every command: the typed Typer aliases, and the builders that turn a command's parsed
options into library configs (so `embed`/`run` and `score`/`run` cannot drift apart), and `guard`, which
turns library errors into the one-line message and exit code of the README."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from seqclean.errors import SeqcleanError

WorkdirOpt = Annotated[Path, typer.Option("--workdir", help="Directory for intermediate artefacts and the manifest.")]
Interactions = Annotated[
    Path, typer.Option("--interactions", help="Interaction log: Parquet file, directory of Parquet files, or CSV.")
]
Items = Annotated[Path, typer.Option("--items", help="Item table (Parquet or CSV) with the id and text columns.")]
UserCol = Annotated[str, typer.Option("--user-col", help="User id column in the log.")]
ItemCol = Annotated[str, typer.Option("--item-col", help="Item id column in the log and the item table.")]
TimeCol = Annotated[str, typer.Option("--time-col", help="Timestamp column in the log.")]
TextCols = Annotated[str, typer.Option("--text-cols", help="Comma-separated item text columns, e.g. title,genres.")]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA when usable, else CPU), cpu or cuda.")]
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
Mode = Annotated[str, typer.Option("--mode", help="remove: drop flagged rows; replace: swap in a suggested item.")]
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
    str, typer.Option("--fallback", help="Replace mode: keep or drop a flagged row with no usable suggestion.")
]
Format = Annotated[str, typer.Option("--format", help="parquet, or recbole (also writes RecBole atomic files).")]
DatasetName = Annotated[str, typer.Option("--dataset-name", help="File stem of the RecBole files.")]
Out = Annotated[Path, typer.Option("--out", help="Output directory for cleaned.parquet and the audit.")]
ReportOut = Annotated[Path | None, typer.Option("--out", help="HTML file to write (default: WORKDIR/report.html).")]
FilterOut = Annotated[
    Path | None,
    typer.Option("--filter-out", help="The filter's output directory, to show what each guard held back."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary line.")]
ChunkUsers = Annotated[int, typer.Option("--chunk-users", help="Users scored per chunk (bounds memory).")]
Scorer = Annotated[
    str, typer.Option("--scorer", help="iadsr (the full method) or baseline-semantic (text-only reference).")
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
    str, typer.Option("--precision", help="Text encoder graph: fp32, int8 (quantised, faster on CPU) or fp16 (GPU).")
]
EncoderBatch = Annotated[int, typer.Option("--encoder-batch-size", help="Texts per text-encoder batch.")]
Backbone = Annotated[str, typer.Option("--backbone", help="Backbone trained on the log: sasrec or gru4rec.")]
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
    )


def score_config(
    workdir: Path, scorer: str, chunk_users: int, fit_users: int, cold_k: float, device: str, seed: int
) -> Any:
    from seqclean.score import ScoreConfig

    return ScoreConfig(
        workdir=workdir,
        scorer=scorer,
        chunk_users=chunk_users,
        fit_users=fit_users,
        cold_k=cold_k,
        device=device,
        seed=seed,
    )


def build(builder: Callable[..., Any], options: dict[str, Any]) -> Any:
    """Call a config builder with the command's options of the same names.

    `embed` and `run` (and `score` and `run`) share their options; passing them by name from one dict means
    an option cannot be parsed and then silently dropped (a builder parameter without a matching command
    option is a KeyError at once, not a default).
    """
    return builder(**{name: options[name] for name in inspect.signature(builder).parameters})


def echo(msg: str, quiet: bool) -> None:
    if not quiet:
        typer.echo(msg)


def guard(fn: Callable[[], None]) -> None:
    """Map library errors to a one-line message and the documented exit code."""
    try:
        fn()
    except SeqcleanError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted; outputs already in place are complete, rerun to finish", err=True)
        raise typer.Exit(130) from None
    except Exception as exc:
        if os.environ.get("SEQCLEAN_DEBUG"):
            raise
        typer.echo(
            f"error: internal error ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "rerun with SEQCLEAN_DEBUG=1 for the traceback and report it",
            err=True,
        )
        raise typer.Exit(1) from None
