"""Models are validated when they are loaded (issue 12, items 12 and 14): tensor layout of
model.safetensors, finite weights, config.json types and ranges, token ids against the
embedding matrices, sentence_bert_config.json and the device argument. Each case is a small
random BERT in sentence-transformers layout (the packaged all-MiniLM-L6-v2 tokenizer), then one
corruption; every encoder (bi-encoder, ColBERT, cross-encoder) must refuse it with a one-line
error naming the file and the key, tensor or token at fault.
"""
import json
import shutil
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from safetensors.numpy import load_file, save_file  # noqa: E402

from densefb.encoders import ColbertEncoder, CrossEncoder, Encoder  # noqa: E402
from densefb.models import resolve_model  # noqa: E402

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
TEXTS = ["a wing in the wind", "flow over a plate"]


def copy_tokenizer(dst):
    src = resolve_model(MINILM)
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy(src / name, dst / name)


def tiny_config(vocab, **kw):
    return transformers.BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=64, **kw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two random BERTs (2 layers, hidden 32) with the MiniLM tokenizer: "bi", a BertModel in
    sentence-transformers layout (a bi-encoder, and a ColBERT token encoder with format
    "bert"), and "cross", a BertForSequenceClassification (a cross-encoder)."""
    root = tmp_path_factory.mktemp("tiny")
    vocab = transformers.AutoTokenizer.from_pretrained(str(resolve_model(MINILM))).vocab_size
    torch.manual_seed(0)
    bi = root / "bi"
    transformers.BertModel(tiny_config(vocab)).eval().save_pretrained(str(bi))
    copy_tokenizer(bi)
    (bi / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (bi / "1_Pooling").mkdir()
    (bi / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32,
                                                              "pooling_mode_mean_tokens": True}))
    (bi / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128, "do_lower_case": False}))
    cross = root / "cross"
    transformers.BertForSequenceClassification(tiny_config(vocab, num_labels=1)).eval().save_pretrained(str(cross))
    copy_tokenizer(cross)
    return root


LOADERS = {  # name -> (model folder, loader)
    "bi-encoder": ("bi", lambda d, **kw: Encoder.from_pretrained(d, **kw)),
    "colbert": ("bi", lambda d, **kw: ColbertEncoder.from_pretrained(d, format="bert", **kw)),
    "cross-encoder": ("cross", lambda d, **kw: CrossEncoder.from_pretrained(d, **kw)),
}


def variant(tiny, tmp_path, corrupt=None):
    """A copy of both models, with `corrupt(model_dir)` applied to each."""
    root = tmp_path / "models"
    shutil.copytree(tiny, root)
    if corrupt is not None:
        for sub in ("bi", "cross"):
            corrupt(root / sub)
    return root


def edit_json(path, **changes):
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


def refuse(root, exc, *fragments, only=None):
    """Every encoder (or those in `only`) refuses its model under `root` with `exc`: a one-line
    message naming each fragment, with no library exception text."""
    for name, (sub, load) in LOADERS.items():
        if only is not None and name not in only:
            continue
        with pytest.raises(exc) as info:
            load(root / sub)
        msg = str(info.value)
        assert "\n" not in msg, (name, msg)
        for f in fragments:
            assert f in msg, (name, f, msg)
        assert "json.exception" not in msg and "torch error" not in msg and "type must be" not in msg, (name, msg)


def test_the_intact_models_load_everywhere(tiny):
    assert np.isfinite(Encoder.from_pretrained(tiny / "bi").encode(TEXTS)).all()
    tokens = ColbertEncoder.from_pretrained(tiny / "bi", format="bert").encode_documents(TEXTS)
    assert all(np.isfinite(m).all() for m in tokens)
    assert np.isfinite(CrossEncoder.from_pretrained(tiny / "cross").predict(TEXTS, TEXTS[::-1])).all()


# ---- model.safetensors layout -------------------------------------------------------------

def write_safetensors(path, tensors):
    """A safetensors file written by hand: `tensors` maps name -> (array, (begin, end)) with
    the given data_offsets; the data section holds each array's bytes at its offsets."""
    header, size = {}, max(end for _, (_, end) in tensors.values())
    data = bytearray(int(size))
    for name, (array, (begin, end)) in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [begin, end]}
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        data[begin:begin + len(raw)] = raw[:end - begin]
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + bytes(data))


def laid_out(path):
    """The tensors of `path` as name -> (array, (begin, end)), in name order, contiguous."""
    weights = {k: v.astype(np.float32) for k, v in load_file(str(path)).items()}
    out, offset = {}, 0
    for name in sorted(weights):
        n = int(weights[name].size) * 4
        out[name] = (weights[name], (offset, offset + n))
        offset += n
    return out


def shift_from(tensors, first, delta):
    """Offsets of `first` and every later tensor moved by `delta` bytes."""
    names = sorted(tensors)
    i = names.index(first)
    return {name: (a, (b + delta, e + delta) if k >= i else (b, e))
            for k, (name, (a, (b, e))) in enumerate(sorted(tensors.items()))}


def key_of(d, suffix):
    return next(k for k in load_file(str(d / "model.safetensors")) if k.endswith(suffix))


def test_overlapping_tensor_offsets_are_refused(tiny, tmp_path):
    import safetensors.numpy

    def overlap(d):
        path = d / "model.safetensors"
        tensors = laid_out(path)
        write_safetensors(path, tensors)  # written by hand, the same layout still loads
        # the key's data_offsets start 64 bytes early, inside the previous tensor; later
        # tensors follow, so every range stays inside the (shorter) data section
        write_safetensors(path, shift_from(tensors, key_of(d, "layer.0.attention.self.key.weight"), -64))
        with pytest.raises(safetensors.SafetensorError):  # the reference library refuses it
            safetensors.numpy.load_file(str(path))

    root = variant(tiny, tmp_path)
    write_safetensors(root / "bi" / "model.safetensors", laid_out(root / "bi" / "model.safetensors"))
    assert np.isfinite(Encoder.from_pretrained(root / "bi").encode(TEXTS)).all()
    root = variant(tiny, tmp_path / "overlap", overlap)
    refuse(root, ValueError, "model.safetensors", 'layer.0.attention.self.key.weight"', "overlap")


def test_gaps_and_trailing_bytes_are_refused(tiny, tmp_path):
    def gap(d):
        path = d / "model.safetensors"
        write_safetensors(path, shift_from(laid_out(path), key_of(d, "layer.1.output.dense.bias"), 8))

    refuse(variant(tiny, tmp_path / "gap", gap), ValueError, "model.safetensors",
           'layer.1.output.dense.bias"', "gap")

    def trailing(d):
        path = d / "model.safetensors"
        path.write_bytes(path.read_bytes() + b"\0" * 16)

    refuse(variant(tiny, tmp_path / "trailing", trailing), ValueError, "model.safetensors", "trailing bytes")


# ---- weights ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_weights_are_refused(tiny, tmp_path, value):
    def poison(d):
        weights = load_file(str(d / "model.safetensors"))
        key = key_of(d, "encoder.layer.1.output.dense.weight")
        weights[key] = weights[key].copy()
        weights[key][3, 5] = value
        save_file(weights, str(d / "model.safetensors"))

    refuse(variant(tiny, tmp_path, poison), ValueError, "model.safetensors",
           'encoder.layer.1.output.dense.weight"', "finite", "element 197")  # [3, 5] of 32 x 64


def test_non_finite_f16_weight_is_refused(tiny, tmp_path):
    def poison(d):
        weights = {k: v.astype(np.float16) for k, v in load_file(str(d / "model.safetensors")).items()}
        key = key_of(d, "embeddings.word_embeddings.weight")
        weights[key][100, 0] = np.float16(np.inf)
        save_file(weights, str(d / "model.safetensors"))

    refuse(variant(tiny, tmp_path, poison), ValueError, "model.safetensors", 'word_embeddings.weight"', "inf")


def test_non_finite_classifier_is_refused(tiny, tmp_path):
    def poison(d):
        weights = load_file(str(d / "model.safetensors"))
        if "classifier.bias" in weights:
            weights["classifier.bias"] = np.array([np.nan], dtype=np.float32)
            save_file(weights, str(d / "model.safetensors"))

    refuse(variant(tiny, tmp_path, poison), ValueError, '"classifier.bias"', "nan", only=["cross-encoder"])


# ---- config.json --------------------------------------------------------------------------

@pytest.mark.parametrize("key,value,words", [
    ("layer_norm_eps", -1, "finite number > 0"),
    ("layer_norm_eps", 0, "finite number > 0"),
    ("hidden_size", 30, "not divisible"),
    ("num_attention_heads", 0, "at least 1"),
    ("num_hidden_layers", -2, "at least 1"),
    ("intermediate_size", 0, "at least 1"),
    ("vocab_size", 0, "at least 1"),
    ("max_position_embeddings", -1, "at least 1"),
    ("type_vocab_size", 0, "at least 1"),
    ("hidden_size", "32", "must be an integer"),
    ("vocab_size", 30522.5, "must be an integer"),
    ("num_hidden_layers", True, "must be an integer"),
    ("num_attention_heads", 2 ** 40, "must be an integer"),
    ("layer_norm_eps", "1e-12", "must be a number"),
    ("hidden_act", 3, "must be a string"),
    ("model_type", ["bert"], "must be a string"),
])
def test_config_values_of_wrong_range_or_type_are_refused(tiny, tmp_path, key, value, words):
    root = variant(tiny, tmp_path, lambda d: edit_json(d / "config.json", **{key: value}))
    refuse(root, ValueError, "config.json", f'"{key}"', words)


def test_missing_config_size_is_refused(tiny, tmp_path):
    def drop(d):
        cfg = json.loads((d / "config.json").read_text())
        del cfg["num_hidden_layers"]
        (d / "config.json").write_text(json.dumps(cfg))

    refuse(variant(tiny, tmp_path, drop), ValueError, "config.json", 'missing "num_hidden_layers"')


def test_config_sizes_must_match_the_tensors(tiny, tmp_path):
    root = variant(tiny, tmp_path, lambda d: edit_json(d / "config.json", intermediate_size=96))
    refuse(root, ValueError, "model.safetensors", "intermediate.dense.weight", "has shape")


# ---- tokenizer against the embeddings ---------------------------------------------------

def test_a_token_id_beyond_the_word_embeddings_is_refused(tiny, tmp_path):
    def add_token(d):
        tok = json.loads((d / "tokenizer.json").read_text())
        tok["added_tokens"].append({"id": 50000, "content": "[EXTRA]", "single_word": False, "lstrip": False,
                                    "rstrip": False, "normalized": False, "special": True})
        (d / "tokenizer.json").write_text(json.dumps(tok))

    refuse(variant(tiny, tmp_path, add_token), ValueError, 'token "[EXTRA]"', "id 50000", "30522 rows",
           '"vocab_size"', "config.json")


def truncate_rows(d, suffix, rows, **config):
    edit_json(d / "config.json", **config)
    weights = load_file(str(d / "model.safetensors"))
    key = key_of(d, suffix)
    weights[key] = weights[key][:rows].copy()
    save_file(weights, str(d / "model.safetensors"))


def test_a_vocabulary_larger_than_the_embeddings_is_refused(tiny, tmp_path):
    root = variant(tiny, tmp_path, lambda d: truncate_rows(d, "word_embeddings.weight", 1000, vocab_size=1000))
    refuse(root, ValueError, "id 30521", "1000 rows", "config.json")


def test_a_token_type_beyond_the_type_embeddings_is_refused(tiny, tmp_path):
    root = variant(tiny, tmp_path, lambda d: truncate_rows(d, "token_type_embeddings.weight", 1, type_vocab_size=1))
    refuse(root, ValueError, "token type id 1", '"type_vocab_size"')


def test_max_length_beyond_the_position_embeddings(tiny, tmp_path):
    with pytest.raises(ValueError, match=r"max_length = 513 exceeds.*512 position embeddings.*max_position_embeddings"):
        Encoder.from_pretrained(tiny / "bi", max_length=513)
    with pytest.raises(ValueError, match=r"max_length = 513 exceeds.*512 position embeddings"):
        CrossEncoder.from_pretrained(tiny / "cross", max_length=513)
    with pytest.raises(ValueError, match=r"doc_maxlen = 513.*512"):
        ColbertEncoder.from_pretrained(tiny / "bi", format="bert", doc_maxlen=513)
    root = variant(tiny, tmp_path,
                   lambda d: truncate_rows(d, "position_embeddings.weight", 64, max_position_embeddings=64))
    # sentence_bert_config.json asks for 128
    with pytest.raises(ValueError, match=r"sentence_bert_config\.json.*\"max_seq_length\" = 128 exceeds.*64 position"):
        Encoder.from_pretrained(root / "bi")
    with pytest.raises(ValueError, match=r"sentence_bert_config\.json.*\"max_seq_length\" = 128 exceeds.*64 position"):
        ColbertEncoder.from_pretrained(root / "bi", format="bert")
    # the tokenizer's model_max_length (512) is capped at the position embeddings, as before
    assert CrossEncoder.from_pretrained(root / "cross").max_length == 64
    # without a model_max_length in tokenizer_config.json, max_position_embeddings is the length
    config = json.loads((root / "cross" / "tokenizer_config.json").read_text())
    config.pop("model_max_length", None)
    (root / "cross" / "tokenizer_config.json").write_text(json.dumps(config))
    assert CrossEncoder.from_pretrained(root / "cross").max_length == 64


# ---- sentence_bert_config.json and other module files ---------------------------------------

@pytest.mark.parametrize("value,words", [(-5, "must be a positive integer"), (0, "must be a positive integer"),
                                         (12.5, "must be an integer"), ("256", "must be an integer")])
def test_bad_max_seq_length_is_refused(tiny, tmp_path, value, words):
    root = variant(tiny, tmp_path, lambda d: (d / "sentence_bert_config.json").exists() and edit_json(
        d / "sentence_bert_config.json", max_seq_length=value))
    refuse(root, ValueError, "sentence_bert_config.json", '"max_seq_length"', words, only=["bi-encoder", "colbert"])


def test_module_files_with_wrong_types_are_refused(tiny, tmp_path):
    root = variant(tiny, tmp_path)
    edit_json(root / "bi" / "1_Pooling" / "config.json", pooling_mode_mean_tokens="yes")
    with pytest.raises(ValueError, match=r"1_Pooling/config\.json: \"pooling_mode_mean_tokens\" must be true or false"):
        Encoder.from_pretrained(root / "bi")
    (root / "bi" / "modules.json").write_text(json.dumps([{"idx": 0, "path": "", "type": 7}]))
    with pytest.raises(ValueError, match=r"modules\.json: \"type\" must be a string, got 7"):
        Encoder.from_pretrained(root / "bi")


# ---- device -------------------------------------------------------------------------------

@pytest.mark.parametrize("device,words", [("cpu:7", "index other than 0"), ("cpu:1", "index other than 0"),
                                          ("tpu", "not a device"), ("meta", "does not run on"),
                                          ("cuda:x", "not a device"), ("", "not a device")])
def test_bad_devices_are_refused(tiny, device, words):
    for sub, load in LOADERS.values():
        with pytest.raises(ValueError) as info:
            load(tiny / sub, device=device)
        msg = str(info.value)
        assert f'device "{device}"' in msg and words in msg, msg


def test_cpu_zero_is_the_cpu(tiny):
    a = Encoder.from_pretrained(tiny / "bi", device="cpu:0").encode(TEXTS)
    np.testing.assert_array_equal(a, Encoder.from_pretrained(tiny / "bi").encode(TEXTS))
