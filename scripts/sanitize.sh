#!/usr/bin/env bash
# Builds the core library and the C++ tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (no torch, no Python) and runs CTest; any sanitizer report fails the run.
#
#   scripts/sanitize.sh                     # build dir build/asan
#   DENSEFB_FUZZ=ON scripts/sanitize.sh     # the same build also gets the libFuzzer targets
#                                           # (scripts/fuzz.sh can then reuse it)
# Env: DENSEFB_ASAN_BUILD (build dir), DENSEFB_JOBS (parallel jobs, default 2),
#      CXX (compiler; default clang++ when installed, else the system compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DENSEFB_JOBS:-2}
build=${DENSEFB_ASAN_BUILD:-build/asan}
fuzz=${DENSEFB_FUZZ:-OFF}
export DENSEFB_DATA=${DENSEFB_DATA:-$(cd .. && pwd)/shared/data}
if [ -z "${CXX:-}" ] && command -v clang++ >/dev/null; then
  export CC=clang CXX=clang++
fi

echo "== sanitizers: build ($build, ${CXX:-c++}, ASan + UBSan, fuzz targets: $fuzz)"
# -O1 keeps the sanitized tests fast enough; line tables keep stack traces readable (file:line)
# at a smaller compile cost than full debug information.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" \
  -DDENSEFB_SANITIZE=ON -DDENSEFB_FUZZ="$fuzz" -DDENSEFB_BUILD_TESTS=ON \
  -DDENSEFB_WITH_TORCH=OFF -DDENSEFB_BUILD_PYTHON=OFF -DDENSEFB_INSTALL=OFF \
  -DDENSEFB_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build "$build" -j"$jobs"

echo "== sanitizers: CTest"
# Any report aborts the test binary (non-zero exit), leaks included.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
(cd "$build" && ctest --output-on-failure -j"$jobs")
echo "sanitizers: all C++ tests ran clean under ASan + UBSan"
