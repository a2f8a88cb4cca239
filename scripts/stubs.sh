#!/usr/bin/env bash
# Regenerates the type stubs of the compiled modules (python/densefb/_core.pyi, _torch.pyi) from a
# built package: scripts/stubs.sh [PYTHONPATH of a build, default build/dev/py]. The stubs are
# committed; tests/python/test_stubs.py checks that they list every name the modules define.
set -euo pipefail
cd "$(dirname "$0")/.."
pypath=${1:-build/dev/py}
out=$(mktemp -d)
for module in densefb._core densefb._torch; do
  PYTHONPATH="$pypath" .venv/bin/pybind11-stubgen "$module" -o "$out" --ignore-all-errors >/dev/null
done
cp "$out"/densefb/_core.pyi "$out"/densefb/_torch.pyi python/densefb/
rm -rf "$out"
echo "wrote python/densefb/_core.pyi and python/densefb/_torch.pyi"
