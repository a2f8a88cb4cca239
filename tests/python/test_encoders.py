"""The C++ BERT bi-encoder against sentence-transformers on real SciFact text."""
import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import densefb  # noqa: E402
from densefb.encoders import Encoder  # noqa: E402
from densefb.models import resolve_model  # noqa: E402

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def minilm():
    return Encoder.from_pretrained(MINILM)


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_every_scifact_text_matches_sentence_transformers(minilm, scifact, scifact_vectors):
    """all-MiniLM-L6-v2 from densefb vs sentence-transformers: cosine >= 0.99999 for every
    document and query of SciFact (fp32, CPU)."""
    ref_docs, ref_queries = scifact_vectors
    docs = minilm.encode(scifact.corpus.texts(), batch_size=32)
    queries = minilm.encode_queries(scifact.queries.texts, batch_size=32)
    assert docs.shape == ref_docs.shape and docs.dtype == np.float32
    assert cosines(docs, ref_docs).min() >= 0.99999
    assert cosines(queries, ref_queries).min() >= 0.99999
    assert np.abs(docs - ref_docs).max() < 1e-4
    # modules.json has Normalize: outputs are unit length
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)


def test_batch_size_and_order_do_not_change_results(minilm, scifact):
    texts = scifact.corpus.texts()[:40]
    a = minilm.encode(texts, batch_size=7)
    b = minilm.encode(texts[::-1], batch_size=40)[::-1]
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert minilm.encode([], batch_size=4).shape == (0, minilm.dim)


def test_pooling_and_normalize_overrides_match_numpy(scifact):
    """CLS / max pooling without normalisation, checked against transformers' hidden states
    pooled in numpy."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model(MINILM)
    texts = scifact.queries.texts[:16]
    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path)).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state.numpy()
    mask = batch["attention_mask"].numpy()[..., None].astype(bool)
    want = {"cls": hidden[:, 0], "max": np.where(mask, hidden, -1e9).max(1)}
    for pooling, ref in want.items():
        enc = Encoder.from_pretrained(MINILM, pooling=pooling, normalize=False)
        assert not enc.normalized
        np.testing.assert_allclose(enc.encode(texts), ref, atol=1e-4)


def test_prefixes_are_prepended(scifact):
    plain = Encoder.from_pretrained(MINILM)
    prefixed = Encoder.from_pretrained(MINILM, query_prefix="query: ")
    q = scifact.queries.texts[:4]
    np.testing.assert_allclose(prefixed.encode_queries(q), plain.encode_queries(["query: " + t for t in q]),
                               atol=1e-5)
    np.testing.assert_allclose(prefixed.encode(q), plain.encode(q), atol=1e-6)  # documents unchanged


def test_bad_model_directories_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        Encoder.from_pretrained("no-such-org/no-such-model")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="not a model directory"):
        Encoder.from_pretrained(empty)
    src = resolve_model(MINILM)
    # weights only as pytorch_model.bin
    model = tmp_path / "bin"
    shutil.copytree(src, model)
    (model / "model.safetensors").rename(model / "pytorch_model.bin")
    with pytest.raises(NotImplementedError, match="pytorch_model.bin"):
        Encoder.from_pretrained(model)
    # an architecture that is not BERT
    other = tmp_path / "other"
    shutil.copytree(src, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["model_type"] = "roberta"
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(NotImplementedError, match="model_type \"roberta\""):
        Encoder.from_pretrained(other)
    # a weight of the wrong shape is an error, not a warning
    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    weights = load_file(str(bad / "model.safetensors"))
    key = next(k for k in weights if k.endswith("attention.self.query.weight"))
    weights[key] = weights[key][:, :100].copy()
    save_file(weights, str(bad / "model.safetensors"))
    with pytest.raises(ValueError, match="has shape"):
        Encoder.from_pretrained(bad)
    # a truncated weights file
    trunc = tmp_path / "trunc"
    shutil.copytree(src, trunc)
    data = (trunc / "model.safetensors").read_bytes()
    (trunc / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="safetensors"):
        Encoder.from_pretrained(trunc)
    with pytest.raises(ValueError, match="device"):
        Encoder.from_pretrained(MINILM, device="tpu")
    with pytest.raises(ValueError, match="pooling"):
        Encoder.from_pretrained(MINILM, pooling="weird")


def test_bad_arguments(minilm):
    with pytest.raises(TypeError):
        minilm.encode("a single string")
    with pytest.raises(ValueError, match="batch_size"):
        minilm.encode(["x"], batch_size=0)


def test_concurrent_batches_equal_one_thread(scifact):
    """With two threads, batches run two at a time (one thread each); the vectors equal a
    one-thread run and progress still counts up to every text."""
    texts = scifact.corpus.texts()[:90]
    before = torch.get_num_threads()
    try:
        serial = Encoder.from_pretrained(MINILM, num_threads=1).encode(texts, batch_size=4)
        seen = []
        two = Encoder.from_pretrained(MINILM, num_threads=2)
        both = two._impl.encode_documents(texts, 4, lambda done, total: seen.append((done, total)))
    finally:
        torch.set_num_threads(before)
    assert cosines(serial, both).min() >= 0.999999
    assert np.abs(serial - both).max() < 1e-5
    done = [d for d, _ in seen]
    assert len(seen) == 23 and done == sorted(done) and len(set(done)) == 23
    assert seen[-1] == (90, 90)


def test_progress_callback_sees_every_text(minilm, scifact):
    seen = []
    minilm._impl.encode_documents(scifact.queries.texts[:10], batch_size=3,
                                  progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (10, 10) and len(seen) == 4

    def boom(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        minilm._impl.encode_documents(scifact.queries.texts[:10], batch_size=3, progress=boom)
