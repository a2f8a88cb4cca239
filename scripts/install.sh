#!/usr/bin/env bash
# Builds and installs the densefb Python package (with its C++ core) into .venv.
# The build directory is cached in build/<wheel tag>, so a rebuild is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install -q --no-build-isolation --no-deps .
