"""The headline pipeline of docs/effectiveness.md with a further checkpoint loaded by path.

A random BERT saved in sentence-transformers layout (Transformer, mean Pooling, Normalize) goes
through `densefb experiment --model PATH` unchanged, as bi-encoder and as token encoder, on a
small real SciFact folder. Its dense run is checked against sentence-transformers' own
encoding of that checkpoint, and its three-way min-max fusion against numpy's formula over the
component runs.
"""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("sentence_transformers")

from beir_subset import write_subset  # noqa: E402
from test_model_validation import copy_tokenizer, tiny_config  # noqa: E402

import densefb  # noqa: E402
from densefb.cli import main  # noqa: E402
from densefb.models import resolve_model  # noqa: E402

HEADLINE = "fuse(interpolate(norm=minmax),dense,bm25,maxsim)"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A 2-layer random BERT (hidden 32) with the MiniLM tokenizer, in sentence-transformers
    layout with a Normalize module, as all-MiniLM-L6-v2 has."""
    root = tmp_path_factory.mktemp("checkpoint") / "tiny-st"
    vocab = transformers.AutoTokenizer.from_pretrained(
        str(resolve_model("sentence-transformers/all-MiniLM-L6-v2"))).vocab_size
    torch.manual_seed(1)
    transformers.BertModel(tiny_config(vocab)).eval().save_pretrained(str(root))
    copy_tokenizer(root)
    (root / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (root / "1_Pooling").mkdir()
    (root / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True}))
    (root / "2_Normalize").mkdir()
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128,
                                                                "do_lower_case": False}))
    return root


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, scifact, checkpoint):
    """The headline and its three components through the CLI, runs saved."""
    root = tmp_path_factory.mktemp("headline")
    folder = root / "scifact-small"
    write_subset(scifact, folder, num_queries=15, extra_docs=40)
    rc = main(["experiment", "--dataset", str(folder), "--model", str(checkpoint),
               "--token-arg", "format=bert", "--token-arg", "doc_maxlen=180",
               "--token-arg", "query_maxlen=32", "--bm25-arg", "lucene_norms=true", "--no-cache",
               "--quiet", "--pipeline", "dense", "--pipeline", "bm25", "--pipeline", "maxsim",
               "--pipeline", HEADLINE, "--metrics", "nDCG@10",
               "--json", str(root / "table.json"), "--save-runs", str(root / "runs")])
    assert rc == 0
    table = json.loads((root / "table.json").read_text())
    runs = [read_run(s["run_file"]) for s in table["systems"]]
    return folder, table, runs


def read_run(path):
    run = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            q, _, d, rank, score, _ = line.split()
            run.setdefault(q, []).append((d, float(score)))
    return run


def test_dense_run_is_sentence_transformers_encoding_of_the_checkpoint(experiment, checkpoint):
    from sentence_transformers import SentenceTransformer

    folder, table, runs = experiment
    dataset = densefb.load_beir(folder, "test")
    model = SentenceTransformer(str(checkpoint), device="cpu")
    docs = model.encode(dataset.corpus.texts(), convert_to_numpy=True)
    queries = model.encode(list(dataset.queries.texts), convert_to_numpy=True)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    scores = queries @ docs.T
    ids = list(dataset.corpus.ids)
    dense = runs[0]
    assert set(dense) == set(dataset.queries.ids)
    for qi, q in enumerate(dataset.queries.ids):
        got = dense[q]
        assert len(got) == len(ids)  # 1000 deep, so every document of the small corpus
        want = {ids[j]: scores[qi, j] for j in range(len(ids))}
        for d, s in got:
            assert abs(s - want[d]) < 2e-5, (q, d, s, want[d])
        got_scores = [s for _, s in got]
        assert got_scores == sorted(got_scores, reverse=True)


def test_headline_is_the_min_max_sum_of_its_three_component_runs(experiment):
    _, table, runs = experiment
    assert table["systems"][3]["pipeline"] == densefb.Pipeline(HEADLINE).spec
    dense, bm25, maxsim, fused = runs
    for q, got in fused.items():
        want = {}
        for component in (dense, bm25, maxsim):
            lst = dict(component.get(q, []))
            if not lst:
                continue
            lo, hi = min(lst.values()), max(lst.values())
            for d, s in lst.items():
                norm = (s - lo) / (hi - lo) if hi > lo else 1.0
                want[d] = want.get(d, 0.0) + norm  # absent from a list: 0 there
        assert {d for d, _ in got} == set(want), q
        for d, s in got:
            assert abs(s - want[d]) < 1e-5, (q, d, s, want[d])
        # Ranked best first; the top document is numpy's best.
        assert got[0][1] == pytest.approx(max(want.values()), abs=1e-5)


def test_every_pipeline_is_evaluated(experiment):
    _, table, _ = experiment
    for s in table["systems"]:
        assert 0.0 <= s["mean"]["nDCG@10"] <= 1.0 and s["num_queries"] == 15
