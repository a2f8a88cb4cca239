#!/usr/bin/env bash
# Installs everything densefb needs on a fresh Debian 12 machine: the C++ dependencies from
# Debian, and a project virtual environment (.venv) with the pinned Python packages.
# Idempotent: a second run only checks.
#
#   scripts/setup.sh            # both
#   scripts/setup.sh debian     # the Debian packages only (what the C++ build needs)
#   scripts/setup.sh python     # the virtual environment only
set -euo pipefail
part=${1:-all}
case "$part" in all|debian|python) ;; *) echo "setup: unknown part '$part' (all, debian or python)" >&2; exit 2;; esac
cd "$(dirname "$0")/.."

debs=(build-essential cmake pkg-config git libeigen3-dev libabsl-dev catch2 libhnswlib-dev
      zlib1g-dev nlohmann-json3-dev libutf8proc-dev python3-venv libcurl4-openssl-dev
      ccache  # scripts/test.sh compiles through it when present: a rerun's compiles are cache hits
      clang libclang-rt-dev)  # Clang + libFuzzer: scripts/sanitize.sh, scripts/fuzz.sh
if [ "$part" != python ]; then
  missing=()
  for d in "${debs[@]}"; do dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
  fi
  [ "$part" = debian ] && { echo "setup: Debian packages ok"; exit 0; }
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages (torch is large; this takes a few minutes once)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
echo "setup: ok"
