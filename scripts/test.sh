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

echo "== C++: installed package consumed with find_package(densefb)"
cmake --install build/ci >/dev/null
torch_prefix=$(.venv/bin/python -c "import torch.utils; print(torch.utils.cmake_prefix_path)")
cmake -S tests/consumer -B build/consumer -DCMAKE_PREFIX_PATH="$PWD/build/ci-install;$torch_prefix" >/dev/null
cmake --build build/consumer -j"$jobs" >/dev/null
build/consumer/consumer

echo "== Python: install and pytest"
scripts/install.sh
.venv/bin/python -m pytest tests/python -q "$@"
