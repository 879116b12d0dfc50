"""Text-encoder throughput: sentence-transformers `encode` (torch) vs seqclean's ONNX fp32 and int8.

Same texts, same thread count, same machine, one process. Run from the repo root:

    PYTHONPATH=. python bench/encode.py [--threads 2] [--n 3000] [--device cpu|cuda|auto] [--ml100k DIR]

Prints items/s per engine and the ratios to sentence-transformers. Writes nothing into the repo (the
ONNX export goes to $SEQCLEAN_CACHE_DIR, default ~/.cache/seqclean). Timings alternate between engines
over `--rounds` rounds and report the best round, which damps noise from other load on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def load_texts(n: int, ml100k: Path | None) -> list[str]:
    """The sample catalogue's titles (plus MovieLens-100K titles if asked), repeated up to `n`."""
    import polars as pl

    texts = pl.read_parquet(REPO / "sample_data" / "items.parquet")["title"].to_list()
    if ml100k is not None:
        from bench.data import ml100k as fetch

        _, items = fetch(ml100k)
        frame = pl.read_parquet(items)
        col = next(c for c in frame.columns if "title" in c)
        texts += frame[col].cast(pl.String).drop_nulls().to_list()
    reps = -(-n // len(texts))
    return (texts * reps)[:n]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--n", type=int, default=3000, help="number of texts")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--model", type=Path, default=None, help="local ST model dir (default: bundled MiniLM)")
    ap.add_argument("--ml100k", type=Path, default=None, help="dir with MovieLens-100K (bench/data.py) to add titles")
    ap.add_argument("--fp16", action="store_true", help="also time the fp16 graph (meant for --device cuda)")
    args = ap.parse_args(argv)

    import onnxruntime
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    from seqclean.encoder import load_encoder, resolve_model_dir

    torch.set_num_threads(args.threads)
    texts = load_texts(args.n, args.ml100k)
    model_dir = resolve_model_dir(args.model)
    torch_device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    st = SentenceTransformer(str(model_dir), device=torch_device, local_files_only=True)
    engines: dict[str, Callable[[list[str]], np.ndarray]] = {
        f"sentence-transformers (torch, {torch_device})": lambda t: st.encode(
            t, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
    }
    providers: dict[str, str] = {}
    precisions = ["fp32", "int8"] + (["fp16"] if args.fp16 else [])
    for p in precisions:
        e = load_encoder(model_dir, device=args.device, threads=args.threads, batch_size=args.batch_size, precision=p)
        providers[p] = e.provider
        engines[f"seqclean ONNX {p} ({e.provider})"] = e.encode

    outputs: dict[str, np.ndarray] = {}
    for fn in engines.values():  # warm-up: first-call allocations and kernel selection
        fn(texts[: args.batch_size * 2])
    best: dict[str, float] = dict.fromkeys(engines, float("inf"))
    for _ in range(args.rounds):
        for name, fn in engines.items():
            t0 = time.perf_counter()
            outputs[name] = fn(texts)
            best[name] = min(best[name], time.perf_counter() - t0)

    names = list(engines)
    ref = outputs[names[0]]
    print(
        f"# {len(texts)} texts, threads={args.threads}, batch={args.batch_size}, best of {args.rounds} rounds; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; python {sys.version.split()[0]}, "
        f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}, "
        f"onnxruntime {onnxruntime.__version__}; providers used: {providers}"
    )
    print(f"{'engine':55s} {'items/s':>10s} {'vs torch':>9s} {'cos vs torch (mean/min)':>24s}")
    base = len(texts) / best[names[0]]
    for name in names:
        rate = len(texts) / best[name]
        cos = (outputs[name] * ref).sum(axis=1)
        print(f"{name:55s} {rate:10.1f} {rate / base:8.2f}x {cos.mean():12.5f} / {cos.min():.5f}")


if __name__ == "__main__":
    main()
