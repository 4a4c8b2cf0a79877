"""Which CPU features this machine has and which the loaded llama.cpp build uses: the AMX guard.

ggml's AMX extra buffer type segfaults on Q4_K weights at the first generation (llama.cpp #20824;
seen on Intel Sapphire Rapids and later: AWS m7i/c7i/r7i, GCP C4). ``scripts/install.sh`` builds
llama.cpp without its AMX kernels; a build that still has them (a prebuilt or old cached wheel)
is loaded with extra buffer types off on a CPU that has AMX, which avoids the AMX path.
"""

from __future__ import annotations

import platform
import re
from functools import lru_cache
from pathlib import Path

# The flags that decide ggml's fastest correct path on x86-64 (shown by bench/generation.py).
RELEVANT_FLAGS = (
    "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
    "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
)  # fmt: skip


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    match = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    return frozenset(match.group(1).split()) if match else frozenset()


def relevant_cpu_flags() -> list[str]:
    flags = cpu_flags()
    return [f for f in RELEVANT_FLAGS if f in flags]


@lru_cache(maxsize=1)
def ggml_build_features() -> dict[str, str]:
    """Features the loaded llama.cpp build was compiled with (``llama_print_system_info``)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    return dict(re.findall(r"([A-Z0-9_]+) = (\w+)", info))


def build_has_amx() -> bool:
    return ggml_build_features().get("AMX_INT8") == "1"


def cpu_has_amx() -> bool:
    return platform.machine() in ("x86_64", "AMD64") and "amx_int8" in cpu_flags()


def use_extra_buffer_types(setting: bool | None) -> bool:
    """Whether to load with ggml's extra buffer types (weight repacking, AMX).

    ``setting`` is ``llm.extra_buffer_types``; ``None`` decides. Off on x86-64: measured here with
    the default Q4_K model on a 5-passage prompt (bench/generation.py), repacked weights generate
    ~13% faster but process the prompt ~27% slower (llamafile's kernels do not apply to them) and
    take ~600 MB more memory, so answers start 2 s sooner and end sooner without them. It also
    keeps a build with AMX kernels off its crashing path on CPUs with AMX. On other CPUs (ARM,
    where repacking is ggml's main speed-up) they stay on, unless the AMX guard says otherwise.
    """
    if setting is not None:
        return setting
    if cpu_has_amx() and build_has_amx():
        return False
    return platform.machine() not in ("x86_64", "AMD64")


def describe() -> dict[str, object]:
    """CPU flags and build features, for logs, ``/readyz`` and the benchmark."""
    features = ggml_build_features()
    keep = ("AVX2", "AVX512", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8", "REPACK", "OPENMP")
    return {
        "machine": platform.machine(),
        "cpu_flags": relevant_cpu_flags(),
        "build": {k: features[k] for k in keep if k in features},
    }
