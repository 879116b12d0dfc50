"""The HTML report: the pure renderer (escaping, sections, no external URL), the loader on a small synthetic
workdir, the `report` command, and the page in a real headless Chromium (console clean, screenshot not blank)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqclean.cli import app
from seqclean.html_report import (
    ReportConfig,
    ReportData,
    best_window,
    load_report_data,
    popularity_buckets,
    render_html,
    svg_bars,
    svg_histogram,
    write_report,
)

runner = CliRunner()
EVIL = '<script>alert("x")</script> & "Bob\'s" <img src=http://evil.example/x.png>'
THRESHOLD = 0.5

BY_POSITION = [
    {"position": "last", "interactions": 40, "flagged": 6, "flag_rate": 0.15, "mean_noise_score": 0.21},
    {"position": "second_last", "interactions": 40, "flagged": 4, "flag_rate": 0.1, "mean_noise_score": 0.17},
    {"position": "third_last", "interactions": 40, "flagged": 2, "flag_rate": 0.05, "mean_noise_score": 0.12},
    {"position": "rest", "interactions": 280, "flagged": 8, "flag_rate": 0.0286, "mean_noise_score": 0.08},
]
BY_LENGTH = [
    {"bucket": "1-5", "interactions": 0, "flagged": 0, "flag_rate": 0.0},
    {"bucket": "6-10", "interactions": 400, "flagged": 20, "flag_rate": 0.05},
    {"bucket": "11-20", "interactions": 0, "flagged": 0, "flag_rate": 0.0},
    {"bucket": "21-50", "interactions": 0, "flagged": 0, "flag_rate": 0.0},
    {"bucket": "51+", "interactions": 0, "flagged": 0, "flag_rate": 0.0},
]


def make_workdir(root: Path, *, with_position_keys: bool = True) -> tuple[Path, Path]:
    """A scored workdir and a filter OUT written from a seeded random log: 40 users x 10 interactions, 30 items.

    Item 7's title is hostile HTML. The summaries and reports are computed from the scores here, so the
    loader's aggregations can be checked against an independent computation.
    """
    rng = np.random.default_rng(0)
    n_users, length, n_items = 40, 10, 30
    user = np.repeat(np.arange(1, n_users + 1), length)
    position = np.tile(np.arange(length), n_users)
    item = rng.integers(1, n_items + 1, size=user.size)
    item[:3] = 7  # user 1 starts with three of item 7
    noise = rng.beta(0.6, 4.0, size=user.size)
    noise[:3] = [0.9, 0.8, 0.95]
    scores = pl.DataFrame(
        {
            "user_id": user,
            "item_id": item,
            "timestamp": 1_700_000_000 + np.arange(user.size),
            "row_index": np.arange(user.size, dtype=np.uint32),
            "position": position.astype(np.int32),
            "noise_score": noise,
            "is_noisy": noise > THRESHOLD,
            "uncertainty": rng.random(user.size).astype(np.float32),
            "is_cold": np.zeros(user.size, dtype=bool),
            "suggested_item": (item % n_items) + 1,
            "suggestion_confidence": rng.random(user.size).astype(np.float32),
            "collab_weight": np.ones(user.size, dtype=np.float32),
            "collab_only_score": noise.astype(np.float32),
            "semantic_only_score": (noise * 0.5).astype(np.float32),
            "iadsr_score": (1.0 - noise).astype(np.float32),
        }
    ).with_columns(pl.when(pl.col("is_noisy")).then(pl.col("suggested_item")).alias("suggested_item"))
    wd, out = root / "work", root / "out"
    wd.mkdir(parents=True)
    out.mkdir(parents=True)
    scores.write_parquet(wd / "scores.parquet")
    counts = scores.group_by("item_id").agg(
        pl.len().alias("interactions"),
        pl.col("noise_score").mean().alias("mean_noise_score"),
        (pl.col("noise_score") > THRESHOLD).sum().cast(pl.Int64).alias("n_flagged"),
    )
    report = (
        counts.with_columns(
            (pl.col("n_flagged") / pl.col("interactions")).alias("flagged_share"),
            (pl.col("interactions") < 10).alias("is_cold"),
            pl.col("interactions").cast(pl.Int64),
        )
        .select("item_id", "interactions", "mean_noise_score", "flagged_share", "n_flagged", "is_cold")
        .sort("item_id")
    )
    report.write_parquet(wd / "item_report.parquet")
    titles = [EVIL if i == 7 else f"Item number {i}" for i in range(1, n_items + 1)]
    pl.DataFrame(
        {"iid": np.arange(n_items, dtype=np.int32), "item_id": np.arange(1, n_items + 1), "text": titles}
    ).write_parquet(wd / "items.parquet")
    flagged = int((noise > THRESHOLD).sum())
    hist = np.histogram(noise, bins=20, range=(0, 1))[0].tolist()
    summary = {
        "interactions": int(user.size),
        "users": n_users,
        "items": n_items,
        "flagged": flagged,
        "flag_rate": flagged / user.size,
        "threshold": THRESHOLD,
        "scorer": "iadsr",
        "estimated_noise_rate": 0.06,
        "cold_rule": "item with fewer than 10 interactions in the log",
        "cold": {"interactions": 0, "flagged": 0, "flag_rate": None},
        "warm": {"interactions": int(user.size), "flagged": flagged, "flag_rate": flagged / user.size},
        "histogram": {"edges": [round(k / 20, 4) for k in range(21)], "counts": hist},
        "detector": {"heldout_corruption_auc": 0.9, "provider": "CPUExecutionProvider"},
    }
    if with_position_keys:
        summary["by_position_from_end"] = BY_POSITION
        summary["by_sequence_length"] = BY_LENGTH
    (wd / "summary.json").write_text(json.dumps(summary))
    manifest = {
        "columns": {"user": "user_id", "item": "item_id", "time": "timestamp", "text": ["title"]},
        "embed": {"model": "all-MiniLM-L6-v2", "n_items": n_items},
        "backbone": {"kind": "sasrec", "valid": {"HR@10": 0.3}},
    }
    (wd / "manifest.json").write_text(json.dumps(manifest))
    # the filter removed user 1's first two flagged rows; its max_edits guard held the third
    scores.filter(pl.col("row_index") < 2).select(
        "user_id", "item_id", "timestamp", "row_index", "noise_score"
    ).write_parquet(out / "removed.parquet")
    (out / "summary.json").write_text(
        json.dumps(
            {
                "candidates": flagged,
                "removed": 2,
                "replaced": 0,
                "kept": int(user.size) - 2,
                "input_interactions": int(user.size),
                "changed_share": 2 / user.size,
                "rule": {"name": "noise_score > threshold 0.5", "threshold": 0.5},
                "guards": {"min_seq_len": 3, "max_edits_per_user": "20% of the user's length, at least 1"},
                "held_by_guard": {"max_edits": 13, "min_seq_len": 0, "uncertainty": 4},
                "notes": ["a note with <b>markup</b>"],
                "mode": "remove",
            }
        )
    )
    return wd, out


@pytest.fixture
def scored(tmp_path: Path) -> tuple[Path, Path]:
    return make_workdir(tmp_path)


def assert_offline(page: str) -> None:
    """No script and nothing fetched: no tag has a src/href attribute or a URL, the CSS loads nothing.

    (Data may still contain the text "src=http://..." once escaped: it is text, not a tag.)"""
    tags = re.findall(r"<[^>]*>", page)
    assert tags and not any(t.lower().startswith("<script") for t in tags)
    assert not [t for t in tags if re.search(r"\b(src|href)\s*=|https?:|url\(", t, re.I)]
    style = page[page.index("<style>") : page.index("</style>")]
    assert "url(" not in style and "@import" not in style


def test_render_escapes_data_and_is_offline(scored: tuple[Path, Path]) -> None:
    wd, out = scored
    page = render_html(load_report_data(wd, out))
    assert_offline(page)  # the hostile title carried a <script> and an <img src=http://...>
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;Bob&#x27;s&quot;" in page
    assert "&lt;b&gt;markup&lt;/b&gt;" in page
    for title in (
        "Noise-score distribution",
        "Flag rate by item popularity",
        "Most-flagged items and why",
        "User sequences with flagged interactions",
        "What the guards held back",
        "Flag rate by position and sequence length",
        "Run summary",
    ):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<svg") == 5  # histogram, popularity, guards, position, length
    assert "not available (rerun score)" not in page
    assert "second last" in page and "51+" in page
    assert "Filter removed 2 of 400 interactions (0.5%)" in page
    # user 1: two flagged rows removed by the filter, the third flagged one kept (a guard held it)
    assert page.count('<span class="tag removed">removed</span>') == 2
    assert '<span class="tag">kept</span>' in page


def test_position_sections_say_not_available_without_the_keys(tmp_path: Path) -> None:
    wd, out = make_workdir(tmp_path, with_position_keys=False)
    page = render_html(load_report_data(wd, out))
    assert page.count("not available (rerun score)") == 2
    assert page.count("<svg") == 3


def test_loader_aggregates_match_the_scores(scored: tuple[Path, Path]) -> None:
    wd, out = scored
    d = load_report_data(wd, out, n_items=5, n_users=3)
    scores = pl.read_parquet(wd / "scores.parquet")
    flagged = scores.filter(pl.col("noise_score") > THRESHOLD)
    per_item = flagged.group_by("item_id").agg(pl.len().alias("n"), pl.col("collab_only_score").mean())
    expected = per_item.sort(["n", "item_id"], descending=[True, False])
    assert [r["n_flagged"] for r in d.top_items] == sorted((r["n_flagged"] for r in d.top_items), reverse=True)
    assert d.top_items[0]["n_flagged"] == expected["n"][0]
    for r in d.top_items:
        row = per_item.filter(pl.col("item_id") == r["item"])
        assert r["n_flagged"] == row["n"][0]
        assert r["why"]["collab-only"] == pytest.approx(row["collab_only_score"][0], rel=1e-5)
    assert next(r for r in d.top_items if r["item"] == 7)["title"] == EVIL
    # users: the most flagged first; user 1's first rows carry the filter's action
    per_user = flagged.group_by("user_id").agg(pl.len().alias("n")).sort(["n", "user_id"], descending=[True, False])
    assert [s["user"] for s in d.sequences] == per_user["user_id"].head(3).to_list()
    all_items = [it for s in d.sequences for it in s["items"]]
    assert all(it["flagged"] == (it["noise_score"] > THRESHOLD) for it in all_items)
    # popularity buckets add up to the log
    assert sum(b["interactions"] for b in d.popularity) == scores.height
    assert sum(b["flagged"] for b in d.popularity) == flagged.height


def test_filter_action_shown_on_the_sequence(tmp_path: Path) -> None:
    wd, out = make_workdir(tmp_path)
    d = load_report_data(wd, out, n_users=40)
    user1 = next(s for s in d.sequences if s["user"] == 1)
    actions = [it["action"] for it in user1["items"][:3]]
    assert actions == ["removed", "removed", None]


def test_popularity_buckets_cold_share() -> None:
    rep = pl.DataFrame(
        {
            "interactions": [1, 2, 4, 12, 150],
            "n_flagged": [1, 0, 2, 3, 15],
            "is_cold": [True, True, True, False, False],
        }
    )
    b = {r["bucket"]: r for r in popularity_buckets(rep)}
    assert b["1-2"]["interactions"] == 3 and b["1-2"]["flag_rate"] == pytest.approx(1 / 3)
    assert b["3-4"]["cold_share"] == 1.0 and b["10-19"]["cold_share"] == 0.0
    assert b["100-199"]["flagged"] == 15
    assert "5-9" not in b  # empty buckets are left out


def test_best_window_holds_most_flagged() -> None:
    assert best_window([], 10) == 0
    assert best_window([1], 10) == 0
    start = best_window([3, 40, 41, 44, 47], 10)
    assert start == 38 and all(start <= p < start + 10 for p in (40, 41, 44, 47))


def test_svg_helpers_escape_and_scale() -> None:
    svg = svg_bars(["<a>", "b"], [0.2, 0.1], title="t & t", x_label="x<y")
    assert "&lt;a&gt;" in svg and "x&lt;y" in svg and "t &amp; t" in svg
    assert "20.0%" in svg and "10.0%" in svg
    hist = svg_histogram([100, 0, 5], [0.0, 0.3, 0.6, 1.0], 0.5)
    assert hist.count("<rect") == 3 and "threshold 0.5" in hist
    assert "#dc2626" in hist  # the bin past the threshold is red


def test_render_without_filter_summary() -> None:
    d = ReportData(workdir="w", summary={"interactions": 10, "flagged": 1, "flag_rate": 0.1, "threshold": 0.5})
    page = render_html(d)
    assert_offline(page)
    assert "No filter output was given" in page
    assert "no item has a flagged interaction" in page


def test_cards_say_when_the_self_cleaning_round_ran() -> None:
    base = {"interactions": 10, "flagged": 1, "flag_rate": 0.1, "threshold": 0.5, "estimated_noise_rate": 0.08}
    two = render_html(ReportData(workdir="w", summary=base | {"self_clean": {"rounds": 2, "why": "auto"}}))
    one = render_html(ReportData(workdir="w", summary=base | {"self_clean": {"rounds": 1, "why": "auto"}}))
    assert "<span>estimated noise rate, 2 rounds</span>" in two
    assert "<span>estimated noise rate</span>" in one and "rounds</span>" not in one


def test_report_cli_writes_the_page(scored: tuple[Path, Path], tmp_path: Path) -> None:
    wd, out = scored
    r = runner.invoke(app, ["report", "--workdir", str(wd)])
    assert r.exit_code == 0, r.output
    assert (wd / "report.html").exists() and "guards held back" in (wd / "report.html").read_text()
    assert "no filter output given" in (wd / "report.html").read_text()
    dest = tmp_path / "sub" / "r.html"
    r = runner.invoke(app, ["report", "--workdir", str(wd), "--out", str(dest), "--filter-out", str(out)])
    assert r.exit_code == 0, r.output
    assert str(dest) in r.output
    page = dest.read_text()
    assert "max edits" in page and "Filter removed 2 of 400" in page
    assert not list(dest.parent.glob(".*.tmp"))


def test_report_cli_errors(scored: tuple[Path, Path], tmp_path: Path) -> None:
    wd, _ = scored
    r = runner.invoke(app, ["report", "--workdir", str(tmp_path / "nope")])
    assert r.exit_code == 3 and "summary.json not found" in r.output and "seqclean score" in r.output
    r = runner.invoke(app, ["report", "--workdir", str(wd), "--filter-out", str(tmp_path / "nofilter")])
    assert r.exit_code == 3 and "seqclean filter" in r.output
    (wd / "summary.json").write_text("{not json")
    r = runner.invoke(app, ["report", "--workdir", str(wd)])
    assert r.exit_code == 4 and "not valid JSON" in r.output
    (wd / "summary.json").write_text("{}")
    (wd / "scores.parquet").write_bytes(b"PAR1 truncated")
    r = runner.invoke(app, ["report", "--workdir", str(wd)])
    assert r.exit_code == 4 and "cannot be read" in r.output
    pl.DataFrame({"item_id": [1]}).write_parquet(wd / "scores.parquet")
    r = runner.invoke(app, ["report", "--workdir", str(wd)])
    assert r.exit_code == 4 and "column 'user_id' not found" in r.output
    blocker = tmp_path / "file"
    blocker.write_text("")
    make = make_workdir(tmp_path / "again")
    r = runner.invoke(app, ["report", "--workdir", str(make[0]), "--out", str(blocker / "r.html")])
    assert r.exit_code == 5


def test_docs_show_the_screenshot() -> None:
    root = Path(__file__).resolve().parent.parent
    shot = root / "docs" / "img" / "report.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size < 400_000
    assert "docs/img/report.png" in (root / "README.md").read_text()
    assert "img/report.png" in (root / "docs" / "report.md").read_text()


# ------------------------------------------------------------------------------------ headless Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def png_pixels(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) with zlib and numpy."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    i, idat, ihdr = 8, b"", None
    while i < len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        kind, body = data[i + 4 : i + 8], data[i + 8 : i + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        i += 12 + n
    assert ihdr is not None
    w, h, depth, colour, _, _, interlace = ihdr
    assert depth == 8 and colour in (2, 6) and interlace == 0, ihdr
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, w * bpp + 1)
    out = np.zeros((h, w * bpp), dtype=np.uint8)
    prev = np.zeros(w * bpp, dtype=np.int64)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) % 256
        elif f == 1:
            cur = np.cumsum(line.reshape(w, bpp), axis=0).reshape(-1) % 256
        else:
            cur = _unfilter_slow(int(f), line.tolist(), prev.tolist(), bpp)
        out[y] = cur
        prev = np.asarray(cur, dtype=np.int64)
    return out.reshape(h, w, bpp)


def _unfilter_slow(f: int, line: list[int], prev: list[int], bpp: int) -> np.ndarray:
    cur = [0] * len(line)
    for x, v in enumerate(line):
        a = cur[x - bpp] if x >= bpp else 0
        b = prev[x]
        if f == 3:
            cur[x] = (v + (a + b) // 2) % 256
            continue
        c = prev[x - bpp] if x >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        cur[x] = (v + pred) % 256
    return np.asarray(cur, dtype=np.int64)


def chromium_screenshot(page: Path, shot: Path, profile: Path, size: str = "1100,1400") -> str:
    """Load `page` in headless Chromium (no network, fresh profile), screenshot it, return its log."""
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={shot}",
        f"--window-size={size}",
        page.resolve().as_uri(),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout + r.stderr


def console_messages(log: str) -> list[str]:
    """Chromium logs every console message (errors, uncaught exceptions, failed loads) as `...:CONSOLE...`."""
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_report_renders_in_chromium(scored: tuple[Path, Path], tmp_path: Path) -> None:
    wd, out = scored
    page = write_report(ReportConfig(workdir=wd, filter_out=out))

    # the check can see a broken page: a console error and an uncaught exception are both caught
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><p>x</p><script>console.error("boom"); missingFn();</script>')
    bad_log = chromium_screenshot(bad, tmp_path / "bad.png", tmp_path / "profile-bad")
    assert len(console_messages(bad_log)) == 2, bad_log[-2000:]

    log = chromium_screenshot(page, tmp_path / "shot.png", tmp_path / "profile")
    assert console_messages(log) == [], log[-2000:]
    px = png_pixels(tmp_path / "shot.png")[..., :3]
    assert px.shape[:2] == (1400, 1100)
    colours, counts = np.unique(px.reshape(-1, 3), axis=0, return_counts=True)
    assert len(colours) > 50 and counts.max() / counts.sum() < 0.9  # not blank, not a single flat colour
    assert tuple(px[10, 10]) == (0x0F, 0x17, 0x2A)  # the header's background: the page's CSS applied
    red = np.all(px == (0xDC, 0x26, 0x26), axis=-1).sum()
    assert red > 200  # the flagged bars of the histogram were drawn
