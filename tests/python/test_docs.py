"""The ```python blocks of docs/python-api.md run, in order, in one namespace, against a small
real collection cut from SciFact (named "scifact" under a temporary $DENSEFB_DATA), so the
guide's examples never rot. A block whose first line says "not run in tests" is skipped."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from beir_subset import write_subset

DOCS = Path(__file__).resolve().parents[2] / "docs"
SKIP_MARK = "not run in tests"


def python_blocks(path: Path):
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        code = match.group(1)
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((line, code))
    return blocks


def test_python_api_guide_runs(scifact, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    write_subset(scifact, data / "scifact", num_queries=25, extra_docs=120)
    monkeypatch.setenv("DENSEFB_DATA", str(data))
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(DOCS / "python-api.md")
    assert len(blocks) >= 8
    namespace = {"__name__": "__docs__"}
    ran = 0
    for line, code in blocks:
        if SKIP_MARK in code.splitlines()[0]:
            continue
        try:
            exec(compile(code, f"docs/python-api.md:{line}", "exec"), namespace)
        except Exception as error:  # pragma: no cover - the message says which block failed
            pytest.fail(f"docs/python-api.md block at line {line} failed: {type(error).__name__}: {error}")
        ran += 1
    assert ran == len(blocks) - 1
    out = capsys.readouterr().out
    assert "nDCG@10" in out and "rocchio(alpha=0.4,beta=0.6" in out
    # The guide's objects are what it says they are.
    assert namespace["q"].shape == (25, 384)
    assert list(namespace["df"].columns) == ["qid", "docno", "score", "rank"]


def test_readme_quick_start_runs(scifact, tmp_path, monkeypatch, capsys):
    """The README's Python quick start, as written, on the same small SciFact cut."""
    data = tmp_path / "data"
    write_subset(scifact, data / "scifact", num_queries=25, extra_docs=120)
    monkeypatch.setenv("DENSEFB_DATA", str(data))
    monkeypatch.setenv("DENSEFB_CACHE", str(tmp_path / "cache"))  # the Experiment's index cache
    monkeypatch.chdir(tmp_path)
    readme = DOCS.parent / "README.md"
    blocks = python_blocks(readme)
    assert len(blocks) >= 2
    namespace = {"__name__": "__readme__"}
    for line, code in blocks:
        try:
            exec(compile(code, f"README.md:{line}", "exec"), namespace)
        except Exception as error:  # pragma: no cover - the message says which block failed
            pytest.fail(f"README.md block at line {line} failed: {type(error).__name__}: {error}")
    out = capsys.readouterr().out
    assert "nDCG@10" in out and "dense >> avg(k=3) >> dense" in out
    assert (tmp_path / "scifact.flat").is_file()
