"""Publishing the FAQ through one pull request and mining questions from issues, against the fake
GitHub (real PyGithub over HTTP) and a scripted model, on the linux-sched repository."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ghqa.errors import ConfigError
from ghqa.faq import load_config, run_faq
from ghqa.faq.build import parse_document, read_document
from ghqa.settings import Settings

from enginekit import FAIR, all_text
from fakegithub import FakeGitHub
from fakeopenai import FakeOpenAI, Reply
from helpers import commit_all

SITE = "acme/site"
BRANCH = "ghqa/faq"
Q_FAIR = "How does calc_delta_fair avoid division?"
Q_WMULT = "Where is sched_prio_to_wmult defined?"
Q_LOAD = "What does the load average code do?"
ANSWERS = {
    Q_FAIR: f"It shifts by an inverse weight ({FAIR}:259-284).",
    Q_WMULT: "In `kernel/sched/core.c:10030-10039`.",
    Q_LOAD: "It samples tasks (kernel/sched/loadavg.c:1-10).",
}


def responder(body: dict[str, Any]) -> Reply:
    text = all_text(body)
    for question, answer in ANSWERS.items():
        if f"Question: {question}" in text:
            return Reply(answer)
    return Reply("NONE")


@dataclass
class World:
    repo: Path  # the code the FAQ is about
    tmp: Path
    github: FakeGitHub
    model: FakeOpenAI
    settings: Settings
    runs: int = 0

    def config(self, questions: list[str], extra: str = "") -> Path:
        path = self.tmp / "faq.yml"
        path.write_text(
            f"repository: file://{self.repo}\npaths: [kernel/sched]\nstrategy: direct\n"
            f"questions: {json.dumps(questions)}\n{extra}"
        )
        return path

    def run(self, config: Path, **kwargs: Any) -> Any:
        """One job run from a fresh checkout of the base branch (as a workflow has)."""
        self.runs += 1
        root = self.tmp / f"checkout{self.runs}"
        root.mkdir()
        for name, data in self.github.files(SITE).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        kwargs.setdefault("publish", True)
        return run_faq(load_config(config), self.settings, root, repository=SITE, **kwargs)

    def faq(self, branch: str = BRANCH) -> str:
        return self.github.files(SITE, branch)["docs/FAQ.md"].decode()

    def open_pulls(self) -> list[dict[str, Any]]:
        return [p for p in self.github.pulls(SITE) if p["state"] == "open"]


@pytest.fixture
def world(sched_repo: Path, tmp_path: Path) -> Any:
    with FakeGitHub() as github, FakeOpenAI(responder) as model:
        github.add_repo(SITE)
        github.set_file(SITE, "README.md", "# site\n")
        settings = Settings.resolve(
            {},
            cache_dir=tmp_path / "cache",
            base_url=model.base_url,
            model="fake-model",
            api_key="sk-test-key-000000000000000000",
            cache="off",
            github_token=github.token,
            github_api_url=github.base_url,
        )
        yield World(sched_repo, tmp_path, github, model, settings)
        assert github.unexpected == []


def test_one_pull_request_and_a_rerun_without_changes_pushes_nothing(world: World) -> None:
    config = world.config([Q_FAIR, Q_WMULT])
    first = world.run(config)
    assert first.published.committed and first.published.opened
    assert first.report.added == [Q_FAIR, Q_WMULT]
    (pull,) = world.open_pulls()
    assert pull["head"]["ref"] == BRANCH and pull["base"]["ref"] == "main"
    assert pull["html_url"] == first.published.pull_url and "added: 2" in pull["body"]
    assert world.faq() == first.report.text
    assert "docs/FAQ.md" not in world.github.files(SITE)  # main is untouched until merged
    commits, calls = world.github.commits(SITE, BRANCH), len(world.model.requests)

    again = world.run(config)  # the checkout of main has no FAQ: it is read from the branch
    assert again.report.kept == [Q_FAIR, Q_WMULT] and again.report.usage.calls == 0
    assert len(world.model.requests) == calls
    assert not again.published.committed and again.published.pull_url == pull["html_url"]
    assert world.github.commits(SITE, BRANCH) == commits
    assert world.open_pulls() == [pull] and len(world.github.pulls(SITE)) == 1


def test_a_code_change_adds_a_commit_to_the_open_pull_request(world: World) -> None:
    config = world.config([Q_FAIR, Q_WMULT])
    first = world.run(config)
    fair = world.repo / FAIR
    lines = fair.read_text().split("\n")
    lines[270] += "  /* changed */"  # inside __calc_delta, cited by the first entry
    fair.write_text("\n".join(lines))
    commit_all(world.repo, "edit __calc_delta")
    commits = world.github.commits(SITE, BRANCH)
    second = world.run(config)
    assert second.report.reanswered == [Q_FAIR] and second.report.kept == [Q_WMULT]
    assert second.published.committed and not second.published.opened
    assert second.published.pull_number == first.published.pull_number
    assert world.github.commits(SITE, BRANCH)[1:] == commits  # one commit on top
    (pull,) = world.open_pulls()
    assert "re-answered: 1" in pull["body"] and world.faq() == second.report.text


def test_after_a_merge_the_next_change_opens_a_fresh_pull_request(world: World) -> None:
    config = world.config([Q_FAIR])
    first = world.run(config)
    world.github.merge_pull(SITE, first.published.pull_number)
    assert world.github.files(SITE)["docs/FAQ.md"].decode() == first.report.text
    quiet = world.run(config)  # merged and unchanged: nothing to do
    assert quiet.published.pull_url is None and not quiet.published.committed
    assert world.open_pulls() == []

    second = world.run(world.config([Q_FAIR, Q_WMULT]))
    assert second.report.kept == [Q_FAIR] and second.report.added == [Q_WMULT]
    assert second.published.opened and second.published.pull_number != first.published.pull_number
    (pull,) = world.open_pulls()
    # The branch started afresh from main: one commit on top of the merge.
    assert world.github.commits(SITE, BRANCH)[1] == world.github.branches(SITE)["main"]


def test_questions_mined_from_labelled_issues_and_answered_asks(world: World) -> None:
    gh = world.github
    gh.set_time("2026-03-01T10:00:00Z")
    gh.add_issue(SITE, 1, Q_WMULT, labels=["question"], login="alice")
    gh.add_issue(SITE, 2, "Crash on boot", labels=["bug"], login="bob")
    gh.add_issue(SITE, 3, "Where is sched_prio_to_wmult DEFINED", labels=["question"])  # same
    gh.add_issue(SITE, 4, "docs: explain load average", pull_request=True, labels=["question"])
    gh.add_issue(SITE, 5, "help", login="carol")
    asked = gh.add_comment(SITE, 5, "carol", f"/ask {Q_LOAD}")
    gh.add_comment(SITE, 5, gh.bot_login, f"It samples.\n<!-- ghqa:answer-to:{asked['id']} -->")
    gh.add_comment(SITE, 5, "dave", "/ask What is EEVDF?")  # never answered
    other = gh.add_comment(SITE, 5, "erin", "/ask torvalds/git builtin how does gc work?")
    gh.add_comment(SITE, 5, gh.bot_login, f"...\n<!-- ghqa:answer-to:{other['id']} -->")
    config = world.config([Q_FAIR], "mine: {label: question, limit: 10}\n")

    first = world.run(config)
    assert first.report.added == [Q_FAIR, Q_WMULT, Q_LOAD]
    document = read_document(world.faq())
    assert document.entries[Q_WMULT].source == f"{gh.web_url}/{SITE}/issues/1"
    assert document.entries[Q_LOAD].source.endswith(f"#issuecomment-{asked['id']}")
    assert document.entries[Q_FAIR].source is None
    assert document.mined_since == "2026-03-01T10:00:00Z"

    gh.set_time("2026-03-02T10:00:00Z")
    gh.add_issue(SITE, 20, "how does calc_delta_fair avoid division", labels=["question"])
    again = world.run(config)  # only a duplicate is new: nothing changes
    assert again.report.kept == [Q_FAIR, Q_WMULT, Q_LOAD] and again.report.usage.calls == 0
    assert not again.published.committed
    assert any("since=2026-03-01T10%3A00%3A00Z" in path for _, path in gh.requests)


def test_shards_of_one_run_share_one_branch_and_pull_request(world: World) -> None:
    config = load_config(world.config([Q_FAIR, Q_WMULT, Q_LOAD]))
    # Both shards start before either publishes (as matrix jobs do), both see no pull request.
    roots = [world.tmp / "a", world.tmp / "b"]
    for root in roots:
        root.mkdir()
    shard = {"repository": SITE, "publish": True, "run_id": "77"}
    first = run_faq(config, world.settings, roots[0], shard=(1, 2), **shard)
    assert first.report.owned == [Q_FAIR, Q_LOAD] and first.published.opened
    second = run_faq(config, world.settings, roots[1], shard=(2, 2), **shard)
    assert second.report.added == [Q_WMULT] and second.published.committed
    assert not second.published.opened
    assert list(parse_document(world.faq())) == [Q_FAIR, Q_WMULT, Q_LOAD]
    assert len(world.github.pulls(SITE)) == 1
    whole = world.run(world.tmp / "faq.yml")
    assert whole.report.kept == [Q_FAIR, Q_WMULT, Q_LOAD] and not whole.published.committed


def test_a_branch_another_shard_created_first_is_used(world: World) -> None:
    # Between this shard's look (no branch) and its create, another shard made the branch
    # from main: GitHub answers 422 "Reference already exists", and the branch is used.
    main = world.github.branches(SITE)["main"]
    world.github.set_branch(SITE, BRANCH, main)
    world.github.fail_next("GET", rf"/git/ref(s)?/heads/{BRANCH}$", 404)
    published = world.run(world.config([Q_FAIR])).published
    assert published.committed and published.opened
    assert list(parse_document(world.faq())) == [Q_FAIR]
    assert any(
        method == "POST" and path.endswith("/git/refs") for method, path in world.github.requests
    )


def test_a_commit_that_lost_the_race_is_merged_and_retried(world: World) -> None:
    config = load_config(world.config([Q_FAIR, Q_WMULT]))
    first = run_faq(config, world.settings, world.tmp, repository=SITE, shard=(1, 2), publish=True)
    # Shard 2's write meets a file another shard moved: GitHub answers 409 and the shard
    # re-reads the branch, merges its entry into what is there and writes again.
    world.github.fail_next("PUT", r"/contents/", 409, message="docs/FAQ.md does not match")
    (world.tmp / "x").mkdir()
    second = run_faq(
        config, world.settings, world.tmp / "x", repository=SITE, shard=(2, 2), publish=True
    )
    assert second.published.committed
    assert second.published.pull_number == first.published.pull_number
    assert list(parse_document(world.faq())) == [Q_FAIR, Q_WMULT]
    puts = [path for method, path in world.github.requests if method == "PUT"]
    assert len(puts) == 3  # shard 1, shard 2's refused write, its retry


def test_publishing_needs_a_repository_and_a_token(world: World) -> None:
    config = load_config(world.config([Q_FAIR]))
    with pytest.raises(ConfigError, match="--publish needs a repository"):
        run_faq(config, world.settings, world.tmp, publish=True)
    import dataclasses

    tokenless = dataclasses.replace(world.settings, github_token=None)
    with pytest.raises(ConfigError, match="needs a GitHub token"):
        run_faq(config, tokenless, world.tmp, publish=True, repository=SITE)
    assert world.github.pulls(SITE) == []


def test_the_command_publishes_and_reports(world: World) -> None:
    config = world.config([Q_FAIR])
    env = {
        "PATH": "/usr/bin:/bin",
        "GHQA_CACHE_DIR": str(world.tmp / "cache"),
        "GHQA_BASE_URL": world.model.base_url,
        "GHQA_MODEL": "fake-model",
        "GHQA_API_KEY": "sk-test-key-000000000000000000",
        "GITHUB_TOKEN": world.github.token,
        "GITHUB_API_URL": world.github.base_url,
        "GITHUB_REPOSITORY": SITE,
    }
    args = [sys.executable, "-m", "ghqa", "faq", str(config), "--publish", "-q", "--root"]
    first = subprocess.run([*args, str(world.tmp)], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert "published: opened pull request" in first.stdout and "added: 1" in first.stdout
    again = subprocess.run([*args, str(world.tmp)], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "published: no change" in again.stdout
    bad = subprocess.run(
        [*args, str(world.tmp)], capture_output=True, text=True, env={**env, "GITHUB_TOKEN": ""}
    )
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1
    assert "needs a GitHub token" in bad.stderr
    for proc in (first, again, bad):
        assert env["GHQA_API_KEY"] not in proc.stdout + proc.stderr
        assert world.github.token not in proc.stdout + proc.stderr
    assert len(world.github.pulls(SITE)) == 1
