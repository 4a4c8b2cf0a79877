"""Bedrock runtime (Converse, ConverseStream) and SageMaker runtime (InvokeEndpoint,
InvokeEndpointWithResponseStream) on a loopback port, as boto3 sees them.

The "models" are deterministic: the answer cites passage [1] and quotes the first words of the
last user message, so a test can tell what was sent. Special model ids / endpoint names:
``throttled`` answers 429 ThrottlingException, ``broken`` fails mid-stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tests.aws_fakes.eventstream import event, exception

ANSWER_WORDS = ["According", " to", " the", " passages", " [1],", " the", " answer", " is", " there."]


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"message": message}).encode()
        self._send(status, body, "application/json", {"x-amzn-ErrorType": f"{code}:http://internal"})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 Credential="):
            return self._error(403, "UnrecognizedClientException", "missing SigV4 signature")
        parts = [unquote(p) for p in self.path.strip("/").split("/")]
        self.server.recorder.requests.append({"path": parts, "auth": auth, "body": raw,
                                               "headers": dict(self.headers)})  # fmt: skip
        if parts[0] == "model" and len(parts) == 3:
            return self._bedrock(parts[1], parts[2], json.loads(raw))
        if parts[0] == "endpoints" and len(parts) == 3:
            return self._sagemaker(parts[1], parts[2], json.loads(raw))
        self._error(404, "UnknownOperationException", self.path)

    # -- Bedrock Converse -------------------------------------------------------------------
    def _bedrock(self, model_id: str, op: str, body: dict[str, Any]) -> None:
        if model_id == "throttled":
            return self._error(429, "ThrottlingException", "Too many requests, please wait")
        if "messages" not in body or body["messages"][0]["role"] != "user":
            return self._error(400, "ValidationException", "A conversation must start with a user message.")
        words = _answer(body["messages"][-1]["content"][0]["text"], body.get("inferenceConfig", {}))
        usage = {"inputTokens": 42, "outputTokens": len(words), "totalTokens": 42 + len(words)}
        if op == "converse":
            out = {"output": {"message": {"role": "assistant", "content": [{"text": "".join(words)}]}},
                   "stopReason": "end_turn", "usage": usage, "metrics": {"latencyMs": 5}}  # fmt: skip
            return self._send(200, json.dumps(out).encode(), "application/json")
        frames = [event("messageStart", {"role": "assistant"})]
        for i, w in enumerate(words):
            frames.append(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": w}}))
            if model_id == "broken" and i == 2:
                frames.append(exception("modelStreamErrorException", "the model crashed"))
                break
        else:
            frames += [event("contentBlockStop", {"contentBlockIndex": 0}),
                       event("messageStop", {"stopReason": "end_turn"}),
                       event("metadata", {"usage": usage, "metrics": {"latencyMs": 5}})]  # fmt: skip
        self._send(200, b"".join(frames), "application/vnd.amazon.eventstream")

    # -- SageMaker runtime ------------------------------------------------------------------
    def _sagemaker(self, endpoint: str, op: str, body: dict[str, Any]) -> None:
        if endpoint == "throttled":
            return self._error(429, "ThrottlingException", "Rate exceeded")
        if op == "invocations":  # JumpStart FLAN-T5
            if "text_inputs" not in body:
                return self._error(400, "ModelError", "Received client error (400): text_inputs missing")
            words = _answer(body["text_inputs"], {"maxTokens": body.get("max_length", 50)})
            return self._send(
                200, json.dumps({"generated_texts": ["".join(words)]}).encode(), "application/json"
            )
        if op == "invocations-response-stream":  # TGI
            if "inputs" not in body or not body.get("stream"):
                return self._error(400, "ValidationError", "inputs and stream: true are required")
            params = body.get("parameters", {})
            words = _answer(body["inputs"], {"maxTokens": params.get("max_new_tokens", 20)})
            text = b""
            for i, w in enumerate(words):
                ev: dict[str, Any] = {"token": {"id": i, "text": w, "logprob": -0.1, "special": False},
                                      "generated_text": None, "details": None}  # fmt: skip
                if i == len(words) - 1:
                    ev["generated_text"] = "".join(words)
                    ev["details"] = {
                        "finish_reason": "eos_token",
                        "generated_tokens": len(words),
                        "seed": None,
                    }
                text += b"data:" + json.dumps(ev).encode() + b"\n\n"
            # Parts split lines anywhere, as a real endpoint's chunks do.
            chunks = [text[i : i + 37] for i in range(0, len(text), 37)]
            frames = [event("PayloadPart", c, "application/octet-stream") for c in chunks]
            if endpoint == "broken":
                frames = [*frames[:3], exception("ModelStreamError", "CUDA out of memory", "Message")]
            return self._send(200, b"".join(frames), "application/vnd.amazon.eventstream")
        self._error(404, "UnknownOperationException", op)


def _answer(question: str, config: dict[str, Any]) -> list[str]:
    words = [*ANSWER_WORDS, " You", " asked:", *(" " + w for w in question.split()[:6])]
    return words[: max(1, int(config.get("maxTokens", len(words))))]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    recorder: Recorder


@contextmanager
def aws_runtime_server() -> Iterator[tuple[str, Recorder]]:
    """(endpoint URL, recorder) of a server that is both bedrock-runtime and sagemaker-runtime."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.recorder = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.recorder
    finally:
        server.shutdown()
        server.server_close()
