"""The AWS CDK app (deploy/cdk): synthesized in-process for every model option and checked with
aws_cdk.assertions.Template, and once through the real `cdk synth` (the CLI from npm, installed by
.ci/run). Nothing is deployed: no AWS account is reachable from here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from awsomechat.settings import load_settings

CDK_DIR = Path(__file__).resolve().parents[2] / "deploy" / "cdk"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/awsomechat:0.1.0"
NODE_MAJOR = "18,20,22,24"  # jsii prints a banner for Node versions it no longer tests; quiet here
OPTIONS: dict[str, dict[str, Any]] = {
    "runner": {},
    "bedrock": {"model": "bedrock", "bedrock_model_id": "anthropic.claude-3-haiku-20240307-v1:0"},
    "sagemaker": {
        "model": "sagemaker",
        "sagemaker_endpoint": "flan-t5-xxl",
        "sagemaker_payload": "jumpstart-t5",
    },
    "openai": {
        "model": "openai",
        "openai_base_url": "https://llm.example.com/v1",
        "openai_model": "qwen",
        "openai_api_key_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:llm-key-AbCdEf",
        "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/0000-1111",
    },
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def templates() -> Iterator[dict[str, Any]]:
    """One synthesized template per model option (one jsii kernel for all of them)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", NODE_MAJOR)
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", NODE_MAJOR)
    pytest.importorskip("aws_cdk", reason="aws-cdk-lib (dev extra)")
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    sys.path.insert(0, str(CDK_DIR))
    try:
        from awsomechat_stack import AwsomeChatStack, StackOptions

        out = {}
        for name, context in OPTIONS.items():
            app = cdk.App(context={"image_uri": IMAGE, **context})
            stack = AwsomeChatStack(app, f"Chat-{name}", StackOptions.from_context(app))
            out[name] = Template.from_stack(stack)
        yield out
    finally:
        sys.path.remove(str(CDK_DIR))


def resources(template: Any, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.to_json()["Resources"].items() if v["Type"] == kind}


def containers(template: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for td in resources(template, "AWS::ECS::TaskDefinition").values():
        for c in td["Properties"]["ContainerDefinitions"]:
            out[c["Name"]] = c
    return out


def test_rds_postgres_with_pgvector_and_a_generated_secret(templates: dict[str, Any]) -> None:
    from aws_cdk.assertions import Match

    t = templates["runner"]
    t.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": "17.5",
            "StorageEncrypted": True,
            "DBName": "awsomechat",
            "PubliclyAccessible": False,
            "DeletionProtection": True,
            "BackupRetentionPeriod": 7,
        },
    )
    t.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "GenerateSecretString": Match.object_like(
                {"GenerateStringKey": "password", "SecretStringTemplate": '{"username":"awsomechat"}'}
            ),
        },
    )
    api = containers(t)["api"]
    env = {e["Name"]: e["Value"] for e in api["Environment"]}
    url = json.dumps(env["AWSOMECHAT_DATABASE__URL"])
    assert "awsomechat@" in url and "sslmode=require" in url and "password" not in url.lower()
    secrets = {s["Name"]: json.dumps(s["ValueFrom"]) for s in api["Secrets"]}
    assert ":password::" in secrets["PGPASSWORD"]  # one field of the RDS secret, injected by ECS


def test_api_on_fargate_behind_an_alb(templates: dict[str, Any]) -> None:
    from aws_cdk.assertions import Match

    t = templates["runner"]
    t.has_resource_properties(
        "AWS::ECS::Service",
        {
            "LaunchType": "FARGATE",
            "DesiredCount": 2,
            "HealthCheckGracePeriodSeconds": 180,
            "EnableExecuteCommand": True,
        },
    )
    t.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "Scheme": "internet-facing",
            "LoadBalancerAttributes": Match.array_with(
                [{"Key": "idle_timeout.timeout_seconds", "Value": "300"}]
            ),
        },
    )
    t.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "HealthCheckPath": "/healthz",
            "Port": 80,
            "Protocol": "HTTP",
            "TargetType": "ip",
        },
    )
    t.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {"Port": 80, "Protocol": "HTTP"})
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 2, "MaxCapacity": 6}
    )
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like({"TargetValue": 70}),
        },
    )
    api = containers(t)["api"]
    assert api["Command"] == ["serve"] and api["Image"] == IMAGE
    assert api["HealthCheck"]["Command"] == ["CMD", "python", "-m", "awsomechat.healthcheck"]
    https = templates["openai"]
    https.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {"Port": 443, "Protocol": "HTTPS"})
    https.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "DefaultActions": [Match.object_like({"Type": "redirect"})],
        },
    )


def test_model_runner_service_is_private_and_token_protected(templates: dict[str, Any]) -> None:
    t = templates["runner"]
    runner, api = containers(t)["model-runner"], containers(t)["api"]
    assert runner["Command"] == ["model-runner", "--listen", "http://0.0.0.0:9000"]
    assert runner["HealthCheck"]["Command"][-2:] == ["--runner", "http://127.0.0.1:9000"]
    api_env = {e["Name"]: e["Value"] for e in api["Environment"]}
    assert api_env["AWSOMECHAT_LLM__RUNNER_URL"] == "http://model-runner.awsomechat.local:9000"
    token = {s["Name"]: s["ValueFrom"] for s in runner["Secrets"]}["AWSOMECHAT_LLM__API_KEY"]
    assert {s["Name"]: s["ValueFrom"] for s in api["Secrets"]}["AWSOMECHAT_LLM__API_KEY"] == token
    t.has_resource_properties("AWS::ServiceDiscovery::Service", {"Name": "model-runner"})
    ingress = [r["Properties"] for r in resources(t, "AWS::EC2::SecurityGroupIngress").values()]
    assert any(i["FromPort"] == 9000 and "SourceSecurityGroupId" in i for i in ingress)
    to_db = [i for i in ingress if "DatabaseSecurityGroup" in json.dumps(i["GroupId"])]
    assert to_db and all("ApiServiceSecurityGroup" in json.dumps(i["SourceSecurityGroupId"]) for i in to_db)
    assert not any("CidrIp" in i for i in ingress)  # only the load balancer is open to the internet
    for other in ("bedrock", "sagemaker", "openai"):
        assert "model-runner" not in containers(templates[other])


def test_tasks_may_pull_a_pushed_ecr_image(templates: dict[str, Any]) -> None:
    roles = [r for k, r in resources(templates["runner"], "AWS::IAM::Role").items() if "ExecutionRole" in k]
    assert len(roles) == 3  # api, model runner, migrate
    for role in roles:
        assert "AmazonECSTaskExecutionRolePolicy" in json.dumps(role["Properties"].get("ManagedPolicyArns"))


def test_migrations_run_on_deploy(templates: dict[str, Any]) -> None:
    t = templates["runner"]
    assert containers(t)["migrate"]["Command"] == ["db", "migrate"]
    (custom,) = resources(t, "Custom::AWS").values()
    create = json.dumps(custom["Properties"]["Create"])
    assert '\\"action\\":\\"runTask\\"' in create and "MigrateTask" in create
    outputs = t.to_json()["Outputs"]
    assert "aws ecs run-task" in json.dumps(outputs["MigrateCommand"])


def test_bedrock_and_sagemaker_permissions_are_least_privilege(templates: dict[str, Any]) -> None:
    def statements(t: Any) -> list[dict[str, Any]]:
        return [
            s
            for p in resources(t, "AWS::IAM::Policy").values()
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]

    bedrock = [s for s in statements(templates["bedrock"]) if s.get("Sid") == "InvokeBedrockModel"]
    assert len(bedrock) == 1 and bedrock[0]["Action"] == [
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
    ]
    assert "foundation-model/anthropic.claude-3-haiku-20240307-v1:0" in json.dumps(bedrock[0]["Resource"])
    sagemaker = [s for s in statements(templates["sagemaker"]) if s.get("Sid") == "InvokeSageMakerEndpoint"]
    assert len(sagemaker) == 1 and "endpoint/flan-t5-xxl" in json.dumps(sagemaker[0]["Resource"])
    for t in templates.values():  # nobody gets a wildcard on a model service
        for s in statements(t):
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            assert not any(a in ("bedrock:*", "sagemaker:*", "*") for a in actions), s
    assert not [s for s in statements(templates["runner"]) if s.get("Sid", "").startswith("Invoke")]


def _concrete(value: Any) -> str:
    """A CloudFormation value as a container would see it: tokens replaced by sample values."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_concrete(p) for p in parts)
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return (
            "5432" if value["Fn::GetAtt"][1].endswith("Port") else "chat.abc123.eu-west-1.rds.amazonaws.com"
        )
    return "token"


@pytest.mark.parametrize("option", OPTIONS)
def test_each_container_environment_is_valid_configuration(
    templates: dict[str, Any], option: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, c in containers(templates[option]).items():
        with monkeypatch.context() as m:
            for e in c.get("Environment", []):
                m.setenv(e["Name"], _concrete(e["Value"]))
            for s in c.get("Secrets", []):
                if s["Name"].startswith("AWSOMECHAT_"):
                    m.setenv(s["Name"], "secret-from-secrets-manager")
            m.setenv("AWSOMECHAT_DATA_DIR", str(tmp_path))
            settings = load_settings()
        if name != "model-runner":
            assert settings.database.url is not None
            assert settings.database.url.get_secret_value().startswith(
                "postgresql://awsomechat@chat.abc123.eu-west-1.rds.amazonaws.com:5432/awsomechat"
            )
        if name == "api":
            expected = {"runner": "llamacpp"}.get(option, option)
            assert settings.llm.kind == expected


def test_bad_options_are_refused_with_the_context_key() -> None:
    sys.path.insert(0, str(CDK_DIR))
    try:
        from awsomechat_stack import StackOptions

        with pytest.raises(ValueError, match="sagemaker_endpoint"):
            StackOptions(model="sagemaker").check()
        with pytest.raises(ValueError, match="choose one of runner, bedrock, sagemaker, openai"):
            StackOptions(model="gpt").check()
    finally:
        sys.path.remove(str(CDK_DIR))


def test_cdk_synth_with_the_cli(tmp_path: Path) -> None:
    """`cdk synth` as a user runs it, image built from the Dockerfile (staged, not built)."""
    cdk = shutil.which("cdk")
    if cdk is None:
        pytest.fail("the cdk CLI is missing: npm install -g aws-cdk (.ci/run does this)")
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": NODE_MAJOR,
        "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": NODE_MAJOR,
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    out = subprocess.run(
        [
            cdk,
            "synth",
            "--app",
            f"{sys.executable} app.py",
            "--no-notices",
            "--no-version-reporting",
            "--output",
            str(tmp_path / "cdk.out"),
            "--quiet",
            "-c",
            "model=bedrock",
        ],
        cwd=CDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / "AwsomeChat.template.json").read_text())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {
        "AWS::RDS::DBInstance",
        "AWS::ECS::Service",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::SecretsManager::Secret",
        "AWS::EC2::VPC",
    } <= kinds
    assets = json.loads((tmp_path / "cdk.out" / "AwsomeChat.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerBuildTarget"] == "server"
    assert image["source"]["dockerBuildArgs"] == {"BAKE_MODEL": "0"}  # Bedrock: no GGUF in the image
    staged = tmp_path / "cdk.out" / image["source"]["directory"]
    assert (staged / "Dockerfile").is_file() and (staged / "src" / "awsomechat" / "settings.py").is_file()
    assert not (staged / ".venv").exists() and not (staged / "tests").exists()  # .dockerignore applies
