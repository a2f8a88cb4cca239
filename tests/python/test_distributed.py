"""densefb.distributed on a local Ray instance (2 CPUs, one worker process per shard actor):
sharded indexes built with densefb.distributed.build give the single index's rankings."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import densefb  # noqa: E402
from densefb import distributed as dd  # noqa: E402

from conftest import packaged_minilm  # noqa: E402


@pytest.fixture(scope="module")
def tied_vectors(vectors):
    """SciFact's document vectors with rows 0..99 copied over rows 4000..4099: exact score ties
    between documents that land in different shards."""
    D, Q = vectors
    D = D.copy()
    D[4000:4100] = D[0:100]
    return D, Q


@pytest.fixture(scope="module")
def single_flat(tied_vectors):
    D, _ = tied_vectors
    index = densefb.FlatIndex(D.shape[1], metric="ip")
    index.add(D)
    return index


def _build(shared_data, tmp_path_factory, name, **kwargs):
    out = tmp_path_factory.mktemp(name)
    dd.build(shared_data / "scifact", out, show_progress=False, **kwargs)
    return out


def test_plan_shards():
    assert dd.plan_shards(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert dd.plan_shards(10, sizes=[1, 2, 7]) == [(0, 1), (1, 3), (3, 10)]
    with pytest.raises(ValueError, match="add up to 9"):
        dd.plan_shards(10, sizes=[1, 8])
    with pytest.raises(ValueError, match="every shard needs one"):
        dd.plan_shards(2, 3)


def test_merge_topk_orders_ties_by_id_and_pads_last():
    a = (np.array([[3.0, 1.0, -np.inf]], np.float32), np.array([[7, 2, -1]]))
    b = (np.array([[3.0, 2.0]], np.float32), np.array([[5, 9]]))
    scores, ids = dd.merge_topk([a, b], 5)
    assert ids.tolist() == [[5, 7, 9, 2, -1]]
    assert scores[0, :4].tolist() == [3.0, 3.0, 2.0, 1.0]


@pytest.mark.parametrize("sizes", [[2591, 2592], [1000, 3000, 1183], [1, 700, 1, 2000, 480, 1000, 1001]],
                         ids=["2-shards", "3-uneven", "7-uneven"])
def test_sharded_flat_equals_single_index_ties_included(local_ray, shared_data, tmp_path_factory,
                                                        tied_vectors, single_flat, sizes):
    D, Q = tied_vectors
    out = _build(shared_data, tmp_path_factory, "flat", sizes=sizes, vectors=D, bm25=False)
    with dd.ShardedIndex(out) as index:
        assert index.num_shards == len(sizes)
        scores, ids = index.dense.search(Q, 1000)
    want_scores, want_ids = single_flat.search(Q, 1000)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(scores, want_scores)
    # the duplicated rows do tie across shards, and the smaller position wins
    s, i = single_flat.search(D[:5], 2)
    assert (s[:, 0] == s[:, 1]).all() and (i[:, 0] < 4000).all() and (i[:, 1] >= 4000).all()


@pytest.fixture(scope="module")
def sharded_scifact(local_ray, shared_data, tmp_path_factory, vectors):
    """SciFact in 3 uneven shards (flat + BM25), opened."""
    D, _ = vectors
    out = _build(shared_data, tmp_path_factory, "scifact3", sizes=[1500, 2500, 1183], vectors=D,
                 model=os.fspath(packaged_minilm()))
    with dd.ShardedIndex(out) as index:
        yield index


@pytest.mark.parametrize("spec", ["dense >> rocchio(topk=5) >> dense", "dense >> avg(k=3) >> dense",
                                  "dense >> rocchio(alpha=1,beta=0.75,gamma=0.15,topk=3,bottomk=10) >> rescore"])
def test_sharded_vector_prf_equals_single_index(sharded_scifact, scifact, scifact_flat, vectors, spec):
    _, Q = vectors
    got = densefb.Pipeline(spec).run(sharded_scifact.resources(encoder=None), scifact.queries, k=100,
                                     query_vectors=Q)
    want = densefb.Pipeline(spec).run(densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat),
                                      scifact.queries, k=100, query_vectors=Q)
    assert got.to_dict() == want.to_dict()


def test_sharded_reconstruct_fetches_from_owning_shards(sharded_scifact, vectors):
    D, _ = vectors
    ids = np.array([5182, 0, 1499, 1500, 4000, 3999, 17])
    np.testing.assert_array_equal(sharded_scifact.dense.reconstruct(ids), D[ids])
    with pytest.raises(KeyError, match="5183"):
        sharded_scifact.dense.reconstruct(np.array([5183]))


def test_hnsw_shards_recall_against_exact(local_ray, shared_data, tmp_path_factory, vectors, scifact_flat):
    D, Q = vectors
    out = _build(shared_data, tmp_path_factory, "hnsw", shards=3, vectors=D, bm25=False, dense="hnsw",
                 index_args={"M": 16, "ef_construction": 200, "ef_search": 64})
    with dd.ShardedIndex(out) as index:
        assert not index.dense.exact
        _, ids = index.dense.search(Q, 10)
    _, exact = scifact_flat.search(Q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), exact.tolist())])
    assert recall >= 0.95, recall


def _scifact_head(shared_data, folder, n):
    """The first n SciFact documents as folder/corpus.jsonl."""
    lines = gzip.open(shared_data / "scifact" / "corpus.jsonl.gz", "rt", encoding="utf-8").read().splitlines()
    (folder / "corpus.jsonl").write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")


def _check_vectors_equal_in_process(folder):
    """The sharded index in folder/idx holds the in-process encoder's vectors of folder's corpus."""
    corpus = densefb._core.read_beir_corpus(os.fspath(folder / "corpus.jsonl"))
    want = densefb.Encoder.from_pretrained(packaged_minilm()).encode(corpus.texts(), batch_size=16,
                                                                    show_progress=False)
    with dd.ShardedIndex(folder / "idx") as index:
        got = index.dense.reconstruct(np.arange(len(corpus)))
    assert np.abs(got - want).max() <= 1e-5
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() >= 0.99999


def test_ray_data_encoding_equals_in_process(local_ray, shared_data, tmp_path):
    _scifact_head(shared_data, tmp_path, 96)
    m = dd.build(tmp_path, tmp_path / "idx", shards=2, model=os.fspath(packaged_minilm()), bm25=False,
                 num_actors=2, block_size=16, batch_size=16, show_progress=False)
    assert m["model"]["precomputed"] is False
    _check_vectors_equal_in_process(tmp_path)


def test_build_resumes_without_redoing_finished_shards(local_ray, shared_data, tmp_path, vectors):
    D, _ = vectors
    first = dd.build(shared_data / "scifact", tmp_path, shards=3, vectors=D, bm25=False, show_progress=False)
    kept = tmp_path / "shard-000" / "dense.flat"
    stamp = kept.stat().st_mtime_ns
    # as if the build had been killed while writing the last shard
    shutil.rmtree(tmp_path / "shard-002")
    (tmp_path / "manifest.json").unlink()
    second = dd.build(shared_data / "scifact", tmp_path, shards=3, vectors=D, bm25=False, show_progress=False)
    assert second["reused_shards"] == [0, 1]
    assert kept.stat().st_mtime_ns == stamp
    assert [s["files"] for s in second["shards"]] == [s["files"] for s in first["shards"]]
    # other settings are a different build: nothing is reused
    third = dd.build(shared_data / "scifact", tmp_path, shards=3, vectors=D, bm25=False,
                     index_args={"metric": "cosine"}, show_progress=False)
    assert third["reused_shards"] == []


def test_missing_or_corrupt_shard_file_is_refused_naming_it(local_ray, shared_data, tmp_path, vectors):
    D, _ = vectors
    dd.build(shared_data / "scifact", tmp_path, shards=2, vectors=D, bm25=False, show_progress=False)
    target = tmp_path / "shard-001" / "dense.flat"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the format's checksum can tell
    target.write_bytes(bytes(data))
    with pytest.raises(dd.ShardError, match=r"shard 1 .*dense\.flat"):
        dd.ShardedIndex(tmp_path, max_restarts=0)
    target.unlink()
    with pytest.raises(FileNotFoundError, match=r"shard-001/dense\.flat"):
        dd.ShardedIndex(tmp_path)


def test_killed_actor_is_restarted_or_reported_never_partial(local_ray, shared_data, tmp_path, vectors,
                                                             scifact_flat):
    D, Q = vectors
    dd.build(shared_data / "scifact", tmp_path, shards=3, vectors=D, bm25=False, show_progress=False)
    want = scifact_flat.search(Q, 100)
    with dd.ShardedIndex(tmp_path, max_restarts=1) as index:
        ray.kill(index._actors[1], no_restart=False)  # between calls: Ray restarts it
        got = index.dense.search(Q, 100)
        np.testing.assert_array_equal(got[1], want[1])

        # during a call: the call is retried on the restarted actor, or it fails naming the shard
        big = np.tile(Q, (40, 1))
        outcome = {}

        def search():
            try:
                outcome["result"] = index.dense.search(big, 100)
            except dd.ShardError as e:
                outcome["error"] = e

        t = threading.Thread(target=search)
        t.start()
        time.sleep(0.3)
        ray.kill(index._actors[2], no_restart=False)
        t.join(120)
        if "result" in outcome:
            np.testing.assert_array_equal(outcome["result"][1], np.tile(want[1], (40, 1)))
        else:
            assert "shard 2" in str(outcome["error"])

        ray.kill(index._actors[0], no_restart=True)  # gone for good
        with pytest.raises(dd.ShardError, match=r"shard 0 .*died"):
            index.dense.search(Q, 100)
        # inside a pipeline the same error reaches the caller
        with pytest.raises(dd.ShardError, match="shard 0"):
            densefb.Pipeline("dense").run(densefb.Resources(corpus=index.corpus(), dense_index=index.dense),
                                          {"q": "x"}, k=10, query_vectors=Q[:1])


# ---- BM25 and RM3 over shards (collection statistics) --------------------------------------


@pytest.fixture(scope="module")
def cranfield(shared_data):
    if not (shared_data / "cranfield").is_dir():
        pytest.skip("no Cranfield in $DENSEFB_DATA")
    return densefb.load_beir(shared_data / "cranfield", "test")


def _bm25_case(request, shared_data, tmp_path_factory):
    """(dataset, single BM25 index, opened sharded index) for SciFact in 3 uneven shards or
    Cranfield in 7."""
    name, sizes = request.param
    data = request.getfixturevalue(name)
    out = tmp_path_factory.mktemp(f"bm25-{name}")
    dd.build(shared_data / name, out, sizes=sizes, dense=None, bm25=True, show_progress=False)
    return data, densefb.Bm25Index.build(data.corpus), out


@pytest.fixture(scope="module", params=[("scifact", [1500, 2500, 1183]),
                                        ("cranfield", [100, 300, 1, 400, 99, 250, 250])],
                ids=["scifact-3", "cranfield-7"])
def bm25_case(request, local_ray, shared_data, tmp_path_factory):
    data, single, out = _bm25_case(request, shared_data, tmp_path_factory)
    with dd.ShardedIndex(out) as index:
        yield data, single, index


def test_sharded_bm25_scores_equal_single_index(bm25_case):
    data, single, index = bm25_case
    texts = list(data.queries.texts)
    want_scores, want_ids = single.search(texts, 1000)
    assert isinstance(index.bm25, densefb.Bm25Collection)
    got_scores, got_ids = index.bm25.search(texts, 1000)
    np.testing.assert_array_equal(got_ids, want_ids)
    finite = want_ids >= 0
    assert np.abs(got_scores[finite] - want_scores[finite]).max() <= 1e-6
    # without the collection's statistics the shards would not agree with one index
    shard = densefb.Bm25Index.load(index.folder / "shard-001" / "bm25.index")
    start = index.shards[1]["start"]
    local = shard.score(texts[0], range(shard.num_docs))
    whole = single.score(texts[0], range(start, start + shard.num_docs))
    assert np.abs(local - whole).max() > 1e-3


def test_sharded_rm3_equals_single_index(bm25_case):
    data, single, index = bm25_case
    single_resources = densefb.Resources(corpus=data.corpus, bm25=single)
    want = densefb.Pipeline("bm25 >> rm3 >> bm25").run(single_resources, data.queries, k=1000).to_dict()
    resources = index.resources(encoder=None)
    got = densefb.Pipeline("bm25 >> rm3 >> bm25").run(resources, data.queries, k=1000).to_dict()
    assert got.keys() == want.keys()
    for q in want:
        assert list(got[q]) == list(want[q]), q
        assert max(abs(got[q][d] - want[q][d]) for d in want[q]) <= 1e-6
    # other parameters, and the k1/b check the bm25 stage makes of any BM25 collection
    spec = "bm25 >> rm3(fb_docs=5,fb_terms=20) >> bm25"
    got = densefb.Pipeline(spec).run(resources, data.queries, k=100).to_dict()
    want = densefb.Pipeline(spec).run(single_resources, data.queries, k=100).to_dict()
    assert {q: list(d) for q, d in got.items()} == {q: list(d) for q, d in want.items()}
    with pytest.raises(Exception, match="k1 = 1.5.*scores with k1 = 0.9"):
        densefb.Pipeline("bm25(k1=1.5)").run(resources, data.queries, k=10)


@pytest.mark.parametrize("spec", ["fuse(rrf(k=60), dense, bm25) >> avg(k=3) >> dense",
                                  "fuse(rrf(k=60), dense, bm25) >> rm3(scores=bm25) >> bm25"])
def test_sharded_stages_compose_with_fusion(sharded_scifact, scifact, scifact_flat, scifact_bm25, vectors,
                                            spec):
    _, Q = vectors
    want = densefb.Pipeline(spec).run(densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat,
                                                        bm25=scifact_bm25), scifact.queries, k=100,
                                      query_vectors=Q).to_dict()
    got = densefb.Pipeline(spec).run(sharded_scifact.resources(encoder=None), scifact.queries, k=100,
                                     query_vectors=Q).to_dict()
    assert got == want


def test_sharded_filtered_pipelines_equal_single_index(sharded_scifact, scifact, scifact_flat, scifact_bm25,
                                                       vectors):
    """A per-query filter reaches every shard (dense ids and BM25's shard-local numbers): the
    filtered dense PRF and BM25 runs equal one index's."""
    _, Q = vectors
    rng = np.random.default_rng(4)
    n, nq = scifact_flat.ntotal, len(Q)
    allowed = rng.random((nq, n)) < 0.05
    single = densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat, bm25=scifact_bm25)
    for spec in ("dense >> rocchio(topk=5) >> dense", "bm25 >> rm3 >> bm25"):
        want = densefb.Pipeline(spec).run(single, scifact.queries, k=100, query_vectors=Q, filter=allowed).to_dict()
        got = densefb.Pipeline(spec).run(sharded_scifact.resources(encoder=None), scifact.queries, k=100,
                                         query_vectors=Q, filter=allowed).to_dict()
        assert {q: list(d) for q, d in got.items()} == {q: list(d) for q, d in want.items()}, spec
        assert max(abs(got[q][d] - want[q][d]) for q in want for d in want[q]) <= 1e-5


def test_cli_index_shards_and_search_equal_single_index(local_ray, shared_data, tmp_path, vectors):
    import subprocess
    import sys

    D, _ = vectors
    np.save(tmp_path / "D.npy", D)
    address = ray.get_runtime_context().gcs_address
    model = os.fspath(packaged_minilm())

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "densefb.cli", *args], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        return r

    common = [os.fspath(shared_data / "scifact"), "--bm25", "--vectors", os.fspath(tmp_path / "D.npy"), "-m", model]
    cli("index", *common, "-o", os.fspath(tmp_path / "single"))
    r = cli("index", *common, "-o", os.fspath(tmp_path / "sharded"), "--shards", "3", "--ray", address)
    assert "3 shards of 5183 documents" in r.stdout
    for name, flags in (("rocchio", ["--prf", "rocchio"]), ("rm3", ["--retriever", "bm25", "--rm3"])):
        runs = []
        for index, extra in (("single", []), ("sharded", ["--ray", address])):
            out = tmp_path / f"{index}-{name}.trec"
            cli("search", os.fspath(tmp_path / index), "--dataset", os.fspath(shared_data / "scifact"),
                "-o", os.fspath(out), "-k", "100", *flags, *extra)
            runs.append(densefb.read_trec_run(out).to_dict())
        assert runs[0] == runs[1], name


def test_cli_experiment_over_a_sharded_index_equals_single(local_ray, shared_data, tmp_path):
    import subprocess
    import sys

    address = ray.get_runtime_context().gcs_address
    data = os.fspath(shared_data / "cranfield")

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "densefb.cli", *args], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        return r

    cli("index", data, "-o", os.fspath(tmp_path / "idx"), "--shards", "3", "--dense", "none", "--bm25",
        "--ray", address)
    common = ["experiment", "--dataset", data, "--pipeline", "bm25", "--pipeline", "bm25 >> rm3 >> bm25",
              "--metrics", "nDCG@10", "AP", "--k", "100"]
    cli(*common, "--no-cache", "--json", os.fspath(tmp_path / "single.json"))
    cli(*common, "--sharded-index", os.fspath(tmp_path / "idx"), "--ray", address,
        "--json", os.fspath(tmp_path / "sharded.json"))
    single = json.loads((tmp_path / "single.json").read_text())
    sharded = json.loads((tmp_path / "sharded.json").read_text())

    def values(result):
        return {s["name"]: (s["mean"], s["per_query"]) for s in result["systems"]}

    assert values(sharded) == values(single)
    assert sharded["systems"][1]["pipeline"] == single["systems"][1]["pipeline"]


def test_manifest_with_a_gap_or_a_slow_shard_is_reported(local_ray, shared_data, tmp_path, vectors):
    D, Q = vectors
    dd.build(shared_data / "scifact", tmp_path, shards=3, vectors=D, bm25=False, show_progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    with dd.ShardedIndex(tmp_path) as index:
        index.timeout_s = 1e-4
        with pytest.raises(dd.ShardError, match=r"did not answer search within"):
            index.dense.search(np.tile(Q, (20, 1)), 1000)
    manifest["shards"][1]["start"] += 1  # a document no shard holds
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"manifest.json: shard 1 covers \[1729, 3456\)"):
        dd.ShardedIndex(tmp_path)


def test_build_recovers_from_a_killed_encoder_actor(local_ray, shared_data, tmp_path):
    import signal

    _scifact_head(shared_data, tmp_path, 128)
    killed = []

    def encoder_pids():  # Ray names an actor's process after its class ("ray::MapWorker(...)")
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        if b"_EncodeBlocks" in f.read():
                            pids.append(int(entry))
                except OSError:
                    continue
        return pids

    def kill_the_encoder():  # SIGKILL the encoder actor's process while it loads or encodes
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pids = encoder_pids()
            if pids:
                time.sleep(3.0)
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_the_encoder, daemon=True)
    killer.start()
    dd.build(tmp_path, tmp_path / "idx", shards=2, model=os.fspath(packaged_minilm()), bm25=False,
             num_actors=1, block_size=16, batch_size=16, show_progress=False)
    killer.join(10)
    assert killed, "the encoder actor was never seen alive"
    _check_vectors_equal_in_process(tmp_path)
