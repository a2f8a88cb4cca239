#!/usr/bin/env bash
# The main job on a fresh machine: install, build, index a real collection with the
# packaged model, and print the effectiveness table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/install.sh
export DENSEFB_DATA=${DENSEFB_DATA:-$(cd .. && pwd)/shared/data}
.venv/bin/python scripts/demo.py "$@"
