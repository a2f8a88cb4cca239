"""Live add / delete / update of the vector indexes on SciFact (all-MiniLM-L6-v2 vectors): random
sequences with searches in between. The flat index equals a fresh build of the current
collection bit for bit after every step; HNSW never returns a deleted document and keeps recall;
a PRF pipeline over an updated index equals the same pipeline over a fresh one."""
import threading

import numpy as np
import pytest

import densefb

N_START = 2500


class Collection:
    """The documents an index should hold, {id: vector}, and a random step generator drawing
    vectors from SciFact's documents."""

    def __init__(self, D, seed):
        self.D = D
        self.rng = np.random.default_rng(seed)
        self.vectors = {i: D[i] for i in range(N_START)}
        self.deleted = []
        self.next_id = N_START

    def step(self, index):
        op = self.rng.integers(3)
        live = np.fromiter(self.vectors, dtype=np.int64)
        if op == 0:
            n = int(self.rng.integers(1, 60))
            ids = []
            for _ in range(n):
                if self.deleted and self.rng.random() < 0.3:  # a deleted document comes back
                    ids.append(self.deleted.pop(int(self.rng.integers(len(self.deleted)))))
                else:
                    ids.append(self.next_id)
                    self.next_id += 1
            rows = self.D[self.rng.integers(0, len(self.D), n)]
            index.add(rows, ids=np.array(ids, dtype=np.int64))
            self.vectors.update(zip(ids, rows))
        elif op == 1:
            ids = self.rng.choice(live, int(self.rng.integers(1, 80)), replace=False)
            index.delete(ids)
            for i in ids:
                del self.vectors[int(i)]
            self.deleted.extend(int(i) for i in ids)
        else:
            ids = self.rng.choice(live, int(self.rng.integers(1, 40)), replace=False)
            rows = self.D[self.rng.integers(0, len(self.D), len(ids))]
            index.update(rows, ids=ids)
            self.vectors.update(zip((int(i) for i in ids), rows))

    def fresh_flat(self, order=None):
        """A new flat index of the collection, added in `order` (default: by id)."""
        order = np.array(sorted(self.vectors) if order is None else order, dtype=np.int64)
        index = densefb.FlatIndex(self.D.shape[1], metric="ip")
        index.add(np.stack([self.vectors[int(i)] for i in order]), ids=order)
        return index


@pytest.fixture(scope="module")
def docs_queries(vectors):
    D, Q = vectors
    return D, Q[:100]


def test_flat_after_every_step_equals_a_fresh_build(docs_queries):
    D, Q = docs_queries
    index = densefb.FlatIndex(D.shape[1], metric="ip")
    index.add(D[:N_START])
    c = Collection(D, seed=1)
    allowed = np.arange(0, 6000, 2)
    for step in range(40):
        c.step(index)
        assert index.ntotal == len(c.vectors) and index.num_deleted == 0
        # Ties go to the earlier-added vector: the fresh build adds in the index's row order.
        fresh = c.fresh_flat(order=index.ids)
        for k in (10, 100):
            got, want = index.search(Q, k), fresh.search(Q, k)
            np.testing.assert_array_equal(got[1], want[1], err_msg=f"step {step}, k {k}")
            np.testing.assert_array_equal(got[0], want[0], err_msg=f"step {step}, k {k}")
        got, want = index.search(Q, 10, filter=allowed), fresh.search(Q, 10, filter=allowed)
        np.testing.assert_array_equal(got[1], want[1])
        # Against numpy too: inner products of the current vectors.
        ids = np.fromiter(c.vectors, dtype=np.int64)
        ref = Q @ np.stack([c.vectors[int(i)] for i in ids]).T
        np.testing.assert_allclose(got_top := index.search(Q, 1)[0][:, 0], ref.max(axis=1), rtol=1e-5)
        assert got_top.shape == (len(Q),)
    ids = np.fromiter(c.vectors, dtype=np.int64)
    np.testing.assert_array_equal(index.reconstruct(ids), np.stack([c.vectors[int(i)] for i in ids]))


def test_hnsw_never_returns_deleted_documents_and_keeps_recall(docs_queries, tmp_path):
    D, Q = docs_queries
    index = densefb.HnswIndex(D.shape[1], metric="ip", M=16, ef_construction=100, num_threads=1)
    index.add(D[:N_START])
    c = Collection(D, seed=2)
    recalls = []
    for step in range(30):
        c.step(index)
        assert index.ntotal == len(c.vectors)
        _, ids = index.search(Q, 10, ef=64)
        live = np.fromiter(c.vectors, dtype=np.int64)
        assert np.isin(ids, live).all(), f"step {step}: a deleted or unknown id came back"
        _, truth = c.fresh_flat().search(Q, 10)
        recalls.append(np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(ids, truth)]))
    assert np.mean(recalls) >= 0.95, recalls
    assert index.num_deleted > 0  # the last deletions are waypoints until reused or compacted
    # A save with deleted rows loads back with the same results.
    index.save(tmp_path / "h.hnsw")
    loaded = densefb.HnswIndex.load(tmp_path / "h.hnsw")
    assert loaded.num_deleted == index.num_deleted
    np.testing.assert_array_equal(loaded.search(Q, 10, ef=64)[1], index.search(Q, 10, ef=64)[1])
    # Slots are reused: adding as many documents as are deleted frees every slot.
    holes = index.num_deleted
    index.add(D[:holes], ids=np.arange(100000, 100000 + holes))
    assert index.num_deleted == 0
    index.delete(np.arange(100000, 100000 + holes))
    index.compact()
    assert index.num_deleted == 0 and index.ntotal == len(c.vectors)
    _, ids = index.search(Q, 10, ef=64)
    _, truth = c.fresh_flat().search(Q, 10)
    assert np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(ids, truth)]) >= 0.95


def test_prf_pipeline_over_an_updated_index_equals_a_fresh_one(docs_queries, scifact):
    """Feedback vectors are read from the index as it is now: deleted documents are never
    feedback documents and updated ones give their new vectors."""
    D, Q = docs_queries
    index = densefb.FlatIndex(D.shape[1], metric="ip")
    index.add(D)
    rng = np.random.default_rng(3)
    gone = rng.choice(len(D), 1500, replace=False)
    index.delete(gone)
    changed = rng.choice(np.setdiff1d(np.arange(len(D)), gone), 300, replace=False)
    index.update(D[rng.integers(0, len(D), 300)] * 1.5, ids=changed)
    fresh = densefb.FlatIndex(D.shape[1], metric="ip")
    fresh.add(index.reconstruct(index.ids), ids=index.ids)
    p = densefb.Pipeline("dense(k=100) >> rocchio(topk=5) >> dense(k=100)")
    queries = list(zip(scifact.queries.ids[:100], scifact.queries.texts[:100]))
    got = p.rank(densefb.Resources(corpus=scifact.corpus, dense_index=index), queries, k=100, query_vectors=Q)
    want = p.rank(densefb.Resources(corpus=scifact.corpus, dense_index=fresh), queries, k=100, query_vectors=Q)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert not np.isin(got[1], gone).any()


def test_updates_while_searching_from_python_threads(docs_queries):
    """Deletes and updates from one thread while others search (the GIL is released in both):
    no search fails and none returns an id deleted before it started."""
    D, Q = docs_queries
    for index in (densefb.FlatIndex(D.shape[1], metric="ip"),
                  densefb.HnswIndex(D.shape[1], metric="ip", M=8, ef_construction=40)):
        index.add(D[:2000])
        deleted_before = set()
        lock = threading.Lock()
        stop = threading.Event()
        errors = []

        def search():
            while not stop.is_set():
                with lock:
                    gone = set(deleted_before)
                _, ids = index.search(Q[:20], 10)
                if gone & set(ids.ravel().tolist()):
                    errors.append("a deleted id was returned")

        readers = [threading.Thread(target=search) for _ in range(2)]
        for t in readers:
            t.start()
        try:
            for b in range(20):
                batch = np.arange(b * 50, b * 50 + 25)
                index.delete(batch)
                with lock:
                    deleted_before.update(batch.tolist())
                index.update(D[2000 + b * 10: 2010 + b * 10], ids=np.arange(b * 50 + 30, b * 50 + 40))
        finally:
            stop.set()
            for t in readers:
                t.join()
        assert not errors
        assert index.ntotal == 1500


def test_bad_updates_name_the_problem_and_change_nothing(docs_queries):
    D, _ = docs_queries
    for index in (densefb.FlatIndex(D.shape[1]), densefb.HnswIndex(D.shape[1])):
        index.add(D[:10])
        with pytest.raises(KeyError, match="id 42"):
            index.delete([3, 42])
        with pytest.raises(ValueError, match="appears twice"):
            index.delete([3, 3])
        with pytest.raises(KeyError, match="id 11"):
            index.update(D[:1], ids=[11])
        bad = D[:1].copy()
        bad[0, 5] = np.nan
        with pytest.raises(ValueError):
            index.update(bad, ids=[2])
        assert index.ntotal == 10
        np.testing.assert_array_equal(index.reconstruct([2, 3]), D[2:4])
