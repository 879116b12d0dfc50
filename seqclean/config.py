"""Every option of every stage, defined once: name, type, default, help, choices and validation.

The CLI commands (`seqclean.cli`), the TOML job file (`seqclean run --config job.toml`), `seqclean init`'s
example file and the library's defaults (`EmbedConfig`, `BackboneConfig`, `ScoreConfig`, `FilterConfig`) are
all built from the dataclasses here, so an option cannot exist in one place and not another, and a default is
written once. Light on purpose (dataclasses + stdlib): the CLI imports it before any work, to validate.

Conventions: one dataclass per TOML section; a field's name is its TOML key and its CLI flag
(`min_seq_len` <-> `--min-seq-len`), unique across sections so that `run` can take them all.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_type_hints

from seqclean.errors import MissingInputError, UsageError


def opt(default: Any, help: str, *, choices: tuple[str, ...] = (), short: str | None = None) -> Any:
    """A field with its CLI/TOML metadata."""
    meta: dict[str, Any] = {"help": help, "choices": choices, "short": short}
    return field(default=default, metadata=meta)


# ---------------------------------------------------------------- sections


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
                raise UsageError(
                    f"--out {self.out} is inside --workdir {self.workdir}; the outputs would overwrite the "
                    "workdir's files (summary.json): give an output directory outside the workdir"
                )
            if out in wd.parents:
                raise UsageError(f"--workdir {self.workdir} is inside --out {self.out}; keep them apart")


@dataclass
class GeneralOptions:
    """[general]: options every stage shares."""

    device: str = opt("auto", "auto (CUDA when usable, else CPU), cpu or cuda.", choices=("auto", "cpu", "cuda"))
    seed: int = opt(0, "Random seed for everything stochastic.")
    log_format: str = opt(
        "auto",
        "auto (rich on a terminal, JSON lines otherwise), rich, or json (one JSON event per line on stderr).",
        choices=("auto", "rich", "json"),
    )
    quiet: bool = opt(False, "No progress display or summary (errors and warnings still go to stderr).", short="-q")

    def validate(self) -> None:
        _nonneg("seed", self.seed)


@dataclass
class EmbedOptions:
    """[embed]: sequences and the semantic item embeddings."""

    user_col: str = opt("user_id", "User id column in the log.")
    item_col: str = opt("item_id", "Item id column in the log and the item table.")
    time_col: str = opt("timestamp", "Timestamp column in the log.")
    text_cols: str = opt("title", "Comma-separated item text columns, e.g. title,genres (a list in TOML).")
    text_template: str | None = opt(
        None, "Item text template over columns, e.g. '{title} | {genres}' (overrides --text-cols)."
    )
    model: Path | None = opt(None, "Local sentence-transformers model dir (default: bundled MiniLM).")
    threads: int | None = opt(None, "ONNX Runtime threads for the text encoder (default: all cores).")
    precision: str = opt(
        "fp32",
        "Text encoder graph: fp32, int8 (quantised, faster on CPU) or fp16 (GPU).",
        choices=("fp32", "int8", "fp16"),
    )
    encoder_batch_size: int = opt(64, "Texts per text-encoder batch.")
    collab_embeddings: Path | None = opt(
        None, "Parquet of your own item vectors (item id column + 'vector'); skips backbone training."
    )

    @property
    def text_col_list(self) -> list[str]:
        return [c.strip() for c in self.text_cols.split(",") if c.strip()]

    def validate(self) -> None:
        for name in ("user_col", "item_col", "time_col"):
            if not getattr(self, name).strip():
                raise UsageError(f"{_flag(name)} is empty; name the column")
        if not self.text_col_list:
            raise UsageError("--text-cols is empty; name at least one item text column, e.g. --text-cols title")
        if self.threads is not None:
            _positive("threads", self.threads)
        _positive("encoder_batch_size", self.encoder_batch_size)
        for name in ("model", "collab_embeddings"):
            p = getattr(self, name)
            if p is not None and not Path(p).exists():
                raise MissingInputError(f"{_flag(name)} {p}: not found; give an existing path")


@dataclass
class BackboneOptions:
    """[backbone]: the collaborative backbone trained on the log, and when a nightly run retrains it."""

    backbone: str = opt("sasrec", "Backbone trained on the log: sasrec or gru4rec.", choices=("sasrec", "gru4rec"))
    epochs: int = opt(80, "Most backbone training epochs (early stopping on validation).")
    batch_size: int = opt(256, "Backbone training batch size (sequence windows).")
    lr: float = opt(2e-3, "Backbone learning rate (Adam).")
    patience: int = opt(10, "Stop backbone training after this many epochs without improvement.")
    max_len: int = opt(50, "Backbone window: items of history per position.")
    retrain: bool = opt(False, "Train the backbone from scratch even when the workdir holds one to fine-tune.")
    finetune_epochs: int = opt(5, "Most epochs when fine-tuning the previous backbone on a grown log.")
    retrain_after_days: float = opt(30.0, "Retrain from scratch when the backbone was last trained this many days ago.")
    retrain_new_items: float = opt(
        0.2, "Retrain from scratch when this share of the log's items are new to the backbone (0-1)."
    )
    retrain_new_interactions: float = opt(
        0.5, "Retrain from scratch when this share of the log's interactions are new since it was trained (0-1)."
    )

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "patience", "max_len", "finetune_epochs"):
            _positive(name, getattr(self, name))
        if not self.lr > 0:
            raise UsageError(f"--lr {self.lr}: must be positive")
        if not self.retrain_after_days >= 0:
            raise UsageError(f"--retrain-after-days {self.retrain_after_days}: must be 0 or more")
        for name in ("retrain_new_items", "retrain_new_interactions"):
            _unit(name, getattr(self, name))


@dataclass
class ScoreOptions:
    """[score]: the noise scorer."""

    scorer: str = opt(
        "iadsr",
        "iadsr (the full method) or baseline-semantic (text-only reference).",
        choices=("iadsr", "baseline-semantic"),
    )
    fit_users: int = opt(3000, "Users sampled to fit the alignment and the detector.")
    cold_k: float = opt(2.0, "Cold-item protection: weight n/(n+k) on collaborative evidence (0 disables).")
    chunk_users: int = opt(5_000, "Users scored per chunk (bounds memory).")

    def validate(self) -> None:
        _positive("fit_users", self.fit_users)
        _positive("chunk_users", self.chunk_users)
        if not self.cold_k >= 0:
            raise UsageError(f"--cold-k {self.cold_k}: must be 0 or more")


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
                    raise UsageError(f"{_flag(f.name)} {value}: choose one of {', '.join(choices)}")
            section.validate()

    def flat(self) -> dict[str, Any]:
        """{field name: value} over every section."""
        return {f.name: getattr(getattr(self, s), f.name) for s in SECTIONS for f in dataclasses.fields(SECTIONS[s])}

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> Options:
        """Build from {field name: value}; missing names keep their defaults."""
        out = cls()
        for s, spec in SECTIONS.items():
            section = getattr(out, s)
            for f in dataclasses.fields(spec):
                if f.name in values:
                    setattr(section, f.name, values[f.name])
        return out


# ---------------------------------------------------------------- helpers


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def flag(name: str) -> str:
    """The CLI flag of a field: `min_seq_len` -> `--min-seq-len`."""
    return _flag(name)


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise UsageError(f"{_flag(name)} {value}: must be at least 1")


def _nonneg(name: str, value: int) -> None:
    if value < 0:
        raise UsageError(f"{_flag(name)} {value}: must be 0 or more")


def _unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"{_flag(name)} {value}: must be between 0 and 1")


def field_specs() -> list[tuple[str, dataclasses.Field[Any], Any]]:
    """(section, field, resolved type) for every option, in section order."""
    out = []
    for s, spec in SECTIONS.items():
        hints = get_type_hints(spec)
        for f in dataclasses.fields(spec):
            out.append((s, f, hints[f.name]))
    return out


def base_type(tp: Any) -> Any:
    """`int | None` -> int; `Path` -> Path."""
    args = [a for a in get_args(tp) if a is not type(None)]
    return args[0] if args else tp


def is_optional(tp: Any) -> bool:
    return type(None) in get_args(tp)


DEFAULTS = Options()
"""The defaults, for the library's config dataclasses to refer to (a default is written once, here)."""


# ---------------------------------------------------------------- TOML


def _coerce(path: Path, section: str, key: str, value: Any, tp: Any) -> Any:
    """A TOML value as the field's type, or a UsageError naming the key and the file."""
    where = f"{path}: [{section}] {key}"
    want = base_type(tp)
    if want is bool:
        if isinstance(value, bool):
            return value
    elif want is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif want is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif want is Path:
        if isinstance(value, str) and value:
            p = Path(value).expanduser()
            return p if p.is_absolute() else (path.parent / p)
    elif want is str:
        if isinstance(value, str):
            return value
        if key == "text_cols" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ",".join(value)
        if (
            key in ("threshold", "max_edits_per_user")
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return str(value)
    raise UsageError(f"{where} = {value!r}: expected {getattr(want, '__name__', want)}; fix the value in the file")


def load_toml(path: Path) -> dict[str, Any]:
    """{field name: value} from a job file; unknown sections or keys are a UsageError naming them."""
    if not path.exists():
        raise MissingInputError(f"--config {path}: not found; write one with `seqclean init --out {path}`")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{path}: not valid TOML ({exc}); fix the file or regenerate it with `seqclean init`"
        ) from None
    out: dict[str, Any] = {}
    for section, table in data.items():
        if section not in SECTIONS:
            raise UsageError(f"{path}: unknown section [{section}]; known sections: {', '.join(SECTIONS)}")
        if not isinstance(table, dict):
            raise UsageError(f"{path}: '{section}' must be a [{section}] table of options")
        spec = SECTIONS[section]
        hints = get_type_hints(spec)
        known = {f.name for f in dataclasses.fields(spec)}
        for key, value in table.items():
            if key not in known:
                raise UsageError(f"{path}: unknown key '{key}' in [{section}]; known keys: {', '.join(sorted(known))}")
            out[key] = _coerce(path, section, key, value, hints[key])
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return '"' + str(value) + '"'


def example_toml() -> str:
    """A commented job file with every option and its default (what `seqclean init` writes).

    Options without a default value (None) are written commented out; the input paths are examples."""
    examples = {
        "interactions": "sample_data/interactions.parquet",
        "items": "sample_data/items.parquet",
        "workdir": "work",
        "out": "out",
    }
    lines = [
        "# seqclean job file: `seqclean run --config job.toml`. Flags given on the command line override it.",
        "# Every key is the option of the same name (min_seq_len <-> --min-seq-len); unknown keys are an error.",
        "# Relative paths are relative to this file's directory.",
    ]
    for s, spec in SECTIONS.items():
        lines += ["", f"[{s}]", f"# {(spec.__doc__ or '').split(':', 1)[-1].strip()}"]
        for f in dataclasses.fields(spec):
            meta = f.metadata
            lines.append(f"# {meta['help']}")
            if f.name in examples:
                lines.append(f"{f.name} = {_toml_value(examples[f.name])}")
            elif f.default is None:
                lines.append(f"# {f.name} =")
            else:
                lines.append(f"{f.name} = {_toml_value(f.default)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- library configs


def _need(value: Path | None, name: str) -> Path:
    if value is None:
        raise UsageError(f"{_flag(name)} is required: give it on the command line or as {name} in [inputs] of --config")
    return value


def embed_config(o: Options) -> Any:
    """The `EmbedConfig` (with its `BackboneConfig`) these options describe."""
    from seqclean.backbone.train import BackboneConfig
    from seqclean.embed import EmbedConfig

    e, b, g = o.embed, o.backbone, o.general
    return EmbedConfig(
        interactions=_need(o.inputs.interactions, "interactions"),
        items=_need(o.inputs.items, "items"),
        workdir=_need(o.inputs.workdir, "workdir"),
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
        ),
        collab_embeddings=e.collab_embeddings,
        update=update_policy(o),
    )


def update_policy(o: Options) -> Any:
    """When a nightly embed reuses, fine-tunes or retrains the workdir's backbone."""
    from seqclean.backbone.incremental import UpdatePolicy

    b = o.backbone
    return UpdatePolicy(
        retrain=b.retrain,
        finetune_epochs=b.finetune_epochs,
        max_age_days=b.retrain_after_days,
        max_new_items=b.retrain_new_items,
        max_new_interactions=b.retrain_new_interactions,
    )


def score_config(o: Options) -> Any:
    from seqclean.score import ScoreConfig

    s, g = o.score, o.general
    return ScoreConfig(
        workdir=_need(o.inputs.workdir, "workdir"),
        scorer=s.scorer,
        chunk_users=s.chunk_users,
        fit_users=s.fit_users,
        cold_k=s.cold_k,
        device=g.device,
        seed=g.seed,
    )


def filter_config(o: Options) -> Any:
    from seqclean.filter import FilterConfig

    f = o.filter
    edits, share = f.parsed_max_edits()
    return FilterConfig(
        workdir=_need(o.inputs.workdir, "workdir"),
        out=_need(o.inputs.out, "out"),
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
    )
