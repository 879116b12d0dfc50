"""The `seqclean` command line: parse and validate options, call one library function, render.

No computation happens here. Library errors (`SeqcleanError`) become a one-line message on stderr
and the exit code documented in the README; anything else is a bug (exit 1).
"""

from __future__ import annotations

import typer

from seqclean.cli_options import (
    Backbone,
    BatchSize,
    ChunkUsers,
    ColdK,
    CollabEmbeddings,
    DatasetName,
    Device,
    EncoderBatch,
    Epochs,
    Fallback,
    FilterOut,
    FilterThreshold,
    FitUsers,
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
    MinConfidence,
    MinSeqLen,
    Mode,
    Model,
    Out,
    Patience,
    Precision,
    ProtectCold,
    Quiet,
    ReportOut,
    Scorer,
    Seed,
    TextCols,
    TextTemplate,
    Threads,
    TimeCol,
    UserCol,
    WorkdirOpt,
    build,
    echo,
    embed_config,
    guard,
    score_config,
)
from seqclean.errors import EXIT_CODES
from seqclean.evaluate.command import evaluate_cli
from seqclean.progress import terminal_progress

app = typer.Typer(
    name="seqclean",
    help="Find and remove noisy interactions in sequential-recommendation logs before training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    epilog="Exit codes: " + "; ".join(f"{k} {v.split(':')[0]}" for k, v in EXIT_CODES.items()),
)


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

        cfg = build(embed_config, options)
        with terminal_progress(quiet) as progress:
            r = embed(cfg, progress)
        on = f" on {r.provider}" if r.provider else ""
        echo(
            f"embedded {r.n_items} items ({r.n_encoded} encoded{on}, {r.n_cached} from cache) for "
            f"{r.n_users} users / {r.n_interactions} interactions -> {workdir}",
            quiet,
        )

    guard(go)


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

        with terminal_progress(quiet) as progress:
            scfg = build(score_config, options)
            r = score(scfg, progress)
        echo(
            f"scored {r.n_interactions} interactions; {r.n_flagged} flagged at threshold "
            f"{r.summary['threshold']} -> {workdir}",
            quiet,
        )

    guard(go)


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
        echo(
            f"{r.summary['rule']['name']}: removed {r.n_removed}, replaced {r.n_replaced} of {r.n_input} "
            f"interactions -> {out}",
            quiet,
        )

    guard(go)


@app.command("report")
def report_cli(
    workdir: WorkdirOpt,
    out: ReportOut = None,
    filter_out: FilterOut = None,
    quiet: Quiet = False,
) -> None:
    """Write a self-contained HTML report (charts, most-flagged items, example sequences) for a scored workdir."""

    def go() -> None:
        from seqclean.html_report import ReportConfig, write_report

        page = write_report(ReportConfig(workdir=workdir, out=out, filter_out=filter_out))
        echo(f"report -> {page}", quiet)

    guard(go)


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

        ecfg = build(embed_config, options)
        scfg = build(score_config, options)
        fcfg = FilterConfig(
            workdir=workdir,
            out=out,
            threshold=parse_threshold(threshold),
            max_fraction=max_fraction,
            mode=mode,
            min_seq_len=min_seq_len,
            keep_last=keep_last,
        )
        with terminal_progress(quiet) as progress:
            r = run(ecfg, scfg, fcfg, progress)
        echo(
            f"{r.embed.n_interactions} interactions, {r.embed.n_users} users, {r.embed.n_items} items; "
            f"{r.filter.summary['rule']['name']}: removed {r.filter.n_removed}, replaced {r.filter.n_replaced} "
            f"-> {out} (report: {r.report})",
            quiet,
        )

    guard(go)


app.command("evaluate")(evaluate_cli)  # defined with its options in seqclean/evaluate/command.py


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
