"""Text encoder inference: item texts -> L2-normalised vectors through ONNX Runtime.

Needs only `tokenizers`, numpy and ONNX Runtime (neither torch nor sentence-transformers);
`load_encoder` exports the model first when its cache holds no graph yet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqclean.encoder.export import export_onnx
from seqclean.encoder.models import OUTPUT_NAME, onnx_file, read_st_layout, resolve_model_dir
from seqclean.errors import UsageError
from seqclean.progress import ProgressFn, no_progress


class OnnxTextEncoder:
    """Tokenise with `tokenizers`, run the exported graph, return unit vectors.

    Texts are sorted by token count and batched so that a batch holds texts of similar length (little
    padding); results come back in input order. `provider` says which ONNX Runtime provider runs it.
    """

    def __init__(
        self,
        export_dir: Path,
        *,
        precision: str = "fp32",
        device: str = "auto",
        threads: int | None = None,
        batch_size: int = 64,
    ) -> None:
        from tokenizers import Tokenizer

        from seqclean.runtime import make_session

        if batch_size < 1:
            raise UsageError(f"--encoder-batch-size {batch_size}: give a positive number")
        self.layout = read_st_layout(export_dir)
        self.export_dir = export_dir
        self.precision = precision
        self.device = device
        self.threads = threads
        self.batch_size = batch_size
        self.session, self.provider = make_session(onnx_file(export_dir, precision), device, threads)
        self.tokenizer = Tokenizer.from_file(str(self.layout.transformer_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.layout.max_seq_length)
        self.input_names = [i.name for i in self.session.get_inputs()]
        width = self.session.get_outputs()[0].shape[1]
        self.dim = width if isinstance(width, int) else self._probe_dim()

    def _probe_dim(self) -> int:
        return int(self._run([[self.layout.pad_id]]).shape[1])

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self.layout.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for r, x in enumerate(ids):
            if self.layout.padding_side == "left":
                input_ids[r, width - len(x) :] = x
                mask[r, width - len(x) :] = 1
            else:
                input_ids[r, : len(x)] = x
                mask[r, : len(x)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        out = self.session.run([OUTPUT_NAME], {k: v for k, v in feeds.items() if k in self.input_names})[0]
        return np.asarray(out, dtype=np.float32)

    def plan(self, texts: list[str]) -> list[tuple[np.ndarray, list[list[int]]]]:
        """The encoder batches: (rows of `texts`, their token ids). Texts are sorted by token count (stable)
        and cut every `batch_size`; a row's vector depends on its batch's padding, so both engines use this."""
        if not texts:
            return []
        prepared = [t.lower() if self.layout.lowercase else t for t in texts]
        ids = [e.ids for e in self.tokenizer.encode_batch(prepared)]
        order = np.argsort(np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)), kind="stable")
        batches = []
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batches.append((rows, [ids[r] if ids[r] else [self.layout.pad_id] for r in rows]))
        return batches

    def run_batch(self, ids: list[list[int]]) -> np.ndarray:
        """Vectors of one planned batch, float32 (len(ids), dim)."""
        return self._run(ids)

    def encode(self, texts: list[str], progress: ProgressFn = no_progress) -> np.ndarray:
        """float32 (n, dim), rows L2-normalised, in the order of `texts`."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        done = 0
        for rows, ids in self.plan(texts):
            out[rows] = self.run_batch(ids)
            done += len(rows)
            progress("encode items", done, len(texts))
        return out


def load_encoder(
    model: str | Path | None = None,
    *,
    device: str = "auto",
    threads: int | None = None,
    batch_size: int = 64,
    precision: str = "fp32",
) -> OnnxTextEncoder:
    """The encoder for a model dir (None = the bundled default), exporting it on first use."""
    model_dir = resolve_model_dir(model)
    path = export_onnx(model_dir, quantize=precision == "int8", fp16=precision == "fp16")
    return OnnxTextEncoder(
        path.parent.parent, precision=precision, device=device, threads=threads, batch_size=batch_size
    )
