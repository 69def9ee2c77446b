"""The page in a real headless Chromium: asking, watching the turns arrive, opening a citation,
cancelling, reopening from the history, and model output that tries to run script.

Screenshots go to ``$GHQA_ARTIFACTS`` (default ``tests/artifacts/``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from fakeopenai import FakeOpenAI
from webkit import (
    CHROMIUM_ARGS,
    QUESTION,
    STALL,
    LiveServer,
    artifact,
    child_env,
    chromium,
    scripted_model,
)

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed")

#: Seconds each root-model reply takes: long enough to see a turn before the next one.
PAUSE = 0.8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with FakeOpenAI(scripted_model(pause=PAUSE)) as model:
        env = child_env(model, GHQA_PRICE="0.4,1.6")
        with LiveServer(tmp_path_factory.mktemp("browsercache"), env) as live:
            yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield tab
    context.close()
    assert problems == [], problems


@pytest.fixture(scope="module")
def repo(sched_template: Path) -> str:
    return f"file://{sched_template}"


def submit_question(page: Page, repo: str, question: str) -> None:
    page.goto("/")
    page.fill("#repo", repo)
    page.fill("#paths", "kernel/sched")
    page.fill("#question", question)
    page.select_option("#strategy", "rlm")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/runs/[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$"))


def test_ask_watch_the_turns_arrive_and_open_a_citation(page: Page, repo: str) -> None:
    submit_question(page, repo, QUESTION)
    expect(page.locator("#run-state")).to_have_text("running")
    first_turn = page.locator(".node-turn").first
    expect(first_turn).to_be_visible(timeout=20_000)
    assert page.locator(".answer-card").count() == 0, "the turns show before the answer"
    expect(page.locator("#progress")).to_contain_text("indexed 42 files")
    expect(page.locator("#stat-strategy")).to_have_text("rlm")
    expect(first_turn.locator(".node-cell")).to_contain_text(
        "static inline u64 calc_delta_fair", timeout=10_000
    )
    tokens_early = int(page.locator("#stat-tokens").inner_text().replace(",", ""))
    expect(page.locator(".node-batch")).to_have_count(1, timeout=10_000)
    page.screenshot(path=str(artifact("browser-live.png")), full_page=True)

    expect(page.locator(".answer-card")).to_be_visible(timeout=20_000)
    expect(page.locator("#run-state")).to_have_text("done")
    tokens_late = int(page.locator("#stat-tokens").inner_text().replace(",", ""))
    assert 0 < tokens_early < tokens_late
    assert page.locator("#stat-cost").inner_text().startswith("$0.00")
    expect(page.locator(".node-turn")).to_have_count(3)
    expect(page.locator(".node-batch .role-sub")).to_have_count(2)
    assert page.locator("details.turn").nth(0).get_attribute("open") is None, "earlier folded"
    assert page.locator("details.turn").nth(2).get_attribute("open") is not None
    expect(page.locator("#cancel")).to_have_count(0)
    expect(page.locator(".answer-card .markdown")).to_contain_text("instead of dividing")

    page.locator(".answer-card .markdown a.cite").first.click()
    drawer = page.locator("#drawer")
    expect(drawer).to_be_visible()
    cited = drawer.locator("tr.cited")
    expect(cited).to_have_count(26)
    expect(cited.first).to_have_attribute("id", "L259")
    expect(cited.first).to_contain_text("static u64 __calc_delta(u64 delta_exec")
    expect(cited.first).to_be_in_viewport()
    expect(drawer.locator(".drawer-title")).to_have_text("kernel/sched/fair.c:259-284")
    page.screenshot(path=str(artifact("browser-citation.png")))
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()

    page.locator(".sources a.cite").nth(1).click()
    expect(drawer.locator("tr.cited")).to_have_count(1)
    expect(drawer.locator("tr.cited")).to_contain_text("WMULT_SHIFT")


def test_cancel_a_run_then_reopen_runs_from_the_history(page: Page, repo: str) -> None:
    question = f"why is vruntime weighted {STALL}"
    submit_question(page, repo, question)
    second_turn = page.locator("details.turn").nth(1)
    expect(second_turn.locator(".pending-live")).to_be_visible(timeout=20_000)
    expect(second_turn.locator(".pending-cell")).to_contain_text("llm_query")
    page.click("#cancel")
    expect(page.locator("#run-state")).to_have_text("cancelled", timeout=10_000)
    expect(page.locator("#answer-body")).to_contain_text("Cancelled.")
    expect(page.locator("#cancel")).to_have_count(0)
    expect(second_turn.locator(".pending-stopped")).to_be_visible()
    page.screenshot(path=str(artifact("browser-cancelled.png")), full_page=True)

    page.click("header.top >> text=Ask")
    history = page.locator(".history-item")
    expect(history.first).to_contain_text(question)
    expect(history.first.locator(".badge")).to_have_text("cancelled")
    page.locator(".history-item", has_text=question).locator(".history-link").click()
    expect(page.locator("#run-state")).to_have_text("cancelled")
    expect(page.locator(".node-cell")).to_have_count(1)
    expect(page.locator("details.turn").nth(1).locator(".pending-stopped")).to_be_visible()

    page.go_back()
    done = page.locator(".history-item", has_text=QUESTION).first
    if done.count() == 0:  # this test ran alone: answer the question first
        submit_question(page, repo, QUESTION)
        expect(page.locator(".answer-card")).to_be_visible(timeout=20_000)
        page.goto("/")
    page.locator(".history-item", has_text=QUESTION).first.locator(".history-link").click()
    expect(page.locator("#run-state")).to_have_text("done")
    assert page.locator("#run").get_attribute("data-events") is None, "reopened, not followed"
    expect(page.locator(".answer-card")).to_contain_text("instead of dividing")
    expect(page.locator(".node-turn")).to_have_count(3)
    first = page.locator("details.turn").first
    expect(first.locator(".turn-preview")).to_have_text('d = repo.definition("calc_delta_fair")')
    expect(page.locator("#progress-box li").first).to_contain_text("clone")
    page.locator(".answer-card a.cite").first.click()
    expect(page.locator("#drawer tr.cited").first).to_contain_text("__calc_delta")

    page.click("text=Ask again")
    expect(page.locator("#question")).to_have_value(QUESTION)
    expect(page.locator("#strategy")).to_have_value("rlm")


def test_model_output_cannot_run_script(page: Page, tmp_path: Path) -> None:
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    commit = "0" * 40
    records = [
        {"id": 1, "parent": None, "type": "question", "t": 0, "question": f"q {evil}",
         "repo": "torvalds/linux", "commit": commit, "paths": ["kernel/sched"],
         "root_model": evil, "sub_model": "m"},
        {"id": 2, "parent": None, "type": "strategy", "t": 0.1, "name": "rlm", "tools": True},
        {"id": 3, "parent": 2, "type": "turn", "t": 0.2, "n": 1},
        {"id": 4, "parent": 3, "type": "model_call", "t": 0.3, "role": "root", "model": evil,
         "messages": [{"role": "user", "content": evil}], "content": evil, "tool_calls": [],
         "prompt_tokens": 5, "completion_tokens": 5, "latency": 0.1, "cached": False},
        {"id": 5, "parent": 3, "type": "cell", "t": 0.4, "code": f"print('{evil}')",
         "output": evil, "error": evil, "seconds": 0.1},
        {"id": 6, "parent": None, "type": "answer", "t": 0.5, "strategy": "rlm",
         "text": f"{evil} [x](javascript:alert(3)) kernel/sched/fair.c:1-2",
         "citations": ["kernel/sched/fair.c:1-2"], "dropped": [], "partial": False,
         "usage": {"calls": 1}},
    ]  # fmt: skip
    trace = tmp_path / "evil.jsonl"
    trace.write_text("".join(json.dumps(r) + "\n" for r in records))
    page.goto("/traces")
    page.set_input_files("#file", str(trace))
    page.click("form[enctype] button")
    expect(page.locator(".answer-card")).to_be_visible()
    expect(page.locator(".node-cell")).to_contain_text("<script>alert(2)</script>")
    assert page.locator("main img, main script").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    github = page.locator(".sources a.ext")
    expect(github).to_have_attribute(
        "href", f"https://github.com/torvalds/linux/blob/{commit}/kernel/sched/fair.c#L1-L2"
    )
    page.locator(".sources a.cite").click()
    expect(page.locator("#drawer .run-error")).to_contain_text("is not in the cache")
    page.screenshot(path=str(artifact("browser-trace-file.png")), full_page=True)
