"""The scripted OpenAI-compatible server, exercised through the real ``openai`` client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from fakeopenai import FakeOpenAI, Reply

USER: Any = [{"role": "user", "content": "hello there"}]
TOOL = {
    "type": "function",
    "function": {"name": "run_python", "parameters": {"type": "object", "properties": {}}},
}


def client(server: FakeOpenAI, **options: Any) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    options.setdefault("api_key", "test")
    return openai.OpenAI(base_url=server.base_url, **options)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server
    assert server.unexpected == []


def ask(server: FakeOpenAI, **options: Any) -> Any:
    create_options = {k: options.pop(k) for k in ("stream", "tools") if k in options}
    with client(server, **options) as c:
        response = c.chat.completions.create(model="m1", messages=USER, **create_options)
        return list(response) if create_options.get("stream") else response


def test_text_reply(server: FakeOpenAI) -> None:
    server.push(Reply(content="hi!", prompt_tokens=7, completion_tokens=3))
    response = ask(server)
    assert response.object == "chat.completion"
    assert response.model == "m1"
    assert response.choices[0].message.content == "hi!"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.total_tokens == 10
    assert server.requests == [{"model": "m1", "messages": USER}]
    assert server.headers[0]["authorization"] == "Bearer test"


def test_tool_calls_are_passed_through_raw(server: FakeOpenAI) -> None:
    code = json.dumps({"code": "print(1)"})
    calls = [{"name": "run_python", "arguments": a} for a in (code, "{oops")]
    server.push(Reply(tool_calls=calls))
    message = ask(server, tools=[TOOL]).choices[0]
    assert message.finish_reason == "tool_calls"
    got = message.message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in got] == [
        ("call_1", "run_python", code),
        ("call_2", "run_python", "{oops"),
    ]
    assert server.requests[0]["tools"] == [TOOL]


def test_length_and_model_override(server: FakeOpenAI) -> None:
    server.push(Reply(content="cut sho", finish_reason="length", model="other"))
    response = ask(server)
    assert (response.choices[0].finish_reason, response.model) == ("length", "other")


def test_rate_limit_then_success_with_retries(server: FakeOpenAI) -> None:
    server.push(Reply(status=429, headers={"retry-after-ms": "10"}, error="slow down"), "ok")
    started = time.monotonic()
    assert ask(server, max_retries=2).choices[0].message.content == "ok"
    assert time.monotonic() - started < 0.3  # retry-after-ms honoured, not the 0.5 s backoff
    assert len(server.requests) == 2
    assert server.headers[1]["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, openai.InternalServerError),
        (429, openai.RateLimitError),
        (400, openai.BadRequestError),
        (404, openai.NotFoundError),
    ],
)
def test_error_status(server: FakeOpenAI, status: int, error: type[Exception]) -> None:
    server.push(Reply(status=status, error="boom"))
    with pytest.raises(error, match="boom") as caught:
        ask(server)
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status


def test_api_key_required() -> None:
    with FakeOpenAI(["welcome"], api_key="secret") as server:
        with pytest.raises(openai.AuthenticationError):
            ask(server, api_key="wrong")
        assert ask(server, api_key="secret").choices[0].message.content == "welcome"
        assert len(server.requests) == 2  # the refused request did not consume the script
        with client(server, api_key="wrong") as c, pytest.raises(openai.AuthenticationError):
            c.models.list()
    assert server.unexpected == []


def test_timeout_and_prompt_close() -> None:
    with FakeOpenAI([Reply(content="late", delay=2)]) as server:
        with pytest.raises(openai.APITimeoutError):
            ask(server, timeout=0.3)
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 1


def test_dropped_reply_is_a_connection_error(server: FakeOpenAI) -> None:
    server.push(Reply(content="x" * 1000, drop=True), "again")
    with pytest.raises(openai.APIConnectionError) as caught:
        ask(server)
    assert type(caught.value) is openai.APIConnectionError
    assert isinstance(caught.value, openai.APIError)
    assert "peer closed connection" in str(caught.value.__cause__)
    assert ask(server).choices[0].message.content == "again"  # the server survives


def test_tools_unsupported() -> None:
    with FakeOpenAI(["plain"], supports_tools=False) as server:
        with pytest.raises(openai.BadRequestError, match="tools are not supported"):
            ask(server, tools=[TOOL])
        assert ask(server).choices[0].message.content == "plain"
    assert server.unexpected == []


def test_streaming(server: FakeOpenAI) -> None:
    text = "a streamed answer " * 10
    calls = [{"name": "run_python", "arguments": '{"code": "1 + 1"}'}]
    server.push(Reply(content=text, tool_calls=calls, completion_tokens=5))
    content, arguments, finish, usage = "", "", None, None
    for chunk in ask(server, stream=True, tools=[TOOL]):
        assert chunk.object == "chat.completion.chunk"
        usage = chunk.usage or usage
        for choice in chunk.choices:
            content += choice.delta.content or ""
            arguments += "".join(c.function.arguments or "" for c in choice.delta.tool_calls or [])
            finish = choice.finish_reason or finish
    assert (content, arguments, finish) == (text, calls[0]["arguments"], "tool_calls")
    assert usage is not None and usage.completion_tokens == 5


def test_stream_that_stalls_or_stops(server: FakeOpenAI) -> None:
    server.push(Reply(content="slow stream", stall=0.2), Reply(content="x" * 100, drop=True))
    started = time.monotonic()
    chunks = ask(server, stream=True)
    assert time.monotonic() - started >= 0.2
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "slow stream"
    with pytest.raises(openai.APIConnectionError):
        ask(server, stream=True)


def test_stream_stall_beyond_timeout() -> None:
    with FakeOpenAI([Reply(content="never finished", stall=2)]) as server:
        with pytest.raises(openai.APITimeoutError):
            ask(server, stream=True, timeout=0.3)
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 1


def test_large_reply(server: FakeOpenAI) -> None:
    big = "0123456789abcdef" * 65536
    server.push(big)
    assert ask(server).choices[0].message.content == big


def test_concurrent_requests() -> None:
    with FakeOpenAI(["r"] * 8, latency=0.3) as server, client(server) as c:
        started = time.monotonic()

        def one(_: int) -> str | None:
            return c.chat.completions.create(model="m", messages=USER).choices[0].message.content

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(8)))
        assert time.monotonic() - started < 0.9
        assert results == ["r"] * 8
        assert server.max_concurrent == 8


def test_responder() -> None:
    def responder(request: dict[str, Any]) -> Reply | str:
        question = request["messages"][-1]["content"]
        return Reply(content=question.upper()) if question != "fail" else Reply(status=503)

    with FakeOpenAI(responder) as server, client(server) as c:
        for word in ["one", "two"]:
            messages: Any = [{"role": "user", "content": word}]
            response = c.chat.completions.create(model="m", messages=messages)
            assert response.choices[0].message.content == word.upper()
        with pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model="m", messages=[{"role": "user", "content": "fail"}])
        with pytest.raises(TypeError):
            server.push("no script")


def test_script_exhausted_is_recorded() -> None:
    with FakeOpenAI(["only"]) as server:
        assert ask(server).choices[0].message.content == "only"
        with pytest.raises(openai.InternalServerError, match="script exhausted"):
            ask(server)
    assert server.unexpected == ["script exhausted at request 2: 'hello there'"]


def test_models_and_unknown_path() -> None:
    with FakeOpenAI(models=["a", "b"]) as server, client(server) as c:
        assert [m.id for m in c.models.list()] == ["a", "b"]
        with pytest.raises(openai.NotFoundError):
            c.models.retrieve("a")
    assert server.requests == []
