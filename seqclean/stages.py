"""Rerun machinery shared by every command: stage fingerprints, reuse of complete stages, the workdir
lock and the sweep of stale temporary files.

Why: a nightly job that crashed (or was killed) must not redo an hour of work on the rerun, and two
runs must never write into the same workdir at once. The one question every stage asks before
working is `is_complete(root, record, fingerprint)`: "were this stage's files produced from exactly
these inputs and options, and are they still intact?". Incremental jobs build on the same function.

- A stage's *fingerprint* is the SHA-256 of (stage name, its inputs' fingerprints or upstream stage
  fingerprints, its options, the seqclean version), see `fingerprint`.
- Its *record* (kept in `manifest.json` → `stages`, or in `OUT/_SUCCESS` for `filter`) holds the
  fingerprint and the SHA-256 of every file the stage wrote, relative to its root directory.
- A stage is reused when its record's fingerprint equals the one computed now and every recorded file
  exists with the recorded hash.

Test hook: `SEQCLEAN_TEST_KILL_AT=<point>` makes the process SIGKILL itself when it reaches the named
point (`kill_point`); the kill-and-rerun tests use it. Unset, it costs one dict lookup per point.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from seqclean import __version__
from seqclean.errors import OutputError, WorkdirLockedError
from seqclean.workdir import LOCK_NAME, SUCCESS

KILL_ENV = "SEQCLEAN_TEST_KILL_AT"
_TMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # tempfile.mkstemp(prefix=".NAME.", suffix=".tmp")


# ---------------------------------------------------------------- hashing


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """Content hash of one file, streamed (bounded memory on multi-GB scores)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(stage: str, inputs: Any, options: Mapping[str, Any]) -> str:
    """Hash of what determines a stage's outputs: its inputs (file fingerprints or upstream stage
    fingerprints), its options and the seqclean version. JSON with sorted keys, so dict order is moot."""
    payload = {"stage": stage, "inputs": inputs, "options": dict(options), "seqclean_version": __version__}
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_hashes(root: Path, files: Iterable[Path]) -> dict[str, str]:
    """{path relative to root: sha256} for the files a stage wrote."""
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(set(files))}


def stage_record(root: Path, fp: str, files: Iterable[Path]) -> dict[str, Any]:
    """What to store once a stage has written all its files: its fingerprint and their hashes."""
    return {"fingerprint": fp, "files": file_hashes(root, files)}


def is_complete(root: Path, record: Mapping[str, Any] | None, fp: str) -> bool:
    """True when `record` was made for fingerprint `fp` and every file it lists is intact under `root`.

    This is the one question reuse asks: were these outputs produced from exactly these inputs and
    options, and are they still what was written?
    """
    if not record or record.get("fingerprint") != fp:
        return False
    files = record.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for rel, digest in files.items():
        p = root / rel
        if not p.is_file() or sha256_file(p) != digest:
            return False
    return True


# ---------------------------------------------------------------- directories, lock, sweep


def reject_file(path: Path, option: str) -> None:
    """A directory option that points at a file cannot be written: exit 5 naming the path."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path}: is a file, not a directory; choose a directory path")


def ensure_dir(path: Path, option: str) -> None:
    """Create an output directory, or fail with exit 5 naming the path (a file in the way, no permission)."""
    reject_file(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: cannot create the directory ({exc.strerror}); choose a writable path"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: directory is not writable; choose a writable path")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


_held: dict[Path, int] = {}  # lock path -> nesting depth in this process (run -> embed/score/filter)


def _read_lock(lock: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(lock.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def locked(path: Path, option: str = "--workdir") -> Iterator[None]:
    """Hold `path/.seqclean.lock` for the block; sweep stale temp files once the lock is ours.

    The lock file is created atomically with its content (PID, host, start time) by hard-linking a
    written temp file, so it is never seen half-written. A lock whose process is dead (same host) is
    stale and taken over; one held by a live process, or by another host, is refused with exit 8.
    Nested use in one process (`run` -> `embed`) is allowed.
    """
    created = not path.exists()
    ensure_dir(path, option)
    lock = (path / LOCK_NAME).resolve()
    if lock in _held:
        _held[lock] += 1
        try:
            yield
        finally:
            _held[lock] -= 1
        return
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    fd, tmp_name = tempfile.mkstemp(prefix=f".{LOCK_NAME}.", suffix=".tmp", dir=path)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(info) + "\n")
        for _ in range(3):
            try:
                os.link(tmp_name, lock)
                break
            except FileExistsError:
                owner = _read_lock(lock)
                if owner is None:  # released meanwhile
                    continue
                if owner and owner.get("host") == info["host"] and isinstance(owner.get("pid"), int):
                    if not _pid_alive(owner["pid"]) or owner["pid"] == os.getpid():
                        lock.unlink(missing_ok=True)  # stale: its process is gone
                        continue
                    raise WorkdirLockedError(
                        f"{path}: in use by another seqclean run (pid {owner['pid']}, started {owner.get('started')}); "
                        "wait for it to finish, or use another --workdir/--out"
                    ) from None
                raise WorkdirLockedError(
                    f"{path}: locked by {lock} (host {owner.get('host', '?')}, pid {owner.get('pid', '?')}) that this "
                    f"machine cannot check; if that run is dead, delete {lock} and rerun"
                ) from None
        else:
            raise WorkdirLockedError(f"{path}: could not take the lock {lock}; rerun, or delete it if no run is active")
    except OSError as exc:
        if created and not any(path.iterdir()):
            path.rmdir()
        raise OutputError(
            f"{option} {path}: cannot create the lock file ({exc.strerror}); choose a writable path"
        ) from exc
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    _held[lock] = 1
    try:
        sweep_temp_files(path)
        yield
    finally:
        del _held[lock]
        lock.unlink(missing_ok=True)
        if created and not any(path.iterdir()):
            path.rmdir()  # a run that failed before writing anything leaves no trace


def sweep_temp_files(path: Path) -> list[Path]:
    """Delete `.NAME.xxxxxxxx.tmp` files left by a killed seqclean (only `atomic_path`'s own names).

    Runs under the lock, so no live seqclean is writing them; a concurrent run's lock-in-progress file
    is spared for a minute.
    """
    gone = []
    for p in sorted(path.rglob(".*.tmp")):
        if not (p.is_file() and _TMP_RE.match(p.name)):
            continue
        if p.name.startswith(f".{LOCK_NAME}.") and time.time() - p.stat().st_mtime < 60:
            continue
        p.unlink(missing_ok=True)
        gone.append(p)
    return gone


# ---------------------------------------------------------------- _SUCCESS marker


def write_success(out: Path, record: dict[str, Any], summary: dict[str, Any]) -> None:
    """`OUT/_SUCCESS`, written last: the filter stage's record and the run summary."""
    from seqclean.io import write_json

    write_json({"stage": record, "summary": summary}, out / SUCCESS)


def read_success(out: Path) -> dict[str, Any] | None:
    p = out / SUCCESS
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------- test hook


def kill_point(name: str) -> None:
    """Signal this process at `name` when SEQCLEAN_TEST_KILL_AT names it (kill-and-rerun tests only).

    `NAME` sends SIGKILL (a crash: nothing can clean up); `NAME:TERM` or `NAME:INT` send SIGTERM or
    SIGINT (the CLI must clean up and exit 143 or 130).
    """
    spec = os.environ.get(KILL_ENV)
    if not spec or spec.split(":")[0] != name:
        return
    sig = {"TERM": signal.SIGTERM, "INT": signal.SIGINT}.get(spec.partition(":")[2], signal.SIGKILL)
    os.kill(os.getpid(), sig)
