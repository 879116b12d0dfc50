"""The `seqclean` command line: parse and validate options, call one library function, render.

No computation happens here. Library errors become one line on stderr and the README's exit code
(`cli_runtime.guard`, which also handles signals and click usage errors); options are `cli_options`.
"""

from __future__ import annotations

from contextlib import nullcontext

import typer

from seqclean.cli_options import (
    RUN_FILTER_DEFAULTS,
    Backbone,
    BatchSize,
    ChunkUsers,
    ColdK,
    CollabEmbeddings,
    DatasetName,
    Device,
    Duplicates,
    EncoderBatch,
    Epochs,
    Fallback,
    FilterOut,
    FilterThreshold,
    FitUsers,
    Force,
    Format,
    Interactions,
    ItemCol,
    Items,
    KeepLast,
    Lr,
    MaxEdits,
    MaxFraction,
    MaxLen,
    MaxUncertainty,
    MinAlignmentTop1,
    MinBackboneLift,
    MinConfidence,
    MinDetectorAuc,
    MinSeqLen,
    Mode,
    Model,
    Out,
    Patience,
    Precision,
    ProtectCold,
    Quiet,
    ReportOut,
    Rerun,
    Scorer,
    Seed,
    TextCols,
    TextTemplate,
    Threads,
    TimeCol,
    UserCol,
    WorkdirOpt,
    build,
    embed_config,
    filter_config,
    score_config,
)
from seqclean.cli_runtime import (
    EXIT_EPILOG,
    BackboneChoice,
    Command,
    DeviceChoice,
    DuplicatesChoice,
    FallbackChoice,
    FormatChoice,
    ModeChoice,
    PrecisionChoice,
    ScorerChoice,
    echo,
    filter_line,
    guard,
    plain,
    reused_note,
    warn,
)
from seqclean.progress import terminal_progress

app = typer.Typer(
    name="seqclean",
    help="Find and remove noisy interactions in sequential-recommendation logs before training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: choices as <a|b>, flags without a <bool> placeholder
    epilog=EXIT_EPILOG,
)


@app.command("embed", cls=Command)
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
    options = plain(dict(locals()))

    def go() -> None:
        from seqclean.embed import embed

        cfg = build(embed_config, options)
        with terminal_progress(quiet) as progress:
            r = embed(cfg, progress)
        for w in r.warnings:
            warn(w)
        on = f" on {r.provider}" if r.provider else ""
        echo(
            f"embedded {r.n_items} items ({r.n_encoded} encoded{on}, {r.n_cached} from cache) for "
            f"{r.n_users} users / {r.n_interactions} interactions -> {workdir}{reused_note(r.reused)}",
            quiet,
        )

    guard(go)


@app.command("score", cls=Command)
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
    options = plain(dict(locals()))

    def go() -> None:
        from seqclean.score import score

        with terminal_progress(quiet) as progress:
            r = score(build(score_config, options), progress)
        if not r.summary.get("reliable", True):
            warn(f"{workdir}/summary.json: scores unreliable: " + "; ".join(r.summary["unreliable_reasons"]))
        echo(
            f"scored {r.n_interactions} interactions; {r.n_flagged} flagged at threshold "
            f"{r.summary['threshold']} -> {workdir}{reused_note(['score'] if r.reused else [])}",
            quiet,
        )

    guard(go)


@app.command("filter", cls=Command)
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
    options = plain(dict(locals()))

    def go() -> None:
        from seqclean.filter import filter_log

        r = filter_log(build(filter_config, options))
        echo(filter_line(r, out) + reused_note(["filter"] if r.reused else []), quiet)

    guard(go)


@app.command("report", cls=Command)
def report_cli(
    workdir: WorkdirOpt,
    out: ReportOut = None,
    filter_out: FilterOut = None,
    quiet: Quiet = False,
) -> None:
    """Write a self-contained HTML report (charts, most-flagged items, example sequences) for a scored workdir."""

    def go() -> None:
        from seqclean.html_report import ReportConfig, write_report
        from seqclean.stages import locked

        with locked(workdir) if workdir.is_dir() else nullcontext():  # exit 8 while a run rewrites it
            page = write_report(ReportConfig(workdir=workdir, out=out, filter_out=filter_out))
        echo(f"report -> {page}", quiet)

    guard(go)


@app.command("run", cls=Command)
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
    """embed + score + filter + HTML report in one go (the nightly job); complete stages are reused."""
    options = plain(dict(locals()))
    options.update(RUN_FILTER_DEFAULTS)

    def go() -> None:
        from seqclean.pipeline import run

        ecfg = build(embed_config, options)
        scfg = build(score_config, options)
        fcfg = build(filter_config, options)
        with terminal_progress(quiet) as progress:
            r = run(ecfg, scfg, fcfg, progress, warn=warn)
        echo(
            f"{r.embed.n_interactions} interactions, {r.embed.n_users} users, {r.embed.n_items} items; "
            + filter_line(r.filter, out)
            + f" (report: {r.report})"
            + reused_note(r.reused),
            quiet,
        )

    guard(go)


main = app  # the console-script entry point (pyproject.toml)

if __name__ == "__main__":
    app()
