"""`--engine ray`: the text encoding of `embed` and the chunk scoring of `score` on Ray Data actor pools.

Why Ray Data: the two loops whose cost grows with the data (encoder batches, chunks of whole users) are
independent, so `map_batches` over an actor pool spreads them over a cluster's cores or GPUs while the
driver keeps everything that must happen once and in order: fitting the scorer, training the backbone, and
writing the files. Each actor is built once with what it needs (the fitted scorer is `ray.put` once and
every actor takes it from the object store; the encoder's ONNX model path, each actor opening its own
session), and answers one encoder batch or one chunk per call. The driver puts the answers back in order
and writes them through the same code as the local engine: the actors run the local engine's own
functions (`seqclean.score.score_chunk`, `OnnxTextEncoder.plan` / `run_batch`), so the files are
byte-identical to `--engine local`.

Ray is optional (`pip install 'seqclean[ray]'`): it is imported only here, inside the functions. The
actors read `sequences.parquet` from the workdir by path, so on a multi-node cluster the workdir must be
on a filesystem every node mounts at the same path, and seqclean must be installed on every node.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from seqclean.errors import RuntimeUnavailableError, UsageError
from seqclean.progress import ProgressFn, no_progress

if TYPE_CHECKING:
    from seqclean.encoder.inference import OnnxTextEncoder

T = TypeVar("T")

INSTALL_HINT = "pip install 'seqclean[ray]'"


def check_engine(engine: str, actors: int, address: str | None) -> None:
    """`--engine`, `--ray-actors`, `--ray-address` (exit 2), and with `ray` that Ray is installed (exit 6):
    called before any work, so a bad option does not wait for the fit."""
    if engine not in ("local", "ray"):
        raise UsageError(f"--engine {engine}: choose local or ray")
    if actors < 1:
        raise UsageError(f"--ray-actors {actors}: must be at least 1")
    if address is not None and not address.strip():
        raise UsageError("--ray-address is empty; give auto or ray://HOST:10001, or leave it out for a local Ray")
    if engine == "ray":
        require_ray()


def require_ray() -> Any:
    """The `ray` module (with Ray Data), or exit 6 naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Core alone lacks Data: `ray[data]`)
        import threadpoolctl  # noqa: F401  (the actors match the driver's BLAS threads: see `blas_threads`)
    except ImportError as exc:
        raise RuntimeUnavailableError(
            f"--engine ray: {exc.name or 'ray'} is not installed; run `{INSTALL_HINT}` or use --engine local"
        ) from None
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, naming the address, when nothing answers at `ray://HOST:PORT` or `HOST:PORT` (Ray's own
    client retries for minutes first). `auto` and `local` are left to Ray."""
    if address.strip().lower() in {"auto", "local"}:
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return  # not HOST:PORT: Ray reports what it makes of it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RuntimeUnavailableError(
            f"--engine ray: --ray-address {address}: nothing answers at {host}:{port} ({exc.strerror or exc}); "
            "check the address (`ray status` on the head node) or use --engine local"
        ) from None


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Ray, initialised: an already initialised one is used as it is (and left running); otherwise join
    `address` (`auto`, `ray://head:10001`; None: `RAY_ADDRESS` when set, else start a local instance) and
    shut down on the way out. Ray Data keeps output order and prints no progress bars."""
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        target = address or os.environ.get("RAY_ADDRESS") or None
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        if target is None:
            kwargs["include_dashboard"] = False  # only valid when starting a local instance
        else:
            check_reachable(target)
        try:
            ray.init(address=target, **kwargs)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, TimeoutError, its own RpcError...
            ray.shutdown()  # whatever a half-done init left
            where = f"--ray-address {target}" if target else "a local Ray instance"
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RuntimeUnavailableError(
                f"--engine ray: cannot start or join {where} ({msg}); check the address (`ray status` on the "
                "head node) or use --engine local"
            ) from None
        started = True
    data_ctx = ray.data.DataContext.get_current()
    data_ctx.execution_options.preserve_order = True
    data_ctx.enable_progress_bars = False  # seqclean's own progress display reports the stage
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # not its "progress bars disabled" notice
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def blas_threads() -> int | None:
    """The driver's BLAS thread count, for the actors to use the same. Why: OpenBLAS's float32 products
    differ in the last bits with the thread count (measured: `suggestion_confidence` of 26 rows of 1,529 with
    OMP_NUM_THREADS=1 vs 2), and Ray starts an actor with one thread per CPU it reserved."""
    from threadpoolctl import threadpool_info

    counts = [int(p["num_threads"]) for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(counts) if counts else None


def _match_blas(threads: int | None) -> Any:
    """In an actor: BLAS runs with the driver's thread count (kept limited for the actor's life)."""
    if threads is None:
        return None
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def _resolve(value: Any) -> Any:
    """An object handed to an actor's constructor: fetched from the object store when it is a reference."""
    import ray

    return ray.get(value) if isinstance(value, ray.ObjectRef) else value


def _dataset(ray: Any, rows: list[dict[str, Any]]) -> Any:
    """One block per row, so every encoder batch or chunk can go to a different actor."""
    try:
        return ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    except TypeError:  # Ray before 2.10 named it `parallelism`
        return ray.data.from_items(rows, parallelism=max(1, len(rows)))


def _pool(ray: Any, actors: int, device: str, n_calls: int) -> dict[str, Any]:
    """map_batches arguments: a fixed pool of `actors`, one GPU each with `--device cuda`, one encoder batch
    or chunk per call. Ray Data's fault tolerance is kept (a lost actor is restarted and its call retried:
    the calls are pure functions of their inputs, so a retry gives the same bytes)."""
    return {
        "compute": ray.data.ActorPoolStrategy(size=max(1, min(actors, n_calls))),  # no idle actors
        "batch_size": 1,
        "num_gpus": 1 if device == "cuda" else 0,
    }


def _in_order(rows: Iterable[dict[str, Any]], n: int, key: str) -> Iterator[Any]:
    """Unpickled payloads in index order (Ray Data is asked to keep order; this does not rely on it)."""
    pending: dict[int, bytes] = {}
    expected = 0
    for row in rows:
        pending[int(row[key])] = row["payload"]
        while expected in pending:
            yield pickle.loads(pending.pop(expected))
            expected += 1
    if expected != n or pending:
        raise RuntimeError(f"Ray returned {expected} of {n} results in order ({len(pending)} left over)")


class ChunkActor:
    """Runs `fn(lo, hi, *shared)` on chunks of whole users; `shared` (the fitted scorer, the catalogue
    arrays) is taken from the object store once, when the actor starts."""

    def __init__(self, fn: Callable[..., Any], shared: tuple[Any, ...], blas: int | None) -> None:
        self._blas = _match_blas(blas)
        self.fn = fn
        self.shared = tuple(_resolve(x) for x in shared)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        payload = [
            pickle.dumps(self.fn(int(lo), int(hi), *self.shared), protocol=5)
            for lo, hi in zip(batch["lo"], batch["hi"], strict=True)
        ]
        return {"chunk": batch["chunk"], "payload": np.array(payload, dtype=object)}


@contextmanager
def map_chunks_ray(
    fn: Callable[..., T],
    shared: tuple[Any, ...],
    bounds: list[tuple[int, int]],
    *,
    address: str | None,
    actors: int,
    device: str,
) -> Iterator[Iterator[T]]:
    """`fn(lo, hi, *shared)` for every uid range of `bounds`, in order, computed by a pool of `actors`.
    `fn` must be importable on the workers (`seqclean.score.score_chunk` with the sequences path bound);
    each of `shared` is put into the object store once, however many actors there are."""
    with ray_session(address) as ray:
        refs = tuple(ray.put(x) for x in shared)
        rows = [{"chunk": k, "lo": lo, "hi": hi} for k, (lo, hi) in enumerate(bounds)]
        ds = _dataset(ray, rows).map_batches(
            ChunkActor,
            fn_constructor_kwargs={"fn": fn, "shared": refs, "blas": blas_threads()},
            **_pool(ray, actors, device, len(bounds)),
        )
        yield _in_order(ds.iter_rows(), len(bounds), "chunk")


class EncoderActor:
    """Opens its own ONNX Runtime session on the exported text encoder and runs encoder batches."""

    def __init__(
        self, export_dir: str, precision: str, device: str, threads: int | None, batch_size: int, blas: int | None
    ) -> None:
        from seqclean.encoder.inference import OnnxTextEncoder

        self._blas = _match_blas(blas)
        self.encoder = OnnxTextEncoder(
            Path(export_dir), precision=precision, device=device, threads=threads, batch_size=batch_size
        )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        payload = [
            pickle.dumps((self.encoder.run_batch(pickle.loads(ids)), self.encoder.provider), protocol=5)
            for ids in batch["ids"]
        ]
        return {"batch": batch["batch"], "payload": np.array(payload, dtype=object)}


def encode_ray(
    encoder: OnnxTextEncoder,
    texts: list[str],
    *,
    address: str | None,
    actors: int,
    progress: ProgressFn = no_progress,
) -> tuple[np.ndarray, str]:
    """`encoder.encode(texts)`, the batches run by an actor pool: the same batches (texts sorted by token
    count, `batch_size` per batch), so the same vectors. Returns (vectors, the actors' provider)."""
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    plan = encoder.plan(texts)
    if not plan:
        return out, encoder.provider
    providers: set[str] = set()
    with ray_session(address) as ray:
        rows = [{"batch": k, "ids": pickle.dumps(ids, protocol=5)} for k, (_, ids) in enumerate(plan)]
        ds = _dataset(ray, rows).map_batches(
            EncoderActor,
            fn_constructor_kwargs={
                "export_dir": str(encoder.export_dir.resolve()),
                "precision": encoder.precision,
                "device": encoder.device,
                "threads": encoder.threads,
                "batch_size": encoder.batch_size,
                "blas": blas_threads(),
            },
            **_pool(ray, actors, encoder.device, len(plan)),
        )
        done = 0
        for (rows_k, _), (vectors, provider) in zip(plan, _in_order(ds.iter_rows(), len(plan), "batch"), strict=True):
            out[rows_k] = vectors
            providers.add(provider)
            done += len(rows_k)
            progress("encode items", done, len(texts))
    return out, ", ".join(sorted(providers))
