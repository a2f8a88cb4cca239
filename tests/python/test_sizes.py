"""Sizes a user passes (k, ef, depths, topk) are capped by what exists before anything is
allocated, or refused naming the argument; integer and id arguments are checked exactly.

The huge-size calls run in a subprocess whose address space is limited to 1.5 GiB above what
the interpreter holds after importing densefb and numpy: before the cap, k = 10**9 on 50
vectors allocated queries x k (gigabytes) and was killed or raised MemoryError.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import densefb
HUGE_CALLS = textwrap.dedent(
    """
    import resource
    import numpy as np
    import densefb
    from densefb import AveragePRF, Dense, Rescore, Resources, Rocchio
    from densefb.multivector import MultiVectorIndex
    from densefb.sparse import Bm25Index

    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 8)).astype(np.float32)
    q = rng.standard_normal((20, 8)).astype(np.float32)
    flat = densefb.FlatIndex(8)
    flat.add(x)
    hnsw = densefb.HnswIndex(8, ef_search=2**31 - 1)  # accepted: capped at ntotal when searching
    hnsw.add(x)
    bm25 = Bm25Index.build([f"word{i % 7} text{i}" for i in range(50)])
    mv = MultiVectorIndex(8)
    mv.add([x[i:i + 5] for i in range(0, 50, 5)], [np.arange(5, dtype=np.int32)] * 10)
    mv.build_token_index("flat")

    vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
    limit = vm + 3 * 2**29  # 1.5 GiB above the baseline
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def shape(name, arrays):
        print(name, *arrays[1].shape, flush=True)

    shape("flat", flat.search(q, k=10**9))
    shape("flat_huge_int", flat.search(q, k=10**30))
    shape("hnsw", hnsw.search(q, k=10**9))
    shape("hnsw_ef", hnsw.search(q, k=10, ef=2**31 - 1))
    shape("bm25", bm25.search(["word1", "word2 text3"], k=10**9))
    shape("bm25_rm3", bm25.search(["word1"], k=10**9, rm3={}))
    texts = ["q"] * len(q)
    big = 2**30  # the largest depth a stage takes: capped at the index size when searching
    shape("avg_prf", (Dense(k=big) >> AveragePRF(k=2**20) >> Dense(k=big)).rank(
        Resources(dense_index=flat), texts, k=10**9, query_vectors=q))
    shape("rocchio_prf", (Dense(k=big) >> Rocchio(topk=2**20) >> Dense(k=big)).rank(
        Resources(dense_index=flat), texts, k=10**9, query_vectors=q))
    shape("rocchio_rerank", (Dense(k=big, ef_search=big) >> Rocchio(topk=2**20) >> Rescore(k=big)).rank(
        Resources(dense_index=hnsw), texts, k=10**9, query_vectors=q))
    shape("multivector", mv.search([q[:3], q[3:6]], k=10**9, token_k=10**9))
    shape("multivector_rerank", mv.rerank([q[:3]], [np.arange(10)], k=10**9))
    print("done", flush=True)
    """
)


def test_huge_k_and_ef_under_bounded_memory():
    out = subprocess.run([sys.executable, "-c", HUGE_CALLS], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    shapes = {line.split()[0]: tuple(int(v) for v in line.split()[1:])
              for line in out.stdout.splitlines() if line != "done"}
    assert out.stdout.strip().endswith("done")
    assert shapes["flat"] == shapes["flat_huge_int"] == shapes["hnsw"] == (20, 50)
    assert shapes["hnsw_ef"] == (20, 10)
    assert shapes["bm25"][0] == 2 and shapes["bm25"][1] <= 50
    assert shapes["bm25_rm3"][0] == 1 and shapes["bm25_rm3"][1] <= 50
    assert shapes["avg_prf"] == shapes["rocchio_prf"] == shapes["rocchio_rerank"] == (20, 50)
    assert shapes["multivector"] == (2, 10) and shapes["multivector_rerank"] == (1, 10)


def test_capped_results_equal_exact_k():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 4)).astype(np.float32)
    index = densefb.FlatIndex(4)
    index.add(x)
    big = index.search(x, k=10**9)
    exact = index.search(x, k=30)
    np.testing.assert_array_equal(big[1], exact[1])
    np.testing.assert_array_equal(big[0], exact[0])
    hnsw = densefb.HnswIndex(4, num_threads=1)
    hnsw.add(x)
    s, i = hnsw.search(x, k=10**6, ef=10**6)
    assert i.shape == (30, 30) and (np.sort(i, axis=1) == np.arange(30)).all()


@pytest.mark.parametrize("call, message", [
    (lambda i: i.search(np.ones((1, 4), np.float32), k=2.0), "k must be an integer, got float 2.0"),
    (lambda i: i.search(np.ones((1, 4), np.float32), k=True), "k must be an integer, got bool True"),
    (lambda i: i.search(np.ones((1, 4), np.float32), k="3"), "k must be an integer, got str '3'"),
    (lambda i: i.search(np.ones((1, 4), np.float32), k=3, num_threads=2**40), "num_threads = 1099511627776 exceeds"),
    (lambda i: i.search(np.ones((1, 4), np.float32), k=-1), "k = -1 is negative"),
])
def test_integer_arguments_are_checked_by_name(call, message):
    index = densefb.FlatIndex(4)
    index.add(np.eye(4, dtype=np.float32))
    with pytest.raises((TypeError, ValueError)) as info:
        call(index)
    assert message in str(info.value)
    assert "incompatible function arguments" not in str(info.value)


def test_hnsw_ef_refused_at_build_and_search_naming_it():
    with pytest.raises(ValueError, match=r"ef_search = 1099511627776 exceeds 2147483647"):
        densefb.HnswIndex(4, ef_search=2**40)
    with pytest.raises(ValueError, match=r"ef_construction = 0 must be >= 1"):
        densefb.HnswIndex(4, ef_construction=0)
    with pytest.raises(TypeError, match=r"M must be an integer, got float 16.5"):
        densefb.HnswIndex(4, M=16.5)
    index = densefb.HnswIndex(4)
    index.add(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"ef = 2147483648 exceeds 2147483647"):
        index.search(np.ones((1, 4), np.float32), k=2, ef=2**31)
    with pytest.raises(ValueError, match=r"ef = 0 must be >= 1"):
        index.search(np.ones((1, 4), np.float32), k=2, ef=0)


def test_feedback_parameters_checked_by_name():
    from densefb import AveragePRF, Rocchio

    with pytest.raises(ValueError, match=r"topk = 1000000000000 is out of range \[1, 1048576\]"):
        Rocchio(topk=10**12)
    with pytest.raises(ValueError, match="topk.*2.5"):
        Rocchio(topk=2.5)
    with pytest.raises(ValueError, match="k.*true"):
        AveragePRF(k=True)
    with pytest.raises(ValueError, match="depth.*1.5"):
        Rocchio(depth=1.5)


@pytest.mark.parametrize("ids, message", [
    ([0.5], "ids[0] = 0.5 is not an integer"),
    (np.array([[0.0, 1.25]]), "ids[0][1] = 1.25 is not an integer"),
    ([True], "booleans"),
    (["a"], "must hold integer ids"),
    (np.array([2**64 - 1], dtype=np.uint64), "ids[0] = 18446744073709551615 is beyond int64"),
    ([1e300], "ids[0] = 1e+300 is beyond int64"),
    ([2.0**60], "too large for an exact float id"),
])
def test_float_and_out_of_range_ids_are_refused(ids, message):
    index = densefb.FlatIndex(3)
    index.add(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError) as info:
        index.reconstruct(ids)
    assert message in str(info.value)
    with pytest.raises(ValueError):
        index.add(np.ones((len(np.ravel(ids)), 3), np.float32), ids=np.ravel(np.asarray(ids, dtype=object)))


def test_integral_float_ids_are_exact_and_negative_ids_unknown():
    index = densefb.FlatIndex(3)
    x = np.arange(9, dtype=np.float32).reshape(3, 3)
    index.add(x)
    np.testing.assert_array_equal(index.reconstruct(np.array([2.0, 0.0])), x[[2, 0]])
    with pytest.raises(KeyError, match="-1"):
        index.reconstruct([-1])
    with pytest.raises(ValueError, match="negative|-3"):
        densefb.FlatIndex(3).add(x[:1], ids=[-3])


def test_bm25_and_multivector_ids_exact():
    from densefb.multivector import MultiVectorIndex
    from densefb.sparse import Bm25Index

    bm25 = Bm25Index.build(["a b", "b c", "c d"])
    assert bm25.score("b", [1.0]).shape == (1,)
    with pytest.raises(ValueError, match=r"doc_ids\[0\] = 0.5 is not an integer"):
        bm25.score("b", [0.5])
    with pytest.raises(ValueError, match=r"ids\[0\]\[1\] = 1.5 is not an integer"):
        bm25.rescore(["b"], np.array([[0.0, 1.5]]))
    mv = MultiVectorIndex(2)
    with pytest.raises(ValueError, match=r"token ids of document 0\[0\] = 2147483648 is beyond int32"):
        mv.add([np.ones((1, 2), np.float32)], [np.array([2**31])])
    with pytest.raises(ValueError, match=r"excluded_token_ids\[0\] = 0.5 is not an integer"):
        mv.excluded_token_ids = [0.5]


def test_bfloat16_tensors_are_widened_to_float32():
    torch = pytest.importorskip("torch")
    x = torch.randn(20, 8).to(torch.bfloat16)
    index = densefb.FlatIndex(8)
    index.add(x)
    np.testing.assert_array_equal(index.reconstruct(np.arange(20)), x.float().numpy())
    s, i = index.search(x[:3], k=5)
    s32, i32 = index.search(x[:3].float(), k=5)
    np.testing.assert_array_equal(i, i32)
