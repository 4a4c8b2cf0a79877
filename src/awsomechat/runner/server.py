"""The model runner process: one GGUF model, one generation at a time, an OpenAI-compatible API.

    python -m awsomechat.runner --listen unix:///path/runner.sock   (what ``serve`` starts)
    awsomechat model-runner --listen http://0.0.0.0:9000           (a runner of its own)

It loads the model, runs a short real generation (the self-test) and only then listens, so a
model that cannot generate never looks ready. It speaks the subset of the OpenAI chat-completions
wire format that :class:`~awsomechat.chat.models.openai_compat.OpenAIChatModel` uses: streamed
``data:`` events in chunked transfer encoding, ``usage`` at the end, ``data: [DONE]``. A client that
goes away stops the generation at the next token. Requests queue for the one generation thread: one global
queue for every API worker (:mod:`generation_thread`).
"""

from __future__ import annotations

import argparse
import faulthandler
import hmac
import json
import logging
import os
import socket
import socketserver
import sys
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from awsomechat.chat.models.cpu_features import describe
from awsomechat.chat.models.llamacpp import LlamaCppChatModel
from awsomechat.chat.types import Message, Usage
from awsomechat.errors import AwsomeChatError, ModelError
from awsomechat.runner.generation_thread import GenerationThread
from awsomechat.runner.state import unix_socket_path

log = logging.getLogger("awsomechat.runner")

MAX_BODY = 4 * 1024 * 1024
ROLES = ("system", "user", "assistant")


class BadRequest(Exception):
    pass


def parse_request(body: bytes) -> dict[str, Any]:
    """The generation arguments of a chat-completions body; ``BadRequest`` names what is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    raw = data.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages: a non-empty list is required")
    messages = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise BadRequest(f"messages[{i}]: needs a role ({', '.join(ROLES)}) and a string content")
        messages.append(Message(m["role"], m["content"]))
    stop = data.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    max_tokens, temperature = data.get("max_tokens", 256), data.get("temperature", 0.7)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= 32768:
        raise BadRequest("max_tokens: an integer from 1 to 32768")
    if not isinstance(temperature, int | float) or not 0 <= temperature <= 2:
        raise BadRequest("temperature: a number from 0 to 2")
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise BadRequest("stop: a string or a list of strings")
    options = data.get("stream_options") or {}
    return {
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": float(temperature),
        "stop": stop,
        "stream": bool(data.get("stream", False)),
        "include_usage": bool(isinstance(options, dict) and options.get("include_usage")),
    }


class RunnerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RunnerHTTPServer

    def address_string(self) -> str:  # unix sockets have no client address
        return str(self.client_address[0]) if self.client_address else "unix"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # -- helpers -------------------------------------------------------------------------------
    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._json(status, {"error": {"message": message, "type": kind}})

    def _authorised(self) -> bool:
        token = self.server.api_key
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # -- routes --------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if not self._authorised():
            return self._error(401, "a bearer token is required", "authentication_error")
        if self.path == "/health":
            return self._json(200, {"status": "ready", **self.server.info})
        if self.path in ("/v1/models", "/models"):
            model = {"id": self.server.model.name, "object": "model", "owned_by": "awsomechat"}
            return self._json(200, {"object": "list", "data": [model]})
        self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        if not self._authorised():
            return self._error(401, "a bearer token is required", "authentication_error")
        if self.path not in ("/v1/chat/completions", "/chat/completions"):
            return self._error(404, f"no route {self.path}")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._error(411, "Content-Length is required")
        if not 0 < length <= MAX_BODY:
            return self._error(413, f"the body must be 1 byte to {MAX_BODY} bytes")
        try:
            req = parse_request(self.rfile.read(length))
        except BadRequest as exc:
            return self._error(400, str(exc))
        model = self.server.model
        pieces = self.server.generation.submit(
            lambda: model.stream(
                req["messages"],
                max_tokens=req["max_tokens"],
                temperature=req["temperature"],
                stop=req["stop"],
            )
        )
        if req["stream"]:
            self._stream(pieces, req["include_usage"])
        else:
            self._whole(pieces)

    def _whole(self, pieces: Iterator[str | Usage]) -> None:
        text: list[str] = []
        usage = Usage(0, 0)
        try:
            for piece in pieces:
                if isinstance(piece, Usage):
                    usage = piece
                else:
                    text.append(piece)
        except AwsomeChatError as exc:
            return self._error(500, exc.message, "server_error")
        self._json(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion",
            "created": int(time.time()), "model": self.server.model.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(text)},
                         "finish_reason": usage.finish_reason}],
            "usage": _usage(usage),
        })  # fmt: skip

    def _stream(self, pieces: Iterator[str | Usage], include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": self.server.model.name}  # fmt: skip

        def event(payload: dict[str, Any]) -> None:
            self._chunk(b"data: " + json.dumps({**base, **payload}).encode("utf-8") + b"\n\n")

        try:
            try:
                for piece in pieces:
                    if isinstance(piece, Usage):
                        choice = {"index": 0, "delta": {}, "finish_reason": piece.finish_reason}
                        event({"choices": [choice]})
                        if include_usage:
                            event({"choices": [], "usage": _usage(piece)})
                    else:
                        event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            except AwsomeChatError as exc:
                event({"error": {"message": exc.message, "type": "server_error"}})
                self._chunk(b"")
                return
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            log.info("client went away; generation stopped")
        finally:
            if hasattr(pieces, "close"):
                pieces.close()  # frees the model for the next request in the queue


def _usage(u: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    }


class RunnerHTTPServer(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    model: LlamaCppChatModel
    generation: GenerationThread
    info: dict[str, Any]
    api_key: str | None

    def server_bind(self) -> None:  # HTTPServer.server_bind assumes a (host, port) address
        if self.address_family == socket.AF_UNIX:
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = "runner", 0
        else:
            super().server_bind()


class UnixRunnerServer(RunnerHTTPServer):
    address_family = socket.AF_UNIX


def make_server(
    listen: str,
    model: LlamaCppChatModel,
    generation: GenerationThread,
    info: dict[str, Any],
    api_key: str | None,
) -> RunnerHTTPServer:
    sock = unix_socket_path(listen)
    server: RunnerHTTPServer
    if sock is not None:
        sock.parent.mkdir(parents=True, exist_ok=True)
        sock.unlink(missing_ok=True)  # a stale socket of a runner that died
        old = os.umask(0o177)  # only this user may connect
        try:
            server = UnixRunnerServer(str(sock), RunnerHandler)  # type: ignore[arg-type]
        finally:
            os.umask(old)
    elif listen.startswith("http://"):
        host, _, port = listen[len("http://") :].rstrip("/").rpartition(":")
        server = RunnerHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), RunnerHandler)
    else:
        raise ModelError(f"cannot listen on {listen!r}", hint="use unix:///path.sock or http://host:port")
    server.model, server.generation, server.info, server.api_key = model, generation, info, api_key
    return server


def main(argv: list[str] | None = None) -> int:
    from awsomechat.chat.models.packaged import resolve_gguf
    from awsomechat.settings import LlamaCppSettings, load_settings

    ap = argparse.ArgumentParser(prog="awsomechat model-runner", description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True, help="unix:///path.sock or http://host:port")
    args = ap.parse_args(argv)
    faulthandler.enable()  # a native crash prints where it happened to the log
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    llm = settings.llm
    if not isinstance(llm, LlamaCppSettings):
        print(
            f"model runner: llm.kind is {llm.kind!r}; the runner runs GGUF models (llamacpp)", file=sys.stderr
        )
        return 2
    try:
        path = resolve_gguf(llm, settings.data_dir)
        generation = GenerationThread()  # loads, self-tests and generates: one thread, one OpenMP team
        t0 = time.perf_counter()
        model: LlamaCppChatModel = generation.call(lambda: LlamaCppChatModel(path, llm))
        load_s = time.perf_counter() - t0
        selftest = generation.call(model.self_test)
    except AwsomeChatError as exc:
        print(f"model runner: {exc}", file=sys.stderr, flush=True)
        return 3
    info = {
        "pid": os.getpid(), "model": model.name, "n_ctx": model.context_window, "load_s": round(load_s, 2),
        "extra_buffer_types": model.extra_buffer_types, "selftest": selftest, "cpu": describe(),
    }  # fmt: skip
    api_key = llm.api_key.get_secret_value() if llm.api_key else None
    server = make_server(args.listen, model, generation, info, api_key)
    log.info("model runner ready on %s: %s (load %.1f s, self-test %s)", args.listen, model.name, load_s,
             selftest)  # fmt: skip
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sock = unix_socket_path(args.listen)
        if sock is not None:
            sock.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
