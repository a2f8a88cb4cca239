"""densefb._core and densefb._torch link one shared copy of the core library (libdensefb.so), so
the stage registry and every other static of the core exist once per process."""
from __future__ import annotations

from pathlib import Path

import pytest

from densefb import _core


def mapped_core_libraries() -> set[str]:
    paths = set()
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and Path(fields[5].strip()).name.startswith("libdensefb"):
                paths.add(str(Path(fields[5].strip()).resolve()))
    return paths


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc (Linux)")
def test_core_extension_loads_the_shared_core():
    libs = mapped_core_libraries()
    assert len(libs) == 1, libs
    # The core is a library of its own, not code inside the extension module.
    assert Path(_core.__file__).resolve() != Path(next(iter(libs)))


def test_torch_module_shares_the_core_of_core_module():
    _torch = pytest.importorskip("densefb._torch", exc_type=ImportError)
    # The same function address: one copy of the core's code and of its statics.
    assert _torch._core_address() == _core._core_address()
    if Path("/proc/self/maps").exists():
        assert len(mapped_core_libraries()) == 1, mapped_core_libraries()
