#!/usr/bin/env bash
# Developer helper: builds densefb._core into BUILD_DIR (default build/dev) and stages an
# importable package at BUILD_DIR/py (python/densefb/*.py linked, _core copied), without pip.
# Usage: scripts/dev_python.sh [BUILD_DIR]; then PYTHONPATH=BUILD_DIR/py .venv/bin/python ...
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/dev}
py=.venv/bin/python
cmake -S . -B "$build" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DDENSEFB_BUILD_PYTHON=ON \
  -DDENSEFB_BUILD_TESTS=ON -DPython_EXECUTABLE="$PWD/$py" \
  -Dpybind11_DIR="$($py -m pybind11 --cmakedir)" >/dev/null
cmake --build "$build" -j2 --target _core
mkdir -p "$build/py/densefb"
for f in python/densefb/*.py; do ln -sf "$PWD/$f" "$build/py/densefb/"; done
cp -f "$build"/_core*.so "$build/py/densefb/"
echo "PYTHONPATH=$build/py"
