"""Settings made for tests: a backbone small and short enough to train in about a second on the
sample slices. Quality is not under test here (bench/ measures it); the plumbing is."""

from __future__ import annotations

from seqclean.backbone.config import BackboneConfig

TINY_EPOCHS = 3
TINY_BACKBONE_ARGS = ("--epochs", str(TINY_EPOCHS), "--patience", "1", "--max-len", "20")
"""CLI options of `embed` / `run` that train the tiny backbone."""


def tiny_backbone(**overrides: object) -> BackboneConfig:
    """The library-side twin of TINY_BACKBONE_ARGS, also smaller in width."""
    opts: dict[str, object] = dict(epochs=TINY_EPOCHS, patience=1, max_len=20, hidden=16, batch_size=64, device="cpu")
    opts.update(overrides)
    return BackboneConfig(**opts)  # type: ignore[arg-type]
