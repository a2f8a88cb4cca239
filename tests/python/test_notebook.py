"""Executes docs/notebooks/quickstart.ipynb end to end (as CI does) so that it never goes stale:
every cell must run without error, and the metrics table and the plot must appear."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conftest import REPO, data_dir

NOTEBOOK = REPO / "docs" / "notebooks" / "quickstart.ipynb"
TIMEOUT_S = 600  # per cell; the whole notebook takes well under two minutes on a 2-core CPU


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
            parts.append(out.get("data", {}).get("text/html", ""))
    return "".join(parts)


def test_committed_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, "commit the notebook with its outputs cleared"
            assert cell.execution_count is None


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    data = data_dir().resolve()
    if not (data / "scifact").is_dir():
        pytest.skip(f"real collections not found at {data} (set DENSEFB_DATA)")

    # The kernel ("python3": ipykernel's own spec, whose `python` jupyter_client runs as
    # sys.executable, the interpreter running the tests) inherits this process's environment:
    # densefb from where the tests import it, the data folder made absolute (the kernel runs in
    # docs/notebooks), the subset (not DENSEFB_NOTEBOOK_FULL), the inline matplotlib backend.
    import densefb

    package_dir = str(Path(densefb.__file__).parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in [package_dir, os.environ.get("PYTHONPATH", "")] if p))
    monkeypatch.setenv("DENSEFB_DATA", str(data))
    monkeypatch.delenv("DENSEFB_NOTEBOOK_FULL", raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, tmp_path / "quickstart.executed.ipynb")  # kept for inspection on failure

    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert cell.execution_count is not None, cell.source[:80]
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, f"{cell.source[:80]!r}: {errors[0].get('ename')}: {errors[0].get('evalue')}"

    # The metrics table: every pipeline with its means, the significance legend and tests.
    table_cell = next(c for c in code if "experiment.run()" in c.source)
    text = _outputs_text(table_cell)
    for name in ("dense >> avg(k=3) >> dense", "dense >> rocchio >> dense", "bm25",
                 "fuse(rrf, dense, bm25)", "nDCG@10", "R@100", "AP", "paired t-test",
                 "Wilcoxon", "p corr (t)"):
        assert name in text, f"{name!r} missing from the table output:\n{text}"
    frame_cell = next(c for c in code if "to_dataframe()" in c.source)
    assert any(o.get("output_type") == "execute_result" for o in frame_cell.outputs)
    assert "fuse(rrf, dense, bm25)" in _outputs_text(frame_cell)

    # The kernel ran this interpreter with densefb from the same place.
    setup = _outputs_text(code[0])
    assert f"densefb {densefb.__version__}" in setup, setup

    # The sweep printed one line per depth, and the plot is an image.
    sweep_cell = next(c for c in code if "depths = [1, 2, 3, 4, 5]" in c.source)
    assert sum(line.startswith("k=") for line in _outputs_text(sweep_cell).splitlines()) == 5
    plot_cell = next(c for c in code if "plt.show()" in c.source)
    images = [o for o in plot_cell.outputs
              if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) == 1, [o.get("output_type") for o in plot_cell.outputs]
    assert len(images[0]["data"]["image/png"]) > 10_000  # base64 PNG of two filled panels
    assert "queries better" in _outputs_text(plot_cell)
    print(f"notebook executed in {seconds:.1f} s")
