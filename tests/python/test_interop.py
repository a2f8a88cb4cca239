"""Interop: runs and qrels <-> pandas DataFrames in PyTerrier's convention; torch tensors read
without copies; the BEIR downloader's offline paths (a cached folder, a local file:// archive)."""
from __future__ import annotations

import hashlib
import shutil
import tracemalloc
import zipfile

import numpy as np
import pytest

import densefb
from densefb import datasets

try:
    import pandas as pd
except ImportError:  # pandas is optional: the DataFrame tests are skipped without it
    pd = None
needs_pandas = pytest.mark.skipif(pd is None, reason="pandas is not installed")


# ---- pandas, PyTerrier convention ----------------------------------------------------------------

def pyterrier_frame(run_dict, qid_order):
    """The reference: PyTerrier's add_ranks (pyterrier/model.py: rank by score descending,
    ``method="first"``, FIRST_RANK = 0) on rows pre-sorted by docno descending, so that
    'first' breaks score ties by docno descending as trec_eval does."""
    rows = [(q, d, s) for q in qid_order for d, s in run_dict[q].items()]
    df = pd.DataFrame(rows, columns=["qid", "docno", "score"])
    df = df.sort_values("docno", ascending=False, kind="mergesort")
    df["rank"] = df.groupby("qid", sort=False)["score"].rank(ascending=False, method="first").astype(int) - 1
    order = {q: i for i, q in enumerate(qid_order)}
    df = df.assign(_q=df["qid"].map(order)).sort_values(["_q", "rank"], kind="mergesort")
    return df.drop(columns="_q").reset_index(drop=True)


def toy_run():
    return densefb.Run.from_dict({
        "q2": {"d1": 1.0, "d3": 2.5, "d2": 2.5, "d9": -1.0},  # a tie: d3 before d2
        "q1": {"a": 0.5, "b": 0.25, "c": 0.5},
    })


@needs_pandas
def test_run_to_dataframe_matches_pyterrier_add_ranks():
    run = toy_run()
    df = run.to_dataframe()
    assert list(df.columns) == ["qid", "docno", "score", "rank"]
    assert df["rank"].dtype == np.int64 and df["score"].dtype == np.float64
    ref = pyterrier_frame(run.to_dict(), ["q2", "q1"])
    pd.testing.assert_frame_equal(df, ref, check_dtype=False)
    assert df["docno"].tolist() == ["d3", "d2", "d1", "d9", "c", "a", "b"]
    assert df["rank"].tolist() == [0, 1, 2, 3, 0, 1, 2]


@needs_pandas
def test_scifact_run_frame_follows_the_trec_file(scifact, tmp_path):
    bm25 = densefb.Bm25Index.build(scifact.corpus)
    run = bm25.search_run(scifact.queries.texts, scifact.queries.ids, k=100)
    df = densefb.run_to_dataframe(run)
    pd.testing.assert_frame_equal(df, pyterrier_frame(run.to_dict(), list(run.query_ids)), check_dtype=False)
    # The same order and ranks as the TREC file written by the C++ writer (rank = 1-based there).
    densefb.write_trec_run(tmp_path / "r.trec", run)
    trec = pd.read_csv(tmp_path / "r.trec", sep=" ", header=None, dtype={0: str, 2: str},
                       names=["qid", "q0", "docno", "rank", "score", "tag"])
    assert (trec["qid"].tolist(), trec["docno"].tolist()) == (df["qid"].tolist(), df["docno"].tolist())
    assert (trec["rank"] - 1).tolist() == df["rank"].tolist()
    # Round trip: same run, same evaluation.
    back = densefb.Run.from_dataframe(df, name="back")
    assert back.to_dict() == run.to_dict() and back.name == "back"
    metrics = ["nDCG@10", "AP", "R@100"]
    assert densefb.evaluate(back, scifact.qrels, metrics) == densefb.evaluate(run, scifact.qrels, metrics)


@needs_pandas
def test_run_from_a_pyterrier_frame():
    df = pd.DataFrame({"qid": [7, 7, 3], "docid": [0, 1, 2], "docno": ["x", "y", "z"],
                       "score": np.array([1.0, 3.0, 2.0], np.float32), "rank": [1, 0, 0],
                       "query": ["a b", "a b", "c"]})
    run = densefb.run_from_dataframe(df)
    assert run.query_ids == ["7", "3"]
    assert run.to_dict() == {"7": {"x": 1.0, "y": 3.0}, "3": {"z": 2.0}}
    with pytest.raises(ValueError, match="lacks column.*score"):
        densefb.run_from_dataframe(df.drop(columns="score"))
    with pytest.raises(ValueError, match="document 'x' twice for query '7'"):
        densefb.run_from_dataframe(pd.concat([df, df.iloc[:1]]))
    with pytest.raises(ValueError, match="missing values in column 'score'"):
        densefb.run_from_dataframe(df.assign(score=[1.0, np.nan, 2.0]))


@needs_pandas
def test_qrels_and_queries_frames(scifact, shared_data):
    df = scifact.qrels.to_dataframe()
    assert list(df.columns) == ["qid", "docno", "label"]
    tsv = pd.read_csv(shared_data / "scifact" / "qrels" / "test.tsv", sep="\t", dtype={0: str, 1: str})
    assert sorted(zip(df.qid, df.docno, df.label)) == \
        sorted(zip(tsv["query-id"], tsv["corpus-id"], tsv["score"]))
    back = densefb.Qrels.from_dataframe(df)
    assert back.to_dict() == scifact.qrels.to_dict()
    with pytest.raises(ValueError, match="integers"):
        densefb.qrels_from_dataframe(df.assign(label=0.5))
    topics = scifact.queries.to_dataframe()
    assert list(topics.columns) == ["qid", "query"] and len(topics) == 300
    assert topics.iloc[0].tolist() == list(scifact.queries[0])


# ---- torch tensors -------------------------------------------------------------------------------

def traced_peak(fn) -> int:
    """Peak bytes allocated through Python's / numpy's allocators while ``fn`` runs (numpy
    reports its array buffers to tracemalloc; the C++ index storage is not traced)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_torch_tensors_are_read_in_place():
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((50_000, 64)).astype(np.float32))
    nbytes = x.numel() * 4  # 12.8 MB
    for cls in (densefb.FlatIndex, densefb.HnswIndex):
        index = cls(64)
        if cls is densefb.HnswIndex:
            x_small = x[:2000]
            peak = traced_peak(lambda: index.add(x_small))
            assert peak < x_small.numel() * 4 / 10
            continue
        peak = traced_peak(lambda: index.add(x))
        assert peak < nbytes / 100, peak  # no copy of the 12.8 MB tensor
        np.testing.assert_array_equal(index.reconstruct(np.array([0, 49_999])), x[[0, 49_999]].numpy())
    # Control: layouts that need a conversion are converted once (so the measure can see copies).
    assert traced_peak(lambda: densefb.FlatIndex(64).add(x.double())) >= nbytes
    assert traced_peak(lambda: densefb.FlatIndex(64).add(x.t().contiguous().t())) >= nbytes

    index = densefb.FlatIndex(64)
    index.add(x[:5000])
    queries = x[:20_000]
    scores, ids = index.search(queries[:100], k=5)
    assert (ids[:, 0] == np.arange(100)).all()
    # Results wrap as tensors without a copy.
    t = densefb.as_tensor(scores)
    assert t.data_ptr() == scores.ctypes.data and np.shares_memory(t.numpy(), scores)


def test_tensors_that_require_grad_are_detached():
    torch = pytest.importorskip("torch")
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(1), requires_grad=True)
    index = densefb.FlatIndex(16)
    index.add(x, ids=torch.arange(1000, 1300))
    scores, ids = index.search(x[:7] * 2, k=3)  # a non-leaf tensor with a grad_fn
    want = x.detach().numpy() @ x[:7].detach().numpy().T * 2
    np.testing.assert_array_equal(ids[:, 0], 1000 + want.argmax(0))
    np.testing.assert_allclose(scores[:, 0], want.max(0), rtol=1e-5)
    assert x.grad is None and x.requires_grad  # the caller's tensor is left as it was


def _cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch


def test_cuda_tensors_are_accepted_everywhere():
    torch = _cuda()
    rng = np.random.default_rng(3)
    docs = rng.standard_normal((2000, 32)).astype(np.float32)
    queries = rng.standard_normal((50, 32)).astype(np.float32)
    for cls in (densefb.FlatIndex, densefb.HnswIndex):
        index = cls(32)
        index.add(torch.from_numpy(docs).cuda(), ids=torch.arange(2000).cuda() + 10)
        np.testing.assert_array_equal(index.reconstruct(np.arange(10, 2010)), docs)
        want = index.search(queries, k=10)
        got = index.search(torch.from_numpy(queries).cuda().requires_grad_(), k=10)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])


# ---- the BEIR downloader, offline ----------------------------------------------------------------

def _no_network(*args, **kwargs):
    raise AssertionError("the network was used")


def test_download_beir_uses_the_cache_without_network(monkeypatch, tmp_path, shared_data):
    monkeypatch.setattr(datasets.urllib.request, "urlopen", _no_network)
    cache = tmp_path / "cache"
    shutil.copytree(shared_data / "scifact", cache / "scifact")
    path = densefb.download_beir("scifact", cache)
    assert path == cache / "scifact"
    assert len(densefb.load_beir(path).queries) == 300
    monkeypatch.setenv("DENSEFB_CACHE", str(tmp_path / "cache-root"))
    assert datasets.default_cache_dir() == tmp_path / "cache-root" / "beir"
    (tmp_path / "cache-root" / "beir").mkdir(parents=True)
    (tmp_path / "cache-root" / "beir" / "scifact").symlink_to(cache / "scifact")
    assert densefb.download_beir("scifact") == tmp_path / "cache-root" / "beir" / "scifact"
    with pytest.raises(ValueError, match="unknown BEIR collection 'nope'"):
        densefb.download_beir("nope", cache)
    with pytest.raises(ValueError, match="invalid collection name"):
        densefb.download_beir("../x", cache)
    assert datasets.BEIR_DATASETS["scifact"] == "5f7d1de60b170fc8027bb7898e2efca1"
    assert datasets.BEIR_URL.format(name="scifact").endswith("/thakur/BEIR/datasets/scifact.zip")


def test_download_beir_checks_and_unpacks_a_local_archive(tmp_path, shared_data, scifact):
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as z:  # the BEIR layout: <name>/corpus.jsonl ...
        for f in ("corpus.jsonl.gz", "queries.jsonl.gz", "qrels/test.tsv"):
            z.write(shared_data / "scifact" / f, f"tiny/{f}")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="MD5 .* differs"):
        densefb.download_beir("tiny", cache, url=archive.as_uri(), md5="0" * 32, show_progress=False)
    assert list(cache.iterdir()) == []  # nothing left behind
    path = densefb.download_beir("tiny", cache, url=archive.as_uri(), md5=md5, show_progress=False)
    assert path == cache / "tiny" and sorted(p.name for p in cache.iterdir()) == ["tiny"]
    assert densefb.load_beir(path).corpus.ids == scifact.corpus.ids
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../outside.txt", "x")
    with pytest.raises(ValueError, match="outside the folder"):
        densefb.download_beir("evil", cache, url=evil.as_uri(), show_progress=False)
    assert not (tmp_path / "outside.txt").exists() and sorted(p.name for p in cache.iterdir()) == ["tiny"]
