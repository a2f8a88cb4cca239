"""The encoders on a CUDA device: the same numbers as on the CPU and as transformers.

Skipped where torch sees no CUDA device. ``DENSEFB_TEST_DEVICE`` names the device under test
(default ``cuda``; ``cpu`` runs the same checks on the CPU, to try them without a GPU).

The checkpoints are random BERTs of all-MiniLM-L6-v2's shape (6 layers, hidden 384), saved
by the tests with the packaged model's tokenizer and sentence-transformers files, so that the
checks need only the tokenizer of the installed model; the texts are SciFact's.
"""
import json
import os
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import densefb  # noqa: E402
from densefb.encoders import ColbertEncoder, CrossEncoder, Encoder  # noqa: E402
from densefb.models import resolve_model  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

DEVICE = os.environ.get("DENSEFB_TEST_DEVICE", "cuda")
N = 200  # documents (and queries) of SciFact per check
TOL = 1e-4

if DEVICE.startswith("cuda") and not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)


def minilm_files():
    """The packaged all-MiniLM-L6-v2 directory (tokenizer, config, sentence-transformers files)."""
    try:
        return resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    except (FileNotFoundError, ValueError) as error:
        pytest.skip(f"all-MiniLM-L6-v2 not installed: {error}")


def copy_without_weights(src, dst):
    for p in src.rglob("*"):
        if p.is_file() and p.suffix not in (".safetensors", ".bin", ".onnx") and "onnx" not in p.parts:
            (dst / p.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, dst / p.relative_to(src))


@pytest.fixture(scope="module")
def texts(scifact):
    return scifact.queries.texts[:N], scifact.corpus.texts()[:N]


@pytest.fixture(scope="module")
def bi_encoder(tmp_path_factory):
    """A sentence-transformers directory: random BERT weights, MiniLM's pooling and normalize."""
    src = minilm_files()
    d = tmp_path_factory.mktemp("bi")
    copy_without_weights(src, d)
    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig.from_pretrained(str(src)), add_pooling_layer=False).eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / "model.safetensors"))
    return d, model


def mean_pooled_reference(d, model, texts, max_length):
    tok = transformers.AutoTokenizer.from_pretrained(str(d))
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), 32):
            x = tok(texts[i:i + 32], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            h = model(**x).last_hidden_state
            m = x["attention_mask"].unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


def test_bi_encoder_on_device_matches_cpu_and_transformers(bi_encoder, texts):
    d, model = bi_encoder
    queries, docs = texts
    on_device = Encoder.from_pretrained(d, device=DEVICE)
    on_cpu = Encoder.from_pretrained(d)
    got = on_device.encode(docs, batch_size=16)
    assert got.dtype == np.float32 and got.shape == (N, 384) and got.flags.c_contiguous
    want = mean_pooled_reference(d, model, docs, on_cpu.max_length)
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    print(f"\n[{DEVICE}] bi-encoder vs transformers: min cosine {cos.min():.8f}, "
          f"max abs diff {np.abs(got - want).max():.3g}")
    assert cos.min() >= 0.99999
    assert np.abs(got - want).max() <= TOL
    assert np.abs(got - on_cpu.encode(docs, batch_size=16)).max() <= TOL
    q = on_device.encode_queries(queries, batch_size=64)
    assert np.abs(q - on_cpu.encode_queries(queries, batch_size=64)).max() <= TOL


def test_index_built_on_device_searches_like_cpu(bi_encoder, texts):
    d, _ = bi_encoder
    queries, docs = texts
    on_device = Encoder.from_pretrained(d, device=DEVICE)
    on_cpu = Encoder.from_pretrained(d)
    index = densefb.build_index(on_device, docs, batch_size=32, chunk_size=64, show_progress=False)
    assert index.ntotal == N
    reference = on_cpu.encode(docs, batch_size=32)
    assert np.abs(index.reconstruct(np.arange(N)) - reference).max() <= TOL
    q = on_cpu.encode_queries(queries)
    _, ids = index.search(q, k=10)
    want = np.argsort(-(q @ reference.T), axis=1, kind="stable")[:, :10]
    assert (ids[:, 0] == want[:, 0]).mean() >= 0.99  # near-ties may swap within TOL


@pytest.fixture(scope="module")
def colbert_ckpt(tmp_path_factory):
    """A ColBERT (stanford-futuredata layout) checkpoint: random BERT + 384 -> 128 projection."""
    src = minilm_files()
    d = tmp_path_factory.mktemp("colbert")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (src / name).exists():
            shutil.copy(src / name, d / name)
    torch.manual_seed(1)
    config = transformers.BertConfig.from_pretrained(str(src))
    bert = transformers.BertModel(config).eval()
    linear = torch.nn.Linear(config.hidden_size, 128, bias=False)
    state = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    state["linear.weight"] = linear.weight.detach().contiguous()
    save_file(state, str(d / "model.safetensors"))
    config.architectures = ["HF_ColBERT"]
    config.save_pretrained(str(d))
    meta = {"query_token_id": "[unused0]", "doc_token_id": "[unused1]", "query_maxlen": 32, "doc_maxlen": 180,
            "dim": 128, "mask_punctuation": True, "attend_to_mask_tokens": False, "similarity": "cosine"}
    (d / "artifact.metadata").write_text(json.dumps(meta))
    return d


def test_colbert_on_device_matches_cpu(colbert_ckpt, texts):
    queries, docs = texts
    on_device = ColbertEncoder.from_pretrained(colbert_ckpt, device=DEVICE)
    on_cpu = ColbertEncoder.from_pretrained(colbert_ckpt)
    worst = 0.0
    for got, want in ((on_device.encode_queries(queries, batch_size=32), on_cpu.encode_queries(queries, batch_size=32)),
                      (on_device.encode_documents(docs, batch_size=16), on_cpu.encode_documents(docs, batch_size=16))):
        assert len(got) == len(want) == N
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == np.float32
            worst = max(worst, float(np.abs(g - w).max()))
    print(f"\n[{DEVICE}] ColBERT tokens vs CPU: max abs diff {worst:.3g}")
    assert worst <= TOL


def test_cross_encoder_on_device_matches_transformers(tmp_path, texts):
    src = minilm_files()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (src / name).exists():
            shutil.copy(src / name, tmp_path / name)
    torch.manual_seed(2)
    config = transformers.BertConfig.from_pretrained(str(src), num_labels=1)
    model = transformers.BertForSequenceClassification(config).eval()
    with torch.no_grad():  # logits of order 1, so that the tolerance means something
        model.classifier.weight.normal_(0.0, 1.0)
        model.classifier.bias.normal_(0.0, 1.0)
    model.save_pretrained(str(tmp_path))
    queries, docs = texts
    docs = docs[3:] + docs[:3]
    ce = CrossEncoder.from_pretrained(tmp_path, device=DEVICE)
    got = ce.predict((queries, docs), batch_size=16)
    tok = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    with torch.inference_mode():
        x = tok(queries, docs, padding=True, truncation="longest_first", max_length=ce.max_length, return_tensors="pt")
        want = model(**x).logits[:, 0].numpy()
    diff = float(np.abs(got - want).max())
    print(f"\n[{DEVICE}] cross-encoder vs transformers: max abs diff {diff:.3g}")
    assert diff <= TOL and np.abs(want).max() > 0.5


def test_bad_device_names(bi_encoder):
    d, _ = bi_encoder
    with pytest.raises(ValueError, match="invalid device"):
        Encoder.from_pretrained(d, device="gpu0")
    if DEVICE.startswith("cuda"):
        with pytest.raises(ValueError, match=r'device "cuda:99": there are \d+ CUDA devices'):
            Encoder.from_pretrained(d, device="cuda:99")
