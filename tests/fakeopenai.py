"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 for tests and benchmarks.

Code under test talks to it through the real ``openai`` client over real HTTP/1.1. Each
``POST /v1/chat/completions`` is answered by the next :class:`Reply` of a script (or by a
responder callable); errors, slow replies, truncated bodies and stalled streams are scripted
the same way."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loopback import LoopbackServer, QuietServer, TrackedHandler


@dataclass
class Reply:
    """One scripted response to one chat-completions request."""

    content: str | None = None
    # [{"name": "run_python", "arguments": '{"code": "..."}'}]; arguments is sent verbatim
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None  # default: "tool_calls" if tool_calls else "stop"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # message of the error body when status >= 400
    delay: float = 0.0  # seconds to wait before answering
    drop: bool = False  # send headers and half the body, then close the connection
    stall: float = 0.0  # streaming only: pause this long half way through the stream
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model: str | None = None  # default: the request's model
    # Send the status line and headers, then nothing for this long (then close): a server that
    # stalls after answering; for streamed and plain replies alike.
    hang: float = 0.0
    # A plain (not streamed) reply: this JSON object is sent verbatim as the 200 body instead
    # of a well-formed completion (e.g. ``{"choices": []}``).
    body: dict[str, Any] | None = None


Responder = Callable[[dict[str, Any]], "Reply | str"]


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _message_text(messages: Any) -> str:
    parts: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if isinstance(p, dict)]
        for call in (message.get("tool_calls") or []) if isinstance(message, dict) else []:
            parts.append(str(call.get("function", {}).get("arguments", "")))
    return "".join(parts)


def _usage(body: dict[str, Any], reply: Reply) -> tuple[int, int]:
    """The prompt and completion tokens a reply reports: the scripted ones, or about four
    characters a token of the request's messages and of the reply."""
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = len(_message_text(body.get("messages"))) // 4 + 1
    completion = reply.completion_tokens
    if completion is None:
        arguments = "".join(str(c.get("arguments", "")) for c in reply.tool_calls or [])
        completion = len((reply.content or "") + arguments) // 4 + 1
    return prompt, completion


def _pieces(text: str, count: int = 8) -> list[str]:
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _stream_chunks(
    head: dict[str, Any],
    content: str | None,
    calls: list[dict[str, Any]],
    finish: str,
    usage: dict[str, int],
) -> list[dict[str, Any]]:
    """The chat.completion.chunk objects of a streamed reply, usage last (as OpenAI does)."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**head, "object": "chat.completion.chunk", "choices": [choice]}

    chunks = [chunk({"role": "assistant", "content": None if calls and not content else ""})]
    chunks += [chunk({"content": piece}) for piece in _pieces(content or "")]
    for i, call in enumerate(calls):
        function = {"name": call["function"]["name"], "arguments": ""}
        chunks.append(chunk({"tool_calls": [{"index": i, **call, "function": function}]}))
        for piece in _pieces(call["function"]["arguments"]):
            delta = {"index": i, "function": {"arguments": piece}}
            chunks.append(chunk({"tool_calls": [delta]}))
    chunks.append(chunk({}, finish))
    chunks.append({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    return chunks


class FakeOpenAI(LoopbackServer):
    """``with FakeOpenAI(["hello"]) as server: openai.OpenAI(base_url=server.base_url, ...)``"""

    def __init__(
        self,
        replies: Iterable[Reply | str] | Responder | None = None,
        *,
        latency: float = 0.0,
        models: Sequence[str] = ("fake-model",),
        supports_tools: bool = True,
        api_key: str | None = None,
        prompt_tps: float | None = None,
        decode_tps: float | None = None,
    ) -> None:
        super().__init__()
        self._responder: Responder | None = replies if callable(replies) else None
        self._script: deque[Reply | str] = deque() if callable(replies) else deque(replies or ())
        self.latency = latency
        # A simulated model's speed: each reply also waits prompt_tokens / prompt_tps and
        # (completion_tokens - 1) / decode_tps seconds (its usage's figures).
        self.prompt_tps = prompt_tps
        self.decode_tps = decode_tps
        self.models = list(models)
        self.supports_tools = supports_tools
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.unexpected: list[str] = []
        self.max_concurrent = 0
        self._in_flight = 0
        self._ids = itertools.count(1)
        self._call_ids = itertools.count(1)
        self._lock = threading.Lock()

    def push(self, *replies: Reply | str) -> None:
        if self._responder is not None:
            raise TypeError("push() needs a scripted server, not a responder")
        with self._lock:
            self._script.extend(replies)

    url_suffix = "/v1"

    def make_server(self) -> QuietServer:
        return QuietServer(self, _Handler)

    # -- used by the handler --------------------------------------------------------------

    def _arrive(self, body: dict[str, Any], headers: dict[str, str]) -> int:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)
            return len(self.requests)

    def _depart(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _next_reply(self, body: dict[str, Any], number: int) -> Reply:
        try:
            if self._responder is not None:
                reply = self._responder(body)
            else:
                with self._lock:
                    scripted = self._script.popleft() if self._script else None
                if scripted is None:
                    last = _message_text(body.get("messages", [])[-1:])[:200]
                    problem = f"script exhausted at request {number}: {last!r}"
                    self.unexpected.append(problem)
                    return Reply(status=500, error="script exhausted")
                reply = scripted
        except Exception as exc:  # a broken responder must fail the test, not hang it
            self.unexpected.append(f"responder failed at request {number}: {exc!r}")
            return Reply(status=500, error=f"responder failed: {exc!r}")
        return Reply(content=reply) if isinstance(reply, str) else reply


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        fake = self.server.fake
        models = fake.models
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.partition("?")[0].rstrip("/")
        authorized = fake.api_key is None or (
            self.headers.get("Authorization") == f"Bearer {fake.api_key}"
        )
        if self.command == "POST" and path == "/v1/chat/completions":
            self._chat(raw, authorized)
        elif not authorized and path.startswith("/v1/"):
            self._send_json(401, _error_body(401, "Incorrect API key provided"))
        elif self.command == "GET" and path == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, _error_body(404, f"Invalid URL ({self.command} {self.path})"))

    def _chat(self, raw: bytes, authorized: bool) -> None:
        fake = self.server.fake
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            return self._send_json(400, _error_body(400, f"invalid JSON body: {exc}"))
        number = fake._arrive(body, {k.lower(): v for k, v in self.headers.items()})
        try:
            if not authorized:
                return self._send_json(401, _error_body(401, "Incorrect API key provided"))
            if not fake.supports_tools and "tools" in body:
                message = "tools are not supported by this server"
                return self._send_json(400, _error_body(400, message))
            reply = fake._next_reply(body, number)
            if not fake.sleep(fake.latency + reply.delay + self._work_seconds(body, reply)):
                self.close_connection = True
                return None
            if reply.status >= 400:
                error = _error_body(reply.status, reply.error or f"HTTP {reply.status}")
                return self._send_json(reply.status, error, reply.headers, reply.drop)
            if reply.hang > 0:
                return self._hang(reply)
            if reply.body is not None and not body.get("stream"):
                return self._send_json(200, reply.body, reply.headers, reply.drop)
            self._answer(body, reply)
        finally:
            fake._depart()

    def _answer(self, body: dict[str, Any], reply: Reply) -> None:
        fake = self.server.fake
        calls: list[dict[str, Any]] = [
            {
                "id": call.get("id") or f"call_{next(fake._call_ids)}",
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
            for call in reply.tool_calls or []
        ]
        prompt, completion = _usage(body, reply)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion}
        usage["total_tokens"] = prompt + completion
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        head = {
            "id": f"chatcmpl-{next(fake._ids)}",
            "created": int(time.time()),
            "model": reply.model or body.get("model") or fake.models[0],
            "system_fingerprint": "fake",
        }
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.content}
            if calls:
                message["tool_calls"] = calls
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            full = {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            return self._send_json(200, full, reply.headers, reply.drop)

        chunks = _stream_chunks(head, reply.content, calls, finish, usage)
        events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        for i, event in enumerate(events):
            if i == len(events) // 2 and (reply.drop or not fake.sleep(reply.stall)):
                return self._cut(b"")
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")

    def _work_seconds(self, body: dict[str, Any], reply: Reply) -> float:
        """The time the simulated model takes to read the prompt and write the reply."""
        fake = self.server.fake
        if reply.status >= 400 or reply.hang > 0 or reply.body is not None:
            return 0.0
        prompt, completion = _usage(body, reply)
        seconds = prompt / fake.prompt_tps if fake.prompt_tps else 0.0
        if fake.decode_tps:
            seconds += max(completion - 1, 0) / fake.decode_tps
        return seconds

    def _send_json(
        self, status: int, obj: Any, headers: dict[str, str] | None = None, drop: bool = False
    ) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if drop:
            return self._cut(data[: len(data) // 2])
        self.wfile.write(data)

    def _hang(self, reply: Reply) -> None:
        """Headers that promise a body, then silence for ``reply.hang`` seconds, then close."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.flush()
        self.server.fake.sleep(reply.hang)
        self._cut(b"")

    def _cut(self, partial: bytes) -> None:
        """Write ``partial`` and close the connection: a reply that stops half way."""
        self.wfile.write(partial)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
