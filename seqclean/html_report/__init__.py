"""`seqclean report`: one self-contained HTML page about a scored (and optionally filtered) workdir.

Two halves, so that the page can be tested without a workdir: `load_report_data` reads WORKDIR (and the
filter's OUT) with lazy Polars aggregations, never the whole scores file at once; `render_html` turns the
small result into HTML with inline SVG charts. The page has no script and no external URL, so it opens
offline, in a mail attachment or a CI artefact. Every string that comes from the data (item titles, ids)
is HTML-escaped: titles are user data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqclean.html_report.load import best_window, load_report_data, popularity_buckets
from seqclean.html_report.model import REPORT_FILE, ReportData
from seqclean.html_report.page import render_html
from seqclean.html_report.sections import evidence
from seqclean.html_report.svg import svg_bars, svg_histogram
from seqclean.io import atomic_path

__all__ = [
    "REPORT_FILE",
    "ReportConfig",
    "ReportData",
    "best_window",
    "evidence",
    "load_report_data",
    "popularity_buckets",
    "render_html",
    "svg_bars",
    "svg_histogram",
    "write_report",
]


@dataclass
class ReportConfig:
    """`workdir` after `score`; `out` the page (default WORKDIR/report.html); `filter_out` the filter's OUT."""

    workdir: Path
    out: Path | None = None
    filter_out: Path | None = None


def write_report(cfg: ReportConfig) -> Path:
    """Load, render and write the page atomically; returns where it was written."""
    dest = cfg.out if cfg.out is not None else cfg.workdir / REPORT_FILE
    page = render_html(load_report_data(cfg.workdir, cfg.filter_out))
    with atomic_path(dest) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return dest
