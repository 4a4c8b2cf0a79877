"""Checks the llama-cpp-python build of the image (run by the Dockerfile after building it).

The image carries every x86-64 variant of ggml's CPU backend (GGML_BACKEND_DL +
GGML_CPU_ALL_VARIANTS) except the AMX one, and ggml picks the best variant for the CPU it runs
on. This fails the image build when that is not what was built: a variant library missing, the
AMX variant present, or no CPU backend loadable from the backend directory.

    python check_llama_build.py /opt/ggml-backends
"""

from __future__ import annotations

import sys
from pathlib import Path

# Every x86-64 CPU has the baseline; AVX2 (haswell) and AVX-512 (skylakex) cover today's servers.
REQUIRED = ("x64", "sse42", "haswell", "skylakex", "icelake", "zen4")
FORBIDDEN = ("sapphirerapids",)  # AMX: segfaults on Q4_K models (llama.cpp #20824)


def main(backend_dir: str) -> int:
    variants = sorted(p.name[len("libggml-cpu-") : -3] for p in Path(backend_dir).glob("libggml-cpu-*.so"))
    problems = [f"variant {v} is missing" for v in REQUIRED if v not in variants]
    problems += [f"variant {v} must not be built" for v in FORBIDDEN if v in variants]

    import llama_cpp

    llama_cpp.llama_backend_init()  # loads the best CPU variant from GGML_BACKEND_DIR
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    if "CPU :" not in info:
        problems.append("no CPU backend was loaded")
    if "AMX_INT8 = 1" in info:
        problems.append("the loaded CPU backend has AMX kernels")
    print(f"ggml CPU variants in {backend_dir}: {', '.join(variants)}")
    print(f"loaded here: {info.strip()}")
    for p in problems:
        print(f"llama-cpp-python build check: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/opt/ggml-backends"))
