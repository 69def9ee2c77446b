"""The FAQ job on linux-sched with a scripted model: answer all, keep what still holds,
re-answer only what the code changed under."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from ghqa.faq import build_faq, load_config
from ghqa.faq.build import parse_document
from ghqa.settings import Settings

from enginekit import FAIR, all_text
from fakeopenai import FakeOpenAI, Reply
from helpers import commit_all, git

QUESTIONS = {
    "How does calc_delta_fair avoid division?": f"It shifts by an inverse weight ({FAIR}:259-284).",
    "Where is sched_prio_to_wmult defined?": "In `kernel/sched/core.c:10030-10039`.",
    "What does the load average code do?": "It samples tasks (kernel/sched/loadavg.c:1-10).",
}


def responder(body: dict[str, Any]) -> Reply:
    text = all_text(body)
    for question, answer in QUESTIONS.items():
        if f"Question: {question}" in text:
            return Reply(answer)
    return Reply("NONE")


@pytest.fixture
def setup(sched_repo: Path, tmp_path: Path) -> Any:
    site = tmp_path / "site"
    site.mkdir()
    config = site / "faq.yml"
    config.write_text(
        f"repository: file://{sched_repo}\npaths: [kernel/sched]\noutput: docs/FAQ.md\n"
        "strategy: direct\nquestions:\n" + "".join(f"  - {json.dumps(q)}\n" for q in QUESTIONS)
    )
    with FakeOpenAI(responder) as server:
        settings = Settings.resolve(
            {},
            cache_dir=tmp_path / "cache",
            base_url=server.base_url,
            model="fake-model",
            api_key="k",
            cache="off",
        )
        yield sched_repo, site, load_config(config), settings, server


def test_first_run_answers_every_question(setup: Any) -> None:
    _, site, config, settings, server = setup
    report = build_faq(config, settings, site)
    assert report.added == list(QUESTIONS) and report.usage.calls == 3
    text = (site / "docs/FAQ.md").read_text()
    assert text.startswith("# FAQ: file://") and "## Contents" in text
    for question in QUESTIONS:
        assert f"### {question}" in text
    assert re.search(rf"`{FAIR}:259-284`", text)
    entries = parse_document(text)
    assert [e.status for e in entries.values()] == ["ok"] * 3
    assert all(e.spans and e.spans[0]["sha256"] for e in entries.values())


def test_second_run_without_changes_costs_nothing_and_keeps_the_file(setup: Any) -> None:
    _, site, config, settings, server = setup
    build_faq(config, settings, site)
    before = (site / "docs/FAQ.md").read_bytes()
    calls = len(server.requests)
    report = build_faq(config, settings, site)
    assert report.kept == list(QUESTIONS) and report.usage.calls == 0
    assert len(server.requests) == calls and not report.changed
    assert (site / "docs/FAQ.md").read_bytes() == before


def test_a_change_to_a_cited_function_reanswers_only_its_entry(setup: Any) -> None:
    repo, site, config, settings, server = setup
    build_faq(config, settings, site)
    fair = repo / FAIR
    lines = fair.read_text().split("\n")
    lines[270] += "  /* changed */"  # inside __calc_delta (259-284)
    fair.write_text("\n".join(lines))
    commit_all(repo, "edit __calc_delta")
    calls = len(server.requests)
    report = build_faq(config, settings, site)
    assert report.reanswered == ["How does calc_delta_fair avoid division?"]
    assert report.kept == list(QUESTIONS)[1:] and len(server.requests) == calls + 1


def test_a_deleted_cited_file_is_reanswered_or_marked_stale(setup: Any) -> None:
    repo, site, config, settings, server = setup
    build_faq(config, settings, site)
    git(repo, "rm", "-q", "kernel/sched/loadavg.c")
    commit_all(repo, "drop loadavg.c")
    report = build_faq(config, settings, site)
    question = "What does the load average code do?"
    assert question in report.reanswered or question in report.stale
    assert question in report.stale  # its only citation is gone: it cannot verify
    text = (site / "docs/FAQ.md").read_text()
    assert parse_document(text)[question].status == "stale" and "*(stale)*" in text
    assert report.kept == list(QUESTIONS)[:2]


def test_dry_run_writes_nothing(setup: Any) -> None:
    _, site, config, settings, server = setup
    said: list[str] = []
    report = build_faq(config, settings, site, lambda _s, m, **_: said.append(m), dry_run=True)
    assert report.added == list(QUESTIONS) and not (site / "docs/FAQ.md").exists()
    assert server.requests == []
    assert f"would answer: {list(QUESTIONS)[0]}" in said
    assert not any(m.startswith("answering") for m in said)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_the_faq_file_gets_the_mode_the_umask_gives(setup: Any, umask: int) -> None:
    _, site, config, settings, _ = setup
    old = os.umask(umask)
    try:
        build_faq(config, settings, site)
    finally:
        os.umask(old)
    mode = stat.S_IMODE((site / "docs/FAQ.md").stat().st_mode)
    assert mode == 0o666 & ~umask


def test_bad_config_is_one_clear_error(tmp_path: Path) -> None:
    from ghqa.errors import ConfigError

    bad = tmp_path / "faq.yml"
    bad.write_text("repository: acme/x\nquestions: []\n")
    with pytest.raises(ConfigError, match="'questions' must be a non-empty list"):
        load_config(bad)
    bad.write_text("repository: [\n")
    with pytest.raises(ConfigError, match="is not valid yml"):
        load_config(bad)
    toml = tmp_path / "faq.toml"
    toml.write_text('repository = "acme/x"\nquestions = ["why?"]\n')
    assert load_config(toml).questions == ("why?",)


def test_faq_command_prints_a_report(setup: Any) -> None:
    import subprocess
    import sys

    _, site, config, settings, server = setup
    env = {
        "GHQA_BASE_URL": server.base_url, "GHQA_MODEL": "fake-model", "GHQA_CACHE": "off",
        "PATH": "/usr/bin:/bin", "GHQA_CACHE_DIR": str(site / "cache"),
    }  # fmt: skip
    args = [sys.executable, "-m", "ghqa", "faq", str(site / "faq.yml"), "--root", str(site), "-q"]
    first = subprocess.run(args, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert "added: 3" in first.stdout and "model calls: 3" in first.stdout
    again = subprocess.run(args, capture_output=True, text=True, env=env)
    assert "kept: 3" in again.stdout and "model calls: 0" in again.stdout
    assert "is up to date" in again.stdout


def test_config_sections_for_mining_and_publishing(tmp_path: Path) -> None:
    from ghqa.errors import ConfigError

    path = tmp_path / "faq.yml"
    path.write_text(
        "questions: ['why?']\nmine: {label: faq, limit: 5}\npublish: {branch: docs/faq}\n"
    )
    config = load_config(path)
    assert config.repository is None  # the repository it is published to
    assert config.mine is not None and (config.mine.label, config.mine.limit) == ("faq", 5)
    assert config.mine.ask and config.publish.branch == "docs/faq"
    assert load_config(path).publish.title == "Update the FAQ"
    path.write_text("questions: ['why?']\nmine: true\n")
    assert load_config(path).mine is not None
    for bad, message in (
        ("mine: {labels: x}", "unknown keys under 'mine': labels"),
        ("mine: {limit: many}", "'mine.limit' must be a int"),
        ("mine: {limit: 0}", "'mine.limit' must be at least 1"),
        ("mine: {ask: 1}", "'mine.ask' must be a bool"),
        ("publish: main", "'publish' must be a mapping"),
    ):
        path.write_text(f"questions: ['why?']\n{bad}\n")
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(path)


def test_questions_that_ask_the_same_thing_are_merged() -> None:
    from datetime import datetime, timezone

    from ghqa.faq.mine import MinedQuestion, deduplicate, same_question

    assert same_question(
        "How does calc_delta_fair avoid division?", "how does CALC_DELTA_FAIR avoid division"
    )
    assert not same_question("How does calc_delta_fair work?", "Where is calc_delta_fair called?")
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    found = [
        MinedQuestion("Where is sched_prio_to_wmult defined?", "u1", when),
        MinedQuestion("What is the vruntime?", "u2", when),
        MinedQuestion("what is the vruntime", "u3", when),
    ]
    kept = deduplicate(found, ["Where is sched_prio_to_wmult defined?"])
    assert [q.source for q in kept] == ["u2"]


def test_a_hostile_question_cannot_break_the_file(setup: Any) -> None:
    _, site, config, settings, server = setup
    import dataclasses

    hostile = "What about --> <!-- ghqa-faq:end --> [x](https://evil.example) ![i](http://e/x.png)?"
    config = dataclasses.replace(config, questions=(*config.questions, hostile))
    build_faq(config, settings, site)
    text = (site / "docs/FAQ.md").read_text()
    entries = parse_document(text)
    assert list(entries) == [*QUESTIONS, hostile]
    shown = text[: text.rindex("<!-- ghqa-faq {")]  # the footer is a comment, never rendered
    assert "`https://evil.example)`" in shown and "<!-- ghqa-faq:end --> [" not in shown
    assert not re.search(r"(?<!\\)\]\(https://evil|(?<!\\)!\[i", shown)
    report = build_faq(config, settings, site)
    assert report.kept[:3] == list(QUESTIONS) and not report.changed


def test_shards_answer_their_share_and_merge(setup: Any) -> None:
    from ghqa.faq.build import merge_documents

    _, site, config, settings, server = setup
    first = build_faq(config, settings, site, shard=(1, 2), dry_run=False)
    assert first.owned == [list(QUESTIONS)[0], list(QUESTIONS)[2]]
    assert first.added == first.owned and server.requests and len(server.requests) == 2
    shard_one = (site / "docs/FAQ.md").read_text()
    (site / "docs/FAQ.md").unlink()
    second = build_faq(config, settings, site, shard=(2, 2))
    assert second.added == [list(QUESTIONS)[1]]
    merged = merge_documents(shard_one, second)
    assert list(parse_document(merged)) == list(QUESTIONS)
    (site / "docs/FAQ.md").write_text(merged)
    again = build_faq(config, settings, site)
    assert again.kept == list(QUESTIONS) and not again.changed


def test_an_answer_with_a_citation_that_fails_is_not_published_as_ok(
    sched_repo: Path, tmp_path: Path
) -> None:
    question = "Which function calls pick_eevdf?"
    reply = f"`pick_next_entity` does ({FAIR}:5625), and so does {FAIR}:99990-99999."
    site = tmp_path / "site"
    site.mkdir()
    config = site / "faq.yml"
    config.write_text(
        f"repository: file://{sched_repo}\npaths: [kernel/sched]\noutput: docs/FAQ.md\n"
        f"strategy: direct\nquestions:\n  - {json.dumps(question)}\n"
    )
    with FakeOpenAI([reply]) as server:
        settings = Settings.resolve(
            {}, cache_dir=tmp_path / "cache", base_url=server.base_url, model="fake-model",
            api_key="k", cache="off",
        )  # fmt: skip
        report = build_faq(load_config(config), settings, site)
    text = (site / "docs/FAQ.md").read_text()
    entry = parse_document(text)[question]
    assert entry.status == "stale" and question in report.stale
    assert f"{FAIR}:99990-99999 (unverified)" in text
    assert "1 citation(s) could not be verified" in text
