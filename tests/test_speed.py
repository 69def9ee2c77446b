"""The local model's speed: measured through the OpenAI-compatible API, kept in the models
folder, refined by real calls.

The fast tests measure the scripted server (tests/fakeopenai.py), which here simulates a model
that reads and writes at declared speeds, through the real ``openai`` client. The ``model``
test measures the real 0.5B model (``pip install 'ghqa[local]'``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from ghqa.errors import EngineError
from ghqa.local import LocalServer, local_available, local_model, speed
from ghqa.local.server import start_local
from ghqa.local.speed import (
    GENERATED,
    Speed,
    cached_speed,
    local_speed,
    measure_speed,
    record_call,
    speed_key,
    speed_path,
)
from ghqa.settings import Settings

from fakeopenai import FakeOpenAI, Reply
from helpers import SCHED_DATA

PROMPT_TPS = 1500.0
DECODE_TPS = 150.0
OVERHEAD = 0.05


def counting(body: dict[str, Any]) -> Reply:
    """A model that writes as many tokens as it may (and reports them)."""
    wanted = int(body.get("max_tokens") or 1)
    return Reply(content=", ".join(map(str, range(1, wanted + 1))), completion_tokens=wanted)


@pytest.fixture
def slow() -> Iterator[FakeOpenAI]:
    """A model at the declared speeds (a measurement takes about 0.7 s)."""
    with FakeOpenAI(
        counting, latency=OVERHEAD, prompt_tps=PROMPT_TPS, decode_tps=DECODE_TPS
    ) as server:
        yield server
    assert server.unexpected == []


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    """A model too fast to wait for, for the tests of the cache."""
    with FakeOpenAI(counting, prompt_tps=1e5, decode_tps=1e4) as server:
        yield server
    assert server.unexpected == []


def near(value: float, expected: float, tolerance: float) -> bool:
    return abs(value / expected - 1) <= tolerance


def fake_server(fake: FakeOpenAI, tmp_path: Path, threads: int = 2) -> LocalServer:
    """A LocalServer for the 0.5B model (not started) that the fake stands in for."""
    server = LocalServer(local_model("0.5b"), tmp_path / "model.gguf", threads)
    server.base_url = fake.base_url
    return server


# --- the figures -----------------------------------------------------------------------------


def test_seconds_and_observed() -> None:
    s = Speed(prompt_tps=100.0, decode_tps=20.0, overhead=0.5)
    assert s.seconds(1000, 1) == pytest.approx(10.5)
    assert s.seconds(1000, 41) == pytest.approx(12.5)  # 40 tokens after the first
    assert s.seconds(0, 0) == pytest.approx(0.5)
    slower = s.observed(1000, 41, 25.0)  # twice as slow as predicted: a fifth of the way there
    assert slower.seconds(1000, 41) == pytest.approx(12.5 * 1.2)
    assert s.observed(1000, 41, 1e9).seconds(1000, 41) == pytest.approx(12.5 * (1 + 0.2 * 3))
    assert s.observed(1000, 41, 0.0) == s
    # repeated observations converge on the real latency
    for _ in range(60):
        s = s.observed(1000, 41, 6.25)
    assert s.seconds(1000, 41) == pytest.approx(6.25, rel=1e-3)


def test_longer_contexts_are_slower() -> None:
    """The i-th prompt token costs (1 + i / half_context); written tokens slow half as fast."""
    s = Speed(prompt_tps=100.0, decode_tps=20.0, overhead=0.5, half_context=1000.0)
    assert s.prompt_seconds(1000) == pytest.approx((1000 + 500) / 100)
    assert s.prompt_seconds(4000) == pytest.approx((4000 + 8000) / 100)
    # 40 tokens written over a mean context of 1020: each costs 1 + 1020 / 2000
    assert s.decode_seconds(1000, 41) == pytest.approx(40 * 1.51 / 20)
    assert s.seconds(1000, 41) == pytest.approx(0.5 + 15 + 40 * 1.51 / 20)
    flat = Speed(100.0, 20.0, 0.5)
    assert s.seconds(100, 1) > flat.seconds(100, 1)
    assert s.observed(1000, 41, 1e9).half_context == 1000.0


def test_solve_with_an_injected_clock() -> None:
    """Exact arithmetic: each call advances a fake clock by what the declared model needs."""
    now = [0.0]
    declared = Speed(prompt_tps=200.0, decode_tps=25.0, overhead=0.3, half_context=3000.0)

    def responder(body: dict[str, Any]) -> Reply:
        reply = counting(body)
        prompt = len(json.dumps(body["messages"])) // 3
        now[0] += declared.seconds(prompt, reply.completion_tokens or 0)
        reply.prompt_tokens = prompt
        return reply

    with (
        FakeOpenAI(responder) as server,
        openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client,
    ):
        measured = measure_speed(client, "fake-model", clock=lambda: now[0], half_context=3000)
    assert measured.half_context == 3000
    assert measured.prompt_tps == pytest.approx(200.0, rel=1e-3)
    assert measured.decode_tps == pytest.approx(25.0, rel=1e-3)
    assert measured.overhead == pytest.approx(0.3, abs=1e-3)
    assert len(server.requests) == 5


def test_measured_speed_is_what_the_fake_declares(slow: FakeOpenAI) -> None:
    with openai.OpenAI(base_url=slow.base_url, api_key="x", max_retries=0) as client:
        measured = measure_speed(client, "fake-model")
    # wall-clock timing of real HTTP calls: generous tolerances
    assert near(measured.prompt_tps, PROMPT_TPS, 0.35), measured
    assert near(measured.decode_tps, DECODE_TPS, 0.35), measured
    assert 0.02 <= measured.overhead <= 0.3, measured
    bodies = slow.requests
    assert [b["max_tokens"] for b in bodies] == [1, 1, 1, 1, GENERATED]
    assert all(b["temperature"] == 0 for b in bodies)
    # no two prompts share a beginning (llama.cpp would reuse its cached prefix)
    firsts = [b["messages"][0]["content"].split()[0] for b in bodies]
    assert len(set(firsts)) == 5
    long_prompt = bodies[3]["messages"][1]["content"]
    assert 1000 < len(long_prompt) < 1500  # about 400 tokens of C


def test_measuring_fails_clearly() -> None:
    with (
        FakeOpenAI([Reply(status=500, error="boom")]) as server,
        openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client,
    ):
        with pytest.raises(EngineError, match="measuring the speed of m failed"):
            measure_speed(client, "m")
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}}]}
    with (
        FakeOpenAI([Reply(body=body)]) as server,
        openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client,
    ):
        with pytest.raises(EngineError, match="without token counts"):
            measure_speed(client, "m")


# --- the cache -------------------------------------------------------------------------------


def test_speed_is_measured_once_and_then_read(
    fake: FakeOpenAI, tmp_path: Path, settings: Settings
) -> None:
    server = fake_server(fake, tmp_path)
    events: list[str] = []

    def reporter(stage: str, message: str, /, **data: Any) -> None:
        events.append(message)

    first = local_speed(server, settings, reporter)
    assert len(fake.requests) == 5 and any("measuring the speed" in e for e in events)
    assert fake.requests[-1]["logit_bias"] == {"151643": -100, "151645": -100}  # Qwen's ends
    assert local_speed(server, settings) == first
    assert len(fake.requests) == 5  # read from the models folder: no request
    stored = json.loads(speed_path(settings).read_text())
    assert stored["entries"][0]["key"] == speed_key(server)
    assert speed_path(settings).parent == settings.cache_root / "models"
    key = speed_key(server)
    assert key["model"] == local_model("0.5b").sha256 and key["threads"] == 2
    assert key["cpu"] and key["cores"] >= 1 and key["llama_cpp"] is not None
    # refresh measures again
    local_speed(server, settings, refresh=True)
    assert len(fake.requests) == 10


def test_a_changed_key_measures_again(
    fake: FakeOpenAI, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    two = fake_server(fake, tmp_path, threads=2)
    local_speed(two, settings)
    assert len(fake.requests) == 5
    four = fake_server(fake, tmp_path, threads=4)  # another thread count
    local_speed(four, settings)
    assert len(fake.requests) == 10
    monkeypatch.setattr(speed, "llama_cpp_version", lambda: "9.9.9")  # an upgrade
    local_speed(two, settings)
    assert len(fake.requests) == 15
    monkeypatch.setattr(speed, "cpu_model", lambda: "Another CPU")  # another machine
    local_speed(two, settings)
    assert len(fake.requests) == 20
    other = LocalServer(local_model("1.5b"), tmp_path / "other.gguf", 2)  # another model
    other.base_url = fake.base_url
    local_speed(other, settings)
    assert len(fake.requests) == 25
    entries = json.loads(speed_path(settings).read_text())["entries"]
    assert len(entries) == 5
    # every one is still kept: going back costs nothing
    local_speed(other, settings)
    assert len(fake.requests) == 25


def test_a_model_file_without_published_hash_is_keyed_by_name_and_size(tmp_path: Path) -> None:
    path = tmp_path / "custom.gguf"
    path.write_bytes(b"x" * 1234)
    model = local_model("0.5b")
    server = LocalServer(type(model)(**{**model.__dict__, "sha256": ""}), path, 1)
    assert speed_key(server)["model"] == "custom.gguf:1234"


@pytest.mark.parametrize(
    "damage",
    [
        b"{not json",
        b"",
        b"[1, 2, 3]",
        json.dumps({"format": 1, "entries": "nope"}).encode(),
        json.dumps({"format": 99, "entries": []}).encode(),
    ],
    ids=["truncated", "empty", "list", "bad-entries", "other-format"],
)
def test_a_damaged_file_is_ignored_and_rewritten(
    fake: FakeOpenAI, tmp_path: Path, settings: Settings, damage: bytes
) -> None:
    server = fake_server(fake, tmp_path)
    path = speed_path(settings)
    path.parent.mkdir(parents=True)
    path.write_bytes(damage)
    measured = local_speed(server, settings)
    assert len(fake.requests) == 5
    stored = json.loads(path.read_text())
    assert stored["format"] == 1 and len(stored["entries"]) == 1
    assert cached_speed(settings, speed_key(server)) == measured


def test_damaged_entries_are_dropped(fake: FakeOpenAI, tmp_path: Path, settings: Settings) -> None:
    server = fake_server(fake, tmp_path)
    key = speed_key(server)
    bad = [
        {"key": key, "prompt_tps": "fast", "decode_tps": 1, "overhead": 0},
        {"key": key, "prompt_tps": 0, "decode_tps": 1, "overhead": 0},
        {"key": key, "prompt_tps": 10, "decode_tps": -1, "overhead": 0},
        {"key": "x", "prompt_tps": 10, "decode_tps": 1, "overhead": 0},
        "junk",
    ]
    path = speed_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": 1, "entries": bad}))
    local_speed(server, settings)
    assert len(fake.requests) == 5
    assert len(json.loads(path.read_text())["entries"]) == 1


def test_real_calls_refine_the_kept_figures(
    fake: FakeOpenAI, tmp_path: Path, settings: Settings
) -> None:
    server = fake_server(fake, tmp_path)
    assert record_call(server, settings, 1000, 100, 5.0) is None  # nothing kept: nothing done
    assert not speed_path(settings).exists()
    first = local_speed(server, settings)
    predicted = first.seconds(1000, 100)
    updated = record_call(server, settings, 1000, 100, predicted * 2)
    assert updated is not None and updated.seconds(1000, 100) == pytest.approx(predicted * 1.2)
    assert local_speed(server, settings) == updated  # kept
    entry = json.loads(speed_path(settings).read_text())["entries"][0]
    assert entry["calls"] == 1
    # concurrent calls (the engine's threads) each count, none is lost
    threads = [
        threading.Thread(target=record_call, args=(server, settings, 1000, 100, predicted))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert json.loads(speed_path(settings).read_text())["entries"][0]["calls"] == 9
    assert len(fake.requests) == 5


# --- the real model --------------------------------------------------------------------------


@pytest.mark.model
def test_real_model_speed(tmp_path: Path) -> None:
    """The 0.5B model: measured in a few seconds, plausible, and predicting a real call's
    latency to within a factor of two; read back without a request."""
    model = local_model("0.5b")
    reason = local_available(model)
    if reason is not None:
        pytest.skip(f"the local extra is not installed: {reason}")
    settings = Settings(cache_dir=tmp_path / "cache", local_model="0.5b")
    server = start_local(settings)
    try:
        start = time.monotonic()
        measured = local_speed(server, settings)
        took = time.monotonic() - start
        assert took < 30, took
        assert measured.prompt_tps > measured.decode_tps > 1, measured
        assert cached_speed(settings, speed_key(server)) == measured
        fair = SCHED_DATA
        lines = (fair / "kernel" / "sched" / "fair.c").read_text().splitlines()[250:290]
        prompt = "\n".join(f"{n}| {line}" for n, line in enumerate(lines, 251))
        with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client:
            start = time.monotonic()
            reply = client.chat.completions.create(
                model=server.model_alias,
                messages=[{"role": "user", "content": prompt + "\n\nWhat does __calc_delta do?"}],
                max_tokens=16,
                temperature=0,
            )
            latency = time.monotonic() - start
        usage = reply.usage
        assert usage is not None
        predicted = measured.seconds(usage.prompt_tokens, usage.completion_tokens)
        assert predicted / 2 <= latency <= predicted * 2, (predicted, latency, measured)
    finally:
        server.stop()
