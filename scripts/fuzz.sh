#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (Clang, -fsanitize=fuzzer,address,undefined) and
# runs each for a bounded time from its seed corpus (tests/fuzz/corpus/<target>/). Inputs found
# along the way go to <build>/fuzz-corpus/, never into the repository. A crash, a sanitizer
# report, a leak, a hang (> 10 s per input) or an allocation over 512 MB fails the run; the
# input is kept as <build>/fuzz-artifacts/<target>-crash-... (replay: <build>/tests/fuzz/<target> FILE).
#
#   scripts/fuzz.sh                      # every target
#   scripts/fuzz.sh trec_fuzzer          # some targets
# Env: DENSEFB_FUZZ_SECONDS (per target, default 30), DENSEFB_FUZZ_PARALLEL (targets run at
#      once, default DENSEFB_JOBS or 2), DENSEFB_FUZZ_BUILD (build dir, default build/fuzz; a
#      dir made by `DENSEFB_FUZZ=ON scripts/sanitize.sh` is reused as it is), DENSEFB_FUZZ_SEED
#      (libFuzzer -seed; unset = a new random seed each run; CI fixes it so that a red run can be
#      replayed).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DENSEFB_JOBS:-2}
seconds=${DENSEFB_FUZZ_SECONDS:-30}
parallel=${DENSEFB_FUZZ_PARALLEL:-$jobs}
build=${DENSEFB_FUZZ_BUILD:-build/fuzz}

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in tests/fuzz/*_fuzzer.cc; do targets+=("$(basename "$f" .cc)"); done
fi

if [ -f "$build/CMakeCache.txt" ]; then
  cmake -DDENSEFB_FUZZ=ON "$build" >/dev/null
else
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
    -DDENSEFB_FUZZ=ON -DDENSEFB_BUILD_TESTS=OFF -DDENSEFB_WITH_TORCH=OFF -DDENSEFB_BUILD_PYTHON=OFF \
    -DDENSEFB_INSTALL=OFF >/dev/null
fi
echo "== fuzz: build ${targets[*]} ($build)"
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

results="$build/fuzz-results"
rm -rf "$results"
mkdir -p "$results" "$build/fuzz-artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

run_target() {
  local t=$1 work="$build/fuzz-corpus/$1" log="$results/$1.log"
  local seeds=("tests/fuzz/corpus/$t")
  mkdir -p "$work"
  # A target without a committed seed corpus starts from its (possibly empty) work corpus:
  # libFuzzer refuses a corpus directory that does not exist.
  [ -d "${seeds[0]}" ] || { echo "note: no seed corpus tests/fuzz/corpus/$t" >"$log.note"; seeds=(); }
  if "$build/tests/fuzz/$t" "$work" "${seeds[@]}" -max_total_time="$seconds" -timeout=10 ${DENSEFB_FUZZ_SEED:+-seed=$DENSEFB_FUZZ_SEED} \
       -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 \
       -artifact_prefix="$build/fuzz-artifacts/$t-" >"$log" 2>&1; then
    echo ok >"$results/$t.status"
  else
    echo FAILED >"$results/$t.status"
  fi
}

echo "== fuzz: ${#targets[@]} targets x ${seconds} s, $parallel at a time"
for t in "${targets[@]}"; do
  run_target "$t" &
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
done
wait

failed=0
printf '%-24s %12s %10s %8s  %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  log="$results/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  units=$(sed -n 's/.*DONE .*corp: \([0-9]*\).*/\1/p' "$log" | tail -1)
  status=$(cat "$results/$t.status")
  printf '%-24s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${units:-?}" "$status"
  if [ "$status" != ok ]; then
    failed=1
    echo "---- $t: last lines of $log"
    tail -40 "$log"
  fi
done
[ "$failed" -eq 0 ] || { echo "fuzz: FAILED (inputs under $build/fuzz-artifacts)"; exit 1; }
echo "fuzz: no crash, leak, hang or sanitizer report"
