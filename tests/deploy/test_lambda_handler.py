"""The Lambda entry point, invoked as API Gateway invokes it: REST API (payload 1.0) and HTTP API
(payload 2.0) events against the embedded PostgreSQL, with a remote model (llama-cpp-python's own
OpenAI-compatible server on loopback, serving the small packaged model)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from awsomechat import lambda_handler
from awsomechat.container import Container
from awsomechat.errors import ConfigError
from awsomechat.seams import Embedder
from awsomechat.settings import DatabaseSettings, Settings
from awsomechat.store import embedded
from tests.deploy.apigw import LambdaContext, header, http_v2_event, response_body, rest_v1_event
from tests.helpers import ingest_texts
from tests.llama_server import llama_server

DOCS = {
    "lambda.md": "# Lambda quotas\n\nThe maximum deployment package size for AWS Lambda is 50 MB zipped"
    " and 250 MB unzipped. Container images can be up to 10 GB.\n",
    "vpn.md": "# Site-to-site VPN\n\nEach VPN tunnel supports up to 1.25 Gbps of bandwidth.\n",
}


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A remote OpenAI-compatible model server, as a Lambda function would call one."""
    with llama_server(tmp_path_factory.mktemp("llama-server")) as base:
        yield base


def _drop(data_dir: Path, name: str) -> None:
    uri = embedded.start(data_dir, "postgres")
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _lambda_settings(data_dir: Path, db_name: str, base_url: str) -> Settings:
    """What the function reads from its environment: the store by URL, the model remote."""
    url = embedded.start(data_dir, db_name)
    return Settings(
        data_dir=data_dir,
        database=DatabaseSettings(url=url, pool_max=4),  # type: ignore[arg-type]
        llm={"kind": "openai", "base_url": base_url, "remote_model": "smol", "max_answer_tokens": 32},  # type: ignore[arg-type]
    )


@pytest.fixture
def app_container(data_dir: Path, db_name: str, embedder: Embedder, model_server: str) -> Iterator[Container]:
    c = Container(_lambda_settings(data_dir, db_name, model_server), embedder=embedder)
    ingest_texts(c, DOCS, attributes={"service": "aws"})
    yield c
    c.close()
    _drop(data_dir, db_name)


@pytest.fixture
def handler(app_container: Container) -> Any:
    return lambda_handler.make_handler(container=app_container)


def _key(c: Container, name: str = "ana", admin: bool = False) -> str:
    c.keys.add_user(name, admin=admin)
    return c.keys.create_key(name, "lambda test")[1]


def _json(result: dict[str, Any]) -> Any:
    return json.loads(response_body(result))


def test_rest_api_v1_query_returns_ranked_passages(handler: Any, app_container: Container) -> None:
    key = _key(app_container)
    event = rest_v1_event(
        "POST", "/v1/query", body=json.dumps({"query": "Lambda deployment package size", "page_size": 3}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    result = handler(event, LambdaContext())
    assert result["statusCode"] == 200, response_body(result)
    assert result["isBase64Encoded"] is False
    hits = _json(result)["results"]
    assert hits and hits[0]["title"] == "Lambda quotas"
    # The stage is in requestContext.path, not in path: the route matched without it.
    assert header(result, "x-request-id")


def test_http_api_v2_chat_answers_from_the_remote_model(handler: Any, app_container: Container) -> None:
    key = _key(app_container)
    event = http_v2_event(
        "POST", "/v1/chat",
        body=json.dumps({"message": "What is the maximum deployment package size for AWS Lambda?",
                         "stream": False}),
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )  # fmt: skip
    result = handler(event, LambdaContext())
    assert result["statusCode"] == 200, response_body(result)
    answer = _json(result)
    assert answer["abstained"] is False and answer["answer"].strip()
    assert answer["model"] and answer["completion_tokens"] > 0
    assert any(s["title"] == "Lambda quotas" for s in answer["sources"])
    # The turn is stored: the next invocation (possibly another execution environment) sees it.
    listing = handler(
        http_v2_event("GET", f"/v1/sessions/{answer['session_id']}/messages",
                      headers={"authorization": f"Bearer {key}"}),
        LambdaContext(),
    )  # fmt: skip
    assert listing["statusCode"] == 200
    assert answer["message_id"] in json.dumps(_json(listing))


def test_streamed_answer_arrives_whole(handler: Any, app_container: Container) -> None:
    """Lambda buffers responses: the Server-Sent Events come in one body, ending with `final`."""
    key = _key(app_container)
    event = rest_v1_event(
        "POST", "/v1/chat", body=json.dumps({"message": "How large can Lambda container images be?"}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    result = handler(event, LambdaContext())
    assert result["statusCode"] == 200
    assert (header(result, "content-type") or "").startswith("text/event-stream")
    text = response_body(result).decode()
    events = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("event:")]
    assert events[0] == "question" and "sources" in events and events[-1] == "final", events


def test_problem_documents_come_back_as_text(handler: Any) -> None:
    result = handler(http_v2_event("GET", "/v1/sessions"), LambdaContext())
    assert result["statusCode"] == 401
    assert header(result, "content-type") == "application/problem+json"
    assert result["isBase64Encoded"] is False  # readable in API Gateway logs, no base64 round trip
    problem = json.loads(result["body"])
    assert problem["status"] == 401 and problem["request_id"]


def test_query_strings_and_base64_bodies(handler: Any, app_container: Container) -> None:
    key = _key(app_container, "admin", admin=True)
    auth = {"Authorization": f"Bearer {key}"}
    listed = handler(
        rest_v1_event("GET", "/v1/documents", query={"q": ["VPN"]}, headers=auth), LambdaContext()
    )
    assert listed["statusCode"] == 200
    titles = [d["title"] for d in _json(listed)["documents"]]
    assert titles == ["Site-to-site VPN"]
    # A multipart upload: API Gateway base64-encodes binary media types. ?wait=true processes it
    # within the invocation (a Lambda's process is frozen once it has answered).
    boundary = uuid.uuid4().hex
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="s3.md"\r\n'
        "Content-Type: text/markdown\r\n\r\n# S3 limits\n\nAn S3 object can be up to 5 TB.\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    upload = handler(
        http_v2_event("POST", "/v1/documents", query={"wait": ["true"]}, body=part, binary=True,
                      headers={"authorization": f"Bearer {key}",
                               "content-type": f"multipart/form-data; boundary={boundary}"}),
        LambdaContext(),
    )  # fmt: skip
    assert upload["statusCode"] in (200, 202), response_body(upload)
    job = _json(upload)
    assert job["status"] == "succeeded", job
    found = handler(
        http_v2_event("POST", "/v1/query", body=json.dumps({"query": "S3 object size"}),
                      headers={"authorization": f"Bearer {key}", "content-type": "application/json"}),
        LambdaContext(),
    )  # fmt: skip
    assert _json(found)["results"][0]["title"] == "S3 limits"


def test_handler_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, db_name: str, model_server: str
) -> None:
    """The function's own entry point: settings from AWSOMECHAT_* variables, built once, reused."""
    url = embedded.start(data_dir, db_name)
    monkeypatch.setenv("AWSOMECHAT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AWSOMECHAT_DATABASE__URL", url)
    monkeypatch.setenv("AWSOMECHAT_LLM__KIND", "openai")
    monkeypatch.setenv("AWSOMECHAT_LLM__BASE_URL", model_server)
    lambda_handler._default_handler.cache_clear()
    try:
        health = lambda_handler.handler(rest_v1_event("GET", "/healthz"), LambdaContext())
        assert health["statusCode"] == 200 and _json(health) == {"status": "ok"}
        ready = lambda_handler.handler(http_v2_event("GET", "/readyz"), LambdaContext())
        assert ready["statusCode"] == 200, response_body(ready)
        assert _json(ready)["checks"]["database"] == "ok"
        first = lambda_handler._default_handler()
        lambda_handler.handler(rest_v1_event("GET", "/healthz"), LambdaContext())
        assert lambda_handler._default_handler() is first  # warm invocations reuse app and pool
    finally:
        built = lambda_handler._default_handler.cache_info().currsize
        if built:
            lambda_handler._default_handler().app.state.ctx.container.close()
        lambda_handler._default_handler.cache_clear()
        _drop(data_dir, db_name)


def test_configurations_a_function_cannot_run_are_refused(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as no_url:
        lambda_handler.make_handler(Settings(data_dir=data_dir, llm={"kind": "openai"}))  # type: ignore[arg-type]
    assert "AWSOMECHAT_DATABASE__URL" in str(no_url.value.hint)
    with pytest.raises(ConfigError) as local_model:
        lambda_handler.make_handler(
            Settings(data_dir=data_dir, database=DatabaseSettings(url="postgresql://db.internal/chat"))  # type: ignore[arg-type]
        )
    assert "AWSOMECHAT_LLM__KIND" in str(local_model.value.hint)
