"""The engine's parts on their own: budget, response cache, trace, context, chunks, output."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ghqa.engine.budget import Budget, BudgetExceeded, Limits
from ghqa.engine.cache import ResponseCache, cache_key
from ghqa.engine.chunks import file_chunks
from ghqa.engine.context import STRONG, gather, question_terms
from ghqa.engine.rlm import truncate
from ghqa.engine.trace import Trace, load_trace
from ghqa.engine.workspace import FileNotReadable, Workspace
from ghqa.errors import ConfigError, EngineError
from ghqa.index import RepoIndex
from ghqa.settings import Settings

from enginekit import FAIR, index_sched


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, sched_template: Path) -> Workspace:
    index: RepoIndex = index_sched(sched_template, tmp_path_factory.mktemp("idx"))
    yield Workspace(index)
    index.close()


def test_budget_refuses_the_call_that_would_pass_a_limit() -> None:
    budget = Budget(Limits(max_calls=2, max_tokens=1000))
    budget.reserve(400)
    budget.settle(400, None, "m", 300, 50, 0.1, None, cached=False)
    with pytest.raises(BudgetExceeded, match="1,000 tokens"):
        budget.reserve(700)
    budget.reserve(100)
    budget.settle(100, None, "m", 50, 10, 0.1, None, cached=False)
    with pytest.raises(BudgetExceeded, match="2 model calls"):
        budget.reserve(1)
    assert budget.usage.calls == 2 and budget.usage.tokens == 410
    assert budget.exceeded is not None and "tokens" in budget.exceeded


def test_budget_reservations_hold_under_concurrency() -> None:
    budget = Budget(Limits(max_calls=5))
    granted = []

    def take() -> None:
        try:
            budget.reserve(10)
            granted.append(1)
        except BudgetExceeded:
            pass

    threads = [threading.Thread(target=take) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 5


def test_budget_cost_and_wall_clock() -> None:
    budget = Budget(Limits(max_cost=0.01, timeout=60))
    budget.reserve(10, 0.004)
    budget.reserve(10, 0.004)
    with pytest.raises(BudgetExceeded, match=r"cost limit of \$0.01"):
        budget.reserve(10, 0.004)  # the two in flight might cost 0.008 already
    budget.settle(10, 0.004, "m", 10, 10, 0.0, 0.002, cached=False)
    budget.reserve(10, 0.004)
    budget.settle(10, 0.004, "m", 10, 10, 0.0, 0.02, cached=False)
    with pytest.raises(BudgetExceeded, match=r"cost limit of \$0.01"):
        budget.reserve(10, 0.0)
    late = Budget(Limits(timeout=0.0))
    with pytest.raises(BudgetExceeded, match="wall-clock"):
        late.reserve(1)


def test_response_cache_round_trip_and_modes(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    key = cache_key({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert key != cache_key({"model": "m2", "messages": [{"role": "user", "content": "hi"}]})
    on = ResponseCache(path, "on")
    assert on.get(key) is None
    on.put(key, "m", {"content": "hello"})
    on.close()
    assert ResponseCache(path, "on").get(key) == {"content": "hello"}
    assert ResponseCache(path, "refresh").get(key) is None
    with pytest.raises(EngineError, match="never recorded"):
        ResponseCache(path, "replay").get("0" * 64)
    assert len(ResponseCache(None, "on")) == 0


def test_response_cache_shared_by_threads(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "r.sqlite", "on")

    def write(i: int) -> None:
        for j in range(20):
            cache.put(f"{i}-{j}", "m", {"content": str(j)})

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 160


def test_a_corrupt_response_cache_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EngineError, match="--no-cache"):
        ResponseCache(path, "on")


def test_trace_stores_large_values_once(tmp_path: Path) -> None:
    trace = Trace(tmp_path / "t.jsonl")
    big = "x" * 5000
    root = trace.event("turn", n=1)
    trace.event("cell", root, output=big)
    trace.event("cell", root, output=big, small="ok")
    trace.close()
    events, blobs = load_trace(tmp_path / "t.jsonl")
    assert [e["parent"] for e in events] == [None, root, root]
    assert events[1]["output"] == events[2]["output"] == {"ref": next(iter(blobs))}
    assert list(blobs.values()) == [big]
    assert (tmp_path / "t.jsonl").read_text().count("x" * 100) == 50
    assert trace.resolve(events[2]["output"]) == big


def test_question_terms_keep_identifiers_first() -> None:
    terms = question_terms("How does calc_delta_fair avoid a division in update_curr?")
    assert terms[:2] == ["calc_delta_fair", "update_curr"] and "How" not in terms


def test_gather_finds_the_definition_its_callees_and_macros(ws: Workspace) -> None:
    ctx = gather(ws, "how does calc_delta_fair avoid division", 6000)
    assert ctx.named == ["calc_delta_fair"]
    covered = {(s.path, n) for s in ctx.spans for n in range(s.start, s.end + 1)}
    for line in (228, 259, 284, 289, 295, 1230):
        assert (FAIR, line) in covered
    assert "289| static inline u64 calc_delta_fair" in ctx.text
    assert ctx.tokens <= 6000


def test_hints_take_at_most_their_share_of_the_budget(ws: Workspace) -> None:
    question = "how does calc_delta_fair avoid division"
    default, none = gather(ws, question, 8000), gather(ws, question, 8000, hints=0.0)
    assert none.spans and all(s.score >= STRONG for s in none.spans)
    weak = [s for s in default.spans if s.score < STRONG]
    assert weak and 0 < default.tokens - none.tokens <= 2000
    assert none.relevant_tokens == default.relevant_tokens


def test_gather_respects_a_small_budget(ws: Workspace) -> None:
    ctx = gather(ws, "how does calc_delta_fair avoid division", 300)
    assert 0 < ctx.tokens <= 300
    assert "calc_delta_fair" in ctx.text


def test_chunks_follow_definition_boundaries(ws: Workspace) -> None:
    chunks = file_chunks(ws, FAIR, 3000)
    assert chunks[0].start == 1 and chunks[-1].end == len(ws.lines(FAIR))
    assert all(a.end + 1 == b.start for a, b in zip(chunks, chunks[1:], strict=False))
    functions = [s for s in ws.index.file_symbols(FAIR) if s.kind == "function"]
    small = [f for f in functions if (f.end_line - f.line) < 60]
    for f in small:  # no small function is cut in half
        assert any(c.start <= f.line and f.end_line <= c.end for c in chunks), f
    assert max(c.tokens for c in chunks) <= 3000


def test_workspace_refuses_paths_outside_the_index(ws: Workspace) -> None:
    assert ws.resolve("fair.c") == FAIR
    for bad in ("../../etc/passwd", "kernel/fork.c", "/etc/passwd"):
        with pytest.raises(FileNotReadable):
            ws.lines(bad)
    assert ws.numbered(FAIR, 228, 228) == "228| #define WMULT_SHIFT\t32"


def test_truncate_keeps_head_and_tail_and_states_the_length() -> None:
    text = "".join(f"line {i}\n" for i in range(5000))
    out = truncate(text, 1000)
    assert out.startswith("line 0\n") and out.rstrip().endswith("line 4999")
    assert f"{len(text):,} characters" in out and len(out) < 1200
    assert "did you forget to print" in truncate("  \n")


def test_settings_check_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="strategy 'fast'"):
        Settings.resolve({"GHQA_STRATEGY": "fast"}).check()
    with pytest.raises(ConfigError, match="max_calls must be positive"):
        Settings.resolve({}, max_calls=0).check()
    with pytest.raises(ConfigError, match="input,output"):
        Settings.resolve({"GHQA_PRICE": "cheap"}).check()
    assert Settings.resolve({"GHQA_PRICE": "0.15,0.60"}).prices == (0.15, 0.60)
    assert Settings.resolve({"OPENAI_BASE_URL": "http://x/v1"}).base_url == "http://x/v1"
    assert Settings.resolve({"GHQA_MAX_COST": "0.5"}).max_cost == 0.5
