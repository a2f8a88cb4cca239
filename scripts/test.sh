#!/usr/bin/env bash
# Runs every test on a fresh machine: installs dependencies (scripts/setup.sh), builds the C++
# library and runs the Catch2 tests with CTest, installs the CMake package and builds a C++
# consumer against it, installs the Python package and runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DENSEFB_JOBS:-2}
export DENSEFB_DATA=${DENSEFB_DATA:-$(cd .. && pwd)/shared/data}

scripts/setup.sh

echo "== C++: build and CTest"
cmake -S . -B build/ci -DCMAKE_BUILD_TYPE=Release -DDENSEFB_BUILD_TESTS=ON -DDENSEFB_WITH_TORCH=ON \
  -DPython_EXECUTABLE="$PWD/.venv/bin/python" -DDENSEFB_WARNINGS_AS_ERRORS=ON \
  -DCMAKE_INSTALL_PREFIX="$PWD/build/ci-install" >/dev/null
cmake --build build/ci -j"$jobs"
(cd build/ci && ctest --output-on-failure -j"$jobs")

echo "== C++: CTest under ASan + UBSan, then each libFuzzer target for a bounded time (build/asan)"
DENSEFB_FUZZ=ON scripts/sanitize.sh
DENSEFB_FUZZ_BUILD=build/asan DENSEFB_FUZZ_SECONDS=${DENSEFB_FUZZ_SECONDS:-20} \
  DENSEFB_FUZZ_SEED=${DENSEFB_FUZZ_SEED:-1} scripts/fuzz.sh

echo "== C++: installed package consumed with find_package(densefb)"
cmake --install build/ci >/dev/null
torch_prefix=$(.venv/bin/python -c "import torch.utils; print(torch.utils.cmake_prefix_path)")
cmake -S tests/consumer -B build/consumer -DCMAKE_PREFIX_PATH="$PWD/build/ci-install;$torch_prefix" >/dev/null
cmake --build build/consumer -j"$jobs" >/dev/null
build/consumer/consumer

echo "== C++: examples/cpp (model + flat index + Rocchio PRF) against the installed package, on SciFact"
cmake -S examples/cpp -B build/example -DCMAKE_PREFIX_PATH="$PWD/build/ci-install;$torch_prefix" >/dev/null
cmake --build build/example -j"$jobs" >/dev/null
build/example/user_roles >/dev/null   # user-written roles, composed from objects and from specs
model_dir=$(.venv/bin/python -c 'import runpy; m = runpy.run_path("python/densefb/models.py")
print(m["resolve_model"]("sentence-transformers/all-MiniLM-L6-v2"))')
rm -f build/example/scifact-subset.flat
example=(build/example/prf_search "$model_dir" "$DENSEFB_DATA/scifact" --max-docs 1000
         --index build/example/scifact-subset.flat)
"${example[@]}" | tee build/example/built.txt       # encodes 1,000 documents and saves the index
"${example[@]}" > build/example/loaded.txt          # loads it: the same results
results() { sed -n '/^query /,$p' "$1" | grep -v ' in all)$'; }  # rankings and metrics, no timings
diff <(results build/example/built.txt) <(results build/example/loaded.txt)

echo "== Python: pip install . into a fresh virtual environment (isolated build, no torch)"
rm -rf build/fresh-venv
python3 -m venv build/fresh-venv
build/fresh-venv/bin/python -m pip install -q --upgrade pip
build/fresh-venv/bin/python -m pip install -q . --config-settings=build-dir=build/fresh-build
build/fresh-venv/bin/densefb --help >/dev/null
build/fresh-venv/bin/python - <<'PY'
import numpy as np, densefb
x = np.random.default_rng(0).standard_normal((100, 16)).astype(np.float32)
index = densefb.FlatIndex(16, metric="cosine")
index.add(x)
scores, ids = index.search(x, 3)
assert (ids[:, 0] == np.arange(100)).all()
run = densefb.make_run([str(i) for i in range(100)], ids, scores, [str(i) for i in range(100)])
qrels = densefb.Qrels.from_dict({str(i): {str(i): 1} for i in range(100)})
assert densefb.evaluate(run, qrels, ["RR@10"])["RR@10"] == 1.0
print("fresh virtual environment: import densefb, search and evaluate ok")
PY

echo "== Python: install and pytest"
scripts/install.sh
.venv/bin/python -m pytest tests/python -q "$@"
