"""The `seqclean` command line: parse and validate options, call one library function, render.

No computation happens here. Library errors (`SeqcleanError`) become a one-line message on stderr
and the exit code documented in the README; anything else is a bug (exit 1).
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from seqclean.errors import EXIT_CODES, SeqcleanError
from seqclean.progress import ProgressFn, no_progress

app = typer.Typer(
    name="seqclean",
    help="Find and remove noisy interactions in sequential-recommendation logs before training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    epilog="Exit codes: " + "; ".join(f"{k} {v.split(':')[0]}" for k, v in EXIT_CODES.items()),
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


def _echo(msg: str, quiet: bool) -> None:
    if not quiet:
        typer.echo(msg)


@contextmanager
def _progress(quiet: bool) -> Iterator[ProgressFn]:
    """A rich progress display on a terminal; silence otherwise (cron, pipes, tests)."""
    if quiet or not sys.stdout.isatty():
        yield no_progress
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    ) as bar:

        def update(task: str, done: int, total: int | None) -> None:
            # "train sasrec | loss 7.12 | ..." updates the row of "train sasrec"
            key = task.split(" | ")[0]
            if key not in tasks:
                tasks[key] = bar.add_task(task, total=total)
            bar.update(tasks[key], completed=done, total=total, description=task)

        yield update


def _guard(fn: Callable[[], None]) -> None:
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


def _embed_config(
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
    from seqclean.backbone.train import BackboneConfig
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


def _score_config(
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


def _build(builder: Callable[..., Any], options: dict[str, Any]) -> Any:
    """Call a config builder with the command's options of the same names.

    `embed` and `run` (and `score` and `run`) share their options; passing them by name from one dict means
    an option cannot be parsed and then silently dropped (a builder parameter without a matching command
    option is a KeyError at once, not a default).
    """
    return builder(**{name: options[name] for name in inspect.signature(builder).parameters})


@app.command("embed")
def embed_cli(
    interactions: Interactions,
    items: Items,
    workdir: WorkdirOpt,
    user_col: UserCol = "user_id",
    item_col: ItemCol = "item_id",
    time_col: TimeCol = "timestamp",
    text_cols: TextCols = "title",
    model: Model = None,
    device: Device = "auto",
    seed: Seed = 0,
    backbone: Backbone = "sasrec",
    epochs: Epochs = 80,
    batch_size: BatchSize = 256,
    lr: Lr = 2e-3,
    patience: Patience = 10,
    max_len: MaxLen = 50,
    collab_embeddings: CollabEmbeddings = None,
    quiet: Quiet = False,
    text_template: TextTemplate = None,
    threads: Threads = None,
    precision: Precision = "fp32",
    encoder_batch_size: EncoderBatch = 64,
) -> None:
    """Validate the inputs, build sequences and embed every item (semantic, collaborative)."""
    options = dict(locals())

    def go() -> None:
        from seqclean.embed import embed

        cfg = _build(_embed_config, options)
        with _progress(quiet) as progress:
            r = embed(cfg, progress)
        on = f" on {r.provider}" if r.provider else ""
        _echo(
            f"embedded {r.n_items} items ({r.n_encoded} encoded{on}, {r.n_cached} from cache) for "
            f"{r.n_users} users / {r.n_interactions} interactions -> {workdir}",
            quiet,
        )

    _guard(go)


@app.command("score")
def score_cli(
    workdir: WorkdirOpt,
    scorer: Scorer = "iadsr",
    fit_users: FitUsers = 3000,
    cold_k: ColdK = 2.0,
    chunk_users: ChunkUsers = 5_000,
    device: Device = "auto",
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Score every interaction's noise probability (writes scores, item report, summary)."""
    options = dict(locals())

    def go() -> None:
        from seqclean.score import score

        with _progress(quiet) as progress:
            scfg = _build(_score_config, options)
            r = score(scfg, progress)
        _echo(
            f"scored {r.n_interactions} interactions; {r.n_flagged} flagged at threshold "
            f"{r.summary['threshold']} -> {workdir}",
            quiet,
        )

    _guard(go)


@app.command("filter")
def filter_cli(
    workdir: WorkdirOpt,
    out: Out,
    threshold: FilterThreshold = "0.5",
    max_fraction: MaxFraction = None,
    mode: Mode = "remove",
    min_seq_len: MinSeqLen = 3,
    max_edits_per_user: MaxEdits = "20%",
    max_uncertainty: MaxUncertainty = 0.5,
    keep_last: KeepLast = 0,
    protect_cold: ProtectCold = False,
    min_confidence: MinConfidence = 0.5,
    fallback: Fallback = "keep",
    fmt: Format = "parquet",
    dataset_name: DatasetName = "cleaned",
    quiet: Quiet = False,
) -> None:
    """Write the cleaned log (input schema), an audit of every change and a summary."""

    def go() -> None:
        from seqclean.filter import FilterConfig, filter_log, parse_max_edits, parse_threshold

        edits, share = parse_max_edits(max_edits_per_user)
        cfg = FilterConfig(
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
        )
        r = filter_log(cfg)
        _echo(
            f"{r.summary['rule']['name']}: removed {r.n_removed}, replaced {r.n_replaced} of {r.n_input} "
            f"interactions -> {out}",
            quiet,
        )

    _guard(go)


@app.command("run")
def run_cli(
    interactions: Interactions,
    items: Items,
    workdir: WorkdirOpt,
    out: Out,
    threshold: FilterThreshold = "0.5",
    max_fraction: MaxFraction = None,
    mode: Mode = "remove",
    min_seq_len: MinSeqLen = 3,
    keep_last: KeepLast = 0,
    user_col: UserCol = "user_id",
    item_col: ItemCol = "item_id",
    time_col: TimeCol = "timestamp",
    text_cols: TextCols = "title",
    model: Model = None,
    device: Device = "auto",
    scorer: Scorer = "iadsr",
    fit_users: FitUsers = 3000,
    cold_k: ColdK = 2.0,
    chunk_users: ChunkUsers = 5_000,
    seed: Seed = 0,
    backbone: Backbone = "sasrec",
    epochs: Epochs = 80,
    batch_size: BatchSize = 256,
    lr: Lr = 2e-3,
    patience: Patience = 10,
    max_len: MaxLen = 50,
    collab_embeddings: CollabEmbeddings = None,
    quiet: Quiet = False,
    text_template: TextTemplate = None,
    threads: Threads = None,
    precision: Precision = "fp32",
    encoder_batch_size: EncoderBatch = 64,
) -> None:
    """embed + score + filter in one go (the nightly job)."""
    options = dict(locals())

    def go() -> None:
        from seqclean.filter import FilterConfig, parse_threshold
        from seqclean.pipeline import run

        ecfg = _build(_embed_config, options)
        scfg = _build(_score_config, options)
        fcfg = FilterConfig(
            workdir=workdir,
            out=out,
            threshold=parse_threshold(threshold),
            max_fraction=max_fraction,
            mode=mode,
            min_seq_len=min_seq_len,
            keep_last=keep_last,
        )
        with _progress(quiet) as progress:
            r = run(ecfg, scfg, fcfg, progress)
        _echo(
            f"{r.embed.n_interactions} interactions, {r.embed.n_users} users, {r.embed.n_items} items; "
            f"{r.filter.summary['rule']['name']}: removed {r.filter.n_removed}, replaced {r.filter.n_replaced} "
            f"-> {out}",
            quiet,
        )

    _guard(go)


@app.command("evaluate")
def evaluate_cli(
    interactions: Interactions,
    items: Items,
    workdir: WorkdirOpt,
    out: Annotated[Path, typer.Option("--out", help="Directory for evaluation.json, evaluation.md and the arms.")],
    plant: Annotated[
        str, typer.Option("--plant", help="Plant labelled noise in training inputs: uniform, popularity, insert, none.")
    ] = "uniform",
    ratio: Annotated[float, typer.Option("--ratio", help="Share of training inputs to plant noise in.")] = 0.1,
    plant_seed: Annotated[int, typer.Option("--plant-seed", help="Seed of the planting and of random removal.")] = 0,
    seeds: Annotated[int, typer.Option("--seeds", help="Downstream training seeds per arm (mean ± std).")] = 3,
    budget: Annotated[
        str, typer.Option("--budget", help="Removal budget: auto (filter --threshold auto) or a share, e.g. 0.05.")
    ] = "auto",
    sweep: Annotated[
        str, typer.Option("--sweep", help="Comma-separated removal shares of the budget sweep ('' for none).")
    ] = "0,0.02,0.05,0.1,0.15",
    sweep_seeds: Annotated[
        int | None, typer.Option("--sweep-seeds", help="Training seeds of the sweep arms (default: --seeds).")
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="Known noise labels (user, time, is_noise) for a log with --plant none."),
    ] = None,
    export_recbole: Annotated[
        bool, typer.Option("--export-recbole", help="Also write each arm as RecBole atomic files under OUT/recbole.")
    ] = False,
    epochs: Annotated[int, typer.Option("--train-epochs", help="Downstream SASRec: most epochs per training.")] = 15,
    train_threads: Annotated[
        int, typer.Option("--train-threads", help="Downstream SASRec: torch threads (1 is fastest on a busy machine).")
    ] = 2,
    train_jobs: Annotated[
        int, typer.Option("--train-jobs", help="Downstream trainings run in this many processes at once.")
    ] = 1,
    user_col: UserCol = "user_id",
    item_col: ItemCol = "item_id",
    time_col: TimeCol = "timestamp",
    text_cols: TextCols = "title",
    text_template: TextTemplate = None,
    device: Device = "auto",
    seed: Seed = 0,
    fit_users: FitUsers = 3000,
    cold_k: ColdK = 2.0,
    backbone_epochs: Annotated[
        int, typer.Option("--backbone-epochs", help="Epochs cap of seqclean's own backbone (embed --epochs).")
    ] = 80,
    quiet: Quiet = False,
) -> None:
    """Measure what cleaning does to a recommender trained on your log (writes OUT/evaluation.json/.md)."""

    def go() -> None:
        from seqclean.backbone.train import BackboneConfig
        from seqclean.errors import UsageError
        from seqclean.evaluate import DownstreamConfig, EvaluateConfig, evaluate
        from seqclean.evaluate.runner import parse_budget

        try:
            shares = tuple(float(x) for x in sweep.split(",") if x.strip())
        except ValueError:
            raise UsageError(f"--sweep {sweep}: give comma-separated shares such as 0,0.05,0.1") from None
        cols = [c.strip() for c in text_cols.split(",") if c.strip()]
        cfg = EvaluateConfig(
            interactions=interactions,
            items=items,
            workdir=workdir,
            out=out,
            plant=plant,
            ratio=ratio,
            plant_seed=plant_seed,
            seeds=seeds,
            budget=parse_budget(budget),
            sweep=shares,
            sweep_seeds=sweep_seeds,
            labels=labels,
            export_recbole=export_recbole,
            user_col=user_col,
            item_col=item_col,
            time_col=time_col,
            text_cols=cols,
            text_template=text_template,
            seed=seed,
            backbone=BackboneConfig(epochs=backbone_epochs, seed=seed, device=device),
            fit_users=fit_users,
            cold_k=cold_k,
            device=device,
            downstream=DownstreamConfig(epochs=epochs, threads=train_threads),
            train_jobs=train_jobs,
        )
        with _progress(quiet) as progress:
            r = evaluate(cfg, progress)
        typer.echo(r.markdown)

    _guard(go)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
