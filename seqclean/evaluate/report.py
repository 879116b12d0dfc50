"""evaluation.md: the tables of evaluation.json, for people (the CLI prints the same text)."""

from __future__ import annotations

from typing import Any

ORDER = (
    "clean",
    "noisy",
    "raw",
    "seqclean",
    "seqclean_replace",
    "random",
    "collab_only",
    "semantic_only",
    "iadsr_formula",
    "oracle",
)
LABELS = {
    "clean": "clean log (before planting)",
    "noisy": "noisy log (no cleaning)",
    "raw": "raw log (no cleaning)",
    "seqclean": "seqclean (remove)",
    "seqclean_replace": "seqclean (replace)",
    "random": "random removal, same budget",
    "collab_only": "collaborative-only score, same budget",
    "semantic_only": "semantic-only score, same budget",
    "iadsr_formula": "IADSR formula, same budget",
    "oracle": "labelled noise removed (perfect detection)",
}


def _ms(s: dict[str, float]) -> str:
    return f"{s['mean']:.4f} ± {s['std']:.4f}"


def render_markdown(report: dict[str, Any]) -> str:
    """The downstream table, the sweep, the detection table and the timings."""
    cfg, summ = report["config"], report["summary"]
    plant = "no planted noise" if cfg["plant"] == "none" else f"{cfg['ratio']:.0%} {cfg['plant']} noise"
    data = report["data"]
    unseen = data.get("training_rows_not_trained_on", 0) / max(data["training_rows"], 1)
    note = (
        [
            f"With --train-windows last the downstream SASRec never trains on {unseen:.0%} of the training inputs "
            f"(those before each user's last {cfg['downstream']['max_len'] + 1}): cleaning there cannot show. "
            "--train-windows all trains on every one.",
            "",
        ]
        if unseen > 0.05
        else []
    )
    lines = [
        f"# seqclean evaluate: {cfg['interactions']} ({plant}, training seeds: {cfg['seeds']})",
        "",
        f"{report['data']['interactions']} interactions, {report['data']['evaluated_users']} evaluated users; "
        f"removal budget {summ['budget_rows']} rows ({summ['budget_share']:.2%}, --budget {cfg['budget']}). "
        "Test metrics, mean ± std over seeds; full ranking over all items.",
        "",
        *note,
        "| arm | removed | replaced | NDCG@10 | NDCG@20 | HR@10 | HR@20 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    arms = report["arms"]
    for name in ORDER:
        if name not in arms:
            continue
        a, t = arms[name], arms[name]["test"]
        lines.append(
            f"| {LABELS[name]} | {a['removed']} | {a['replaced']} | {_ms(t['NDCG@10'])} | {_ms(t['NDCG@20'])} | "
            f"{_ms(t['HR@10'])} | {_ms(t['HR@20'])} |"
        )
    lines.append("")
    if summ.get("gap_recovered_by_seqclean") is not None:
        lines.append(
            f"NDCG@10 gap clean − noisy: {summ['ndcg10_gap_clean_minus_noisy']:.4f}; seqclean recovers "
            f"{summ['gap_recovered_by_seqclean']:.0%} of it."
        )
    if "oracle" in arms:
        o = arms["oracle"]["test"]["NDCG@10"]
        lines.append(
            f"Removing exactly the {arms['oracle']['removed']} labelled noise rows (a detector that makes no mistake) "
            f"gives {_ms(o)}"
            + (
                f", {summ['gap_recovered_by_oracle']:.0%} of the gap"
                if summ.get("gap_recovered_by_oracle") is not None
                else ""
            )
            + ": the most removal can show on this log; differences smaller than the arms' std are not resolved."
        )
    paired = next((v for k, v in summ.items() if k.startswith("paired_ndcg10_minus_")), None)
    if paired and cfg["seeds"] > 1:
        base = "noisy" if cfg["plant"] != "none" else "raw"
        lines.append(
            f"NDCG@10 minus the {base} log's, paired by training seed (mean ± std of the differences): "
            + "; ".join(f"{LABELS[n]} {v['mean']:+.4f} ± {v['std']:.4f}" for n, v in paired.items() if n in LABELS)
            + "."
        )
    beats = summ["seqclean_beats_by_more_than_1sd"]
    lines.append(
        "seqclean ahead by more than one std: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in beats.items())
    )
    if report["sweep"]:
        lines += [
            "",
            "## Budget sweep (NDCG@10 by removal share)",
            "",
            "| share | rows | seqclean | random |",
            "| --- | --- | --- | --- |",
        ]
        shares = sorted({r["share"] for r in report["sweep"]})
        for s in shares:
            by = {r["method"]: r for r in report["sweep"] if r["share"] == s}
            rows = next(iter(by.values()))["rows"]
            cells = [_ms(by[m]["NDCG@10"]) if m in by else "-" for m in ("seqclean", "random")]
            lines.append(f"| {s:.0%} | {rows} | {cells[0]} | {cells[1]} |")
        lines.append("")
        lines.append(
            f"Best sweep share for seqclean: {summ.get('sweep_best_share', 0):.0%}; "
            f"the --budget rule removed {summ.get('auto_share', 0):.2%}."
        )
    det = report.get("detection")
    if det:
        lines += [
            "",
            "## Detection (training positions)",
            "",
            "| items | rows | noise rate | ROC-AUC | AP | precision@0.5 | recall@0.5 | precision@filter "
            "| recall@filter |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for part in ("all", "cold", "warm"):
            d = det[part]
            cells = [d[c] for c in ("noise_rate", "roc_auc", "average_precision", "precision@0.5", "recall@0.5",
                                    "precision@filter", "recall@filter")]  # fmt: skip
            lines.append(
                f"| {part} | {d['rows']} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |"
            )
        a = det["all"]
        lines.append("")
        lines.append(
            "ROC-AUC of the single-space scores: "
            + ", ".join(f"{n} {a.get('roc_auc_' + n)}" for n in ("collab_only", "semantic_only", "iadsr_formula"))
        )
    t = report["timings"]
    lines += [
        "",
        f"Time: {t['total_s']:.0f} s in all; embed + score {t['embed_and_score_s']:.0f} s"
        + (
            f" (reused from the workdir: {t['embed_and_score_reused']})"
            if t.get("embed_and_score_reused") != "none"
            else ""
        )
        + f", {t['trainings']} trainings of the downstream SASRec in {t['downstream_s']:.0f} s "
        f"({t['mean_training_s']:.1f} s each). CPU time of the process: {t['total_cpu_s']:.0f} s "
        "(wall time is higher when other jobs share the cores).",
        "",
    ]
    return "\n".join(lines)
