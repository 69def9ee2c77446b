"""The engine end to end: the real openai client against a scripted server on 127.0.0.1,
on the linux-sched repository, for every strategy."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ghqa.engine import Answer, answer_question
from ghqa.engine.trace import load_trace
from ghqa.errors import EngineError, NeedsKeyError
from ghqa.index import RepoIndex
from ghqa.settings import Settings

from enginekit import (
    FAIR,
    all_text,
    index_sched,
    last_user_text,
    model_settings,
    run_python,
    submit,
)
from fakeopenai import FakeOpenAI, Reply
from gitserver import GitHTTPServer

QUESTION = "how does calc_delta_fair avoid division"
GOOD_ANSWER = (
    "`calc_delta_fair` returns `delta` unchanged for nice-0 tasks and otherwise calls "
    f"`__calc_delta` ({FAIR}:289-295), which multiplies by the cached inverse weight and "
    f"shifts right by `WMULT_SHIFT` instead of dividing ({FAIR}:259-284, {FAIR}:228)."
)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, sched_template: Path) -> RepoIndex:
    idx = index_sched(sched_template, tmp_path_factory.mktemp("idx"))
    yield idx
    idx.close()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def ask(
    index: RepoIndex, server: FakeOpenAI, cache_dir: Path, question: str = QUESTION, **kw: Any
) -> Answer:
    trace = cache_dir / "trace.jsonl"
    settings = model_settings(server, cache_dir, **kw)
    return answer_question(index, question, settings, trace_path=trace)


# ---------------------------------------------------------------- direct


def test_direct_answers_with_verified_citations(index: RepoIndex, cache: Path) -> None:
    reply = GOOD_ANSWER + f" See also {FAIR}:99999 and kernel/sched/nosuch.c:1-3."
    with FakeOpenAI([reply]) as server:
        answer = ask(index, server, cache, strategy="direct")
    assert answer.strategy == "direct" and not answer.partial
    labels = [c.label for c in answer.citations]
    assert f"{FAIR}:289-295" in labels and f"{FAIR}:259-284" in labels
    assert all(c.commit == index.commit for c in answer.citations)
    assert {d.citation.path for d in answer.dropped} >= {FAIR, "kernel/sched/nosuch.c"}
    sent = all_text(server.requests[0])
    # The code was sent with line numbers: __calc_delta's body and the macro it shifts by.
    assert "259| static u64 __calc_delta(u64 delta_exec" in sent
    assert "228| #define WMULT_SHIFT" in sent
    assert answer.usage.calls == 1 and answer.usage.prompt_tokens > 0


def test_repeated_question_is_served_from_the_cache(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([GOOD_ANSWER]) as server:
        first = ask(index, server, cache, strategy="direct")
        second = ask(index, server, cache, strategy="direct")
        assert len(server.requests) == 1 and not server.unexpected
    assert first.usage.calls == 1
    assert second.usage.calls == 0 and second.usage.cached_calls == 1
    assert second.text == first.text and second.citations == first.citations


def test_no_cache_asks_again(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([GOOD_ANSWER, GOOD_ANSWER]) as server:
        ask(index, server, cache, strategy="direct", cache="off")
        again = ask(index, server, cache, strategy="direct", cache="off")
        assert len(server.requests) == 2
    assert again.usage.calls == 1


def test_replay_mode_fails_on_an_unrecorded_request(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([]) as server, pytest.raises(EngineError, match="never recorded"):
        ask(index, server, cache, strategy="direct", cache="replay")


def test_retries_a_429_then_succeeds(index: RepoIndex, cache: Path) -> None:
    script = [Reply(status=429, headers={"retry-after-ms": "10"}, error="slow down"), GOOD_ANSWER]
    with FakeOpenAI(script) as server:
        answer = ask(index, server, cache, strategy="direct")
        assert len(server.requests) == 2
    assert answer.citations and answer.usage.calls == 1


def test_500s_after_retries_give_one_clear_error(index: RepoIndex, cache: Path) -> None:
    script = [Reply(status=500, error="boom", headers={"retry-after-ms": "5"})] * 2
    with FakeOpenAI(script) as server, pytest.raises(EngineError, match="answered 500"):
        ask(index, server, cache, strategy="direct", retries=1)


def test_a_model_call_that_times_out(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([Reply(GOOD_ANSWER, delay=3)]) as server:
        with pytest.raises(EngineError, match="did not answer in time"):
            ask(index, server, cache, strategy="direct", retries=0, request_timeout=0.5)


def test_a_reply_cut_off_at_the_token_limit_is_partial(index: RepoIndex, cache: Path) -> None:
    cut = Reply(f"`__calc_delta` ({FAIR}:259-284) multiplies by", finish_reason="length")
    with FakeOpenAI([cut]) as server:
        answer = ask(index, server, cache, strategy="direct")
    assert answer.partial and "cut off" in (answer.reason or "")
    assert [c.label for c in answer.citations] == [f"{FAIR}:259-284"]


def test_max_completion_tokens_is_used_when_the_server_wants_it(
    index: RepoIndex, cache: Path
) -> None:
    def responder(body: dict) -> Reply:
        if "max_tokens" in body:
            return Reply(
                status=400,
                error="Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
            )
        return Reply(GOOD_ANSWER)

    with FakeOpenAI(responder) as server:
        answer = ask(index, server, cache, strategy="direct")
        assert "max_completion_tokens" in server.requests[-1]
    assert answer.citations


def test_cost_is_computed_when_a_price_is_set(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([Reply(GOOD_ANSWER, prompt_tokens=1000, completion_tokens=100)]) as server:
        answer = ask(index, server, cache, strategy="direct", price="1.0,2.0")
    assert answer.usage.cost == pytest.approx((1000 * 1.0 + 100 * 2.0) / 1e6)


def test_no_key_and_no_server_says_how_to_configure(index: RepoIndex, cache: Path) -> None:
    settings = Settings.resolve({}, cache_dir=cache)
    with pytest.raises(NeedsKeyError, match="OPENAI_API_KEY"):
        answer_question(index, QUESTION, settings)


def test_wrong_key_is_reported(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([GOOD_ANSWER], api_key="right") as server:
        with pytest.raises(EngineError, match="refused the API key"):
            ask(index, server, cache, strategy="direct")


# ---------------------------------------------------------------- chunked


def test_chunked_maps_the_sub_model_concurrently_then_synthesizes(
    index: RepoIndex, cache: Path
) -> None:
    def responder(body: dict) -> Reply:
        text = all_text(body)
        if "Notes from reading" in text:
            return Reply(GOOD_ANSWER)
        if "259| static u64 __calc_delta" in text:
            return Reply(f"- __calc_delta multiplies by inv_weight and shifts ({FAIR}:259-284)")
        return Reply("NONE", delay=0.2)

    with FakeOpenAI(responder, models=["root-model", "sub-model"]) as server:
        answer = ask(
            index, server, cache, strategy="chunked", model="root-model", sub_model="sub-model"
        )
        models = [r["model"] for r in server.requests]
        synth = server.requests[-1]
        assert server.max_concurrent > 1
    assert answer.strategy == "chunked" and not answer.partial
    assert models[-1] == "root-model" and set(models[:-1]) == {"sub-model"}
    assert "__calc_delta multiplies by inv_weight" in all_text(synth)
    assert f"{FAIR}:259-284" in [c.label for c in answer.citations]
    assert answer.usage.models == {"sub-model": len(models) - 1, "root-model": 1}


# ---------------------------------------------------------------- rlm

EXPLORE = [
    run_python('d = repo.definition("calc_delta_fair")\nprint(d)'),
    run_python(
        'print([c for c in repo.callees("__calc_delta")][:5])\nprint(repo.read("fair.c", 228, 300))'
    ),
    run_python(
        'text = repo.read("kernel/sched/fair.c", 259, 284)\n'
        'summary = llm_query("Explain in one line: " + text)\n'
        "print(summary)"
    ),
    submit(GOOD_ANSWER, [f"{FAIR}:259-284", f"{FAIR}:289-295", f"{FAIR}:228"]),
]


def test_rlm_explores_in_the_repl_and_submits_verified_citations(
    index: RepoIndex, cache: Path
) -> None:
    script = [*EXPLORE[:3], "It multiplies by a precomputed inverse.", EXPLORE[3]]
    with FakeOpenAI(script) as server:
        answer = ask(index, server, cache, strategy="rlm")
        requests = list(server.requests)
        assert not server.unexpected
    assert answer.strategy == "rlm" and not answer.partial
    labels = {c.label for c in answer.citations}
    assert {f"{FAIR}:259-284", f"{FAIR}:289-295", f"{FAIR}:228"} <= labels
    assert all(228 <= c.start and c.end <= 300 for c in answer.citations if c.path == FAIR)
    # No repository text in the root's first prompt: only metadata.
    assert "__calc_delta" not in all_text(requests[0])
    assert "static inline u64 calc_delta_fair" not in all_text(requests[0])
    # Each tool result is the REPL's real output.
    assert "289| static inline u64 calc_delta_fair" in last_user_text(requests[1])
    assert "228| #define WMULT_SHIFT" in last_user_text(requests[2])
    sub = requests[3]
    assert "Explain in one line" in all_text(sub) and "tools" not in sub
    assert "multiplies by a precomputed inverse" in last_user_text(requests[4])
    assert answer.usage.calls == 5


def test_rlm_repo_helpers_take_their_documented_arguments(index: RepoIndex, cache: Path) -> None:
    """Every filter of ``repo.symbols`` works by keyword and by position, including ``name``
    (which once collided with the host call's own first parameter)."""
    code = (
        'print("A", [(s.path, s.line) for s in repo.symbols(name="calc_delta_fair")])\n'
        'print("B", [(s.path, s.line) for s in repo.symbols("__calc_delta", "function")])\n'
        'print("C", len(repo.symbols(prefix="calc_delta", path="kernel/sched/fair.c")))\n'
        'print("D", [c.line for c in repo.callers(name="calc_delta_fair")])\n'
        'print("E", repo.grep("define WMULT_SHIFT", paths="kernel/sched/fair.c"))'
    )
    script = [run_python(code), submit(GOOD_ANSWER, [f"{FAIR}:259-284", f"{FAIR}:289-295"])]
    with FakeOpenAI(script) as server:
        ask(index, server, cache, strategy="rlm")
        output = last_user_text(list(server.requests)[1])
    assert "Error" not in output, output
    assert f"A [('{FAIR}', 289)]" in output
    assert f"B [('{FAIR}', 259)]" in output
    assert "C 1" in output  # calc_delta_fair; __calc_delta does not start with it
    assert "D [697, 1023, 1230, 5273, 9032]" in output
    assert f"E [{FAIR}:228:" in output


@pytest.mark.parametrize(
    "wrap",
    [
        "```python\n{code}\n```",
        "Let me look.\n```py\n{code}\n```",
        "```repl\n{code}\n```",
        "~~~python\n{code}\n~~~",
        '<invoke name="python">\n~~~python\n{code}\n~~~\n</invoke>',
    ],
    ids=["python", "py", "repl", "tilde", "invoke"],
)
def test_rlm_text_protocol_formats(index: RepoIndex, cache: Path, wrap: str) -> None:
    code = 'print(repo.read("kernel/sched/fair.c", 289, 295))'
    final = (
        'submit("""' + GOOD_ANSWER + '""", ["kernel/sched/fair.c:289-295", '
        '"kernel/sched/fair.c:259-284"])'
    )
    script = [wrap.format(code=code), wrap.format(code=final)]
    with FakeOpenAI(script, supports_tools=False) as server:
        answer = ask(index, server, cache, strategy="rlm")
        requests = [r for r in server.requests if "tools" not in r]
    assert not answer.partial, answer.reason
    assert "289| static inline u64 calc_delta_fair" in last_user_text(requests[1])
    assert f"{FAIR}:289-295" in [c.label for c in answer.citations]


def test_rlm_invalid_tool_arguments_are_reported_and_the_run_goes_on(
    index: RepoIndex, cache: Path
) -> None:
    bad = Reply(tool_calls=[{"name": "run_python", "arguments": '{"code": "print(1'}])
    script = [bad, EXPLORE[0], EXPLORE[3]]
    with FakeOpenAI(script) as server:
        answer = ask(index, server, cache, strategy="rlm")
        assert "invalid JSON" in last_user_text(server.requests[1])
    assert not answer.partial and answer.citations


def test_rlm_does_not_accept_an_answer_before_exploring(index: RepoIndex, cache: Path) -> None:
    script = [EXPLORE[3], EXPLORE[0], EXPLORE[3]]
    with FakeOpenAI(script) as server:
        answer = ask(index, server, cache, strategy="rlm")
        assert "Do not submit yet" in last_user_text(server.requests[1])
    assert not answer.partial and len(server.requests) == 3


def test_rlm_asks_again_when_no_citation_verifies(index: RepoIndex, cache: Path) -> None:
    script = [EXPLORE[0], submit("It uses a shift.", [f"{FAIR}:99990-99999"]), EXPLORE[3]]
    with FakeOpenAI(script) as server:
        answer = ask(index, server, cache, strategy="rlm")
        assert "could be verified" in last_user_text(server.requests[2])
    assert answer.citations and not answer.partial


def test_rlm_refuses_a_placeholder_once_then_ends_partial(index: RepoIndex, cache: Path) -> None:
    placeholder = submit("Your answer here", [f"{FAIR}:259-284"])
    script = [run_python("print(1/0)"), placeholder, placeholder]
    with FakeOpenAI(script) as server:
        answer = ask(index, server, cache, strategy="rlm")
        refused = last_user_text(server.requests[2])
        assert not server.unexpected and len(server.requests) == 3  # no extraction call
    assert "cannot be accepted: no code cell has run without an error" in refused
    assert answer.partial and "the submitted answer was refused" in (answer.reason or "")
    assert "Your answer here" not in answer.text


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (submit("Your answer here", [f"{FAIR}:289-295"]), "it is a placeholder"),
        (submit("It is in core.c, in a table.", ["kernel/sched/core.c:10023-10039"]),
         "it cites lines the code never read (kernel/sched/core.c:10023-10039)"),
    ],
)  # fmt: skip
def test_rlm_refuses_a_placeholder_or_unread_citations_then_accepts(
    index: RepoIndex, cache: Path, bad: Reply, why: str
) -> None:
    with FakeOpenAI([EXPLORE[0], bad, EXPLORE[3]]) as server:
        answer = ask(index, server, cache, strategy="rlm")
        assert why in last_user_text(server.requests[2])
    assert not answer.partial and answer.text.startswith(GOOD_ANSWER[:20])


def test_rlm_cell_errors_go_back_to_the_model(index: RepoIndex, cache: Path) -> None:
    script = [
        run_python("print(1/0)"),
        run_python('repo.read("nosuch.c")'),
        *EXPLORE[:1],
        EXPLORE[3],
    ]
    with FakeOpenAI(script) as server:
        answer = ask(index, server, cache, strategy="rlm")
        assert "ZeroDivisionError" in last_user_text(server.requests[1])
        assert "nosuch.c is not a file of this checkout" in last_user_text(server.requests[2])
    assert not answer.partial


def test_rlm_code_cannot_see_the_api_key(
    index: RepoIndex, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret")
    code = (
        "import os\nprint(sorted(os.environ))\n"
        "try:\n    print(open(f'/proc/{os.getppid()}/environ').read())\n"
        "except Exception as e:\n    print('blocked', type(e).__name__)"
    )
    with FakeOpenAI([run_python(code), EXPLORE[0], EXPLORE[3]]) as server:
        ask(index, server, cache, strategy="rlm", api_key="sk-parent-secret")
        seen = last_user_text(server.requests[1])
    assert "blocked" in seen
    assert "sk-parent-secret" not in seen and "OPENAI_API_KEY" not in seen


def test_rlm_falls_back_to_chunked_when_the_model_writes_no_code(
    index: RepoIndex, cache: Path
) -> None:
    def responder(body: dict) -> Reply:
        text = all_text(body)
        if "Notes from reading" in text:
            return Reply(GOOD_ANSWER)
        if "Code (kernel/" in text:
            return Reply("NONE")
        return Reply("Final answer: it just divides.")

    with FakeOpenAI(responder, supports_tools=False) as server:
        answer = ask(index, server, cache, strategy="rlm")
    assert answer.strategy == "chunked"
    assert any("fell back to chunked" in n for n in answer.notes)
    assert answer.citations


def test_rlm_out_of_iterations_gives_a_labelled_partial_answer(
    index: RepoIndex, cache: Path
) -> None:
    script = [EXPLORE[0], EXPLORE[1], Reply(f"Best effort: see {FAIR}:289-295.")]
    with FakeOpenAI(script) as server:
        answer = ask(index, server, cache, strategy="rlm", max_iterations=2)
        assert "out of steps" in last_user_text(server.requests[2])
        assert "tools" not in server.requests[2]
    assert answer.partial and "2 REPL turns" in (answer.reason or "")
    assert f"{FAIR}:289-295" in [c.label for c in answer.citations]


def test_rlm_out_of_calls_makes_no_extra_call(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([EXPLORE[0], EXPLORE[1]]) as server:
        answer = ask(index, server, cache, strategy="rlm", max_calls=2)
        assert len(server.requests) == 2 and not server.unexpected
    assert answer.partial and "2 model calls" in (answer.reason or "")
    # The partial answer points at what the run read.
    assert any(c.path == FAIR for c in answer.citations)


def test_rlm_batched_sub_calls_run_concurrently(index: RepoIndex, cache: Path) -> None:
    code = (
        "parts = [c for c in repo.chunks('kernel/sched/fair.c')][:6]\n"
        "answers = llm_query_batched(['Summarize: ' + c.text[:200] for c in parts])\n"
        "print(len(answers), answers[0])"
    )

    def responder(body: dict) -> Reply:
        if "Summarize:" in all_text(body) and "tools" not in body:
            return Reply("a summary", delay=0.3)
        return script.pop(0)

    script = [run_python(code), EXPLORE[3]]
    with FakeOpenAI(responder) as server:
        answer = ask(index, server, cache, strategy="rlm")
        assert server.max_concurrent >= 6
        assert "6 a summary" in last_user_text(server.requests[-1])
    assert not answer.partial


def test_trace_records_the_tree_of_calls_and_stores_large_values_once(
    index: RepoIndex, cache: Path
) -> None:
    script = [*EXPLORE[:3], "One line.", EXPLORE[3]]
    with FakeOpenAI(script) as server:
        answer = ask(index, server, cache, strategy="rlm")
    assert answer.trace_path is not None
    events, blobs = load_trace(Path(answer.trace_path))
    types = [e["type"] for e in events]
    assert types[0] == "question" and types[-1] == "answer"
    assert types.count("turn") == 4 and types.count("cell") == 3
    turns = {e["id"] for e in events if e["type"] == "turn"}
    cells = [e for e in events if e["type"] == "cell"]
    assert all(c["parent"] in turns for c in cells)
    calls = [e for e in events if e["type"] == "model_call"]
    sub = [c for c in calls if c["role"] == "sub"]
    assert len(sub) == 1 and sub[0]["parent"] in {
        e["id"] for e in events if e["type"] == "sub_batch"
    }
    # The system prompt is stored once and referenced from every root call.
    raw = Path(answer.trace_path).read_text()
    system = json.dumps(calls[0]["messages"][0]["content"])
    assert raw.count("Python REPL") == 1 and "ref" in system
    assert os.path.getsize(answer.trace_path) < 200_000 and blobs


# ---------------------------------------------------------------- router


def test_auto_routes_a_named_symbol_question_to_direct(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([GOOD_ANSWER]) as server:
        answer = ask(index, server, cache)
        sent = sum(len(all_text(r)) for r in server.requests)
    assert answer.strategy == "direct"
    whole = sum(f.size for f in index.files())
    assert sent < 0.05 * whole


def test_auto_routes_a_vague_question_to_rlm(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([EXPLORE[0], EXPLORE[3]]) as server:
        answer = ask(index, server, cache, question="how does the scheduler stay fair to tasks")
    assert answer.strategy == "rlm"


def test_bad_strategy_is_a_clear_error(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([]) as server, pytest.raises(Exception, match="strategy 'fast' is not one of"):
        ask(index, server, cache, strategy="fast")


def test_pipeline_ask_fetches_indexes_and_answers(sched_repo: Path, tmp_path: Path) -> None:
    from ghqa.pipeline import ask as pipeline_ask

    events: list[str] = []
    with FakeOpenAI([*EXPLORE[:3], "One line.", EXPLORE[3]]) as server:
        settings = model_settings(server, tmp_path / "c", strategy="rlm")
        answer = pipeline_ask(
            f"file://{sched_repo}",
            QUESTION,
            ["kernel/sched"],
            settings=settings,
            reporter=lambda stage, message, **data: events.append(stage),
        )
    assert {"fetch", "index", "engine"} <= set(events)
    assert answer.trace_path and Path(answer.trace_path).is_file()
    assert answer.citations and all(c.path == FAIR for c in answer.citations)
    assert answer.to_dict()["citations"][0]["label"].startswith(FAIR)


# ---------------------------------------------------------------- faults, for every strategy


def _normal(body: dict) -> Reply:
    """A model that answers every strategy's requests sensibly."""
    text = all_text(body)
    if "Notes from reading" in text or "Code from" in text:
        return Reply(GOOD_ANSWER)
    if "Code (kernel/" in text:
        return Reply("NONE" if "__calc_delta(u64" not in text else f"- shifts ({FAIR}:259-284)")
    turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
    return [EXPLORE[0], EXPLORE[3]][min(turns, 1)]


@pytest.mark.parametrize("strategy", ["direct", "chunked", "rlm"])
def test_each_strategy_survives_429_and_500_then_answers(
    index: RepoIndex, cache: Path, strategy: str
) -> None:
    faults = [
        Reply(status=429, headers={"retry-after-ms": "5"}, error="rate limited"),
        Reply(status=500, headers={"retry-after-ms": "5"}, error="overloaded"),
        Reply(status=503, headers={"retry-after-ms": "5"}, error="unavailable"),
    ]

    def responder(body: dict) -> Reply:
        return faults.pop(0) if faults else _normal(body)

    with FakeOpenAI(responder) as server:
        answer = ask(index, server, cache, strategy=strategy, retries=3)
        assert not server.unexpected
    assert answer.strategy == strategy and not answer.partial, answer.reason
    assert any(c.path == FAIR for c in answer.citations)


@pytest.mark.parametrize("strategy", ["direct", "chunked", "rlm"])
def test_each_strategy_reports_a_server_that_is_down(
    index: RepoIndex, cache: Path, strategy: str
) -> None:
    with FakeOpenAI(lambda body: Reply(status=500, error="down")) as server:
        settings = model_settings(server, cache, strategy=strategy, retries=0)
    # The server is gone now: connection refused.
    with pytest.raises(EngineError, match="cannot reach the model server"):
        answer_question(index, QUESTION, settings)


def test_chunked_sub_call_timeouts_give_a_labelled_partial_answer(
    index: RepoIndex, cache: Path
) -> None:
    def responder(body: dict) -> Reply:
        if "Code (kernel/" in all_text(body) and "__calc_delta(u64" not in all_text(body):
            return Reply("NONE", delay=3)
        return _normal(body)

    with FakeOpenAI(responder) as server:
        answer = ask(index, server, cache, strategy="chunked", retries=0, request_timeout=1.0)
    assert answer.partial and "could not be read by the sub model" in (answer.reason or "")
    assert any(c.path == FAIR for c in answer.citations)


def test_rlm_truncated_tool_call_is_reported_and_the_run_goes_on(
    index: RepoIndex, cache: Path
) -> None:
    cut = Reply(
        tool_calls=[{"name": "run_python", "arguments": '{"code": "print(repo.read(\\"fair'}],
        finish_reason="length",
    )
    with FakeOpenAI([cut, EXPLORE[0], EXPLORE[3]]) as server:
        answer = ask(index, server, cache, strategy="rlm")
        assert "invalid JSON" in last_user_text(server.requests[1])
    assert not answer.partial and answer.citations


def test_rlm_stops_after_consecutive_errors(index: RepoIndex, cache: Path) -> None:
    script = [run_python("1/0")] * 3
    with FakeOpenAI(script) as server:
        answer = ask(index, server, cache, strategy="rlm", max_errors=3)
        # No last call for an answer: no cell ran, so nothing was read to answer from.
        assert len(server.requests) == 3 and not server.unexpected
    assert answer.partial and "3 failed turns in a row" in (answer.reason or "")
    assert answer.text.startswith("No answer was reached")


def test_rlm_wall_clock_limit_gives_a_partial_answer(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI(lambda body: EXPLORE[0], latency=0.4) as server:
        answer = ask(index, server, cache, strategy="rlm", timeout=1.0)
        assert len(server.requests) <= 4
    assert answer.partial and "wall-clock limit" in (answer.reason or "")


def test_rlm_text_mode_does_not_accept_a_blind_first_turn_submission(
    index: RepoIndex, cache: Path
) -> None:
    blind = (
        f'```python\nprint(repo.read("fair.c", 289, 295))\nsubmit("guess", ["{FAIR}:289-295"])\n```'
    )
    final = f'```python\nsubmit("""{GOOD_ANSWER}""", ["{FAIR}:289-295"])\n```'
    with FakeOpenAI([blind, final], supports_tools=False) as server:
        answer = ask(index, server, cache, strategy="rlm")
        assert "Do not submit yet" in last_user_text([*server.requests][-1])
    assert answer.text.startswith("`calc_delta_fair`")


def test_citations_become_permalinks_for_github_repositories(
    sched_repo: Path, tmp_path: Path
) -> None:
    from ghqa.pipeline import ask as pipeline_ask

    with GitHTTPServer(tmp_path / "served") as git_server, FakeOpenAI([GOOD_ANSWER]) as server:
        git_server.publish(sched_repo, "acme", "linux")
        settings = model_settings(
            server, tmp_path / "c", strategy="direct", github_host=git_server.base
        )
        answer = pipeline_ask("acme/linux", QUESTION, ["kernel/sched"], settings=settings)
    first = answer.citations[0]
    assert first.url == f"{git_server.base}/acme/linux/blob/{answer.commit}/{first.path}" + (
        f"#L{first.start}-L{first.end}" if first.end != first.start else f"#L{first.start}"
    )


def test_temperature_and_extra_params_reach_the_server(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([GOOD_ANSWER]) as server:
        ask(index, server, cache, strategy="direct", temperature=0.0, extra_params='{"top_k": 5}')
        sent = server.requests[0]
    assert sent["temperature"] == 0.0 and sent["top_k"] == 5


def test_bad_extra_params_are_a_clear_error(index: RepoIndex, cache: Path) -> None:
    with FakeOpenAI([]) as server, pytest.raises(Exception, match="not a JSON object"):
        ask(index, server, cache, extra_params="[1, 2]")
