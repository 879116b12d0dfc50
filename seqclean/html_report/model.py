"""Constants and the small data object the page is rendered from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REPORT_FILE = "report.html"
DEFAULT_THRESHOLD = 0.5  # `score`'s own; only used for a summary.json that does not say

# Per-interaction columns that explain a score, in the order the "why" table shows them (when present).
WHY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("collab_only_score", "collab-only"),
    ("semantic_only_score", "semantic-only"),
    ("iadsr_score", "IADSR"),
    ("uncertainty", "uncertainty"),
    ("collab_weight", "collab weight"),
)
# Item popularity buckets (interactions per item): lower bounds; the last is open.
POP_EDGES: tuple[int, ...] = (1, 3, 5, 10, 20, 50, 100, 200, 500, 1000)

ACCENT = "#2563eb"
FLAG = "#dc2626"
COLD = "#0891b2"
MUTED = "#94a3b8"


@dataclass
class ReportData:
    """Everything the page shows; small (catalogue- and report-sized), never proportional to the log."""

    workdir: str
    summary: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)
    filter_summary: dict[str, Any] | None = None
    filter_out: str | None = None
    popularity: list[dict[str, Any]] = field(default_factory=list)
    top_items: list[dict[str, Any]] = field(default_factory=list)
    sequences: list[dict[str, Any]] = field(default_factory=list)
