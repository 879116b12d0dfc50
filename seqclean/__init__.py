"""seqclean: find and remove noisy interactions in sequential-recommendation logs."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
