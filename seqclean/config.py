"""Every option of every stage, defined once: name, type, default, help, choices and validation.

The CLI, the TOML job file, `seqclean init`'s example and the library's config defaults are all built from
the dataclasses here, so a default is written once. Stdlib only: the CLI validates with it before any work.

Conventions: one dataclass per TOML section; a field's name is its TOML key and its CLI flag
(`min_seq_len` <-> `--min-seq-len`), unique across sections so that `run` can take them all.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_type_hints

from seqclean.errors import MissingInputError, UsageError
from seqclean.option_checks import check_decoys, flag
from seqclean.option_checks import nonneg as _nonneg
from seqclean.option_checks import positive as _positive
from seqclean.option_checks import unit as _unit

DUPLICATES, LOGS, PRECS = ("drop", "keep", "error"), ("auto", "rich", "json"), ("fp32", "int8", "fp16")
SCORER_NAMES = ("iadsr", "baseline-semantic")
LOSSES, AUTO_FULL_MAX_ITEMS = ("auto", "full", "sampled"), 5_000  # backbone --loss; auto: full up to 5,000 items
ROUNDS = ("auto", "1", "2", "3")  # score --rounds: auto = 2 on short sequences (seqclean.selfclean.resolve_rounds)


def opt(default: Any, help: str, *, choices: tuple[str, ...] = (), short: str | None = None) -> Any:
    """A field with its CLI/TOML metadata."""
    meta: dict[str, Any] = {"help": help, "choices": choices, "short": short}
    return field(default=default, metadata=meta)


@dataclass
class InputOptions:
    """[inputs]: where the job reads and writes (relative paths in a TOML file are relative to that file)."""

    interactions: Path | None = opt(None, "Interaction log: Parquet file, directory of Parquet files, or CSV.")
    items: Path | None = opt(None, "Item table (Parquet or CSV) with the id and text columns.")
    workdir: Path | None = opt(None, "Directory for intermediate artefacts and the manifest.")
    out: Path | None = opt(None, "Output directory for cleaned.parquet and the audit (not inside the workdir).")

    def validate(self) -> None:
        if self.workdir is not None and self.out is not None:
            wd, out = self.workdir.resolve(), self.out.resolve()
            if out == wd or wd in out.parents:
                msg = "the outputs would overwrite the workdir's files (summary.json); give a directory outside it"
                raise UsageError(f"--out {self.out} is inside --workdir {self.workdir}: {msg}")


@dataclass
class GeneralOptions:
    """[general]: options every stage shares."""

    device: str = opt("auto", "auto (CUDA when usable, else CPU), cpu or cuda.", choices=("auto", "cpu", "cuda"))
    seed: int = opt(0, "Random seed for everything stochastic.")
    log_format: str = opt("auto", "auto (rich on a terminal, else json), rich, or json (JSON on stderr).", choices=LOGS)
    quiet: bool = opt(False, "No progress display or summary (errors and warnings still go to stderr).", short="-q")
    rerun: bool = opt(False, "Recompute every stage even when complete outputs for these inputs and options exist.")
    engine: str = opt("local", "local, or ray: Ray actors encode and score (docs/ray.md).", choices=("local", "ray"))
    ray_address: str | None = opt(None, "--engine ray: cluster address (auto, ray://head:10001); none: a local Ray.")
    ray_actors: int = opt(2, "--engine ray: actors in the encoding and scoring pools.")

    def validate(self) -> None:
        _nonneg("seed", self.seed)


@dataclass
class EmbedOptions:
    """[embed]: sequences and the semantic item embeddings."""

    user_col: str = opt("user_id", "User id column in the log.")
    item_col: str = opt("item_id", "Item id column in the log and the item table.")
    time_col: str = opt("timestamp", "Timestamp column in the log.")
    text_cols: str = opt("title", "Comma-separated item text columns, e.g. title,genres (a list in TOML).")
    text_template: str | None = opt(None, "Item text template, e.g. '{title} | {genres}' (overrides --text-cols).")
    model: Path | None = opt(None, "Local sentence-transformers model dir (default: bundled MiniLM).")
    threads: int | None = opt(None, "ONNX Runtime threads for the text encoder (default: all cores).")
    precision: str = opt(
        "fp32", "Text encoder graph: int8 is quantised (for CPUs: slow on CUDA), fp16 halves GPU memory.", choices=PRECS
    )
    encoder_batch_size: int = opt(64, "Texts per text-encoder batch.")
    duplicates: str = opt("drop", "Exact (user, item, time) repeats: drop, keep or error.", choices=DUPLICATES)
    collab_embeddings: Path | None = opt(None, "Parquet of your own item vectors (id + 'vector'); skips the backbone.")

    @property
    def text_col_list(self) -> list[str]:
        return [c.strip() for c in self.text_cols.split(",") if c.strip()]

    def validate(self) -> None:
        for name in ("user_col", "item_col", "time_col"):
            if not getattr(self, name).strip():
                raise UsageError(f"{flag(name)} is empty; name the column")
        if not self.text_col_list:
            raise UsageError("--text-cols is empty; name at least one item text column, e.g. --text-cols title")
        if self.threads is not None:
            _positive("threads", self.threads)
        _positive("encoder_batch_size", self.encoder_batch_size)
        for name in ("model", "collab_embeddings"):
            p = getattr(self, name)
            if p is not None and not Path(p).exists():
                raise MissingInputError(f"{flag(name)} {p}: not found; give an existing path")


@dataclass
class BackboneOptions:
    """[backbone]: the collaborative backbone trained on the log, and when a nightly run retrains it."""

    backbone: str = opt("sasrec", "Backbone trained on the log: sasrec or gru4rec.", choices=("sasrec", "gru4rec"))
    epochs: int = opt(80, "Most backbone training epochs (early stopping on validation).")
    batch_size: int = opt(256, "Backbone training batch size (sequence windows).")
    lr: float = opt(2e-3, "Backbone learning rate (Adam).")
    patience: int = opt(10, "Stop backbone training after this many epochs without improvement.")
    max_len: int = opt(50, "Backbone window: items of history per position.")
    loss: str = opt("auto", "Backbone loss: full or sampled softmax; auto: sampled above 5,000 items.", choices=LOSSES)
    negatives: int = opt(1024, "Sampled loss: negative items drawn per batch.")
    train_users: int = opt(100_000, "Train the backbone on a seeded sample of this many users (0: all).")
    max_steps: int = opt(10_000, "Most backbone optimizer steps in all epochs (0: no limit).")
    valid_users: int = opt(10_000, "Users (a seeded sample) ranked to validate each backbone epoch.")
    decoys: str = opt(
        "auto", "Known decoy rows in the backbone's training data: a share, 0, or auto (0.1 on short logs)."
    )
    retrain: bool = opt(False, "Train the backbone from scratch even when the workdir holds one to fine-tune.")
    finetune_epochs: int = opt(5, "Most epochs fine-tuning the previous backbone on a grown log (0: keep its weights).")
    retrain_after_days: float = opt(30.0, "Retrain from scratch when its last full training is older (days).")
    retrain_new_items: float = opt(0.2, "Retrain when this share (0-1) of the log's items are new to the backbone.")
    retrain_new_interactions: float = opt(0.5, "Retrain when this share (0-1) of interactions is newer than it.")

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "patience", "max_len", "negatives", "valid_users"):
            _positive(name, getattr(self, name))
        for name in ("finetune_epochs", "train_users", "max_steps"):
            _nonneg(name, getattr(self, name))
        if not self.lr > 0:
            raise UsageError(f"--lr {self.lr}: must be positive")
        if not self.retrain_after_days >= 0:
            raise UsageError(f"--retrain-after-days {self.retrain_after_days}: must be 0 or more")
        for name in ("retrain_new_items", "retrain_new_interactions"):
            _unit(name, getattr(self, name))
        check_decoys(self.decoys)


@dataclass
class ScoreOptions:
    """[score]: the noise scorer."""

    scorer: str = opt("iadsr", "iadsr (the full method) or baseline-semantic (text only).", choices=SCORER_NAMES)
    rounds: str = opt("auto", "Self-cleaning rounds 1-3; auto: 2 when users average < 20 interactions.", choices=ROUNDS)
    fit_users: int = opt(3000, "Users sampled to fit the alignment and the detector.")
    cold_k: float = opt(2.0, "Cold-item protection: weight n/(n+k) on collaborative evidence (0 disables).")
    chunk_users: int = opt(5_000, "Users scored per chunk (bounds memory).")
    score_threads: int = opt(0, "Threads scoring parts of each chunk at once (0: one per CPU core, at most 4).")
    min_detector_auc: float = opt(0.6, "Gate floor: detector held-out corruption AUC (0 disables).")
    min_backbone_lift: float = opt(2.0, "Gate floor: backbone validation HR@10 over chance (0 disables).")
    min_alignment_top1: float = opt(0.02, "Gate floor: alignment held-out top-1 retrieval (0 disables).")

    def validate(self) -> None:
        _positive("fit_users", self.fit_users)
        _positive("chunk_users", self.chunk_users)
        _nonneg("score_threads", self.score_threads)
        if not self.cold_k >= 0:
            raise UsageError(f"--cold-k {self.cold_k}: must be 0 or more")
        _unit("min_detector_auc", self.min_detector_auc)
        _unit("min_alignment_top1", self.min_alignment_top1)
        if not self.min_backbone_lift >= 0:
            raise UsageError(f"--min-backbone-lift {self.min_backbone_lift}: must be 0 or more")


@dataclass
class FilterOptions:
    """[filter]: which flagged interactions are changed, within which guards, and the output format."""

    threshold: str = opt("0.5", "Change rows with noise_score above this (0-1), 'auto' (data-driven), or 'none'.")
    max_fraction: float | None = opt(None, "Change at most this share of all rows (top noise scores).")
    mode: str = opt(
        "remove", "remove: drop flagged rows; replace: swap in a suggested item.", choices=("remove", "replace")
    )
    min_seq_len: int = opt(3, "Never leave a user with fewer interactions.")
    max_edits_per_user: str = opt("20%", "Cap on changes per user: a count (2) or a share (20%).")
    max_uncertainty: float = opt(0.5, "Keep flagged rows whose uncertainty is above this (1 = off).")
    keep_last: int = opt(0, "Never change each user's last N interactions.")
    protect_cold: bool = opt(False, "Never change cold items.")
    min_confidence: float = opt(0.5, "Replace mode: least suggestion confidence to replace.")
    fallback: str = opt(
        "keep", "Replace mode: keep or drop a flagged row with no usable suggestion.", choices=("keep", "drop")
    )
    format: str = opt(
        "parquet", "parquet, or recbole (also writes RecBole atomic files).", choices=("parquet", "recbole")
    )
    dataset_name: str = opt("cleaned", "File stem of the RecBole files.")
    force: bool = opt(False, "Filter even when the self-check gate found the scores unreliable (exit 7).")

    def parsed_threshold(self) -> float | str | None:
        """A number in [0, 1], 'auto', or None ('none': only --max-fraction applies)."""
        t = self.threshold.strip().lower()
        if t in {"auto", "none"}:
            return None if t == "none" else "auto"
        try:
            v = float(t)
        except ValueError:
            raise UsageError(f"--threshold {self.threshold}: give a number between 0 and 1, 'auto' or 'none'") from None
        if not 0.0 <= v <= 1.0:
            raise UsageError(f"--threshold {self.threshold}: must be between 0 and 1 (1 removes nothing)")
        return v

    def parsed_max_edits(self) -> tuple[int | None, float]:
        """(count, share): a count like `2`, or a share of the user's length like `20%` (count None)."""
        t = self.max_edits_per_user.strip()
        try:
            if t.endswith("%"):
                share = float(t[:-1]) / 100.0
                if not 0.0 < share <= 1.0:
                    raise ValueError
                return None, share
            n = int(t)
            if n < 0:
                raise ValueError
            return n, 0.2
        except ValueError:
            raise UsageError(
                f"--max-edits-per-user {self.max_edits_per_user}: give a count like 2 or a share of the user's "
                "length like 20%"
            ) from None

    def validate(self) -> None:
        if self.parsed_threshold() is None and self.max_fraction is None:
            raise UsageError("--threshold none needs --max-fraction; give a threshold, 'auto', or a max fraction")
        if self.max_fraction is not None and not 0.0 <= self.max_fraction <= 1.0:
            raise UsageError(f"--max-fraction {self.max_fraction}: must be between 0 and 1, e.g. 0.1 for the top 10%")
        self.parsed_max_edits()
        _nonneg("min_seq_len", self.min_seq_len)
        _nonneg("keep_last", self.keep_last)
        _unit("max_uncertainty", self.max_uncertainty)
        _unit("min_confidence", self.min_confidence)
        if not self.dataset_name or any(c in self.dataset_name for c in "/\\\t\n"):
            raise UsageError(f"--dataset-name {self.dataset_name!r}: give a plain file name such as 'cleaned'")


SECTIONS: dict[str, type] = {
    "inputs": InputOptions,
    "general": GeneralOptions,
    "embed": EmbedOptions,
    "backbone": BackboneOptions,
    "score": ScoreOptions,
    "filter": FilterOptions,
}


@dataclass
class Options:
    """All sections: what `seqclean run` takes, from the CLI and/or a TOML job file."""

    inputs: InputOptions = field(default_factory=InputOptions)
    general: GeneralOptions = field(default_factory=GeneralOptions)
    embed: EmbedOptions = field(default_factory=EmbedOptions)
    backbone: BackboneOptions = field(default_factory=BackboneOptions)
    score: ScoreOptions = field(default_factory=ScoreOptions)
    filter: FilterOptions = field(default_factory=FilterOptions)

    def validate(self, sections: tuple[str, ...] = tuple(SECTIONS)) -> None:
        """Every option of the named sections, generic checks (choices) first, then each section's own."""
        for name in sections:
            section = getattr(self, name)
            for f in dataclasses.fields(section):
                choices = f.metadata.get("choices") or ()
                value = getattr(section, f.name)
                if choices and value not in choices:
                    raise UsageError(f"{flag(f.name)} {value}: choose one of {', '.join(choices)}")
            section.validate()

    def flat(self) -> dict[str, Any]:
        return {f.name: getattr(getattr(self, s), f.name) for s in SECTIONS for f in dataclasses.fields(SECTIONS[s])}

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> Options:
        """Build from {field name: value}; missing names keep their defaults."""
        out = cls()
        for s, spec in SECTIONS.items():
            for f in dataclasses.fields(spec):
                if f.name in values:
                    setattr(getattr(out, s), f.name, values[f.name])
        return out


def field_specs() -> list[tuple[str, dataclasses.Field[Any], Any]]:
    """(section, field, resolved type) for every option, in section order."""
    return [(s, f, get_type_hints(c)[f.name]) for s, c in SECTIONS.items() for f in dataclasses.fields(c)]


def base_type(tp: Any) -> Any:
    """`int | None` -> int; `Path` -> Path."""
    args = [a for a in get_args(tp) if a is not type(None)]
    return args[0] if args else tp


DEFAULTS = Options()
"""The defaults, for the library's config dataclasses to refer to (a default is written once, here)."""
