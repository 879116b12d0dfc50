"""The `seqclean evaluate` command: its options (types and help), the builder from parsed options to
`EvaluateConfig`, and the Typer function that `seqclean.cli` registers (thin: build, call, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from seqclean.cli_options import log_format_choice
from seqclean.cli_runtime import guard
from seqclean.config import DEFAULTS
from seqclean.log import FORMATS, EventLog
from seqclean.progress import terminal_progress

# the options evaluate shares with embed/score: their defaults come from seqclean.config (written once there)
WorkdirOpt = Annotated[Path, typer.Option("--workdir", help="Directory for intermediate artefacts and the manifest.")]
Interactions = Annotated[
    Path,
    typer.Option("--interactions", help="Interaction log: Parquet, a Parquet directory, CSV, MovieLens or RecBole."),
]
Items = Annotated[Path, typer.Option("--items", help="Item table with the id and text columns.")]
UserCol = Annotated[str, typer.Option("--user-col", help="User id column in the log.")]
ItemCol = Annotated[str, typer.Option("--item-col", help="Item id column in the log and the item table.")]
TimeCol = Annotated[str, typer.Option("--time-col", help="Timestamp column in the log.")]
TextCols = Annotated[str, typer.Option("--text-cols", help="Comma-separated item text columns, e.g. title,genres.")]
TextTemplate = Annotated[
    str | None, typer.Option("--text-template", help="Item text template, e.g. '{title} | {genres}'.")
]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA when usable, else CPU), cpu or cuda.")]
FitUsers = Annotated[int, typer.Option("--fit-users", help="Users sampled to fit the alignment and the detector.")]
ColdK = Annotated[
    float, typer.Option("--cold-k", help="Cold-item protection: weight n/(n+k) on collaborative evidence.")
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed of embed and score.")]
Rounds = Annotated[str, typer.Option("--rounds", help="seqclean score --rounds: 1-3 or auto (self-cleaning).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
LogFormat = Annotated[
    str,
    typer.Option(
        "--log-format",
        help="auto (rich on a terminal, JSON lines on stderr otherwise), rich or json; env SEQCLEAN_LOG_FORMAT.",
    ),
]
EvalOut = Annotated[Path, typer.Option("--out", help="Directory for evaluation.json, evaluation.md and the arms.")]
Plant = Annotated[
    str, typer.Option("--plant", help="Plant labelled noise in training inputs: uniform, popularity, insert, none.")
]
Ratio = Annotated[float, typer.Option("--ratio", help="Share of training inputs to plant noise in.")]
PlantSeed = Annotated[int, typer.Option("--plant-seed", help="Seed of the planting and of random removal.")]
Seeds = Annotated[int, typer.Option("--seeds", help="Downstream training seeds per arm (mean ± std).")]
Budget = Annotated[
    str, typer.Option("--budget", help="Removal budget: auto (filter --threshold auto) or a share, e.g. 0.05.")
]
Sweep = Annotated[
    str, typer.Option("--sweep", help="Comma-separated removal shares of the budget sweep ('' for none).")
]
SweepSeeds = Annotated[
    int | None,
    typer.Option("--sweep-seeds", help="Training seeds of the sweep points (default: 2, or --seeds if fewer)."),
]
Labels = Annotated[
    Path | None, typer.Option("--labels", help="Known noise labels (user, time, is_noise) for a log with --plant none.")
]
ExportRecbole = Annotated[
    bool, typer.Option("--export-recbole", help="Also write each arm as RecBole atomic files under OUT/recbole.")
]
TrainEpochs = Annotated[int, typer.Option("--train-epochs", help="Downstream SASRec: most epochs per training.")]
TrainWindows = Annotated[
    str,
    typer.Option(
        "--train-windows",
        help="Downstream SASRec trains on every training input (all) or on each user's last 50 only (last).",
    ),
]
TrainThreads = Annotated[
    int, typer.Option("--train-threads", help="Downstream SASRec: torch threads (1 is fastest on a busy machine).")
]
TrainJobs = Annotated[
    int, typer.Option("--train-jobs", help="Downstream trainings run in this many processes at once.")
]
BackboneEpochs = Annotated[
    int, typer.Option("--backbone-epochs", help="Epochs cap of seqclean's own backbone (embed --epochs).")
]


def evaluate_config(o: dict[str, Any]) -> Any:
    """`EvaluateConfig` from the parsed options of `seqclean evaluate` (a dict of the command's locals)."""
    from seqclean.backbone.config import BackboneConfig
    from seqclean.errors import UsageError
    from seqclean.evaluate.config import EvaluateConfig, parse_budget
    from seqclean.evaluate.downstream import DownstreamConfig

    try:
        shares = tuple(float(x) for x in o["sweep"].split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--sweep {o['sweep']}: give comma-separated shares such as 0,0.05,0.1") from None
    return EvaluateConfig(
        interactions=o["interactions"],
        items=o["items"],
        workdir=o["workdir"],
        out=o["out"],
        plant=o["plant"],
        ratio=o["ratio"],
        plant_seed=o["plant_seed"],
        seeds=o["seeds"],
        budget=parse_budget(o["budget"]),
        sweep=shares,
        sweep_seeds=o["sweep_seeds"],
        labels=o["labels"],
        export_recbole=o["export_recbole"],
        user_col=o["user_col"],
        item_col=o["item_col"],
        time_col=o["time_col"],
        text_cols=[c.strip() for c in o["text_cols"].split(",") if c.strip()],
        text_template=o["text_template"],
        seed=o["seed"],
        backbone=BackboneConfig(epochs=o["backbone_epochs"], seed=o["seed"], device=o["device"]),
        fit_users=o["fit_users"],
        cold_k=o["cold_k"],
        rounds=o["rounds"],
        device=o["device"],
        downstream=DownstreamConfig(epochs=o["epochs"], threads=o["train_threads"], windows=o["train_windows"]),
        train_jobs=o["train_jobs"],
    )


def evaluate_cli(
    interactions: Interactions,
    items: Items,
    workdir: WorkdirOpt,
    out: EvalOut,
    plant: Plant = "uniform",
    ratio: Ratio = 0.1,
    plant_seed: PlantSeed = 0,
    seeds: Seeds = 3,
    budget: Budget = "auto",
    sweep: Sweep = "0,0.02,0.05,0.1,0.15",
    sweep_seeds: SweepSeeds = None,
    labels: Labels = None,
    export_recbole: ExportRecbole = False,
    epochs: TrainEpochs = 15,
    train_windows: TrainWindows = "all",
    train_threads: TrainThreads = 2,
    train_jobs: TrainJobs = 1,
    user_col: UserCol = DEFAULTS.embed.user_col,
    item_col: ItemCol = DEFAULTS.embed.item_col,
    time_col: TimeCol = DEFAULTS.embed.time_col,
    text_cols: TextCols = DEFAULTS.embed.text_cols,
    text_template: TextTemplate = DEFAULTS.embed.text_template,
    device: Device = DEFAULTS.general.device,
    seed: Seed = DEFAULTS.general.seed,
    fit_users: FitUsers = DEFAULTS.score.fit_users,
    cold_k: ColdK = DEFAULTS.score.cold_k,
    rounds: Rounds = DEFAULTS.score.rounds,
    backbone_epochs: BackboneEpochs = DEFAULTS.backbone.epochs,
    quiet: Quiet = False,
    log_format: LogFormat = "auto",
    *,
    ctx: typer.Context,
) -> None:
    """Measure what cleaning does to a recommender trained on your log (writes OUT/evaluation.json/.md)."""
    options = {k: v for k, v in locals().items() if k != "ctx"}
    fmt = log_format_choice(ctx, log_format) or "auto"
    log = EventLog(fmt if fmt in FORMATS else "auto", quiet=quiet)

    def go() -> None:
        from seqclean.errors import UsageError
        from seqclean.evaluate import evaluate

        if fmt not in FORMATS:
            raise UsageError(f"--log-format {fmt}: choose one of {', '.join(FORMATS)}")
        cfg = evaluate_config(options)
        log.stage_start("evaluate")
        with log.progress() if log.json else terminal_progress(quiet) as progress:
            r = evaluate(cfg, progress)
        log.stage_end("evaluate")
        typer.echo(r.markdown)  # the command's answer, on stdout in every format (events go to stderr)
        if log.json:
            arms = {k: a["test"]["NDCG@10"]["mean"] for k, a in r.report["arms"].items()}
            log.result(f"evaluation -> {cfg.out / 'evaluation.json'}", path=str(cfg.out), ndcg10=arms)

    guard(go, lambda: log)
