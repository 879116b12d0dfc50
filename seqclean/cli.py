"""The `seqclean` command line: parse and validate options, call one library function, render.

No computation happens here. Library errors (`SeqcleanError`) become a one-line message on stderr
and the exit code documented in the README; anything else is a bug (exit 1).
"""

from __future__ import annotations

import inspect
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from seqclean.errors import EXIT_NAMES, SeqcleanError, Terminated
from seqclean.progress import ProgressFn, no_progress

EXIT_EPILOG = "Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_NAMES.items()) + "."

app = typer.Typer(
    name="seqclean",
    help="Find and remove noisy interactions in sequential-recommendation logs before training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: choices as <a|b>, flags without a <bool> placeholder
    epilog=EXIT_EPILOG,
)


_USAGE_ERROR: type[Exception] = typer.BadParameter.__mro__[1]  # Typer's (vendored) click UsageError


class _Command(TyperCommand):
    """Click's usage errors (bad choice, unknown or missing option) as one `error: ...` line, exit 2,
    like every other seqclean error."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _USAGE_ERROR as exc:
            message = exc.format_message()  # type: ignore[attr-defined]
            typer.echo(f"error: {message} (see seqclean {self.name} --help)", err=True)
            raise typer.Exit(2) from None


class DeviceChoice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class PrecisionChoice(StrEnum):
    fp32 = "fp32"
    int8 = "int8"
    fp16 = "fp16"


class BackboneChoice(StrEnum):
    sasrec = "sasrec"
    gru4rec = "gru4rec"


class ScorerChoice(StrEnum):
    iadsr = "iadsr"
    baseline_semantic = "baseline-semantic"


class ModeChoice(StrEnum):
    remove = "remove"
    replace_ = "replace"  # the member name `replace` would shadow str.replace


class FallbackChoice(StrEnum):
    keep = "keep"
    drop = "drop"


class FormatChoice(StrEnum):
    parquet = "parquet"
    recbole = "recbole"


class DuplicatesChoice(StrEnum):
    drop = "drop"
    keep = "keep"
    error = "error"

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


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def _warn(msg: str) -> None:
    """A suspicious-input warning: one line on stderr, even with --quiet."""
    typer.echo(f"warning: {msg}", err=True)


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    """Enum choices back to plain strings: the library takes (and records) strings."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in options.items()}


def _reused(stages: list[str]) -> str:
    return f" (reused: {', '.join(stages)})" if stages else ""


def _guard(fn: Callable[[], None]) -> None:
    """Map library errors to a one-line message and the documented exit code.

    SIGTERM is turned into an exception (like Ctrl-C) so that every temp file and lock is cleaned up
    on the way out: no partial files, exit 143 (130 for SIGINT).
    """
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        fn()
    except SeqcleanError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except Terminated:
        typer.echo("error: terminated (SIGTERM); no partial files were left, rerun to finish", err=True)
        raise typer.Exit(143) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted; no partial files were left, rerun to finish", err=True)
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
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


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
    duplicates: str,
    rerun: bool,
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
        duplicates=duplicates,
        rerun=rerun,
    )


def _score_config(
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


def _build(builder: Callable[..., Any], options: dict[str, Any]) -> Any:
    """Call a config builder with the command's options of the same names.

    `embed` and `run` (and `score` and `run`) share their options; passing them by name from one dict means
    an option cannot be parsed and then silently dropped (a builder parameter without a matching command
    option is a KeyError at once, not a default).
    """
    return builder(**{name: options[name] for name in inspect.signature(builder).parameters})


@app.command("embed", cls=_Command)
def embed_cli(
    interactions: Interactions,
    items: Items,
    workdir: WorkdirOpt,
    user_col: UserCol = "user_id",
    item_col: ItemCol = "item_id",
    time_col: TimeCol = "timestamp",
    text_cols: TextCols = "title",
    model: Model = None,
    device: Device = DeviceChoice.auto,
    seed: Seed = 0,
    backbone: Backbone = BackboneChoice.sasrec,
    epochs: Epochs = 80,
    batch_size: BatchSize = 256,
    lr: Lr = 2e-3,
    patience: Patience = 10,
    max_len: MaxLen = 50,
    collab_embeddings: CollabEmbeddings = None,
    quiet: Quiet = False,
    text_template: TextTemplate = None,
    threads: Threads = None,
    precision: Precision = PrecisionChoice.fp32,
    encoder_batch_size: EncoderBatch = 64,
    duplicates: Duplicates = DuplicatesChoice.drop,
    rerun: Rerun = False,
) -> None:
    """Validate the inputs, build sequences and embed every item (semantic, collaborative)."""
    options = _plain(dict(locals()))

    def go() -> None:
        from seqclean.embed import embed

        cfg = _build(_embed_config, options)
        with _progress(quiet) as progress:
            r = embed(cfg, progress)
        for w in r.warnings:
            _warn(w)
        on = f" on {r.provider}" if r.provider else ""
        _echo(
            f"embedded {r.n_items} items ({r.n_encoded} encoded{on}, {r.n_cached} from cache) for "
            f"{r.n_users} users / {r.n_interactions} interactions -> {workdir}{_reused(r.reused)}",
            quiet,
        )

    _guard(go)


@app.command("score", cls=_Command)
def score_cli(
    workdir: WorkdirOpt,
    scorer: Scorer = ScorerChoice.iadsr,
    fit_users: FitUsers = 3000,
    cold_k: ColdK = 2.0,
    chunk_users: ChunkUsers = 5_000,
    device: Device = DeviceChoice.auto,
    seed: Seed = 0,
    min_detector_auc: MinDetectorAuc = 0.6,
    min_backbone_lift: MinBackboneLift = 2.0,
    min_alignment_top1: MinAlignmentTop1 = 0.02,
    rerun: Rerun = False,
    quiet: Quiet = False,
) -> None:
    """Score every interaction's noise probability (writes scores, item report, summary)."""
    options = _plain(dict(locals()))

    def go() -> None:
        from seqclean.score import score

        with _progress(quiet) as progress:
            scfg = _build(_score_config, options)
            r = score(scfg, progress)
        if not r.summary.get("reliable", True):
            _warn(f"{workdir}/summary.json: scores unreliable: " + "; ".join(r.summary["unreliable_reasons"]))
        _echo(
            f"scored {r.n_interactions} interactions; {r.n_flagged} flagged at threshold "
            f"{r.summary['threshold']} -> {workdir}{_reused(['score'] if r.reused else [])}",
            quiet,
        )

    _guard(go)


def _filter_config(
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
    from seqclean.filter import FilterConfig, parse_max_edits, parse_threshold

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


def _filter_line(r: Any, out: Path) -> str:
    forced = " (forced past the self-check gate)" if r.summary.get("forced") else ""
    return (
        f"{r.summary['rule']['name']}: removed {r.n_removed}, replaced {r.n_replaced} of {r.n_input} "
        f"interactions -> {out}{forced}"
    )


@app.command("filter", cls=_Command)
def filter_cli(
    workdir: WorkdirOpt,
    out: Out,
    threshold: FilterThreshold = "0.5",
    max_fraction: MaxFraction = None,
    mode: Mode = ModeChoice.remove,
    min_seq_len: MinSeqLen = 3,
    max_edits_per_user: MaxEdits = "20%",
    max_uncertainty: MaxUncertainty = 0.5,
    keep_last: KeepLast = 0,
    protect_cold: ProtectCold = False,
    min_confidence: MinConfidence = 0.5,
    fallback: Fallback = FallbackChoice.keep,
    fmt: Format = FormatChoice.parquet,
    dataset_name: DatasetName = "cleaned",
    force: Force = False,
    rerun: Rerun = False,
    quiet: Quiet = False,
) -> None:
    """Write the cleaned log (input schema), an audit of every change and a summary."""
    options = _plain(dict(locals()))

    def go() -> None:
        from seqclean.filter import filter_log

        r = filter_log(_build(_filter_config, options))
        _echo(_filter_line(r, out) + _reused(["filter"] if r.reused else []), quiet)

    _guard(go)


@app.command("run", cls=_Command)
def run_cli(
    interactions: Interactions,
    items: Items,
    workdir: WorkdirOpt,
    out: Out,
    threshold: FilterThreshold = "0.5",
    max_fraction: MaxFraction = None,
    mode: Mode = ModeChoice.remove,
    min_seq_len: MinSeqLen = 3,
    keep_last: KeepLast = 0,
    user_col: UserCol = "user_id",
    item_col: ItemCol = "item_id",
    time_col: TimeCol = "timestamp",
    text_cols: TextCols = "title",
    model: Model = None,
    device: Device = DeviceChoice.auto,
    scorer: Scorer = ScorerChoice.iadsr,
    fit_users: FitUsers = 3000,
    cold_k: ColdK = 2.0,
    chunk_users: ChunkUsers = 5_000,
    seed: Seed = 0,
    backbone: Backbone = BackboneChoice.sasrec,
    epochs: Epochs = 80,
    batch_size: BatchSize = 256,
    lr: Lr = 2e-3,
    patience: Patience = 10,
    max_len: MaxLen = 50,
    collab_embeddings: CollabEmbeddings = None,
    quiet: Quiet = False,
    text_template: TextTemplate = None,
    threads: Threads = None,
    precision: Precision = PrecisionChoice.fp32,
    encoder_batch_size: EncoderBatch = 64,
    duplicates: Duplicates = DuplicatesChoice.drop,
    min_detector_auc: MinDetectorAuc = 0.6,
    min_backbone_lift: MinBackboneLift = 2.0,
    min_alignment_top1: MinAlignmentTop1 = 0.02,
    force: Force = False,
    rerun: Rerun = False,
) -> None:
    """embed + score + filter in one go (the nightly job); complete stages are reused."""
    options = _plain(dict(locals()))
    options.update(max_edits_per_user="20%", max_uncertainty=0.5, protect_cold=False, min_confidence=0.5)
    options.update(fallback="keep", fmt="parquet", dataset_name="cleaned")

    def go() -> None:
        from seqclean.pipeline import run

        ecfg = _build(_embed_config, options)
        scfg = _build(_score_config, options)
        fcfg = _build(_filter_config, options)
        with _progress(quiet) as progress:
            r = run(ecfg, scfg, fcfg, progress, warn=_warn)
        _echo(
            f"{r.embed.n_interactions} interactions, {r.embed.n_users} users, {r.embed.n_items} items; "
            + _filter_line(r.filter, out)
            + _reused(r.reused),
            quiet,
        )

    _guard(go)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
