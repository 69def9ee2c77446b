"""New FAQ questions from a repository's issues: titles of issues with a label (``question``), and
``/ask`` comments that ghqa answered. Both are gated by people: a label takes triage rights to set,
and the Action answers only those allowed to ask."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from github import GithubException
from github.GithubObject import NotSet
from github.Repository import Repository

from ..github.action import ANSWER_MARKER, PENDING
from ..github.client import GitHubClient, explain
from ..github.sanitize import clean_question, parse_trigger, split_target
from .config import MineConfig

#: A mined question longer than this is not a FAQ question.
MAX_QUESTION = 300
#: Token-set overlap from which two questions count as the same one.
SIMILAR = 0.8


@dataclass(frozen=True)
class MinedQuestion:
    question: str
    source: str  # URL of the issue or comment it came from
    asked_at: datetime


def normalize(question: str) -> str:
    return " ".join(re.findall(r"[a-z0-9_]+", question.lower()))


def same_question(a: str, b: str) -> bool:
    """Whether two questions ask the same thing (equal words, or nearly the same set of them)."""
    na, nb = normalize(a), normalize(b)
    if na == nb:
        return True
    ta, tb = set(na.split()), set(nb.split())
    if not ta or not tb:
        return False
    return len(ta & tb) / len(ta | tb) >= SIMILAR


def deduplicate(candidates: Iterable[MinedQuestion], known: Iterable[str]) -> list[MinedQuestion]:
    """``candidates`` that ask nothing already ``known`` nor asked by an earlier candidate."""
    seen = list(known)
    kept: list[MinedQuestion] = []
    for candidate in candidates:
        if any(same_question(candidate.question, q) for q in seen):
            continue
        seen.append(candidate.question)
        kept.append(candidate)
    return kept


def mine_questions(
    client: GitHubClient,
    repo: str,
    config: MineConfig,
    since: datetime | None,
    about: str | None = None,
) -> list[MinedQuestion]:
    """Questions asked on ``repo`` since ``since`` (oldest first, not deduplicated).

    ``about``: the FAQ's repository spec; an ``/ask`` naming another repository is not
    a question about this FAQ's code and is skipped.
    """
    found: list[tuple[datetime, MinedQuestion]] = []
    try:
        r = client.gh.get_repo(repo)
        if config.label:
            when = since if since is not None else NotSet
            issues = r.get_issues(
                state="all", labels=[config.label], since=when, sort="created", direction="asc"
            )
            for issue in issues:
                if issue.pull_request is not None:
                    continue
                question = _usable(issue.title)
                if question:
                    asked = issue.created_at
                    found.append((asked, MinedQuestion(question, issue.html_url, asked)))
        if config.ask:
            found += _answered_asks(r, config.trigger, since, about)
    except GithubException as exc:
        raise explain(exc, f"reading the issues of {repo} for questions") from None
    found.sort(key=lambda item: item[0])
    return [q for _, q in found]


def _answered_asks(
    r: Repository, trigger: str, since: datetime | None, about: str | None
) -> list[tuple[datetime, MinedQuestion]]:
    when = since if since is not None else NotSet
    asks: list[tuple[datetime, int, MinedQuestion]] = []
    answered: set[int] = set()
    for comment in r.get_issues_comments(sort="created", direction="asc", since=when):
        body = comment.body or ""
        if PENDING not in body:
            answered.update(int(m) for m in ANSWER_MARKER.findall(body))
        text = parse_trigger(body, trigger)
        if not text:
            continue
        target, _, text = split_target(text)
        if target is not None and (about is None or target.lower() not in about.lower()):
            continue
        question = _usable(text)
        if question:
            mined = MinedQuestion(question, comment.html_url, comment.created_at)
            asks.append((comment.created_at, comment.id, mined))
    return [(when, q) for when, cid, q in asks if cid in answered]


def _usable(text: str | None) -> str | None:
    """The question as one line, or None when it is empty or too long to be a FAQ entry."""
    question = " ".join(clean_question(text or "").split())
    if not question or len(question) > MAX_QUESTION:
        return None
    return question
