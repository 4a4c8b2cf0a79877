"""compose.yaml against the Compose Specification's JSON schema (the copy check-jsonschema vendors
from compose-spec/compose-spec, with its licence), its services' settings against AWSomeChat's own
settings, and deploy/nginx/nginx.conf run by a real nginx (Debian's) in front of a real API."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from awsomechat.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
APP_SERVICES = ("migrate", "model-runner", "api", "api-vllm")


def compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return dict(json.loads((vendor / "compose-spec.json").read_text(encoding="utf-8")))


def env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^[A-Z_]+=", line)
    )
    return {k: v for k, v in pairs}


_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        have = env.get(name)
        unset = have is None or (op is not None and op.startswith(":") and have == "")
        if op and op.endswith("?") and unset:
            raise KeyError(f"{name}: {arg}")
        if op and op.endswith("-") and unset:
            return arg
        return have or ""

    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


@pytest.fixture(scope="module")
def resolved(raw: dict[str, Any]) -> dict[str, Any]:
    env = {
        **env_example(),
        "POSTGRES_PASSWORD": "pw0",
        "AWSOMECHAT_RUNNER_TOKEN": "tok1",
        "VLLM_API_KEY": "k2",
    }
    return dict(interpolate(raw, env))


def _errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(compose_schema())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_compose_file_follows_the_compose_specification(
    raw: dict[str, Any], resolved: dict[str, Any]
) -> None:
    assert _errors(raw) == []
    assert _errors(resolved) == []  # also with the values of .env.example filled in


def test_the_schema_check_catches_mistakes(raw: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(raw))
    broken["services"]["api"]["healthchek"] = broken["services"]["api"].pop("healthcheck")
    broken["services"]["db"]["restart"] = ["always"]
    problems = _errors(broken)
    assert any("healthchek" in p for p in problems) and any("db/restart" in p for p in problems), problems


def test_secrets_come_from_the_env_file(raw: dict[str, Any]) -> None:
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(raw, {})  # nothing runs without the secrets: no default passwords
    text = COMPOSE.read_text()
    for secret in ("POSTGRES_PASSWORD", "AWSOMECHAT_RUNNER_TOKEN", "VLLM_API_KEY"):
        assert f"${{{secret}:?" in text
        assert env_example()[secret] == "CHANGE-ME"
    assert (
        ".env" in (ROOT / ".dockerignore").read_text().split() or "*" in (ROOT / ".dockerignore").read_text()
    )


def test_services_wire_together(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert services["db"]["image"] == "pgvector/pgvector:pg17"
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
    runner, api = services["model-runner"], services["api"]
    assert runner["command"] == ["model-runner", "--listen", "http://0.0.0.0:9000"]
    assert api["environment"]["AWSOMECHAT_LLM__RUNNER_URL"] == "http://model-runner:9000"
    assert (
        api["environment"]["AWSOMECHAT_LLM__API_KEY"]
        == runner["environment"]["AWSOMECHAT_LLM__API_KEY"]
        == "tok1"
    )
    assert services["api-vllm"]["environment"]["AWSOMECHAT_LLM__BASE_URL"] == "http://vllm:8000/v1"
    assert "api" in services["api-vllm"]["networks"]["backend"]["aliases"]  # nginx's upstream name
    assert set(runner["profiles"]) == set(api["profiles"]) == {"runner"}
    assert set(services["vllm"]["profiles"]) == set(services["api-vllm"]["profiles"]) == {"vllm"}
    assert services["migrate"]["command"] == ["db", "migrate"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    mount = services["nginx"]["volumes"][0].split(":")
    assert (ROOT / mount[0]).resolve() == NGINX_CONF and mount[1] == "/etc/nginx/nginx.conf"
    for name in APP_SERVICES:
        assert services[name]["healthcheck"].get("disable") or services[name]["healthcheck"]["test"][:3] == [
            "CMD", "python", "-m",
        ]  # fmt: skip


@pytest.mark.parametrize("service", APP_SERVICES)
def test_each_service_environment_is_valid_configuration(
    resolved: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What a container would read at start: AWSOMECHAT_* from compose validates as Settings."""
    env = resolved["services"][service].get("environment", {})
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("AWSOMECHAT_DATA_DIR", str(tmp_path))
    s = load_settings()
    if service != "model-runner":
        assert s.database.url is not None
        assert s.database.url.get_secret_value() == "postgresql://awsomechat:pw0@db:5432/awsomechat"
    assert s.llm.kind == ("openai" if service == "api-vllm" else "llamacpp")


def test_service_commands_exist(resolved: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        command = resolved["services"][name]["command"]
        sub = [c for c in command if not c.startswith("-")][:2] if command[0] == "db" else command[:1]
        out = subprocess.run(
            [sys.executable, "-m", "awsomechat", *sub, "--help"], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, (name, out.stderr)
        for option in (c.split("=")[0] for c in command if c.startswith("--")):
            assert option in out.stdout, (name, option)


# ------------------------------------------------------------------------------ nginx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not come up"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx with deploy/nginx/nginx.conf in front of a real API process (no database needed for
    what is checked). Only the upstream address and the listen port are changed, to loopback."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is not installed (Debian's nginx; .ci/run installs it)")
    tmp = tmp_path_factory.mktemp("nginx")
    api_port, proxy_port = _free_port(), _free_port()
    conf = NGINX_CONF.read_text()
    assert "server api:8080" in conf and "listen 8080;" in conf
    conf = conf.replace("server api:8080", f"server 127.0.0.1:{api_port}").replace(
        "listen 8080;", f"listen 127.0.0.1:{proxy_port};"
    )
    conf = conf.replace("pid /tmp/nginx.pid;", f"pid {tmp}/nginx.pid;").replace(
        "/tmp/nginx-", f"{tmp}/nginx-"
    )
    (tmp / "nginx.conf").write_text(conf)
    env = {
        **os.environ, "AWSOMECHAT_DATA_DIR": str(tmp), "AWSOMECHAT_LLM__KIND": "openai",
        "AWSOMECHAT_DATABASE__URL": f"postgresql://u@127.0.0.1:{_free_port()}/none",
        "AWSOMECHAT_DATABASE__CONNECT_TIMEOUT_S": "1",
    }  # fmt: skip
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "awsomechat.api.app:create_app", "--host", "127.0.0.1",
         "--port", str(api_port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    check = subprocess.run([nginx, "-t", "-c", str(tmp / "nginx.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proxy = subprocess.Popen(
        [nginx, "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"], stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{proxy_port}"
        _wait(f"{base}/nginx-health")
        _wait(f"http://127.0.0.1:{api_port}/healthz")
        yield base
    finally:
        proxy.terminate()
        api.terminate()
        proxy.wait(timeout=20)
        api.wait(timeout=20)


def test_nginx_proxies_to_the_api_and_hides_internal_routes(proxied: str) -> None:
    r = httpx.get(f"{proxied}/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-content-type-options"] == "nosniff"  # the service's headers pass through
    assert "nginx/" not in r.headers.get("server", "")  # server_tokens off
    assert httpx.get(f"{proxied}/metrics").status_code == 404
    assert httpx.get(f"{proxied}/readyz").status_code == 404


def test_nginx_body_limits_follow_production_md(proxied: str) -> None:
    big_json = b'{"query": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    r = httpx.post(f"{proxied}/v1/query", content=big_json, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "nginx" in r.text.lower()  # refused by the proxy, not the API
    # Uploads may be larger: nginx streams them on (the API answers: no key, 401).
    up = httpx.post(f"{proxied}/v1/documents", content=b"x" * (3 * 1024 * 1024),
                    headers={"Content-Type": "multipart/form-data; boundary=b"})  # fmt: skip
    assert up.status_code == 401 and up.headers["content-type"] == "application/problem+json"


def test_nginx_closes_a_client_whose_headers_stall(proxied: str) -> None:
    host, port = proxied.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        s.settimeout(30)
        data = s.recv(1024)
        waited = time.monotonic() - started
    assert data in (b"",) or b"408" in data
    assert 8 <= waited <= 20, waited  # client_header_timeout 10s
