"""densefb.sparse: BM25 and RM3 against references written here from the formulas, the Porter
stemmer against nltk, the tokenizer against a Python re-implementation of the UAX #29 rules,
effectiveness on SciFact against Pyserini's published BM25 numbers, persistence and errors."""
from __future__ import annotations

import math
import os
import unicodedata
from collections import Counter

import numpy as np
import pytest

import densefb
from densefb.sparse import (ENGLISH_STOP_WORDS, Bm25Index, analyze, porter_stem,
                            standard_tokenize)

K1, B = 0.9, 0.4


# ---- references ------------------------------------------------------------------------------

def formula_scores(doc_terms, query_terms, k1=K1, b=B, lengths=None):
    """BM25 (Lucene 8+) of every document for one analysed query, in float64, straight from
    the formula: sum over query tokens of idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))."""
    counts = [Counter(t) for t in doc_terms]
    dl = np.array([len(t) for t in doc_terms], dtype=np.float64) if lengths is None else lengths
    n = sum(1 for t in doc_terms if t)
    avgdl = sum(len(t) for t in doc_terms) / n
    df = Counter()
    for c in counts:
        df.update(c.keys())
    norm = k1 * (1 - b + b * dl / avgdl)
    scores = np.zeros(len(doc_terms))
    for term, c in Counter(query_terms).items():
        if term not in df:
            continue
        idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
        tf = np.array([cnt.get(term, 0) for cnt in counts], dtype=np.float64)
        scores += c * idf * tf / (tf + norm)
    return scores


def lucene_quantized_length(length: int) -> int:
    """Lucene's SmallFloat.intToByte4 then byte4ToInt (4 significant bits above 24)."""
    def long_to_int4(i):
        bits = i.bit_length()
        if bits < 4:
            return i
        shift = bits - 4
        return ((i >> shift) & 7) | ((shift + 1) << 3)

    def int4_to_long(code):
        shift = (code >> 3) - 1
        return code & 7 if shift < 0 else ((code & 7) | 8) << shift

    free = 255 - long_to_int4(2**31 - 1)
    assert free == 24
    if length < free:
        return length
    return free + int4_to_long(long_to_int4(length - free))


def reference_rm3(query_terms, doc_terms, feedback, fb_terms=10, fb_docs=10, w=0.5, filter_terms=True):
    """Pyserini's RM3 (rm3_reranker.py / reranker_base.py) re-written with dicts."""
    def prune(vec, k):
        return dict(sorted(vec.items(), key=lambda x: (-x[1], x[0]))[:k])

    def l1(vec):
        total = sum(abs(v) for v in vec.values())
        return vec if total == 0 else {t: v / total for t, v in vec.items()}

    num_docs = len(doc_terms)
    df = Counter()
    for t in doc_terms:
        df.update(set(t))
    q = l1(dict(Counter(query_terms)))
    vocab, vecs = set(), []
    for doc, score in feedback[:fb_docs]:
        vec = {}
        for term, freq in Counter(doc_terms[doc]).items():
            if filter_terms and not term.isalnum():
                continue
            if 2 <= len(term) <= 20 and df[term] / num_docs <= 0.1:
                vec[term] = freq
        vec = prune(vec, fb_terms)
        norm = sum(abs(v) for v in vec.values())
        if norm > 0.001:
            vocab.update(vec)
            vecs.append((vec, norm, score))
    rm = {}
    for term in vocab:
        weight = 0.0
        for vec, norm, score in vecs:
            if term in vec:
                weight += (vec[term] / norm) * score
        rm[term] = weight
    rm = l1(prune(rm, fb_terms))
    out = {}
    for term in set(q) | set(rm):
        s = w * q.get(term, 0.0) + (1 - w) * rm.get(term, 0.0)
        if s > 0:
            out[term] = s
    return out


# UAX #29 word rules as Lucene's StandardTokenizer applies them, re-implemented with Python's
# unicodedata (letters, digits, connectors, mid-letter / mid-number punctuation, WB4 marks).
_MID_LETTER = set(":\u00b7\u0387\u05f4\u2027\ufe13\ufe55\uff1a")
_MID_NUM_LET_Q = set(".'\u2018\u2019\u2024\ufe52\uff07\uff0e")
_MID_NUM = set(",;\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b")


def reference_tokens(text):
    def cls(c):
        if c in _MID_LETTER:
            return "ML"
        if c in _MID_NUM_LET_Q:
            return "MQ"
        if c in _MID_NUM:
            return "MN"
        if c in "\r\n\x0b\x0c\x85\u2028\u2029":
            return "NL"
        cat = unicodedata.category(c)
        if cat[0] == "L" or cat == "Nl":
            return "L"
        if cat == "Nd":
            return "N"
        if cat == "Pc":
            return "E"
        if cat in ("Mn", "Mc", "Me", "Cf") and c != "\u200b":
            return "X"
        return "O"

    units = []
    for c in text:
        k = cls(c)
        if k == "X" and units and units[-1][0] != "NL":
            units[-1][1] += c
            continue
        units.append([k if k != "X" else "O", c])
    kind = lambda j: units[j][0] if j < len(units) else "O"  # noqa: E731
    out, i = [], 0
    while i < len(units):
        if kind(i) not in ("L", "N", "E"):
            i += 1
            continue
        j, core = i, kind(i) != "E"
        while j + 1 < len(units):
            a, b = kind(j), kind(j + 1)
            if (a in ("L", "N") and b in ("L", "N")) or b == "E" or (a == "E" and b in ("L", "N")):
                j, core = j + 1, core or b != "E"
            elif a == "L" and b in ("ML", "MQ") and kind(j + 2) == "L":
                j += 2
            elif a == "N" and b in ("MN", "MQ") and kind(j + 2) == "N":
                j += 2
            else:
                break
        if core:
            out.append("".join(u[1] for u in units[i:j + 1]))
        i = j + 1
    return out


# ---- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def index(scifact):
    # exact document lengths, so that scores can be checked against the plain formula
    return Bm25Index.build(scifact.corpus, lucene_norms=False)


@pytest.fixture(scope="module")
def doc_terms(scifact, index):
    return [index.analyze(t) for t in scifact.corpus.texts()]


# ---- analysis -------------------------------------------------------------------------------

def test_stop_words_are_lucenes_33():
    assert len(ENGLISH_STOP_WORDS) == 33
    assert {"a", "the", "with", "will", "such", "into", "their", "there"} <= set(ENGLISH_STOP_WORDS)
    assert "which" not in ENGLISH_STOP_WORDS and "we" not in ENGLISH_STOP_WORDS


def test_analyzer_chain():
    assert analyze("The John's PONIES were running; it's relational") == ["john", "poni", "were", "run", "relat"]
    assert analyze("The ponies", stopwords=False, stemmer="none") == ["the", "ponies"]
    assert analyze("The ponies", stopwords=False) == ["the", "poni"]
    assert standard_tokenize("Don't: U.S.A. e.g. 3.14 1,000 covid-19 p<0.05 foo_bar ©") == [
        "Don't", "U.S.A", "e.g", "3.14", "1,000", "covid", "19", "p", "0.05", "foo_bar", "©"]
    assert analyze("") == [] and analyze("the of and ...") == []
    with pytest.raises(ValueError):
        analyze("x", stemmer="snowball")


def test_tokenizer_matches_python_uax29_reference(scifact):
    """Every SciFact text tokenises as the Python re-implementation of the word rules does,
    apart from symbol tokens (Extended_Pictographic characters such as © ® ™ ↔, which
    Lucene 8+ emits as emoji tokens and Python's unicodedata cannot identify)."""
    mismatches, symbols = [], Counter()
    for text in scifact.corpus.texts() + scifact.queries.texts:
        ours = standard_tokenize(text)
        words = [t for t in ours if not all(unicodedata.category(c)[0] == "S" for c in t)]
        symbols.update(t for t in ours if t not in words)
        if words != reference_tokens(text):
            mismatches.append(text[:80])
    print(f"\ntokenizer: {len(mismatches)} mismatching texts; symbol tokens {dict(symbols)}")
    assert mismatches == []
    assert set(symbols) <= {"©", "®", "™", "↔"}


def test_porter_matches_nltk_on_every_scifact_word(scifact):
    """Lucene's PorterStemmer is Porter's reference version, i.e. nltk's MARTIN_EXTENSIONS mode:
    no difference allowed there. Against ORIGINAL_ALGORITHM (the 1980 paper) every difference
    must be one of the reference version's three departures."""
    from nltk.stem.porter import PorterStemmer

    words = set()
    for text in scifact.corpus.texts() + scifact.queries.texts:
        words.update(analyze(text, stopwords=False, stemmer="none"))
    martin = PorterStemmer(PorterStemmer.MARTIN_EXTENSIONS)
    original = PorterStemmer(PorterStemmer.ORIGINAL_ALGORITHM)
    ours = {w: porter_stem(w) for w in words}
    vs_martin = sorted(w for w in words if ours[w] != martin.stem(w, to_lowercase=False))
    vs_original = sorted(w for w in words if ours[w] != original.stem(w, to_lowercase=False))
    short = [w for w in vs_original if len(w) <= 2]
    bli = [w for w in vs_original if len(w) > 2 and "bl" in w]
    logi = [w for w in vs_original if len(w) > 2 and "log" in w]
    print(f"\nporter: {len(words)} distinct words; {len(vs_martin)} mismatches vs nltk MARTIN_EXTENSIONS; "
          f"{len(vs_original)} vs ORIGINAL_ALGORITHM ({len(short)} words of <= 2 letters, "
          f"{len(bli)} -bli/-ble, {len(logi)} -logi/-log)")
    assert len(words) > 30000
    assert vs_martin == []
    assert sorted(set(short) | set(bli) | set(logi)) == vs_original
    assert porter_stem("conformabli") == "conform" and porter_stem("archaeology") == "archaeolog"
    assert porter_stem("us") == "us"  # ORIGINAL_ALGORITHM: "u"


# ---- BM25 scores ------------------------------------------------------------------------------

def test_scores_equal_formula_on_scifact(scifact, index, doc_terms):
    queries = scifact.queries.texts[:30]
    scores, ids = index.search(queries, k=100)
    assert scores.shape == ids.shape == (30, 100) and scores.dtype == np.float32 and ids.dtype == np.int64
    max_diff = 0.0
    for q, text in enumerate(queries):
        ref = formula_scores(doc_terms, index.analyze(text))
        order = np.lexsort((np.arange(len(ref)), -ref))[:100]
        max_diff = max(max_diff, float(np.abs(scores[q] - ref[order]).max()))
        np.testing.assert_allclose(scores[q], ref[order], atol=1e-4)
        # same documents at each rank except where float32 rounding reorders near-ties
        differ = ids[q] != order
        assert np.all(np.abs(ref[ids[q][differ]] - ref[order][differ]) < 1e-4)
        # score() agrees with search() exactly
        np.testing.assert_array_equal(index.score(text, ids[q]), scores[q])
    print(f"\nBM25 max |score - formula| over 30 queries x top-100: {max_diff:.2e}")


def test_default_lucene_norms_match_quantized_formula(scifact, doc_terms, tmp_path):
    index = Bm25Index.build(scifact.corpus)  # the default: Lucene's quantised norms
    assert index.lucene_norms and densefb.sparse.DEFAULT_LUCENE_NORMS is True
    explicit = Bm25Index.build(scifact.corpus, lucene_norms=True)
    queries = scifact.queries.texts[:20]
    for a, b in zip(index.search(queries, k=50), explicit.search(queries, k=50)):
        np.testing.assert_array_equal(a, b)
    # the flag is saved with the index; an exact-length file loads as exact
    index.save(tmp_path / "q")
    Bm25Index.build(scifact.corpus, lucene_norms=False).save(tmp_path / "e")
    assert Bm25Index.load(tmp_path / "q").lucene_norms is True
    assert Bm25Index.load(tmp_path / "e").lucene_norms is False
    lengths = np.array([lucene_quantized_length(len(t)) for t in doc_terms], dtype=np.float64)
    assert lucene_quantized_length(40) == 40 and lucene_quantized_length(41) == 40
    assert lucene_quantized_length(100) == 96
    for text in scifact.queries.texts[:10]:
        ref = formula_scores(doc_terms, index.analyze(text), lengths=lengths)
        ids = np.flatnonzero(ref)
        np.testing.assert_allclose(index.score(text, ids), ref[ids], atol=1e-4)


def test_other_parameters_and_weighted_queries(scifact, doc_terms):
    index = Bm25Index.build(scifact.corpus, k1=1.2, b=0.75, lucene_norms=False)
    text = scifact.queries.texts[3]
    ref = formula_scores(doc_terms, index.analyze(text), k1=1.2, b=0.75)
    ids = np.flatnonzero(ref)
    np.testing.assert_allclose(index.score(text, ids), ref[ids], atol=1e-4)
    # a weighted query scales each term's contribution
    terms = index.analyze_query(text)
    weighted = {t: 2.5 * c for t, c in terms.items()}
    np.testing.assert_allclose(index.score(weighted, ids), 2.5 * ref[ids], rtol=1e-5, atol=1e-4)
    # repeated query terms count once per occurrence (Lucene's bag-of-words BooleanQuery)
    word = index.analyze(text)[0]
    s1 = index.score(word, ids)
    np.testing.assert_allclose(index.score(f"{word} {word} {word}", ids), 3 * s1, rtol=1e-5)
    index.set_bm25(K1, B)
    np.testing.assert_allclose(index.score(text, ids), formula_scores(doc_terms, index.analyze(text))[ids], atol=1e-4)


def test_search_is_deterministic_over_threads(scifact, index):
    queries = scifact.queries.texts
    a = index.search(queries, k=50, num_threads=1)
    b = index.search(queries, k=50, num_threads=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("k", [1, 10, 100, 1000])
def test_maxscore_pruning_equals_exhaustive_search_on_scifact(scifact, k):
    index = Bm25Index.build(scifact.corpus)  # Lucene norms: many equal lengths, many ties
    queries = scifact.queries.texts
    weighted = [{t: w * (1 + (j % 3)) for j, (t, w) in enumerate(index.analyze_query(q).items())}
                for q in queries]
    index.dynamic_pruning = True
    pruned = [index.search(queries, k=k), index.search_weighted(weighted, k=k), index.search(queries, k=k, rm3={})]
    index.dynamic_pruning = False
    exhaustive = [index.search(queries, k=k), index.search_weighted(weighted, k=k), index.search(queries, k=k, rm3={})]
    for (ps, pi), (es, ei) in zip(pruned, exhaustive):
        np.testing.assert_array_equal(pi, ei)
        np.testing.assert_array_equal(ps, es)
    # a tie at the cut is broken by the smaller document id, as the exhaustive search does
    s, i = pruned[0]
    for q in range(len(queries)):
        row = i[q][i[q] >= 0]
        assert np.all(np.diff(s[q][:len(row)]) <= 0)
        same = np.diff(s[q][:len(row)]) == 0
        assert np.all(np.diff(row)[same] > 0)


def test_build_is_deterministic_over_threads(scifact, tmp_path):
    texts = scifact.corpus.texts()[:1500]
    Bm25Index.build(texts, num_threads=1).save(tmp_path / "one")
    Bm25Index.build(texts, num_threads=4).save(tmp_path / "four")
    assert (tmp_path / "one").read_bytes() == (tmp_path / "four").read_bytes()


def test_rescore_sorts_candidates_by_bm25(scifact, index):
    queries = scifact.queries.texts[:5]
    rng = np.random.default_rng(0)
    cand = rng.choice(len(index), size=(5, 40), replace=False).astype(np.int64)
    cand[:, -3:] = -1
    scores, ids = index.rescore(queries, cand)
    assert ids.shape == (5, 40)
    for q in range(5):
        keep = cand[q][cand[q] >= 0]
        assert sorted(ids[q][:37].tolist()) == sorted(keep.tolist()) and np.all(ids[q][37:] == -1)
        np.testing.assert_array_equal(scores[q][:37], index.score(queries[q], ids[q][:37]))
        assert np.all(np.diff(scores[q][:37]) <= 0)


# ---- effectiveness ----------------------------------------------------------------------------

def test_scifact_effectiveness_matches_pyserini(scifact, index):
    """Pyserini's BM25 flat (k1 0.9, b 0.4, --remove-query) on SciFact: nDCG@10 0.6789."""
    import time

    measures = ["nDCG@10", "R@100"]
    t0 = time.perf_counter()
    run = index.search_run(scifact.queries.texts, scifact.queries.ids, k=1000, remove_query=True)
    t_bm25 = time.perf_counter() - t0
    bm25 = densefb.evaluate(run, scifact.qrels, measures)
    lucene = Bm25Index.build(scifact.corpus)  # default: Lucene's norms
    bm25_lucene = densefb.evaluate(
        lucene.search_run(scifact.queries.texts, scifact.queries.ids, k=1000, remove_query=True),
        scifact.qrels, measures)
    t0 = time.perf_counter()
    run_rm3 = index.search_run(scifact.queries.texts, scifact.queries.ids, k=1000,
                               remove_query=True, rm3={})
    t_rm3 = time.perf_counter() - t0
    rm3 = densefb.evaluate(run_rm3, scifact.qrels, measures)
    print(f"\nSciFact BM25 exact lengths: {bm25} ({t_bm25 * 1000:.0f} ms for {len(scifact.queries)} queries)"
          f"\nSciFact BM25 Lucene norms:  {bm25_lucene}"
          f"\nSciFact BM25+RM3 (10/10/0.5): {rm3} ({t_rm3 * 1000:.0f} ms)")
    assert abs(bm25["nDCG@10"] - 0.6789) < 0.01
    assert abs(bm25_lucene["nDCG@10"] - 0.6789) < 0.002
    assert bm25["R@100"] > 0.9
    assert 0.55 < rm3["nDCG@10"] < 0.75 and rm3["nDCG@10"] != bm25["nDCG@10"]


# ---- RM3 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [dict(), dict(fb_terms=5, fb_docs=3, original_query_weight=0.3),
                                    dict(filter_terms=False, fb_terms=20)])
def test_rm3_weights_equal_python_reference(scifact, index, doc_terms, params):
    kw = dict(fb_terms=10, fb_docs=10, original_query_weight=0.5, filter_terms=True, **{})
    kw.update(params)
    for text in scifact.queries.texts[:8]:
        scores, ids = index.search([text], k=kw["fb_docs"])
        feedback = [(int(d), float(s)) for d, s in zip(ids[0], scores[0]) if d >= 0]
        ref = reference_rm3(index.analyze(text), doc_terms, feedback, kw["fb_terms"], kw["fb_docs"],
                            kw["original_query_weight"], kw["filter_terms"])
        ours = index.rm3_query(text, **kw)
        assert set(ours) == set(ref), text
        for term, v in ref.items():
            assert ours[term] == pytest.approx(v, rel=1e-6), (text, term)
        assert sum(ours.values()) == pytest.approx(1.0, rel=1e-5)
    # the batch path expands the same way, and RM3 search = weighted search of the expansion
    batch = index.rm3_queries(scifact.queries.texts[:8], **kw)
    for text, exp in zip(scifact.queries.texts[:8], batch):
        assert exp == pytest.approx(index.rm3_query(text, **kw))
    s1, i1 = index.search(scifact.queries.texts[:8], k=100, rm3=kw)
    s2, i2 = index.search_weighted(batch, k=100)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(i1, i2)


def test_rm3_options_are_checked(index):
    with pytest.raises(ValueError):
        index.rm3_query("cancer", fb_terms=0)
    with pytest.raises(ValueError):
        index.search(["cancer"], k=10, rm3=dict(original_query_weight=1.5))
    with pytest.raises(TypeError):
        index.search(["cancer"], k=10, rm3=dict(fbterms=3))
    # w = 1 keeps only the original query
    assert index.rm3_query("cancer cells cancer", original_query_weight=1.0) == pytest.approx(
        {porter_stem("cancer"): 2 / 3, porter_stem("cells"): 1 / 3})
    assert index.rm3_query("the of") == {}


# ---- persistence and edge cases ------------------------------------------------------------------

def test_save_load_round_trip(scifact, index, tmp_path):
    path = tmp_path / "scifact.bm25"
    index.save(path)
    loaded = Bm25Index.load(path)
    assert (loaded.num_docs, loaded.num_terms, loaded.avgdl, loaded.doc_ids) == (
        index.num_docs, index.num_terms, index.avgdl, index.doc_ids)
    assert (loaded.k1, loaded.b, loaded.stopwords, loaded.stemmer) == (index.k1, index.b, True, "porter")
    queries = scifact.queries.texts
    for rm3 in (None, {}):
        a, b = index.search(queries, k=100, rm3=rm3), loaded.search(queries, k=100, rm3=rm3)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert loaded.doc_vector(7) == index.doc_vector(7)
    # options survive
    plain = Bm25Index.build(["Running dogs", "the cat"], stopwords=False, stemmer="none", k1=1.5, b=0.2)
    plain.save(tmp_path / "plain")
    again = Bm25Index.load(tmp_path / "plain")
    assert (again.stopwords, again.stemmer, again.k1, again.b) == (False, "none", 1.5, pytest.approx(0.2))
    assert again.analyze("The Running") == ["the", "running"]


def test_corrupt_files_raise_oserror(index, tmp_path):
    path = tmp_path / "x.bm25"
    index.save(path)
    data = path.read_bytes()
    for cut in (10, 40, len(data) // 2, len(data) - 1):
        (tmp_path / "cut").write_bytes(data[:cut])
        with pytest.raises(OSError):
            Bm25Index.load(tmp_path / "cut")
    for offset in (40, 1000, len(data) // 3, len(data) - 5):
        flipped = bytearray(data)
        flipped[offset] ^= 0x10
        (tmp_path / "flip").write_bytes(bytes(flipped))
        with pytest.raises(OSError):
            Bm25Index.load(tmp_path / "flip")
    with pytest.raises(FileNotFoundError):
        Bm25Index.load(tmp_path / "missing")
    flat = densefb.FlatIndex(4)
    flat.save(tmp_path / "flat")
    with pytest.raises(ValueError, match="BM25"):
        Bm25Index.load(tmp_path / "flat")


def test_edge_cases(index):
    # empty corpus
    empty = Bm25Index.build([])
    assert len(empty) == 0 and empty.num_terms == 0
    s, i = empty.search(["anything"], k=5)
    assert i.shape == s.shape == (1, 0)  # min(k, num_docs) columns
    s, i = index.search(["cancer"], k=10**12)  # capped at the corpus size, nothing more allocated
    assert i.shape[1] == len(index)
    # empty query and stop-word-only query: no results, no crash
    s, i = index.search(["", "the and of it"], k=10)
    assert np.all(i == -1)
    assert len(index.search_run(["the"], ["q"], k=10).get("q")) == 0
    # k = 0, and a query with fewer matches than k
    s, i = index.search(["cancer"], k=0)
    assert s.shape == (1, 0)
    s, i = index.search(["xylophonically"], k=3)
    assert np.all(i == -1)
    with pytest.raises(ValueError):
        index.search(["cancer"], k=-1)
    # unknown documents in score()
    with pytest.raises(KeyError):
        index.score("cancer", ["no-such-doc"])
    with pytest.raises(IndexError):
        index.score("cancer", [len(index)])
    with pytest.raises(IndexError):
        index.score("cancer", [-1])
    assert index.score("cancer", []).shape == (0,)
    assert index.score("the", [0, 1]).tolist() == [0.0, 0.0]
    # documents by string id
    doc = index.doc_ids[5]
    assert index.score("cancer", [doc]).tolist() == index.score("cancer", [5]).tolist()
    with pytest.raises(ValueError):
        Bm25Index.build(["a"], b=1.5)
    with pytest.raises(ValueError):
        Bm25Index.build(["a"], ids=["x", "y"])


def test_build_from_pairs_and_run(tmp_path):
    docs = [("d1", "Cats chase mice."), ("d2", "Dogs chase cats and cats run."), ("d3", "A mouse hides.")]
    index = Bm25Index.build(docs)
    assert index.doc_ids == ["d1", "d2", "d3"]
    run = index.search_run(["cats", "mouse"], ["q1", "q2"], k=10)
    assert [d for d, _ in run.get("q1")] == ["d2", "d1"]
    assert [d for d, _ in run.get("q2")] == ["d3"]  # "mice" is not stemmed to "mous"
    run = index.search_run(["cats"], ["d2"], k=10, remove_query=True)
    assert [d for d, _ in run.get("d2")] == ["d1"]
    # hand computation for q1 on d2: N = 3, df(cat) = 2, dl = 5 ("dog chase cat cat run"), avgdl = 10/3
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    expected = idf * 2 / (2 + 0.9 * (1 - 0.4 + 0.4 * 5 / (10 / 3)))
    assert index.score("cats", ["d2"])[0] == pytest.approx(expected, rel=1e-6)
