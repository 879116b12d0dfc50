"""`seqclean report`: one self-contained HTML page about a scored (and optionally filtered) workdir.

Two halves, so that the page can be tested without a workdir: `load_report_data` reads WORKDIR (and the
filter's OUT) with lazy Polars aggregations, never the whole scores file at once; `render_html` turns the
small result into HTML with inline SVG charts. The page has no script and no external URL, so it opens
offline, in a mail attachment or a CI artefact. Every string that comes from the data (item titles, ids)
is HTML-escaped: titles are user data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from seqclean.errors import InputDataError, MissingInputError
from seqclean.io import atomic_path, input_errors

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


# --------------------------------------------------------------------------------------------- loading


def _threshold(summary: dict[str, Any]) -> float:
    t = summary.get("threshold")
    return DEFAULT_THRESHOLD if t is None else float(t)


def _read_json(path: Path, fix: str) -> dict[str, Any]:
    if not path.exists():
        raise MissingInputError(f"{path} not found; {fix}")
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputDataError(f"{path}: not valid JSON ({exc.msg}); {fix}") from exc
    return data


def _scan(path: Path, fix: str) -> pl.LazyFrame:
    if not path.exists():
        raise MissingInputError(f"{path} not found; {fix}")
    return pl.scan_parquet(path)


def popularity_buckets(item_report: pl.DataFrame) -> list[dict[str, Any]]:
    """Flag rate of the interactions on items grouped by how many interactions the item has."""
    rows = []
    edges = [*POP_EDGES, None]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        assert lo is not None
        sel = item_report.filter(pl.col("interactions") >= lo)
        if hi is not None:
            sel = sel.filter(pl.col("interactions") < hi)
        n = int(sel["interactions"].sum())
        if n == 0:
            continue
        flagged = int(sel["n_flagged"].sum())
        label = f"{lo}+" if hi is None else (str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}")
        rows.append(
            {
                "bucket": label,
                "items": sel.height,
                "interactions": n,
                "flagged": flagged,
                "flag_rate": flagged / n,
                "cold_share": int(sel["is_cold"].sum()) / sel.height,
            }
        )
    return rows


def load_report_data(
    workdir: Path, filter_out: Path | None = None, *, n_items: int = 12, n_users: int = 4, window: int = 24
) -> ReportData:
    """Read what the page needs from WORKDIR (after `score`) and, when given, the filter's OUT directory.

    Shows the `n_items` most-flagged items and the `n_users` users with the most flagged interactions, each
    through a `window` of consecutive positions."""
    with input_errors(workdir):
        return _load(workdir, filter_out, n_items, n_users, window)


def _load(workdir: Path, filter_out: Path | None, n_items: int, n_users: int, window: int) -> ReportData:
    fix = f"run `seqclean score --workdir {workdir}` first"
    summary = _read_json(workdir / "summary.json", fix)
    manifest_path = workdir / "manifest.json"
    manifest = _read_json(manifest_path, "rerun `seqclean embed`") if manifest_path.exists() else {}
    threshold = _threshold(summary)

    scores = _scan(workdir / "scores.parquet", fix)
    schema = scores.collect_schema()
    item_col = manifest.get("columns", {}).get("item", "item_id")
    user_col = manifest.get("columns", {}).get("user", "user_id")
    for col in (item_col, user_col, "position", "noise_score"):
        if col not in schema:
            raise InputDataError(f"{workdir / 'scores.parquet'}: column '{col}' not found; {fix}")

    item_report = _scan(workdir / "item_report.parquet", fix).collect()
    for col in (item_col, "interactions", "n_flagged", "flagged_share", "is_cold"):
        if col not in item_report.columns:
            raise InputDataError(f"{workdir / 'item_report.parquet'}: column '{col}' not found; {fix}")
    titles = _titles(workdir / "items.parquet", item_col)

    filter_summary = None
    changed: dict[int, tuple[str, Any]] = {}
    if filter_out is not None:
        filter_summary = _read_json(
            filter_out / "summary.json", f"run `seqclean filter --workdir {workdir} --out {filter_out}` first"
        )

    flagged = pl.col("noise_score") > threshold
    why = [c for c, _ in WHY_COLUMNS if c in schema]
    top = item_report.filter(pl.col("n_flagged") > 0).sort(
        ["n_flagged", "flagged_share", item_col], descending=[True, True, False]
    )
    top = top.head(n_items)
    comp: dict[Any, dict[str, Any]] = {}
    if top.height:
        agg = (
            scores.filter(flagged & pl.col(item_col).is_in(top[item_col].implode()))
            .group_by(item_col)
            .agg([pl.col(c).mean() for c in ["noise_score", *why]])
            .collect()
        )
        comp = {r[item_col]: r for r in agg.to_dicts()}
    top_items = []
    for r in top.to_dicts():
        c = comp.get(r[item_col], {})
        top_items.append(
            {
                "item": r[item_col],
                "title": titles.get(r[item_col], ""),
                "interactions": r["interactions"],
                "n_flagged": r["n_flagged"],
                "flagged_share": r["flagged_share"],
                "is_cold": bool(r["is_cold"]),
                "flagged_mean_score": c.get("noise_score"),
                "why": {name: c.get(col) for col, name in WHY_COLUMNS if col in why},
            }
        )

    users = (
        scores.filter(flagged)
        .group_by(user_col)
        .agg(pl.len().alias("n"))
        .sort(["n", user_col], descending=[True, False])
        .head(n_users)
        .collect()
    )
    sequences: list[dict[str, Any]] = []
    if users.height:
        extra = [c for c in ("row_index", "suggested_item", "suggestion_confidence") if c in schema]
        rows = (
            scores.filter(pl.col(user_col).is_in(users[user_col].implode()))
            .select([user_col, "position", item_col, "noise_score", *extra])
            .collect()
        )
        if filter_out is not None and "row_index" in rows.columns:
            changed = _changes(filter_out, rows["row_index"])
        lengths = rows.group_by(user_col).agg(pl.len().alias("len"))
        length = dict(zip(lengths[user_col].to_list(), lengths["len"].to_list(), strict=True))
        for u in users.to_dicts():
            uid = u[user_col]
            mine = rows.filter(pl.col(user_col) == uid)
            start = best_window(mine.filter(pl.col("noise_score") > threshold)["position"].to_list(), window)
            seq = mine.filter(pl.col("position").is_between(start, start + window - 1))
            items = []
            for r in seq.sort("position").to_dicts():
                action = changed.get(int(r["row_index"])) if "row_index" in r else None
                sug = r.get("suggested_item")
                items.append(
                    {
                        "position": r["position"],
                        "item": r[item_col],
                        "title": titles.get(r[item_col], ""),
                        "noise_score": r["noise_score"],
                        "flagged": r["noise_score"] > threshold,
                        "suggested": sug,
                        "suggested_title": titles.get(sug, "") if sug is not None else "",
                        "confidence": r.get("suggestion_confidence"),
                        "action": action[0] if action else None,
                    }
                )
            sequences.append({"user": uid, "length": length[uid], "n_flagged": u["n"], "items": items})

    return ReportData(
        workdir=str(workdir),
        summary=summary,
        manifest=manifest,
        filter_summary=filter_summary,
        filter_out=str(filter_out) if filter_out is not None else None,
        popularity=popularity_buckets(item_report),
        top_items=top_items,
        sequences=sequences,
    )


def best_window(flagged_positions: Sequence[int], window: int) -> int:
    """First position of the `window` consecutive positions holding the most flagged ones (earliest on ties),
    starting a little before the first of them so that the context shows."""
    pos = sorted(flagged_positions)
    if not pos:
        return 0
    best, best_n, j = pos[0], 0, 0
    for i, p in enumerate(pos):
        while pos[j] < p - window + 3:
            j += 1
        n = i - j + 1
        if n > best_n:
            best, best_n = pos[j], n
    return max(0, best - 2)


def _titles(items_path: Path, item_col: str) -> dict[Any, str]:
    """Item id -> its rendered text (the catalogue is small next to the log)."""
    if not items_path.exists():
        return {}
    lf = pl.scan_parquet(items_path)
    cols = lf.collect_schema()
    if item_col not in cols or "text" not in cols:
        return {}
    df = lf.select(item_col, "text").collect()
    return dict(zip(df[item_col].to_list(), df["text"].to_list(), strict=True))


def _changes(filter_out: Path, row_index: pl.Series) -> dict[int, tuple[str, Any]]:
    """What the filter did to these rows: removed, or replaced (by which item)."""
    out: dict[int, tuple[str, Any]] = {}
    wanted = row_index.implode()
    removed = filter_out / "removed.parquet"
    if removed.exists():
        for r in (
            pl.scan_parquet(removed)
            .filter(pl.col("row_index").is_in(wanted))
            .select("row_index")
            .collect()["row_index"]
        ):
            out[int(r)] = ("removed", None)
    changes = filter_out / "changes.parquet"
    if changes.exists():
        df = pl.scan_parquet(changes).filter(pl.col("row_index").is_in(wanted)).collect()
        for r in df.to_dicts():
            out[int(r["row_index"])] = ("replaced", r.get("suggested_item"))
    return out


# ------------------------------------------------------------------------------------------------- SVG


def _num(x: float) -> str:
    return f"{x:.1f}"


def _fmt_count(n: float) -> str:
    n = float(n)
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.0f}k"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k"
    return f"{n:.0f}"


def svg_histogram(
    counts: Sequence[int], edges: Sequence[float], threshold: float, *, width: int = 1100, height: int = 260
) -> str:
    """Score histogram on a log count axis (the clean mass near 0 dwarfs the tail), bars past the threshold red."""
    ml, mr, mt, mb = 48, 12, 14, 36
    pw, ph = width - ml - mr, height - mt - mb
    top = max(1.0, math.log10(max([1, *counts]) + 1))
    top = math.ceil(top)
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return ml + (v - lo) / span * pw

    def y(c: float) -> float:
        return mt + ph - math.log10(c + 1) / top * ph

    parts = [_svg_open(width, height, "Histogram of noise scores")]
    for k in range(top + 1):
        yy = mt + ph - k / top * ph
        parts.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{_num(yy)}" y2="{_num(yy)}" class="grid"/>')
        parts.append(f'<text x="{ml - 6}" y="{_num(yy + 4)}" text-anchor="end">{_fmt_count(10**k)}</text>')
    for c, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        colour = FLAG if a >= threshold else ACCENT
        x0, x1 = x(a) + 1, x(b) - 1
        parts.append(
            f'<rect x="{_num(x0)}" y="{_num(y(c))}" width="{_num(max(x1 - x0, 1))}" '
            f'height="{_num(mt + ph - y(c))}" fill="{colour}"><title>{a:g}-{b:g}: {c:,} interactions</title></rect>'
        )
    for k in range(0, 11, 2):
        v = lo + span * k / 10
        parts.append(f'<text x="{_num(x(v))}" y="{mt + ph + 16}" text-anchor="middle">{v:.1f}</text>')
    tx = x(threshold)
    parts.append(
        f'<line x1="{_num(tx)}" x2="{_num(tx)}" y1="{mt}" y2="{mt + ph}" stroke="#111827" stroke-width="2" '
        f'stroke-dasharray="5 4"/>'
        f'<text x="{_num(tx + 5)}" y="{mt + 12}" class="note">threshold {threshold:g}</text>'
        f'<text x="{ml + pw / 2:.0f}" y="{height - 3}" text-anchor="middle" class="axis">noise_score</text>'
        f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" class="axisline"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def svg_bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    colours: Sequence[str] | None = None,
    tips: Sequence[str] | None = None,
    value_fmt: str = "{:.1%}",
    title: str = "bar chart",
    x_label: str = "",
    width: int = 560,
    height: int = 220,
    line: Sequence[float] | None = None,
    line_label: str = "",
) -> str:
    """Vertical bars with their value on top; an optional line over them (its own 0..max scale)."""
    ml, mr, mt, mb = 12, 12, 18, 40
    pw, ph = width - ml - mr, height - mt - mb
    n = max(len(values), 1)
    vmax = max([*values, 1e-12])
    slot = pw / n
    parts = [_svg_open(width, height, title)]
    for i, v in enumerate(values):
        bh = v / vmax * ph
        x0 = ml + i * slot + slot * 0.15
        colour = colours[i] if colours else ACCENT
        tip = f"<title>{escape(tips[i])}</title>" if tips else ""
        parts.append(
            f'<rect x="{_num(x0)}" y="{_num(mt + ph - bh)}" width="{_num(slot * 0.7)}" height="{_num(bh)}" '
            f'fill="{colour}">{tip}</rect>'
            f'<text x="{_num(x0 + slot * 0.35)}" y="{_num(mt + ph - bh - 4)}" text-anchor="middle">'
            f"{escape(value_fmt.format(v))}</text>"
            f'<text x="{_num(x0 + slot * 0.35)}" y="{mt + ph + 15}" text-anchor="middle">{escape(labels[i])}</text>'
        )
    if line and len(line) == len(values):
        lmax = max([*line, 1e-12])
        pts = " ".join(
            f"{_num(ml + (i + 0.5) * slot)},{_num(mt + ph - v / lmax * ph * 0.9)}" for i, v in enumerate(line)
        )
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#f59e0b" stroke-width="2.5"/>')
        for i, v in enumerate(line):
            parts.append(
                f'<circle cx="{_num(ml + (i + 0.5) * slot)}" cy="{_num(mt + ph - v / lmax * ph * 0.9)}" r="3.5" '
                f'fill="#f59e0b"><title>{escape(line_label)}: {v:.3f}</title></circle>'
            )
    parts.append(
        f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" class="axisline"/>'
        f'<text x="{ml + pw / 2:.0f}" y="{height - 4}" text-anchor="middle" class="axis">{escape(x_label)}</text>'
        "</svg>"
    )
    return "".join(parts)


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">'
    )


# ------------------------------------------------------------------------------------------------ HTML

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f8fafc;margin:0}
main{max-width:1180px;margin:0 auto;padding:20px 28px 40px}
header{background:#0f172a;color:#f8fafc;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header .verdict{font-size:16px;margin:6px 0 0}
header .meta{color:#cbd5e1;font-size:12px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:17px;margin:0 0 8px}
p.lead{color:#475569;margin:0 0 10px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:12px}
.card{background:#1e293b;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:19px}
.card span{color:#cbd5e1;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
svg{max-width:100%;height:auto;font-size:11px;fill:#334155}
svg .grid{stroke:#e2e8f0}
svg .axisline{stroke:#64748b}
svg .axis{font-size:12px;fill:#475569}
svg .note{font-size:12px;fill:#111827;font-weight:600}
.legend span{display:inline-block;margin-right:14px;font-size:12px;color:#475569}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px;border-radius:2px}
.na{color:#64748b;font-style:italic}
.seq{display:flex;flex-wrap:wrap;gap:5px;margin:4px 0 12px}
.chip{border:1px solid #cbd5e1;border-radius:6px;padding:3px 6px;font-size:12px;max-width:150px;background:#f8fafc}
.chip small{display:block;color:#64748b}
.chip.flag{border-color:#dc2626;background:#fef2f2}
.chip .sug{color:#15803d}
.tag{display:inline-block;font-size:11px;padding:0 5px;border-radius:4px;background:#e2e8f0;color:#334155}
.tag.cold{background:#cffafe;color:#155e75}
.tag.removed{background:#fee2e2;color:#991b1b}
.tag.replaced{background:#dcfce7;color:#166534}
footer{color:#64748b;font-size:12px;margin-top:20px}
"""


def _pct(x: Any) -> str:
    return "—" if x is None else f"{float(x):.1%}"


def _f(x: Any, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return escape(str(x))


def _legend(*pairs: tuple[str, str]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{escape(t)}</span>' for c, t in pairs)
        + "</div>"
    )


def _verdict(d: ReportData) -> str:
    s, f = d.summary, d.filter_summary
    n = s.get("interactions")
    if f is None:
        return (
            f"Scored {_f(n)} interactions: {_f(s.get('flagged'))} ({_pct(s.get('flag_rate'))}) flagged at "
            f"noise_score &gt; {_f(s.get('threshold'))}. No filter output was given to this report."
        )
    removed, replaced = int(f.get("removed", 0) or 0), int(f.get("replaced", 0) or 0)
    n_in = f.get("input_interactions", n)
    did = []
    if removed or not replaced:
        did.append(f"removed {removed:,}")
    if replaced:
        did.append(f"replaced {replaced:,}")
    rule = escape(str(f.get("rule", {}).get("name", "")))
    share = f.get("changed_share")
    return f"Filter {' and '.join(did)} of {_f(n_in)} interactions ({_pct(share)}) — rule: {rule}."


def _cards(d: ReportData) -> str:
    s, f = d.summary, d.filter_summary or {}
    det = s.get("detector", {}) if isinstance(s.get("detector"), dict) else {}
    cards = [
        (_f(s.get("interactions")), "interactions"),
        (_f(s.get("users")), "users"),
        (_f(s.get("items")), "items"),
        (_pct(s.get("flag_rate")), f"flagged at {s.get('threshold', '')}"),
        (_pct(s.get("estimated_noise_rate")), "estimated noise rate"),
    ]
    if "heldout_corruption_auc" in det:
        cards.append((_f(det["heldout_corruption_auc"]), "detector held-out AUC"))
    if f:
        cards.append((_f(f.get("kept")), "kept"))
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{v}</b><span>{escape(k)}</span></div>' for v, k in cards)
        + "</div>"
    )


def _section_histogram(d: ReportData) -> str:
    h = d.summary.get("histogram") or {}
    thr = _threshold(d.summary)
    if not h.get("counts"):
        return _section("Noise-score distribution", '<p class="na">not available (rerun score)</p>')
    body = svg_histogram(h["counts"], h["edges"], thr) + _legend(
        (ACCENT, "kept at the threshold"), (FLAG, "flagged (noise_score above the threshold)")
    )
    lead = (
        "Interactions per noise-score bin (log scale). noise_score reads as the probability that an interaction is "
        "noise; higher means noisier."
    )
    return _section("Noise-score distribution", body, lead)


def _section_popularity(d: ReportData) -> str:
    s = d.summary
    rows = d.popularity
    cold, warm = s.get("cold") or {}, s.get("warm") or {}
    lead = (
        f"Flag rate of the interactions on items grouped by the item's interaction count. Cold items "
        f"({escape(str(s.get('cold_rule', 'few interactions')))}): {_pct(cold.get('flag_rate'))} flagged of "
        f"{_f(cold.get('interactions'))}; warm items: {_pct(warm.get('flag_rate'))} of {_f(warm.get('interactions'))}."
    )
    if not rows:
        return _section("Flag rate by item popularity", '<p class="na">not available (rerun score)</p>', lead)
    chart = svg_bars(
        [r["bucket"] for r in rows],
        [r["flag_rate"] for r in rows],
        colours=[COLD if r["cold_share"] > 0.5 else ACCENT for r in rows],
        tips=[f"{r['items']:,} items, {r['interactions']:,} interactions, {r['flagged']:,} flagged" for r in rows],
        title="Flag rate by item popularity",
        x_label="interactions per item",
        width=1100,
    )
    return _section(
        "Flag rate by item popularity", chart + _legend((COLD, "mostly cold items"), (ACCENT, "warm items")), lead
    )


def _section_position(d: ReportData) -> str:
    pos = d.summary.get("by_position_from_end")
    length = d.summary.get("by_sequence_length")
    na = '<p class="na">not available (rerun score)</p>'
    if pos:
        left = svg_bars(
            [str(r.get("position", "")).replace("_", " ") for r in pos],
            [float(r.get("flag_rate") or 0.0) for r in pos],
            tips=[f"{r.get('interactions', 0):,} interactions, {r.get('flagged', 0):,} flagged" for r in pos],
            title="Flag rate by position from the end",
            x_label="position from the end of the sequence",
            line=[float(r.get("mean_noise_score") or 0.0) for r in pos],
            line_label="mean noise_score",
        ) + _legend((ACCENT, "flag rate"), ("#f59e0b", "mean noise_score (own scale)"))
    else:
        left = na
    if length:
        right = svg_bars(
            [str(r.get("bucket", "")) for r in length],
            [float(r.get("flag_rate") or 0.0) for r in length],
            tips=[f"{r.get('interactions', 0):,} interactions, {r.get('flagged', 0):,} flagged" for r in length],
            title="Flag rate by sequence length",
            x_label="user's sequence length",
        )
    else:
        right = na
    body = (
        f'<div class="grid2"><div><h3>By position from the end</h3>{left}</div>'
        f"<div><h3>By sequence length</h3>{right}</div></div>"
    )
    lead = (
        "Is the scorer biased towards the end of sequences or against short ones? The last interaction has the "
        "least context after it."
    )
    return _section("Flag rate by position and sequence length", body, lead)


def _section_items(d: ReportData) -> str:
    if not d.top_items:
        return _section("Most-flagged items", '<p class="na">no item has a flagged interaction</p>')
    names = list(d.top_items[0]["why"].keys())
    head = (
        "<tr><th>item</th><th>title</th><th class=n>interactions</th><th class=n>flagged</th>"
        "<th class=n>share</th><th class=n>noise_score</th>"
        + "".join(f"<th class=n>{escape(n)}</th>" for n in names)
        + "<th>main evidence</th></tr>"
    )
    body = []
    for r in d.top_items:
        cold = ' <span class="tag cold">cold</span>' if r["is_cold"] else ""
        body.append(
            f"<tr><td>{_f(r['item'])}</td><td>{escape(str(r['title']))}{cold}</td>"
            f"<td class=n>{_f(r['interactions'])}</td><td class=n>{_f(r['n_flagged'])}</td>"
            f"<td class=n>{_pct(r['flagged_share'])}</td><td class=n>{_f(r['flagged_mean_score'])}</td>"
            + "".join(f"<td class=n>{_f(r['why'][n])}</td>" for n in names)
            + f"<td>{escape(evidence(r['why']))}</td></tr>"
        )
    lead = (
        "Items with the most flagged interactions. The component columns are means over the flagged interactions: "
        "collab-only and semantic-only are the detector trained on one space alone (probability of noise), IADSR is "
        "the paper's consistency score in [-3, 3] (higher = more consistent), collab weight is the share given to "
        "collaborative evidence (low for cold items)."
    )
    return _section("Most-flagged items and why", f"<table>{head}{''.join(body)}</table>", lead)


def evidence(why: dict[str, Any]) -> str:
    """Which single-space detector agrees that the flagged interactions are noise."""
    c, s = why.get("collab-only"), why.get("semantic-only")
    if c is None or s is None:
        return "semantic only (baseline scorer)" if s is not None else "—"
    if c > 0.5 and s > 0.5:
        return "both spaces"
    if c > 0.5:
        return "collaborative (behaviour)"
    if s > 0.5:
        return "semantic (text)"
    return "only the combined detector"


def _section_sequences(d: ReportData) -> str:
    if not d.sequences:
        return _section("User sequences", '<p class="na">no user has a flagged interaction</p>')
    blocks = []
    for seq in d.sequences:
        chips = []
        for it in seq["items"]:
            cls = "chip flag" if it["flagged"] or it["action"] else "chip"
            extra = ""
            if it["action"]:
                extra += f' <span class="tag {escape(it["action"])}">{escape(it["action"])}</span>'
            elif it["flagged"] and d.filter_summary is not None:
                extra += ' <span class="tag">kept</span>'
            if it["flagged"] or it["action"]:
                if it["suggested"] is not None:
                    conf = "" if it["confidence"] is None else f" ({float(it['confidence']):.2f})"
                    extra += (
                        f'<small class="sug">→ {escape(str(it["suggested_title"] or it["suggested"]))}{conf}</small>'
                    )
            chips.append(
                f'<div class="{cls}" title="item {escape(str(it["item"]))}, position {it["position"]}">'
                f"{escape(str(it['title'] or it['item']))}<small>#{it['position']} · {it['noise_score']:.2f}{extra}"
                "</small></div>"
            )
        first, last = seq["items"][0]["position"], seq["items"][-1]["position"]
        blocks.append(
            f"<h3>user {escape(str(seq['user']))} <span class=tag>{seq['n_flagged']} flagged of {seq['length']}</span>"
            f" <span class=tag>positions {first}-{last}</span></h3><div class=seq>{''.join(chips)}</div>"
        )
    lead = (
        "The users with the most flagged interactions, in time order (#position · noise_score). Flagged "
        "interactions are red; → is the suggested replacement (confidence); a tag says what the filter did "
        "(kept: a guard held it back, or the filter's own threshold was higher)."
    )
    return _section("User sequences with flagged interactions", "".join(blocks), lead)


def _section_guards(d: ReportData) -> str:
    f = d.filter_summary
    if f is None:
        return _section(
            "What the guards held back",
            '<p class="na">not available: no filter output given (pass --filter-out OUT, or use `seqclean run`)</p>',
        )
    held = f.get("held_by_guard") or {}
    guards = f.get("guards") or {}
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td class=n>{_f(v)}</td></tr>" for k, v in sorted(held.items()))
    settings = "".join(f"<tr><td>{escape(str(k))}</td><td>{_f(v)}</td></tr>" for k, v in sorted(guards.items()))
    lead = (
        f"{_f(f.get('candidates'))} interactions passed the rule; the guards kept the rows below. "
        "Notes from the filter: " + (escape("; ".join(map(str, f.get("notes") or []))) or "none") + "."
    )
    chart = ""
    if held:
        keys = sorted(held)
        chart = svg_bars(
            [k.replace("_", " ") for k in keys],
            [float(held[k] or 0) for k in keys],
            value_fmt="{:,.0f}",
            colours=[MUTED if not held[k] else ACCENT for k in keys],
            title="Rows held back by each guard",
            x_label="guard",
            width=1100,
            height=180,
        )
    body = (
        f'{chart}<div class="grid2"><div><table><tr><th>guard</th><th class=n>rows held back</th></tr>'
        f"{rows}</table></div><div><table><tr><th>guard setting</th><th>value</th></tr>{settings}</table></div></div>"
    )
    return _section("What the guards held back", body, lead)


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(obj, dict):
        for k in sorted(obj):
            if k in ("histogram", "by_position_from_end", "by_sequence_length"):
                continue
            out += _flatten(obj[k], f"{prefix}{k}.")
    elif isinstance(obj, list):
        if all(not isinstance(v, dict | list) for v in obj):
            out.append((prefix[:-1], ", ".join(map(str, obj))))
    else:
        out.append((prefix[:-1], obj))
    return out


def _kv_table(title: str, obj: dict[str, Any] | None) -> str:
    if not obj:
        return f"<div><h3>{escape(title)}</h3><p class=na>not available</p></div>"
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{_f(v, 4)}</td></tr>" for k, v in _flatten(obj))
    return f"<div><h3>{escape(title)}</h3><table>{rows}</table></div>"


def render_html(d: ReportData) -> str:
    """The whole page as one string: inline CSS and SVG, no script, no external URL."""
    m = d.manifest
    backbone = m.get("backbone", {}) if isinstance(m.get("backbone"), dict) else {}
    embed = m.get("embed", {}) if isinstance(m.get("embed"), dict) else {}
    meta = (
        f"workdir {escape(d.workdir)}"
        + (f" · filter output {escape(d.filter_out)}" if d.filter_out else "")
        + f" · scorer {escape(str(d.summary.get('scorer', '?')))}"
        + (f" · backbone {escape(str(backbone.get('kind')))}" if backbone.get("kind") else "")
        + (f" · text model {escape(str(embed.get('model')))}" if embed.get("model") else "")
    )
    run = {"score": d.summary, "embed": embed, "backbone valid": backbone.get("valid")}
    summary = (
        '<div class="grid2">'
        + _kv_table("Score (WORKDIR/summary.json)", d.summary)
        + _kv_table("Filter (OUT/summary.json)", d.filter_summary)
        + "</div>"
        + (
            '<div class="grid2">'
            + _kv_table("Embedding", embed)
            + _kv_table("Backbone validation", run["backbone valid"])
            + "</div>"
        )
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>seqclean report</title><style>{CSS}</style></head><body>"
        f'<header><h1>seqclean report</h1><p class="verdict">{_verdict(d)}</p>'
        f'<p class="meta">{meta}</p>{_cards(d)}</header><main>'
        + _section_histogram(d)
        + _section_popularity(d)
        + _section_items(d)
        + _section_sequences(d)
        + _section_guards(d)
        + _section_position(d)
        + _section("Run summary", summary)
        + "<footer>Generated by seqclean report from the files named above; the page is self-contained.</footer>"
        + "</main></body></html>\n"
    )


def _section(title: str, body: str, lead: str = "") -> str:
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return f"<section><h2>{escape(title)}</h2>{lead_html}{body}</section>"


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
