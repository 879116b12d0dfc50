"""ONNX Runtime sessions, with the execution provider chosen in exactly one place.

`--device auto` takes CUDA when ONNX Runtime offers it and a session really starts on it, else CPU;
`--device cuda` without a usable GPU is an error; `--device cpu` never touches the GPU. The same
code runs under the `onnxruntime` and `onnxruntime-gpu` packages.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from seqclean.errors import InputDataError, MissingInputError, RuntimeUnavailableError, UsageError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise RuntimeUnavailableError(
            "onnxruntime is not installed; run `pip install 'seqclean[cpu]'` (or `seqclean[gpu]` on a CUDA machine)"
        ) from exc
    return onnxruntime


@lru_cache(maxsize=1)
def available_providers() -> tuple[str, ...]:
    return tuple(_ort().get_available_providers())


def providers_for(device: str) -> list[str]:
    """The provider list to ask for, given `--device`."""
    if device not in {"auto", "cpu", "cuda"}:
        raise UsageError(f"--device {device}: choose auto, cpu or cuda")
    if device == "cpu":
        return [CPU]
    if CUDA in available_providers():
        return [CUDA, CPU]
    if device == "cuda":
        raise RuntimeUnavailableError(
            "--device cuda: ONNX Runtime offers no CUDA provider here "
            f"(available: {', '.join(available_providers())}); install `seqclean[gpu]` on a machine with an "
            "NVIDIA GPU, or use --device cpu"
        )
    return [CPU]


NO_SPIN = "session.intra_op.allow_spinning"
"""Session config key: with "0" ONNX Runtime's idle pool threads sleep instead of spinning. `score` runs a chunk's
parts on several threads (`scorers.parts`) whose runs and numpy work share the cores; spinning threads took
the cores from them (measured: 4.96 s a 100,000-row chunk on 2 cores without spinning, 6.91 s with it, the
same 7.2-7.3 s either way on one thread: docs/performance.md, "a chunk in parts on threads")."""


def make_session(model: Path, device: str = "auto", threads: int | None = None, spin: bool = True) -> tuple[Any, str]:
    """Open an inference session; returns (session, provider actually used). `spin=False`: `NO_SPIN`.

    With `auto`, a CUDA session that fails to start (driver or library missing) falls back to CPU;
    with `cuda` that is an error.
    """
    if not model.exists():
        raise MissingInputError(f"ONNX model {model} not found; rerun `seqclean embed` to export it")
    ort = _ort()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if not spin:
        opts.add_session_config_entry(NO_SPIN, "0")
    wanted = providers_for(device)
    try:
        sess = ort.InferenceSession(str(model), sess_options=opts, providers=wanted)
    except Exception as exc:  # onnxruntime raises its own Fail/RuntimeException types
        if type(exc).__name__ in ("InvalidProtobuf", "InvalidGraph") or "INVALID_PROTOBUF" in str(exc):
            raise InputDataError(
                f"ONNX model {model} is corrupt or truncated ({type(exc).__name__}); rerun `seqclean embed`"
            ) from exc
        if wanted[0] == CUDA and device == "auto":
            sess = ort.InferenceSession(str(model), sess_options=opts, providers=[CPU])
        else:
            raise RuntimeUnavailableError(f"cannot start ONNX Runtime on {wanted[0]} for {model}: {exc}") from exc
    used = sess.get_providers()[0]
    if device == "cuda" and used != CUDA:
        raise RuntimeUnavailableError(
            f"--device cuda: ONNX Runtime could not use the GPU for {model} (fell back to {used}); check the CUDA "
            "and cuDNN libraries that onnxruntime-gpu needs, or use --device cpu"
        )
    return sess, used


def release_memory() -> None:
    """Hand the memory a finished stage freed back to the OS (`seqclean run` calls it between stages).

    The stages run in one process, and glibc keeps freed heap pages (torch's and numpy's mid-sized buffers) for
    reuse, so `score` started on top of what `embed` had used: measured on the 50M log, 2.3 GiB resident after
    `embed` and a peak of 5.8 GiB in `run` against 4.9 GiB for `score` alone. `malloc_trim(0)` returns the
    free pages (glibc only; elsewhere a no-op)."""
    import ctypes
    import gc
    import sys

    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim
            pass
