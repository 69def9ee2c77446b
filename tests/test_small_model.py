"""The small local model's path: context built from the index, ranking by words, plans fitted to
the model's speed, citations the engine attaches, and token counts from a tokenizer.

The model is the scripted OpenAI-compatible server on 127.0.0.1, declared slow (its replies wait
as long as a model of that speed would), reached by the real ``openai`` client."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ghqa.engine import Answer, answer_question
from ghqa.engine.context import Context, candidates, gather
from ghqa.engine.router import SMALL_MODEL_SECONDS
from ghqa.engine.trace import load_trace
from ghqa.engine.workspace import Workspace
from ghqa.fetch import fetch, parse_spec
from ghqa.index import RepoIndex, build_index
from ghqa.local.speed import Speed
from ghqa.settings import Settings

from enginekit import FAIR, all_text, index_sched, model_settings
from fakeopenai import FakeOpenAI
from helpers import commit_all, git

CALLERS = {  # calc_delta_fair's callers in 6.12, with the line of each call
    "entity_lag": 697,
    "update_deadline": 1023,
    "update_curr": 1230,
    "place_entity": 5273,
    "yield_task_fair": 9032,
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, sched_template: Path) -> RepoIndex:
    idx = index_sched(sched_template, tmp_path_factory.mktemp("idx"))
    yield idx
    idx.close()


@pytest.fixture
def ws(index: RepoIndex) -> Workspace:
    workspace = Workspace(index)
    workspace.number_every = 5
    return workspace


def ask_small(
    index: RepoIndex, server: FakeOpenAI, cache: Path, question: str, **kw: Any
) -> Answer:
    pace = kw.pop("pace", None)
    count = kw.pop("count", None)
    settings = model_settings(server, cache, context_tokens=4000, **kw)
    return answer_question(
        index,
        question,
        settings,
        trace_path=cache / "trace.jsonl",
        small_model=True,
        pace=pace,
        count=count,
    )


def test_a_callers_question_puts_every_caller_with_its_line_in_the_context(
    ws: Workspace,
) -> None:
    ctx = gather(ws, "Which functions call calc_delta_fair()?", 4000, 0.0)
    facts = ctx.text[ctx.text.index("From the index") :]
    for caller, line in CALLERS.items():
        assert f"`{caller}` ({FAIR}:{line})" in facts
    # Each call site is shown, headed by the function it sits in.
    for caller, line in CALLERS.items():
        assert any(s.path == FAIR and s.start <= line <= s.end for s in ctx.spans), caller
    head = rf"### {FAIR} \(lines \d+-\d+\)(: function|, inside function) `update_curr`"
    assert re.search(head, ctx.text)


def test_a_question_in_words_reaches_the_symbol_through_the_lexical_index(
    ws: Workspace,
) -> None:
    # No name of the code in the question: the comment above sched_prio_to_wmult says
    # "Inverse (2^32/x) values of the sched_prio_to_weight[] array".
    ctx = gather(ws, "Where is the table of inverse weights for nice levels?", 4000, 0.0)
    assert ctx.named == []
    wmult = next(s for s in ws.index.definitions("sched_prio_to_wmult"))
    assert any(s.path == wmult.path and s.start <= wmult.line <= s.end for s in ctx.spans)
    assert "Inverse (2^32/x) values of the sched_prio_to_weight[] array" in ctx.text


def shows(ctx: Context, sym_name: str, ws: Workspace, path_end: str = "") -> bool:
    """Whether the first line of a definition of ``sym_name`` is in the context's spans."""
    spans = ctx.spans
    return any(
        s.path == d.path and s.start <= d.line <= s.end
        for d in ws.index.definitions(sym_name)
        if d.path.endswith(path_end)
        for s in spans
    )


def test_a_function_named_by_an_older_name_is_found_by_its_words(ws: Workspace) -> None:
    # find_busiest_group() is sched_balance_find_src_group() in 6.12; its comment says
    # "the busiest group", and sched_balance_rq calls it at fair.c:11701.
    question = "Which function calls find_busiest_group()?"
    ctx = gather(ws, question, 4000, 0.0)
    assert "sched_balance_find_src_group" in ctx.named
    assert shows(ctx, "sched_balance_find_src_group", ws)
    assert any(s.path == FAIR and s.start <= 11701 <= s.end for s in ctx.spans)
    # A constant defined outside the scope gets no stand-in.
    assert gather(ws, "What is SCHED_DEADLINE()?", 4000, 0.0).named == []


def test_a_name_spelled_in_words_is_found(ws: Workspace) -> None:
    # "the scheduler's ... tick" spells sched_tick (sched abbreviates scheduler); its comment
    # says only "called by the timer code".
    ctx = gather(ws, "What does the scheduler's periodic tick handler do on each CPU?", 4000, 0.0)
    assert shows(ctx, "sched_tick", ws, "core.c")


def test_a_file_named_in_words_brings_its_best_matches(ws: Workspace) -> None:
    question = "How is the global load average (loadavg) computed from per-CPU runqueue state?"
    ctx = gather(ws, question, 4000, 0.0)
    assert shows(ctx, "calc_global_load", ws)
    assert shows(ctx, "calc_global_load_tick", ws)


def test_a_name_a_macro_pastes_together_is_found_at_the_macro(ws: Workspace) -> None:
    # DEFINE_SCHED_CLASS(fair) defines fair_sched_class (fair.c:13570), which the index
    # knows by the word the macro pastes in, "fair".
    ctx = gather(ws, "Where is the fair_sched_class instance defined?", 4000, 0.0)
    assert any(s.path == FAIR and s.start <= 13570 <= s.end for s in ctx.spans)
    assert "DEFINE_SCHED_CLASS(fair) = {" in ctx.text


def test_a_method_named_with_its_class_is_that_class_method(
    tmp_path: Path, settings: Settings
) -> None:
    repo = tmp_path / "py"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "ser.py").write_text(
        "class Json:\n"
        "    def loads(self, s):\n"
        "        return s\n"
        "\n"
        "class Serializer:\n"
        "    def loads(self, s):\n"
        "        for signer in self.iter_unsigners():\n"
        "            return signer(s)\n"
        "\n"
        "    def iter_unsigners(self):\n"
        "        yield str\n"
    )
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "python sources")
    index = build_index(fetch(parse_spec(str(repo), ()), settings), settings)
    try:
        spans, _, named = candidates(Workspace(index), "How does Serializer.loads try a signer?")
    finally:
        index.close()
    assert "loads" in named
    defined = {s.start for s in spans if s.why == "definition of loads"}
    assert defined == {6}  # Serializer's, not Json's
    assert any(s.start == 10 and s.why == "called by loads" for s in spans)


def test_a_data_structure_brings_the_functions_that_use_its_type(ws: Workspace) -> None:
    # rt_prio_array (sched.h:313) is matched by words; pick_next_rt_entity (rt.c:1706) and
    # init_rt_rq (rt.c:65) declare one.
    question = "Which data structure holds the RT runqueue's tasks by priority?"
    spans, _, _ = candidates(ws, question)
    uses = {s.start for s in spans if s.why == "uses the type rt_prio_array"}
    assert {1706, 65} <= uses


def test_a_function_passed_with_a_named_field_is_shown(ws: Workspace) -> None:
    # __enqueue_entity passes __entity_less along with &cfs_rq->tasks_timeline.
    ctx = gather(ws, "What is the tree in tasks_timeline sorted by?", 4000, 0.0)
    assert shows(ctx, "__entity_less", ws)


def test_a_definition_comes_with_its_comment_and_sparse_line_numbers(ws: Workspace) -> None:
    ctx = gather(ws, "How does calc_delta_fair avoid a division?", 4000, 0.0)
    # __calc_delta (259-284) is shown with the comment above it (from line 247).
    assert "* delta_exec * weight / lw.weight" in ctx.text
    assert "259| static u64 __calc_delta(" not in ctx.text  # 259 is not a fifth line
    assert "\n260| {\n  \tu64 fact = scale_load_down(weight);" in ctx.text


def test_code_is_fitted_to_the_budget_by_the_models_token_count(ws: Workspace) -> None:
    question = "How does update_curr() advance the currently running entity's vruntime?"
    ws.count = lambda text: len(text)  # a tokenizer four times as dear as the estimate
    dear = gather(ws, question, 3000, 0.0)
    assert dear.tokens <= 3000
    shown = sum(len(ws.numbered(s.path, s.start, s.end)) for s in dear.spans)
    assert shown <= 3000
    cheap_ws = Workspace(ws.index)
    cheap_ws.number_every = 5
    cheap = gather(cheap_ws, question, 3000, 0.0)
    assert len(cheap.spans) > len(dear.spans)


def test_a_slow_model_gets_a_plan_that_fits_the_time_limit(
    index: RepoIndex, tmp_path: Path
) -> None:
    # update_curr's relevant code is larger than the budget; at 40 prompt tokens/s the full
    # 4,000 tokens would take 100 s, beyond what a small model may take.
    pace = Speed(prompt_tps=40.0, decode_tps=20.0)
    with FakeOpenAI(["`update_curr` advances `vruntime` by `calc_delta_fair`."]) as server:
        answer = ask_small(
            index,
            server,
            tmp_path / "cache",
            "What does update_curr do to the running entity's virtual runtime?",
            pace=pace,
        )
        assert len(server.requests) == 1
        prompt = all_text(server.requests[0])
    assert answer.strategy == "direct" and not answer.partial
    events, _ = load_trace(Path(answer.trace_path or ""))
    route = next(e for e in events if e["type"] == "route")
    assert route["estimate"] <= SMALL_MODEL_SECONDS
    assert route["context_tokens"] < 4000
    assert "est." in answer.notes[0] and "tokens of code" in answer.notes[0]
    assert "update_curr" in prompt


def test_a_forced_chunked_plan_reads_only_the_chunks_that_fit(
    index: RepoIndex, tmp_path: Path
) -> None:
    pace = Speed(prompt_tps=100.0, decode_tps=20.0)
    replies = ["NONE"] * 60 + ["an answer"]
    with FakeOpenAI(replies) as server:
        answer = ask_small(
            index, server, tmp_path / "cache", "how is load balanced across CPUs?",
            pace=pace, strategy="chunked", timeout=600.0,
        )  # fmt: skip
        calls = len(server.requests)
    # 80 s allowed: each chunk (up to 4,000 tokens) is priced at ~66 s with the synthesis at
    # ~66 s, so only one chunk is read, never the ~48 of the whole scope.
    assert answer.strategy == "chunked"
    assert calls == 2


def test_attached_citations_point_at_shown_code_and_are_verified(
    index: RepoIndex, tmp_path: Path
) -> None:
    text = (
        "The callers are `update_curr` and `place_entity`.\n\n"
        "It multiplies instead of dividing in `__calc_delta`.\n\n"
        "`pick_next_task_fair` is not involved.\n\n"
        "See also kernel/sched/fair.c:99999-100000."
    )
    with FakeOpenAI([text]) as server:
        answer = ask_small(
            index, server, tmp_path / "cache", "Which functions call calc_delta_fair()?"
        )
    labels = {c.label for c in answer.citations}
    shown = [tuple(s.rsplit(":", 1)) for s in answer.shown]

    def was_shown(path: str, start: int, end: int) -> bool:
        return any(
            p == path and int(r.split("-")[0]) <= start and end <= int(r.split("-")[-1])
            for p, r in shown
        )

    assert answer.citations and all(was_shown(c.path, c.start, c.end) for c in answer.citations)
    # update_curr's call site (1230) and __calc_delta's definition (259-284) are cited.
    assert any(c.path == FAIR and c.start <= 1230 <= c.end for c in answer.citations)
    assert any(c.path == FAIR and c.start <= 259 and c.end >= 284 for c in answer.citations)
    # pick_next_task_fair was not shown: nothing is attached for it.
    pick = index.definitions("pick_next_task_fair")[0]
    assert not any(c.start <= pick.line <= c.end for c in answer.citations if c.path == FAIR)
    assert any("attached" in n for n in answer.notes)
    # The citation that fails verification is marked where it stands, and not listed.
    assert "kernel/sched/fair.c:99999-100000 (unverified)" in answer.text
    assert not any("99999" in label for label in labels)
