"""The ONNX text encoder: equivalence with sentence-transformers, int8/fp16 variants, decoder-style
models with external data, atomic and reused exports, provider choice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqclean import encoder as enc
from seqclean.encoder import export as enc_export
from seqclean.encoder import models as enc_models
from seqclean.errors import MissingInputError, RuntimeUnavailableError, UsageError
from seqclean.runtime import CUDA, available_providers

REPO = Path(__file__).resolve().parent.parent
EXTRA = [
    "Amélie — Le Fabuleux Destin d'Amélie Poulain (2001)",
    "千と千尋の神隠し Spirited Away",
    "Ünïcödé ✓ 🎬 ß",
    "",
    "long " * 2000,
]


@pytest.fixture(scope="session")
def titles() -> list[str]:
    items = pl.read_parquet(REPO / "sample_data" / "items.parquet")
    return items["title"].head(120).to_list() + EXTRA


@pytest.fixture(scope="session")
def minilm() -> Path:
    return enc_models.default_model_dir()


@pytest.fixture(scope="session")
def fp32(minilm: Path) -> enc.OnnxTextEncoder:
    return enc.load_encoder(minilm, device="cpu", threads=2, batch_size=32)


@pytest.fixture(scope="session")
def fp32_vectors(fp32: enc.OnnxTextEncoder, titles: list[str]) -> np.ndarray:
    return fp32.encode(titles)


def test_onnx_equals_sentence_transformers(minilm: Path, titles: list[str], fp32_vectors: np.ndarray) -> None:
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(minilm), device="cpu", local_files_only=True)
    ref = st.encode(titles, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    cos = (fp32_vectors * ref).sum(axis=1)
    assert fp32_vectors.shape == ref.shape == (len(titles), 384)
    assert cos.min() >= 0.9999, (cos.argmin(), cos.min())


def test_graph_is_pooled_and_normalised(fp32: enc.OnnxTextEncoder, fp32_vectors: np.ndarray) -> None:
    assert [o.name for o in fp32.session.get_outputs()] == [enc_models.OUTPUT_NAME]
    np.testing.assert_allclose(np.linalg.norm(fp32_vectors, axis=1), 1.0, atol=1e-5)
    assert fp32.provider == "CPUExecutionProvider"


def test_result_order_does_not_depend_on_batching(minilm: Path, titles: list[str], fp32_vectors: np.ndarray) -> None:
    small = enc.load_encoder(minilm, device="cpu", batch_size=7)
    rev = small.encode(titles[::-1])[::-1]
    np.testing.assert_allclose(rev, fp32_vectors, atol=2e-5)
    # distinct titles give distinct vectors: the scatter back to input order is not a no-op
    assert not np.allclose(fp32_vectors[0], fp32_vectors[1])


def test_long_text_truncated_at_model_limit(fp32: enc.OnnxTextEncoder) -> None:
    assert fp32.layout.max_seq_length == 256  # sentence_bert_config.json, not tokenizer.json's 128
    ids = fp32.tokenizer.encode("long " * 2000).ids
    assert len(ids) == 256
    v = fp32.encode(["long " * 2000, "long " * 300])
    assert np.isfinite(v).all() and float(v[0] @ v[1]) > 0.9999  # both cut to the same 256 tokens


@pytest.mark.slow
def test_int8_close_to_fp32(minilm: Path, titles: list[str], fp32_vectors: np.ndarray) -> None:
    q = enc.load_encoder(minilm, device="cpu", precision="int8")
    assert (
        q.session is not None
        and Path(enc_models.export_dir_for(minilm) / "onnx" / enc_models.ONNX_FILES["int8"]).exists()
    )
    cos = (q.encode(titles) * fp32_vectors).sum(axis=1)
    assert cos.mean() >= 0.98 and cos.min() >= 0.9, (cos.mean(), cos.min())
    assert cos.mean() < 0.99999  # really quantised, not a copy of the fp32 graph


def test_export_is_reused(minilm: Path, fp32: enc.OnnxTextEncoder) -> None:
    path = enc.export_onnx(minilm)
    before = path.stat().st_mtime_ns
    assert enc.export_onnx(minilm) == path and path.stat().st_mtime_ns == before
    # the export folder is a sentence-transformers layout without the torch weights
    root = path.parent.parent
    assert (root / "tokenizer.json").exists() and (root / "1_Pooling" / "config.json").exists()
    assert not list(root.glob("*.safetensors"))


def test_interrupted_export_leaves_no_model(minilm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(enc_export, "_export_torch", boom)
    out = tmp_path / "export"
    with pytest.raises(KeyboardInterrupt):
        enc.export_onnx(minilm, out)
    assert not (out / "onnx" / "model.onnx").exists()
    assert not [p for p in (out / "onnx").iterdir()]  # no half-written parts left behind
    with pytest.raises(MissingInputError, match="rerun"):
        enc.OnnxTextEncoder(out)


def test_model_id_follows_content_and_precision(minilm: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(minilm, copy)
    assert enc.model_id(copy).split("@")[1] == enc.model_id(minilm).split("@")[1]
    assert enc.model_id(minilm, "int8") != enc.model_id(minilm)
    cfg = json.loads((copy / "sentence_bert_config.json").read_text())
    cfg["max_seq_length"] = 128
    (copy / "sentence_bert_config.json").write_text(json.dumps(cfg))
    assert enc_models.model_fingerprint(copy) != enc_models.model_fingerprint(minilm)


@pytest.mark.skipif(CUDA in available_providers(), reason="a CUDA provider is present here")
def test_device_cuda_without_gpu_is_a_clear_error(minilm: Path) -> None:
    with pytest.raises(RuntimeUnavailableError, match="--device cuda"):
        enc.load_encoder(minilm, device="cuda")


def test_bad_precision_and_unsupported_modules(minilm: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--precision"):
        enc.load_encoder(minilm, precision="int4")
    copy = tmp_path / "dense"
    shutil.copytree(minilm, copy)
    modules = json.loads((copy / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
    (copy / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(UsageError, match="Dense"):
        enc_models.read_st_layout(copy)
    (copy / "tokenizer.json").unlink()
    (copy / "modules.json").write_text(json.dumps(modules[:3]))
    with pytest.raises(MissingInputError, match="tokenizer.json"):
        enc_models.read_st_layout(copy)


# ---------------------------------------------------------------- decoder-style models


def tiny_decoder_model(dest: Path, minilm: Path, pooling: str = "lasttoken") -> Path:
    """A randomly initialised 2-layer Llama wrapped as a sentence-transformers model (left padding,
    last-token pooling), with MiniLM's tokenizer: the shape of Qwen/Mistral-based embedders."""
    import torch
    from transformers import LlamaConfig, LlamaModel

    dest.mkdir(parents=True)
    for f in ("tokenizer.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(minilm / f, dest / f)
    tok_cfg = json.loads((minilm / "tokenizer_config.json").read_text()) | {"padding_side": "left"}
    (dest / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=30522,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
    )
    LlamaModel(cfg).save_pretrained(dest)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (dest / "modules.json").write_text(json.dumps(modules))
    (dest / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    (dest / "1_Pooling").mkdir()
    (dest / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, f"pooling_mode_{pooling}": True})
    )
    return dest


@pytest.fixture(scope="session")
def decoder(tmp_path_factory: pytest.TempPathFactory, minilm: Path) -> Path:
    return tiny_decoder_model(tmp_path_factory.mktemp("decoder") / "tiny-llama-embed", minilm)


@pytest.mark.slow
def test_decoder_export_with_external_data_matches_st(decoder: Path, titles: list[str], tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    path = enc.export_onnx(decoder, tmp_path / "export", external_data_threshold=0)
    assert (path.parent / "model.onnx_data").exists()  # weights stored outside the protobuf
    assert path.stat().st_size < (path.parent / "model.onnx_data").stat().st_size
    texts = titles[:40] + EXTRA
    e = enc.OnnxTextEncoder(path.parent.parent, device="cpu", batch_size=8)
    assert e.layout.pooling == ("lasttoken",) and e.layout.padding_side == "left"
    got = e.encode(texts)
    st = SentenceTransformer(str(decoder), device="cpu", local_files_only=True)
    ref = st.encode(texts, batch_size=8, normalize_embeddings=True, convert_to_numpy=True)
    cos = (got * ref).sum(axis=1)
    assert cos.min() >= 0.9999, (cos.argmin(), cos.min())


@pytest.mark.slow
def test_decoder_fp16_close_to_fp32(decoder: Path, titles: list[str], tmp_path: Path) -> None:
    out = tmp_path / "export"
    enc.export_onnx(decoder, out)
    half = enc.export_onnx(decoder, out, fp16=True)
    import onnx

    kinds = {t.data_type for t in onnx.load(str(half)).graph.initializer if len(t.dims) == 2}
    assert kinds == {onnx.TensorProto.FLOAT16}
    a = enc.OnnxTextEncoder(out, device="cpu").encode(titles[:50])
    b = enc.OnnxTextEncoder(out, precision="fp16", device="cpu").encode(titles[:50])
    assert b.dtype == np.float32 and (a * b).sum(axis=1).min() >= 0.999


@pytest.mark.gpu
def test_cuda_encoder_matches_cpu(minilm: Path, titles: list[str], fp32_vectors: np.ndarray) -> None:
    """On a GPU machine (onnxruntime-gpu), `--device cuda` really runs on CUDA and gives the CPU's vectors."""
    if CUDA not in available_providers():
        pytest.skip("ONNX Runtime offers no CUDA provider here")
    gpu = enc.load_encoder(minilm, device="cuda", batch_size=32)
    assert gpu.provider == CUDA
    cos = (gpu.encode(titles) * fp32_vectors).sum(axis=1)
    assert cos.min() >= 0.999, cos.min()
