"""One function per section of the page; every string from the data is HTML-escaped."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from seqclean.html_report.load import _threshold
from seqclean.html_report.model import ACCENT, COLD, FLAG, MUTED, ReportData
from seqclean.html_report.svg import svg_bars, svg_histogram


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
    gate = ""
    if s.get("reliable") is False:
        why = "; ".join(escape(str(r)) for r in s.get("unreliable_reasons") or []) or "see self_check"
        refused = "nothing was filtered" if f is None else "filtered anyway (--force)"
        gate = f"<strong>Unreliable scores</strong> ({why}): {refused}. "
    if f is None:
        return gate + (
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
    return gate + f"Filter {' and '.join(did)} of {_f(n_in)} interactions ({_pct(share)}) — rule: {rule}."


def _cards(d: ReportData) -> str:
    s, f = d.summary, d.filter_summary or {}
    det = s.get("detector", {}) if isinstance(s.get("detector"), dict) else {}
    rounds = int((s.get("self_clean") or {}).get("rounds", 1))  # the self-cleaning round (docs/method.md)
    cards = [
        (_f(s.get("interactions")), "interactions"),
        (_f(s.get("users")), "users"),
        (_f(s.get("items")), "items"),
        (_pct(s.get("flag_rate")), f"flagged at {s.get('threshold', '')}"),
        (_pct(s.get("estimated_noise_rate")), "estimated noise rate" + (f", {rounds} rounds" if rounds > 1 else "")),
    ]
    if "heldout_corruption_auc" in det:
        cards.append((_f(det["heldout_corruption_auc"]), "detector held-out AUC"))
    if f:
        cards.append((_f(f.get("kept")), "kept"))
    cells = "".join(f'<div class="card"><b>{v}</b><span>{escape(k)}</span></div>' for v, k in cards)
    return f'<div class="cards">{cells}</div>'


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


def _section(title: str, body: str, lead: str = "") -> str:
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return f"<section><h2>{escape(title)}</h2>{lead_html}{body}</section>"
