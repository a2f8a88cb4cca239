"""Multi-vector (ColBERT-style) shards on a local Ray instance: candidate generation per shard,
MaxSim on the owning shard and ColBERT-PRF across shards give the single index's rankings.

Token embeddings: the packaged all-MiniLM-L6-v2 as a plain-BERT ColBERT encoder (as in
test_multivector.py) over the first 500 SciFact documents and all 1400 Cranfield documents,
encoded in process once and cached under build/test-cache. The single MultiVectorIndex and the
shards hold the same embeddings (given to build() as token_vectors); Ray Data's own token
encoding is compared with the in-process encoder on a corpus head.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("torch")

import densefb  # noqa: E402
from densefb import distributed as dd  # noqa: E402

from conftest import CACHE, packaged_minilm  # noqa: E402

TOKEN_ARGS = {"format": "bert", "doc_maxlen": 180, "query_maxlen": 32, "mask_punctuation": True}
N_QUERIES = 30
TOKEN_K = 64  # nearest document tokens per query token: keeps the per-shard lists small here


@pytest.fixture(scope="module")
def token_encoder():
    return densefb.ColbertEncoder.from_pretrained(packaged_minilm(), **TOKEN_ARGS)


def _head(shared_data, name, folder, n):
    """The first n documents of a collection as folder/corpus.jsonl; returns its path."""
    lines = gzip.open(shared_data / name / "corpus.jsonl.gz", "rt", encoding="utf-8").read().splitlines()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.jsonl"
    path.write_text("\n".join(lines[:n] if n else lines) + "\n", encoding="utf-8")
    return path


def _encode_cached(encoder, texts, tag):
    """(doc token embeddings, token ids) of texts, cached on disk keyed by the texts."""
    key = hashlib.sha1("\x00".join(list(texts) + [tag, repr(sorted(TOKEN_ARGS.items()))]).encode()).hexdigest()[:16]
    path = CACHE / f"sharded_mv_{tag}_{key}.npz"
    if path.exists():
        with np.load(path) as z:
            off, vectors, ids = z["offsets"], z["vectors"], z["ids"]
    else:
        docs, token_ids = encoder.encode_documents_with_ids(list(texts), batch_size=32, show_progress=False)
        off = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
        vectors, ids = np.concatenate(docs), np.concatenate(token_ids)
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, vectors=vectors, ids=ids, offsets=off)
        os.replace(tmp, path)
    return ([vectors[off[i]:off[i + 1]] for i in range(len(off) - 1)],
            [ids[off[i]:off[i + 1]] for i in range(len(off) - 1)])


class Case:
    """A collection head: its single MultiVectorIndex and the same embeddings in shards."""

    def __init__(self, name, corpus, queries, single, sharded, docs):
        self.name, self.corpus, self.queries = name, corpus, queries
        self.single, self.sharded, self.docs = single, sharded, docs


@pytest.fixture(scope="module", params=[("scifact", 500, [120, 260, 120]),
                                        ("cranfield", 0, [400, 1, 600, 399])],
                ids=["scifact-3", "cranfield-4"])
def case(request, local_ray, shared_data, tmp_path_factory, token_encoder):
    name, n, sizes = request.param
    if not (shared_data / name).is_dir():
        pytest.skip(f"{name} not in {shared_data}")
    folder = tmp_path_factory.mktemp(f"mv-{name}")
    corpus_path = _head(shared_data, name, folder / "data", n)
    corpus = densefb._core.read_beir_corpus(os.fspath(corpus_path))
    docs, ids = _encode_cached(token_encoder, corpus.texts(), name)
    single = densefb.MultiVectorIndex(token_encoder.dim)
    single.add(docs, ids)
    single.excluded_token_ids = densefb.excluded_token_ids(token_encoder.model_dir)
    single.build_token_index("flat")
    dd.build(corpus_path, folder / "idx", sizes=sizes, dense=None, bm25=False,
             token_model=os.fspath(packaged_minilm()), token_args=TOKEN_ARGS, token_vectors=(docs, ids),
             show_progress=False)
    queries = densefb.load_beir(shared_data / name, "test").queries
    pairs = [(queries.ids[i], queries.texts[i]) for i in range(N_QUERIES)]
    with dd.ShardedIndex(folder / "idx") as sharded:
        yield Case(name, corpus, pairs, single, sharded, docs)


def test_statistics_and_documents_come_from_the_shards(case):
    mv = case.sharded.multivector
    assert isinstance(mv, densefb.TokenCollection)
    assert (mv.size, mv.num_tokens, mv.dim) == (len(case.single), case.single.num_tokens, case.single.dim)
    assert case.sharded.token_memory_mapped  # each shard maps its token matrix
    tokens = np.unique(case.single.token_ids)
    np.testing.assert_array_equal(mv.document_frequencies(tokens.astype(np.int32)),
                                  case.single.document_frequencies(tokens.astype(np.int32)))
    # a direct count over the documents, for one frequent and one rare token
    for t in (tokens[0], tokens[len(tokens) // 2]):
        direct = sum(int(t in d) for d in (case.single.document_token_ids(i) for i in range(len(case.single))))
        assert mv.document_frequencies(np.array([t], np.int32))[0] == direct
    ids = np.array([len(case.single) - 1, 0, 119, 120, 379, 380, 400, 401])
    ids = ids[ids < len(case.single)]
    for doc, want in zip(mv.documents(ids), ids):
        np.testing.assert_array_equal(doc, case.docs[want])


def test_nearest_tokens_merge_exactly_across_shards(case, token_encoder):
    queries = token_encoder.encode_queries([t for _, t in case.queries[:8]], show_progress=False)
    stacked = np.concatenate(queries)
    got = case.sharded.multivector.neighbours(stacked, 50)
    want = case.single.neighbours(stacked, 50)
    for g, w, what in zip(got, want, ("scores", "rows", "docs", "token_ids")):
        np.testing.assert_array_equal(g, w, err_msg=what)


@pytest.mark.parametrize("spec", [
    f"maxsim(k=100,token_k={TOKEN_K})",
    f"maxsim(k=0,token_k={TOKEN_K}) >> colbert_prf >> rerank_maxsim",        # ColBERT-PRF reranker
    f"maxsim(k=100,token_k={TOKEN_K}) >> colbert_prf(fb_docs=5,beta=0.5) >> maxsim(k=100,token_k={TOKEN_K})",
], ids=["maxsim", "colbert-prf-reranker", "colbert-prf-ranker"])
def test_sharded_maxsim_and_colbert_prf_equal_single_index(case, token_encoder, spec):
    pipeline = densefb.Pipeline(spec)
    got = pipeline.run(case.sharded.resources(token_encoder=token_encoder), case.queries, k=100)
    want = pipeline.run(densefb.Resources(corpus=case.corpus, multivector=case.single, token_encoder=token_encoder),
                        case.queries, k=100)
    g, w = got.to_dict(), want.to_dict()
    assert g == w  # same documents, same order, same float scores
    assert sum(len(v) for v in g.values()) >= N_QUERIES * 50


def test_colbert_prf_expansion_across_shards_is_the_single_one(case, token_encoder):
    queries = token_encoder.encode_queries([t for _, t in case.queries[:6]], show_progress=False)
    _, first = case.single.search(queries, k=20, token_k=TOKEN_K)
    prf = densefb.ColbertPrf(fb_docs=3)
    got, got_info = prf.expand(case.sharded.multivector, queries, first)
    want, want_info = prf.expand(case.single, queries, first)
    for (gv, gw, gt), (wv, ww, wt), gi, wi in zip(got, want, got_info, want_info):
        np.testing.assert_array_equal(gv, wv)
        np.testing.assert_array_equal(gw, ww)
        np.testing.assert_array_equal(gt, wt)
        assert gi["centroid_idf"] == wi["centroid_idf"] and gi["selected"] == wi["selected"]
        assert len(gt) > 0  # it did expand


def test_cli_builds_multivector_shards_with_ray_data_and_searches_them(local_ray, shared_data, tmp_path,
                                                                       token_encoder):
    """densefb index --shards --token-model encodes through Ray Data (the in-process encoder's
    token embeddings, within 1e-5); densefb search runs ColBERT-PRF over the shards and writes the
    run that one index of the same embeddings gives."""
    import subprocess
    import sys

    corpus_path = _head(shared_data, "cranfield", tmp_path / "data", 48)
    address = ray.get_runtime_context().gcs_address

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "densefb.cli", *args], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        return r

    token_args = [f"--token-arg={k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in TOKEN_ARGS.items()]
    cli("index", os.fspath(tmp_path / "data"), "-o", os.fspath(tmp_path / "idx"), "--dense", "none", "--shards", "2",
        "--ray", address, "--actors", "2", "--batch-size", "16", "--token-model", os.fspath(packaged_minilm()),
        *token_args)
    corpus = densefb._core.read_beir_corpus(os.fspath(corpus_path))
    want, want_ids = token_encoder.encode_documents_with_ids(corpus.texts(), batch_size=16, show_progress=False)
    with dd.ShardedIndex(tmp_path / "idx") as index:
        assert index.manifest["multivector"]["precomputed"] is False
        assert index.manifest["multivector"]["token_args"] == TOKEN_ARGS
        got = index.multivector.documents(np.arange(len(corpus)))
        tokens = np.unique(np.concatenate(want_ids)).astype(np.int32)
        df = index.multivector.document_frequencies(tokens)
    assert [len(d) for d in got] == [len(d) for d in want]
    assert max(float(np.abs(g - w).max()) for g, w in zip(got, want) if len(w)) <= 1e-5
    np.testing.assert_array_equal(df, [sum(int(t in ids) for ids in want_ids) for t in tokens])

    queries = densefb.load_beir(shared_data / "cranfield", "test").queries
    (tmp_path / "q.tsv").write_text("".join(f"{queries.ids[i]}\t{queries.texts[i]}\n" for i in range(5)))
    spec = "maxsim(k=0,token_k=64) >> colbert_prf(k=8,fb_embs=4) >> rerank_maxsim"
    cli("search", os.fspath(tmp_path / "idx"), "--queries", os.fspath(tmp_path / "q.tsv"), "--ray", address,
        "--pipeline", spec, "-k", "20", "-o", os.fspath(tmp_path / "run.trec"))
    single = densefb.MultiVectorIndex(token_encoder.dim)
    single.add(got, want_ids)
    single.excluded_token_ids = densefb.excluded_token_ids(token_encoder.model_dir)
    single.build_token_index("flat")
    want_run = densefb.Pipeline(spec).run(densefb.Resources(corpus=corpus, multivector=single,
                                                            token_encoder=token_encoder),
                                          [(queries.ids[i], queries.texts[i]) for i in range(5)], k=20)
    got_run = densefb.read_trec_run(tmp_path / "run.trec").to_dict()
    assert got_run.keys() == want_run.to_dict().keys()
    for qid, ranked in want_run.to_dict().items():
        assert list(got_run[qid]) == list(ranked)  # the same documents in the same order


def test_corrupt_or_missing_multivector_shard_file_is_refused_naming_it(case, tmp_path):
    src = case.sharded.folder
    dst = tmp_path / "idx"
    shutil.copytree(src, dst)
    mvec = dst / "shard-001" / "multivector.mvec"
    data = bytearray(mvec.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes: the format's checksum catches it
    mvec.write_bytes(bytes(data))
    with pytest.raises(dd.ShardError, match="shard-001.*multivector.mvec"):
        dd.ShardedIndex(dst)
    (dst / "shard-002" / "multivector.mvec.tokens").unlink()
    with pytest.raises(FileNotFoundError, match="shard-002.*multivector.mvec.tokens"):
        dd.ShardedIndex(dst)
