#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run, for a machine that has one: builds densefb
# against that machine's Python and torch, runs the CUDA tests (the encoders on CUDA,
# TorchFlatIndex and TorchTokenCollection against the CPU indexes, the C++ torch tests) and
# benchmarks/bench_gpu.py, and writes every log and the benchmark report under $OUT
# (default build/gpu-check). Each step runs even if an earlier one failed; the exit status is
# that of the first failure.
#
#   scripts/gpu_check.sh                       # on the GPU machine
#   DEVICE=cpu DOCS=20000 QUERIES=200 ENCODE_DOCS=300 scripts/gpu_check.sh   # a dry run on the CPU
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-check}
device=${DEVICE:-cuda}
py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || command -v python3 )}
build=${BUILD:-build/gpu}
mkdir -p "$out"
status=0
step() {  # step NAME COMMAND...: runs COMMAND, output to $out/NAME.log, and says how it went
  local name=$1; shift
  local t0=$SECONDS
  if "$@" >"$out/$name.log" 2>&1; then
    echo "$name: ok ($((SECONDS - t0)) s)" | tee -a "$out/summary.txt"
  else
    local rc=$?
    echo "$name: FAILED with $rc ($((SECONDS - t0)) s), see $name.log" | tee -a "$out/summary.txt"
    [ "$status" -eq 0 ] && status=$rc
  fi
}
: >"$out/summary.txt"
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'devices', torch.cuda.device_count())" \
  | tee -a "$out/summary.txt"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
  | tee -a "$out/summary.txt"

build() {
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDENSEFB_BUILD_PYTHON=ON -DDENSEFB_BUILD_TESTS=ON \
    -DDENSEFB_WITH_TORCH=ON -DPython_EXECUTABLE="$(command -v "$py")" -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" &&
    cmake --build "$build" -j"$(nproc)" --target _core _torch torch_flat_index_test encoder_test &&
    mkdir -p "$build/py/densefb" &&
    for f in python/densefb/*.py; do ln -sf "$PWD/$f" "$build/py/densefb/"; done &&
    cp -f "$build"/_core*.so "$build"/_torch*.so "$build/py/densefb/"
}
step build build
export PYTHONPATH="$PWD/$build/py" DENSEFB_TEST_DEVICE="$device"
step ctest bash -c "cd '$build' && ctest -R 'torch_flat_index_test|encoder_test' --output-on-failure"
step pytest "$py" -m pytest -q -rs tests/python/test_cuda.py tests/python/test_torch_flat_index.py \
  tests/python/test_multivector.py -k "cuda or torch or Torch"
step bench_gpu "$py" benchmarks/bench_gpu.py --device "$device" --docs "${DOCS:-1000000}" --queries "${QUERIES:-10000}" \
  --encode-docs "${ENCODE_DOCS:-5183}" --out "$out/bench_gpu.md"
exit "$status"
