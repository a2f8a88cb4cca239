"""The committed type stubs of the compiled modules (python/densefb/_core.pyi, _torch.pyi) list
every public name the modules define, so an IDE or type checker sees the whole API; regenerate
them with scripts/stubs.sh."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import densefb

PACKAGE = Path(densefb.__file__).resolve().parent


def stub_names(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


@pytest.mark.parametrize("module", ["_core", "_torch"])
def test_stubs_cover_the_compiled_module(module):
    stub = PACKAGE / f"{module}.pyi"
    if not stub.exists():  # the installed package keeps the stubs beside the modules
        stub = Path(__file__).resolve().parents[2] / "python" / "densefb" / f"{module}.pyi"
    try:
        mod = importlib.import_module(f"densefb.{module}")
    except ImportError:
        pytest.skip(f"densefb.{module} is not built")
    public = {n for n in dir(mod) if not n.startswith("_")}
    missing = sorted(public - stub_names(stub))
    assert not missing, f"{stub.name} lacks {missing}; run scripts/stubs.sh"


def test_package_is_marked_typed():
    assert (Path(__file__).resolve().parents[2] / "python" / "densefb" / "py.typed").exists()
