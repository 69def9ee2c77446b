"""GitHub API faults met by the Action: secondary rate limits, a deleted comment, a refused
(too long) body and 502s. Each ends in one answer comment, or one clear failure, and never in
a placeholder left pending or two answers."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_faults_model import ANSWER, CALC, make_small_repo

from ghqa.errors import GitHubError
from ghqa.github.action import PENDING, Outcome, marker, run_action

from fakegithub import FakeGitHub
from fakeopenai import FakeOpenAI, Reply

REPO = "acme/small"
BOT = "github-actions[bot]"
ASK = "/ask how does scale_delta avoid division?"
COMMENTS = rf"^/repos/{REPO}/issues/1/comments$"
EDITS = rf"^/repos/{REPO}/issues/comments/\d+$"


class World:
    """A fake GitHub with one issue, a scripted model, and the Action's environment."""

    def __init__(self, tmp: Path, github: FakeGitHub, model: FakeOpenAI) -> None:
        self.tmp, self.github, self.model = tmp, github, model
        self.workspace = make_small_repo(tmp / "workspace")
        self.summary = tmp / "summary.md"

    def run(self, event: dict[str, Any], **extra: str) -> Outcome:
        path = self.tmp / "event.json"
        path.write_text(json.dumps(event))
        env = {
            "GITHUB_EVENT_PATH": str(path),
            "GITHUB_EVENT_NAME": "issue_comment",
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_API_URL": self.github.base_url,
            "GITHUB_RUN_ID": "77",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GHQA_GITHUB_TOKEN": self.github.token,
            "GHQA_BASE_URL": self.model.base_url,
            "GHQA_MODEL": "fake-model",
            "GHQA_PATHS": "pkg",
            "GHQA_STRATEGY": "direct",
            "GHQA_CACHE_DIR": str(self.tmp / "cache"),
            "GHQA_RETRIES": "0",
            **extra,
        }
        return run_action(env)

    def ask(self, login: str = "alice") -> dict[str, Any]:
        return self.github.comment_event(REPO, 1, login, ASK)

    def bot_comments(self) -> list[dict[str, Any]]:
        return [c for c in self.github.comments(REPO, 1) if c["user"]["login"] == BOT]

    def delete_comment(self, comment_id: int) -> None:
        request = urllib.request.Request(
            f"{self.github.base_url}/repos/{REPO}/issues/comments/{comment_id}",
            method="DELETE",
            headers={"Authorization": f"token {self.github.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with FakeGitHub() as github, FakeOpenAI(lambda body: Reply(ANSWER)) as model:
        github.add_repo(REPO)
        github.add_user("alice")
        github.set_permission(REPO, "alice", "write")
        github.add_issue(REPO, 1)
        yield World(tmp_path, github, model)
        assert not github.unexpected and not model.unexpected


def _one_answer(world: World) -> dict[str, Any]:
    [comment] = world.bot_comments()
    assert PENDING not in comment["body"]
    return comment


def test_a_secondary_rate_limit_is_waited_out(world: World) -> None:
    world.github.fail_next("POST", COMMENTS, 403, headers={"retry-after": "1"})
    world.github.fail_next("PATCH", EDITS, 403, headers={"retry-after": "1"})
    started = time.monotonic()
    outcome = world.run(world.ask())
    assert outcome.code == 0, outcome.reason
    assert time.monotonic() - started >= 2.0  # both Retry-After waits were honoured
    body = _one_answer(world)["body"]
    assert f"{CALC}#L9-L11" in body and "scale_delta" in body


def test_a_rate_limit_that_does_not_lift_is_one_clear_error(world: World) -> None:
    world.github.fail_next("PATCH", EDITS, 403, times=20, headers={"retry-after": "1"})
    started = time.monotonic()
    with pytest.raises(GitHubError, match=r"editing comment \d+ failed \(403 .*rate-limited"):
        world.run(world.ask())
    assert time.monotonic() - started < 30  # a bounded number of bounded waits
    # The answer is not lost: the run's summary has it.
    assert "scale_delta" in world.summary.read_text()


def test_a_comment_deleted_before_the_run_is_skipped(world: World) -> None:
    event = world.ask()
    world.delete_comment(event["comment"]["id"])
    outcome = world.run(event)
    assert outcome.code == 0 and "deleted" in outcome.reason
    assert world.bot_comments() == [] and world.model.requests == []


def test_a_placeholder_deleted_during_the_run_is_replaced(world: World) -> None:
    def respond(body: dict[str, Any]) -> Reply:
        for comment in world.bot_comments():  # someone deletes the placeholder meanwhile
            world.delete_comment(comment["id"])
        return Reply(ANSWER)

    world.model.close()
    with FakeOpenAI(respond) as model:
        world.model = model
        outcome = world.run(world.ask())
    assert outcome.code == 0, outcome.reason
    assert "scale_delta" in _one_answer(world)["body"]


def test_a_refused_body_becomes_a_short_note_and_fails_the_job(world: World) -> None:
    world.github.fail_next(
        "PATCH", EDITS, 422, message="Validation Failed: body is too long (maximum is 65536)"
    )
    event = world.ask()
    outcome = world.run(event)
    assert outcome.code == 1 and "422" in outcome.reason
    body = _one_answer(world)["body"]
    assert "GitHub refused the comment" in body and "actions/runs/77" in body
    assert marker(event["comment"]["id"]) in body
    assert "scale_delta" in world.summary.read_text()


def test_502s_are_retried(world: World) -> None:
    world.github.fail_next("POST", COMMENTS, 502, times=2)
    world.github.fail_next("PATCH", EDITS, 502, times=2)
    outcome = world.run(world.ask())
    assert outcome.code == 0, outcome.reason
    assert "scale_delta" in _one_answer(world)["body"]


def test_a_502_after_github_posted_leaves_no_second_placeholder(world: World) -> None:
    world.github.fail_next("POST", COMMENTS, 502, commit=True)  # posted, but the answer was lost
    event = world.ask()
    outcome = world.run(event)
    assert outcome.code == 0, outcome.reason
    assert "scale_delta" in _one_answer(world)["body"]
    # A rerun of the same event sees the answer and posts nothing new.
    again = world.run(event)
    assert again.code == 0 and again.reason == "already answered"
    assert len(world.bot_comments()) == 1 and len(world.model.requests) == 1
