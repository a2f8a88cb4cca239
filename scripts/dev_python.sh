#!/usr/bin/env bash
# Developer helper: builds densefb._core into BUILD_DIR (default build/dev) and stages an
# importable package at BUILD_DIR/py (python/densefb/*.py linked, _core copied), without pip.
# Usage: scripts/dev_python.sh [BUILD_DIR]; then PYTHONPATH=BUILD_DIR/py .venv/bin/python ...
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/dev}
py=.venv/bin/python
cmake -S . -B "$build" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DDENSEFB_BUILD_PYTHON=ON \
  -DDENSEFB_BUILD_TESTS=ON -DPython_EXECUTABLE="$PWD/$py" -DDENSEFB_WITH_TORCH=${DENSEFB_WITH_TORCH:-OFF} \
  -Dpybind11_DIR="$($py -m pybind11 --cmakedir)" >/dev/null
targets=(_core); [ "${DENSEFB_WITH_TORCH:-OFF}" = ON ] && targets+=(_torch)
cmake --build "$build" -j2 --target "${targets[@]}"
mkdir -p "$build/py/densefb"
for f in python/densefb/*.py; do ln -sf "$PWD/$f" "$build/py/densefb/"; done
cp -f "$build"/_core*.so "$build/py/densefb/"
[ "${DENSEFB_WITH_TORCH:-OFF}" = ON ] && cp -f "$build"/_torch*.so "$build/py/densefb/"
echo "PYTHONPATH=$build/py"
