"""The display: JSON events (one object per line, nothing on stdout) or rich lines and a summary table."""

from __future__ import annotations

import io
import json

from seqclean.log import EventLog, resolve_format


def test_json_events_are_one_object_per_line_and_stdout_stays_empty() -> None:
    err, out = io.StringIO(), io.StringIO()
    log = EventLog("json", err=err, out=out)
    log.stage_start("embed")
    with log.progress() as progress:
        for k in range(1, 101):
            progress("train sasrec | loss 1.0", k, 100)
    log.emit("warning", message="something odd")
    log.stage_end("embed", interactions=10, text_vectors={"encoded": 2, "reused": 8})
    log.result("done", table=[("rows", 10)], stages={"embed": {"seconds": 1.0}})
    assert out.getvalue() == ""
    events = [json.loads(line) for line in err.getvalue().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "stage_start" and kinds[-1] == "result" and "warning" in kinds
    progress_events = [e for e in events if e["event"] == "progress"]
    assert 1 <= len(progress_events) <= 2 and progress_events[-1]["done"] == 100  # throttled, the last kept
    end = next(e for e in events if e["event"] == "stage_end")
    assert end["stage"] == "embed" and end["seconds"] >= 0 and end["text_vectors"]["reused"] == 8
    assert all("time" in e for e in events)


def test_rich_prints_stage_lines_and_a_summary_table() -> None:
    err, out = io.StringIO(), io.StringIO()
    log = EventLog("rich", err=err, out=out)
    log.stage_start("score")
    log.stage_end("score", flagged=3)
    log.emit("error", message="boom", exit_code=4)
    log.result("run finished", table=[("removed / replaced", "3 / 0"), ("backbone", "fine_tuned")])
    assert err.getvalue() == "error: boom\n"  # a terminal shows progress bars, not a line per stage
    text = out.getvalue()
    assert "run finished" in text and "removed / replaced" in text and "fine_tuned" in text


def test_quiet_and_auto() -> None:
    err, out = io.StringIO(), io.StringIO()
    log = EventLog("rich", quiet=True, err=err, out=out)
    log.stage_end("filter", removed=1)
    log.result("x")
    assert out.getvalue() == "" and err.getvalue() == ""
    assert resolve_format("auto", io.StringIO()) == "json"  # not a terminal: cron, pipes
