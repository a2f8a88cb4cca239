"""The C++ ColBERT token encoder and cross-encoder against Python references on SciFact.

The checkpoints are small random BERTs (2 layers, hidden 64) that the tests create and save
with transformers and safetensors, with the packaged all-MiniLM-L6-v2 tokenizer. The
references are transformers' BertModel / BertForSequenceClassification with ColBERT's and
PyLate's tokenization and masking rules written out here (ColBERT's QueryTokenizer /
DocTokenizer.tensorize and ColBERT.doc; PyLate's ColBERT.tokenize and encode).
"""
import json
import shutil
import string

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from safetensors.torch import load_file, save_file  # noqa: E402

import densefb  # noqa: E402
from densefb.encoders import ColbertEncoder, CrossEncoder  # noqa: E402
from densefb.models import resolve_model  # noqa: E402
from int8_reference import quantize_bert  # noqa: E402

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
N = 50  # queries and documents of SciFact per parity test
TOL = 1e-4


def minilm_dir():
    return resolve_model(MINILM)


def copy_tokenizer(dst):
    src = minilm_dir()
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy(src / name, dst / name)


def small_bert_config(vocab_size, **kw):
    return transformers.BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, intermediate_size=128, **kw)


def vocab_size():
    return transformers.AutoTokenizer.from_pretrained(str(minilm_dir())).vocab_size


def normalize(x):
    return torch.nn.functional.normalize(x, p=2, dim=-1)


def max_diff(got, want):
    """Max abs difference over lists of (tokens, dim) arrays; shapes must agree."""
    assert len(got) == len(want)
    worst = 0.0
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == np.float32
        assert g.shape == w.shape, f"text {i}: {g.shape} tokens kept vs reference {w.shape}"
        worst = max(worst, float(np.abs(g - w).max()) if g.size else 0.0)
    return worst


def report(name, value):
    print(f"\n[parity] {name}: max abs diff {value:.3g}")


@pytest.fixture(scope="module")
def texts(scifact):
    docs = scifact.corpus.texts()[:N]
    queries = scifact.queries.texts[:N]
    return queries, docs


# ---- stanford-futuredata/ColBERT checkpoint ------------------------------------------------

@pytest.fixture(scope="module")
def stanford_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("colbert")
    torch.manual_seed(0)
    config = small_bert_config(vocab_size())
    bert = transformers.BertModel(config).eval()  # with pooler, as HF_ColBERT saves it
    linear = torch.nn.Linear(64, 32, bias=False)
    state = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    state["linear.weight"] = linear.weight.detach().contiguous()
    save_file(state, str(d / "model.safetensors"))
    config.architectures = ["HF_ColBERT"]
    config.save_pretrained(str(d))
    copy_tokenizer(d)
    meta = {"query_token_id": "[unused0]", "doc_token_id": "[unused1]", "query_token": "[Q]", "doc_token": "[D]",
            "query_maxlen": 32, "doc_maxlen": 180, "dim": 32, "mask_punctuation": True,
            "attend_to_mask_tokens": False, "similarity": "cosine", "checkpoint": "bert-base-uncased"}
    (d / "artifact.metadata").write_text(json.dumps(meta))
    return d, bert, linear


def colbert_reference(ckpt, queries, docs, query_maxlen=32, doc_maxlen=180, attend_to_mask_tokens=False):
    """ColBERT's QueryTokenizer / DocTokenizer.tensorize and ColBERT.query / ColBERT.doc."""
    d, bert, linear = ckpt
    tok = transformers.AutoTokenizer.from_pretrained(str(d))
    q_marker, d_marker = tok.convert_tokens_to_ids("[unused0]"), tok.convert_tokens_to_ids("[unused1]")
    with torch.inference_mode():
        obj = tok([". " + x for x in queries], padding="max_length", truncation=True, max_length=query_maxlen,
                  return_tensors="pt")
        ids, mask = obj["input_ids"], obj["attention_mask"]
        ids[:, 1] = q_marker
        ids[ids == tok.pad_token_id] = tok.mask_token_id
        if attend_to_mask_tokens:
            mask[ids == tok.mask_token_id] = 1
        Q = normalize(linear(bert(ids, attention_mask=mask)[0]))
        q_out = [q.numpy() for q in Q]

        skiplist = {w for symbol in string.punctuation
                    for w in [symbol, tok.encode(symbol, add_special_tokens=False)[0]]}
        obj = tok([". " + x for x in docs], padding="longest", truncation="longest_first", max_length=doc_maxlen,
                  return_tensors="pt")
        ids, mask = obj["input_ids"], obj["attention_mask"]
        ids[:, 1] = d_marker
        D = linear(bert(ids, attention_mask=mask)[0])
        keep = torch.tensor([[(x not in skiplist) and (x != 0) for x in row] for row in ids.tolist()])
        D = normalize(D * keep.unsqueeze(2).float())
        d_out = [D[i][keep[i]].numpy() for i in range(len(docs))]
    return q_out, d_out


def test_colbert_checkpoint_matches_reference(stanford_ckpt, texts):
    queries, docs = texts
    enc = ColbertEncoder.from_pretrained(stanford_ckpt[0])
    assert (enc.format, enc.dim, enc.query_maxlen, enc.doc_maxlen) == ("colbert", 32, 32, 180)
    assert (enc.query_marker, enc.doc_marker) == ("[unused0]", "[unused1]")
    assert enc.query_augmentation and enc.mask_punctuation and not enc.attend_to_mask_tokens
    want_q, want_d = colbert_reference(stanford_ckpt, queries, docs)
    got_q = enc.encode_queries(queries, batch_size=16)
    got_d = enc.encode_documents(docs, batch_size=16)
    assert all(q.shape == (32, 32) for q in got_q)
    dq, dd = max_diff(got_q, want_q), max_diff(got_d, want_d)
    report("ColBERT queries", dq)
    report("ColBERT documents", dd)
    assert dq <= TOL and dd <= TOL
    # punctuation masking dropped tokens, and some documents were truncated to doc_maxlen
    assert sum(x.shape[0] for x in got_d) < sum(len(t.split()) for t in docs) * 2
    for x in got_q + got_d:
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_colbert_overrides_match_reference(stanford_ckpt, texts):
    """Shorter lengths and attention on the [MASK] padding, given at load time."""
    queries, docs = texts[0][:20], texts[1][:20]
    enc = ColbertEncoder.from_pretrained(stanford_ckpt[0], query_maxlen=12, doc_maxlen=40, attend_to_mask_tokens=True)
    want_q, want_d = colbert_reference(stanford_ckpt, queries, docs, 12, 40, attend_to_mask_tokens=True)
    dq = max_diff(enc.encode_queries(queries), want_q)
    dd = max_diff(enc.encode_documents(docs), want_d)
    report("ColBERT queries (query_maxlen 12, attend_to_mask_tokens)", dq)
    report("ColBERT documents (doc_maxlen 40)", dd)
    assert dq <= TOL and dd <= TOL


def test_batching_order_and_empty_input(stanford_ckpt, texts):
    enc = ColbertEncoder.from_pretrained(stanford_ckpt[0])
    docs = texts[1][:20]
    a = enc.encode_documents(docs, batch_size=3)
    b = enc.encode_documents(docs[::-1], batch_size=20)[::-1]
    assert max_diff(a, b) <= 1e-5
    assert enc.encode_documents([]) == [] and enc.encode_queries([]) == []
    q = enc.encode_queries([""])  # [CLS] [Q] [SEP] + 29 [MASK]
    assert q[0].shape == (32, 32)
    with pytest.raises(TypeError):
        enc.encode_queries("a single string")


def test_progress_and_cancellation(stanford_ckpt, texts):
    enc = ColbertEncoder.from_pretrained(stanford_ckpt[0])
    seen = []
    enc._impl.encode_documents(texts[1][:10], batch_size=4, progress=lambda done, total: seen.append((done, total)))
    # One call per batch (4 + 4 + 2 texts) with the texts done so far; batches may finish in
    # any order when several run at once.
    done = [d for d, _ in seen]
    assert len(seen) == 3 and all(t == 10 for _, t in seen) and done[-1] == 10
    assert sorted(set(done)) == done and {b - a for a, b in zip([0] + done, done)} <= {2, 4}

    def stop(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        enc._impl.encode_queries(texts[0][:10], batch_size=4, progress=stop)


# ---- PyLate checkpoint -----------------------------------------------------------------------

PYLATE_SKIPLIST = list(string.punctuation) + ["the", "of"]


@pytest.fixture(scope="module")
def pylate_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("pylate")
    tok = transformers.AutoTokenizer.from_pretrained(str(minilm_dir()))
    tok.add_tokens(["[Q] ", "[D] "])  # as PyLate does, then the embeddings are resized
    tok.save_pretrained(str(d))
    torch.manual_seed(1)
    bert = transformers.BertModel(small_bert_config(len(tok))).eval()
    bert.save_pretrained(str(d))
    linear = torch.nn.Linear(64, 48, bias=False)
    (d / "1_Dense").mkdir()
    save_file({"linear.weight": linear.weight.detach().contiguous()}, str(d / "1_Dense" / "model.safetensors"))
    (d / "1_Dense" / "config.json").write_text(json.dumps(
        {"in_features": 64, "out_features": 48, "bias": False,
         "activation_function": "torch.nn.modules.linear.Identity"}))
    (d / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"}]))
    (d / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 179, "do_lower_case": False}))
    (d / "config_sentence_transformers.json").write_text(json.dumps({
        "query_prefix": "[Q] ", "document_prefix": "[D] ", "query_length": 24, "document_length": 100,
        "attend_to_expansion_tokens": False, "skiplist_words": PYLATE_SKIPLIST,
        "similarity_fn_name": "MaxSim"}))
    return d, bert, linear


def pylate_reference(ckpt, queries, docs, query_length=24, document_length=100, attend=False):
    """PyLate's ColBERT.tokenize (pad with [MASK], prefix id inserted after [CLS]) and encode
    (Dense, skiplist & attention mask on documents, per-token normalisation)."""
    d, bert, linear = ckpt
    tok = transformers.AutoTokenizer.from_pretrained(str(d))
    skiplist = [tok.convert_tokens_to_ids(w) for w in PYLATE_SKIPLIST]

    def tokenize(batch, is_query):
        length = query_length if is_query else document_length
        out = tok(batch, padding="max_length" if is_query else True, truncation="longest_first",
                  max_length=length - 1, return_tensors="pt")
        ids, mask, types = out["input_ids"], out["attention_mask"], out["token_type_ids"]
        ids = torch.where(mask.bool(), ids, torch.full_like(ids, tok.mask_token_id))  # pad id = [MASK]
        prefix = tok.convert_tokens_to_ids("[Q] " if is_query else "[D] ")

        def insert(t, v):
            return torch.cat([t[:, :1], torch.full((t.size(0), 1), v, dtype=t.dtype), t[:, 1:]], dim=1)

        ids, mask, types = insert(ids, prefix), insert(mask, 1), insert(types, 0)
        if is_query and attend:
            mask.fill_(1)
        return ids, mask, types

    with torch.inference_mode():
        ids, mask, types = tokenize(queries, True)
        emb = linear(bert(ids, attention_mask=mask, token_type_ids=types)[0])
        q_out = [normalize(e).numpy() for e in emb]
        ids, mask, types = tokenize(docs, False)
        emb = linear(bert(ids, attention_mask=mask, token_type_ids=types)[0])
        keep = torch.ones_like(ids, dtype=torch.bool)
        for t in skiplist:
            keep &= ids != t
        keep &= mask.bool()
        d_out = [normalize(e[k]).numpy() for e, k in zip(emb, keep)]
    return q_out, d_out


def test_pylate_checkpoint_matches_reference(pylate_ckpt, texts):
    queries, docs = texts
    enc = ColbertEncoder.from_pretrained(pylate_ckpt[0])
    assert (enc.format, enc.dim, enc.query_maxlen, enc.doc_maxlen) == ("pylate", 48, 24, 100)
    assert (enc.query_marker, enc.doc_marker) == ("[Q] ", "[D] ")
    want_q, want_d = pylate_reference(pylate_ckpt, queries, docs)
    got_q, got_d = enc.encode_queries(queries), enc.encode_documents(docs)
    assert all(q.shape == (24, 48) for q in got_q)
    dq, dd = max_diff(got_q, want_q), max_diff(got_d, want_d)
    report("PyLate queries", dq)
    report("PyLate documents", dd)
    assert dq <= TOL and dd <= TOL

    enc = ColbertEncoder.from_pretrained(pylate_ckpt[0], attend_to_mask_tokens=True)
    want_q, _ = pylate_reference(pylate_ckpt, queries[:10], docs[:1], attend=True)
    dq = max_diff(enc.encode_queries(queries[:10]), want_q)
    report("PyLate queries (attend_to_expansion_tokens)", dq)
    assert dq <= TOL


# ---- plain BERT as a token encoder ----------------------------------------------------------

def test_plain_bert_tokens_match_transformers(texts):
    queries, docs = texts
    enc = ColbertEncoder.from_pretrained(MINILM, format="bert")
    assert (enc.format, enc.dim, enc.query_maxlen, enc.doc_maxlen) == ("bert", 384, 256, 256)
    assert enc.query_marker == "" and not enc.query_augmentation and not enc.mask_punctuation
    path = str(minilm_dir())
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path).eval()
    got_docs = enc.encode_documents(docs)  # encoded once: compared, then checked for truncation
    for name, batch, got in [("queries", queries, enc.encode_queries(queries)),
                             ("documents", docs, got_docs)]:
        with torch.inference_mode():
            inputs = tok(batch, padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = normalize(model(**inputs).last_hidden_state)
        lengths = inputs["attention_mask"].sum(1).tolist()
        want = [hidden[i, :n].numpy() for i, n in enumerate(lengths)]
        diff = max_diff(got, want)
        report(f"plain BERT (all-MiniLM-L6-v2) {name}", diff)
        assert diff <= TOL
    assert max(x.shape[0] for x in got_docs) == 256  # truncated

    # markers, augmentation and masking are available on request
    aug = ColbertEncoder.from_pretrained(MINILM, format="bert", query_maxlen=32, query_marker="[unused0]",
                                         query_augmentation=True, mask_punctuation=True)
    assert all(q.shape == (32, 384) for q in aug.encode_queries(queries[:5]))
    punct = set(aug.skiplist_ids)
    kept = aug.encode_documents(docs[:5])
    plain = got_docs[:5]
    assert len(punct) == len(string.punctuation)
    assert all(k.shape[0] <= p.shape[0] for k, p in zip(kept, plain))
    assert sum(k.shape[0] for k in kept) < sum(p.shape[0] for p in plain)


# ---- cross-encoder --------------------------------------------------------------------------

def make_cross_encoder(d, num_labels, seed):
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(small_bert_config(vocab_size(), num_labels=num_labels)).eval()
    with torch.no_grad():  # logits of order 1, so that a 1e-4 tolerance means something
        model.classifier.weight.normal_(0.0, 1.0)
        model.classifier.bias.normal_(0.0, 1.0)
    model.save_pretrained(str(d))
    copy_tokenizer(d)
    assert (d / "model.safetensors").exists()
    return model


@pytest.fixture(scope="module", params=[1, 3], ids=["num_labels=1", "num_labels=3"])
def cross_ckpt(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"cross{request.param}")
    return d, make_cross_encoder(d, request.param, seed=request.param), request.param


def cross_reference(model, d, queries, docs, max_length):
    tok = transformers.AutoTokenizer.from_pretrained(str(d))
    with torch.inference_mode():
        inputs = tok(queries, docs, padding=True, truncation="longest_first", max_length=max_length,
                     return_tensors="pt")
        return model(**inputs).logits.numpy()


def test_cross_encoder_matches_transformers(cross_ckpt, scifact):
    d, model, num_labels = cross_ckpt
    queries = scifact.queries.texts[:N]
    docs = scifact.corpus.texts()[:N]
    docs = docs[7:] + docs[:7]  # mix pairs
    for max_length in (None, 96):
        ce = CrossEncoder.from_pretrained(d, max_length=max_length)
        assert ce.num_labels == num_labels
        want = cross_reference(model, d, queries, docs, ce.max_length)
        got = ce.predict(list(zip(queries, docs)), batch_size=8)
        assert got.dtype == np.float32 and got.shape == (N,)
        diff = float(np.abs(got - want[:, 0]).max())
        report(f"cross-encoder num_labels={num_labels} max_length={ce.max_length} label 0", diff)
        assert diff <= TOL
        assert np.abs(want[:, 0]).max() > 0.5  # the scores are not trivially small
    assert CrossEncoder.from_pretrained(d).max_length == 512  # the tokenizer's model_max_length
    if num_labels == 3:
        ce = CrossEncoder.from_pretrained(d, label=2, activation="sigmoid")
        want = cross_reference(model, d, queries, docs, 512)
        diff = float(np.abs(ce.predict((queries, docs)) - 1 / (1 + np.exp(-want[:, 2]))).max())
        report("cross-encoder num_labels=3 label 2 sigmoid", diff)
        assert diff <= TOL
    else:
        with pytest.raises(ValueError, match="label"):
            CrossEncoder.from_pretrained(d, label=1)


def test_cross_encoder_input_forms(cross_ckpt, scifact):
    d = cross_ckpt[0]
    ce = CrossEncoder.from_pretrained(d)
    queries = scifact.queries.texts[:5]
    docs = scifact.corpus.texts()[:5]
    a = ce.predict(list(zip(queries, docs)))
    np.testing.assert_array_equal(a, ce.predict((queries, docs)))
    np.testing.assert_array_equal(a, ce.predict(queries, docs))
    np.testing.assert_allclose(ce.predict(queries[0], docs)[0], a[0], atol=1e-6)
    np.testing.assert_allclose(ce.predict(list(zip(queries, docs))[::-1], batch_size=2)[::-1], a, atol=1e-5)
    assert ce.predict([]).shape == (0,)
    with pytest.raises(ValueError, match="passages"):
        ce.predict(queries, docs[:3])
    with pytest.raises(ValueError, match="activation"):
        CrossEncoder.from_pretrained(d, activation="softmax")


# ---- errors -----------------------------------------------------------------------------------

# ---- reduced precision ------------------------------------------------------------------------

def test_colbert_int8_matches_the_reference_on_minilm(texts):
    """int8 token vectors (all-MiniLM-L6-v2 as a plain BERT token encoder) against transformers
    with every transformer linear layer replaced by the per-channel int8 reference
    (tests/python/int8_reference.py), one text per call so that activation ranges match."""
    import copy

    queries, docs = texts
    docs = docs[:24]
    enc = ColbertEncoder.from_pretrained(MINILM, format="bert", precision="int8")
    assert enc.precision == "int8"
    got = enc.encode_documents(docs, batch_size=1)
    fp32 = ColbertEncoder.from_pretrained(MINILM, format="bert").encode_documents(docs, batch_size=1)
    path = str(minilm_dir())
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = quantize_bert(copy.deepcopy(transformers.AutoModel.from_pretrained(path).eval()))
    want = []
    with torch.inference_mode():
        for doc in docs:
            inputs = tok([doc], truncation=True, max_length=256, return_tensors="pt")
            want.append(normalize(model(**inputs).last_hidden_state)[0].numpy())
    assert [g.shape for g in got] == [w.shape for w in want]
    to_ref = np.concatenate([(g * w).sum(1) for g, w in zip(got, want)])
    to_fp32 = np.concatenate([(g * f).sum(1) for g, f in zip(got, fp32)])
    ref_to_fp32 = np.concatenate([(w * f).sum(1) for w, f in zip(want, fp32)])
    report("ColBERT int8 tokens vs reference: mean cosine", to_ref.mean())
    assert to_ref.min() >= 0.99 and to_ref.mean() >= 0.999, (to_ref.min(), to_ref.mean())
    assert to_fp32.mean() >= ref_to_fp32.mean() - 0.002, (to_fp32.mean(), ref_to_fp32.mean())
    assert to_fp32.mean() < 0.9999  # really quantised


def test_cross_encoder_int8_matches_the_reference(cross_ckpt, scifact):
    """int8 scores against transformers' BertForSequenceClassification with the int8 reference
    in its BERT layers, one pair per call; and their ranking against float32's."""
    import copy

    d, model, _ = cross_ckpt
    queries = scifact.queries.texts[:N]
    docs = scifact.corpus.texts()[7:N + 7]
    ce = CrossEncoder.from_pretrained(d, max_length=128, precision="int8")
    assert ce.precision == "int8"
    got = ce.predict((queries, docs), batch_size=1)
    fp32 = CrossEncoder.from_pretrained(d, max_length=128).predict((queries, docs))
    reference = copy.deepcopy(model)
    quantize_bert(reference.bert)
    want = np.array([cross_reference(reference, d, [q], [p], 128)[0, 0] for q, p in zip(queries, docs)])
    report("cross-encoder int8 vs reference", float(np.abs(got - want).max()))
    assert np.abs(got - want).max() <= 0.1 * fp32.std()  # a random model's scores vary little
    assert np.corrcoef(got, fp32)[0, 1] >= 0.99 and np.abs(got - fp32).max() > 1e-4


@pytest.mark.parametrize("kind", ["colbert", "cross"])
def test_other_precisions_are_resolved_like_the_bi_encoder(kind, stanford_ckpt, cross_ckpt, texts):
    """bf16 where the CPU has bf16 instructions, else fp32 with float32's output; fp16 on the CPU
    is an error naming the alternatives."""
    queries, docs = texts
    if kind == "colbert":
        load = lambda **kw: ColbertEncoder.from_pretrained(stanford_ckpt[0], **kw)  # noqa: E731
        run = lambda enc: np.concatenate(enc.encode_documents(docs[:8]))  # noqa: E731
    else:
        load = lambda **kw: CrossEncoder.from_pretrained(cross_ckpt[0], max_length=128, **kw)  # noqa: E731
        run = lambda enc: enc.predict((queries[:8], docs[:8]))  # noqa: E731
    bf16 = load(precision="bf16")
    assert bf16.precision == densefb._torch.resolve_precision("bf16")
    if bf16.precision == "fp32":
        np.testing.assert_allclose(run(bf16), run(load()), atol=1e-6)
    else:
        np.testing.assert_allclose(run(bf16), run(load()), atol=0.05)
    with pytest.raises(ValueError, match='"fp16" runs on CUDA devices only'):
        load(precision="fp16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precisions_on_cuda(precision, cross_ckpt, texts):
    queries, docs = texts
    tokens = ColbertEncoder.from_pretrained(MINILM, format="bert", device="cuda", precision=precision)
    assert tokens.precision == precision
    got = tokens.encode_documents(docs[:16])
    want = ColbertEncoder.from_pretrained(MINILM, format="bert").encode_documents(docs[:16])
    assert min(float((g * w).sum(1).min()) for g, w in zip(got, want)) >= 0.99
    ce = CrossEncoder.from_pretrained(cross_ckpt[0], max_length=128, device="cuda", precision=precision)
    fp32 = CrossEncoder.from_pretrained(cross_ckpt[0], max_length=128).predict((queries, docs))
    assert np.corrcoef(ce.predict((queries, docs)), fp32)[0, 1] >= 0.99


def test_not_a_model_directory(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for cls in (ColbertEncoder, CrossEncoder):
        with pytest.raises(ValueError, match="not a model directory"):
            cls.from_pretrained(empty)
    (empty / "config.json").write_text(json.dumps(small_bert_config(100).to_dict()))
    for cls in (ColbertEncoder, CrossEncoder):
        with pytest.raises(ValueError, match="model.safetensors"):
            cls.from_pretrained(empty)


def test_colbert_without_linear_weight(stanford_ckpt, tmp_path):
    d = tmp_path / "no-linear"
    shutil.copytree(stanford_ckpt[0], d)
    state = load_file(str(d / "model.safetensors"))
    del state["linear.weight"]
    save_file(state, str(d / "model.safetensors"))
    with pytest.raises(ValueError, match=r"model\.safetensors.*linear\.weight"):
        ColbertEncoder.from_pretrained(d)
    # without artifact.metadata either, it is not recognised as ColBERT at all
    (d / "artifact.metadata").unlink()
    cfg = json.loads((d / "config.json").read_text())
    cfg.pop("architectures", None)
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="not a ColBERT checkpoint"):
        ColbertEncoder.from_pretrained(d)
    assert ColbertEncoder.from_pretrained(d, format="bert").dim == 64


def test_cross_encoder_without_classifier(stanford_ckpt, tmp_path):
    d = tmp_path / "no-classifier"
    shutil.copytree(stanford_ckpt[0], d)
    with pytest.raises(ValueError, match=r"model\.safetensors.*classifier\.weight"):
        CrossEncoder.from_pretrained(d)


def test_bad_options(stanford_ckpt):
    d = stanford_ckpt[0]
    with pytest.raises(ValueError, match="format"):
        ColbertEncoder.from_pretrained(d, format="splade")
    with pytest.raises(ValueError, match="query_maxlen"):
        ColbertEncoder.from_pretrained(d, query_maxlen=2)
    with pytest.raises(ValueError, match="doc_maxlen"):
        ColbertEncoder.from_pretrained(d, doc_maxlen=10_000)
    with pytest.raises(ValueError, match="query_maxlen"):
        ColbertEncoder.from_pretrained(d, query_maxlen=-3)
    with pytest.raises(ValueError, match="not a token"):
        ColbertEncoder.from_pretrained(d, query_marker="[NOT-A-TOKEN]")
    with pytest.raises(ValueError, match="device"):
        ColbertEncoder.from_pretrained(d, device="tpu")
