"""The Helm chart, rendered by Helm itself (Helm's Go SDK, v4, in the helm-python-sdk wheel: the
same template engine and Sprig functions as the helm CLI, offline) and linted by it; every
manifest validated against the Kubernetes OpenAPI schemas that kubernetes-validate ships (strict:
unknown fields are errors), for the oldest Kubernetes the chart supports and the newest; then the
wiring: selectors, named ports, probes, secrets, and each container's environment as Settings."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from awsomechat.settings import load_settings

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (dev extra) renders the chart")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "awsomechat"
DB_URL = "postgresql://awsomechat:pw@db.example.internal:5432/awsomechat?sslmode=require"
K8S_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())


def render(values: dict[str, Any], *, release: str = "chat") -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name=release, namespace="ai", is_install=True)
    docs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["spec"]["template"]["spec"]["containers"][0])


def env_of(doc: dict[str, Any], secrets: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A container's environment as the kubelet would give it (secretKeyRefs resolved)."""
    out = {}
    for item in container(doc)["env"]:
        if "value" in item:
            out[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            data = secrets[ref["name"]]["data"]
            out[item["name"]] = base64.b64decode(data[ref["key"]]).decode()
    return out


VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {"database": {"url": DB_URL}},
    "openai-ingress": {
        "database": {"url": DB_URL},
        "model": {
            "kind": "openai",
            "openai": {"baseUrl": "http://vllm.llm:8000/v1", "model": "qwen", "apiKey": "sk-test"},
        },
        "ingress": {"enabled": True, "tls": [{"secretName": "chat-tls", "hosts": ["chat.example.com"]}]},
        "api": {
            "autoscaling": {"enabled": False},
            "replicas": 3,
            "env": {"AWSOMECHAT_API__RATE_LIMIT_PER_MINUTE": "300"},
        },
        "serviceAccount": {
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/chat"}
        },
    },
    "own-secret-own-model": {
        "database": {"existingSecret": "rds-credentials", "existingSecretKey": "url"},
        "model": {
            "runner": {
                "modelPath": "/models/mine.gguf",
                "token": "fixed-token",
                "modelVolume": {"persistentVolumeClaim": {"claimName": "gguf"}},
            }
        },
        "migrations": {"enabled": False},
    },
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("k8s", K8S_VERSIONS)
def test_every_manifest_is_valid_kubernetes(variant: str, k8s: str) -> None:
    docs = render(VARIANTS[variant])
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, k8s, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} on Kubernetes {k8s}: {exc.message}")


def test_helm_lint_is_clean() -> None:
    report = helm.lint(str(CHART), VARIANTS["defaults"], strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_a_database_is_required() -> None:
    with pytest.raises(helm.HelmError, match=r"database\.url"):
        render({})
    with pytest.raises(helm.HelmError, match=r"model\.kind must be runner or openai"):
        render({"database": {"url": DB_URL}, "model": {"kind": "bedrock"}})


def test_default_release_wires_api_runner_and_migrations() -> None:
    docs = render(VARIANTS["defaults"])
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    assert set(deployments) == {"chat-awsomechat-api", "chat-awsomechat-model-runner"}
    # Every Service selects the pods of one Deployment, on a port the container names.
    for svc in services.values():
        selector = svc["spec"]["selector"]
        targets = [d for d in deployments.values()
                   if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]  # fmt: skip
        assert len(targets) == 1, svc["metadata"]["name"]
        names = {p["name"] for p in container(targets[0])["ports"]}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= names
    for d in deployments.values():
        assert (
            d["spec"]["selector"]["matchLabels"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        )
    api = container(deployments["chat-awsomechat-api"])
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert "memory" in api["resources"]["limits"] and "cpu" in api["resources"]["requests"]
    assert "replicas" not in deployments["chat-awsomechat-api"]["spec"]  # the HPA owns it
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "chat-awsomechat-api"
    runner = container(deployments["chat-awsomechat-model-runner"])
    assert runner["args"] == ["model-runner", "--listen", "http://0.0.0.0:9000"]
    assert runner["livenessProbe"]["exec"]["command"][-2:] == ["--runner", "http://127.0.0.1:9000"]
    (job,) = by_kind(docs, "Job").values()
    assert container(job)["args"] == ["db", "migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    for doc in [*deployments.values(), job]:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container(doc)["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container(doc)["volumeMounts"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_container_environment_is_valid_configuration(
    variant: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = render(VARIANTS[variant])
    secrets = by_kind(docs, "Secret")
    secrets.setdefault("rds-credentials", {"data": {"url": base64.b64encode(DB_URL.encode()).decode()}})
    workloads = [*by_kind(docs, "Deployment").values(), *by_kind(docs, "Job").values()]
    for doc in workloads:
        env = env_of(doc, secrets)
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            m.setenv("AWSOMECHAT_DATA_DIR", str(tmp_path))
            s = load_settings()
        name = doc["metadata"]["name"]
        if not name.endswith("model-runner"):
            assert s.database.url is not None and s.database.url.get_secret_value() == DB_URL, name
        if name.endswith("-api"):
            runner = env.get("AWSOMECHAT_LLM__RUNNER_URL")
            if s.llm.kind == "llamacpp":
                assert runner == "http://chat-awsomechat-model-runner:9000"
                assert (
                    env["AWSOMECHAT_LLM__API_KEY"]
                    == env_of(by_kind(docs, "Deployment")["chat-awsomechat-model-runner"], secrets)[
                        "AWSOMECHAT_LLM__API_KEY"
                    ]
                )
            else:
                assert runner is None and env["AWSOMECHAT_LLM__API_KEY"] == "sk-test"


def test_openai_model_server_and_ingress() -> None:
    docs = render(VARIANTS["openai-ingress"])
    assert set(by_kind(docs, "Deployment")) == {"chat-awsomechat-api"}  # no runner
    assert "chat-awsomechat-model-runner" not in by_kind(docs, "Service")
    api = by_kind(docs, "Deployment")["chat-awsomechat-api"]
    assert api["spec"]["replicas"] == 3 and not by_kind(docs, "HorizontalPodAutoscaler")
    env = {e["name"]: e.get("value") for e in container(api)["env"]}
    assert env["AWSOMECHAT_LLM__BASE_URL"] == "http://vllm.llm:8000/v1"
    assert env["AWSOMECHAT_API__RATE_LIMIT_PER_MINUTE"] == "300"
    (ingress,) = by_kind(docs, "Ingress").values()
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "chat-awsomechat", "port": {"name": "http"}}
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    (sa,) = by_kind(docs, "ServiceAccount").values()
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/chat")


def test_own_secret_and_own_model() -> None:
    docs = render(VARIANTS["own-secret-own-model"])
    (secret,) = by_kind(docs, "Secret").values()
    assert "database-url" not in secret["data"]
    assert base64.b64decode(secret["data"]["runner-token"]).decode() == "fixed-token"
    assert not by_kind(docs, "Job")
    for name in ("chat-awsomechat-api", "chat-awsomechat-model-runner"):
        doc = by_kind(docs, "Deployment")[name]
        env = {e["name"]: e for e in container(doc)["env"]}
        assert env["AWSOMECHAT_LLM__MODEL_PATH"]["value"] == "/models/mine.gguf"
        assert {"name": "models", "mountPath": "/models", "readOnly": True} in container(doc)["volumeMounts"]
        volumes = {v["name"]: v for v in doc["spec"]["template"]["spec"]["volumes"]}
        assert volumes["models"]["persistentVolumeClaim"] == {"claimName": "gguf"}
    api_env = {e["name"]: e for e in container(by_kind(docs, "Deployment")["chat-awsomechat-api"])["env"]}
    assert api_env["AWSOMECHAT_DATABASE__URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "rds-credentials",
        "key": "url",
    }


def test_container_commands_exist() -> None:
    docs = render(VARIANTS["defaults"])
    for doc in [*by_kind(docs, "Deployment").values(), *by_kind(docs, "Job").values()]:
        args = container(doc)["args"]
        sub = args[:2] if args[0] == "db" else args[:1]
        out = subprocess.run([sys.executable, "-m", "awsomechat", *sub, "--help"], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert out.returncode == 0, (args, out.stderr)
        for option in (a for a in args if a.startswith("--")):
            assert option in out.stdout, (args, option)


def test_strict_validation_catches_a_misspelt_field() -> None:
    api = by_kind(render(VARIANTS["defaults"]), "Deployment")["chat-awsomechat-api"]
    kubernetes_validate.validate(api, K8S_VERSIONS[0], strict=True)  # the real manifest, then a typo
    api["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="livenessprobe"):
        kubernetes_validate.validate(api, K8S_VERSIONS[0], strict=True)
