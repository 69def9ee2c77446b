"""The comment event that started an Action run (the JSON at ``GITHUB_EVENT_PATH``), reduced to
what the Action needs and checked field by field, so a malformed payload fails with one clear
``GitHubError`` rather than a ``KeyError`` halfway through a run."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import GitHubError

#: Event names (``GITHUB_EVENT_NAME``) that carry a comment; any other event is ignored.
COMMENT_EVENTS = ("issue_comment", "pull_request_review_comment")

_FULL_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


@dataclass(frozen=True)
class CommentEvent:
    """A comment on an issue or pull request."""

    repository: str  # "owner/name"
    issue_number: int
    is_pull_request: bool
    comment_id: int
    comment_url: str  # html_url
    body: str
    author: str  # login
    author_type: str  # "User", "Bot", "Organization"
    author_association: str  # OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE, ...
    action: str  # "created", "edited", "deleted"
    installation_login: str | None = None


class _Fields:
    """Typed access to a payload by dotted name (``issue.number``); a failure names the field."""

    def __init__(self, event_name: str) -> None:
        self.event_name = event_name

    def fail(self, what: str) -> GitHubError:
        return GitHubError(
            f"the event in GITHUB_EVENT_PATH is not an {self.event_name} event: {what}"
        )

    def obj(self, parent: dict[str, object], name: str) -> dict[str, object]:
        value = parent.get(name.rpartition(".")[2])
        if not isinstance(value, dict):
            raise self.fail(f"{name} is {'missing' if value is None else 'not an object'}")
        return value

    def text(self, parent: dict[str, object], name: str) -> str:
        value = parent.get(name.rpartition(".")[2])
        if not isinstance(value, str) or not value:
            raise self.fail(f"{name} is {'missing' if value is None else 'not a non-empty string'}")
        return value

    def number(self, parent: dict[str, object], name: str) -> int:
        value = parent.get(name.rpartition(".")[2])
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(f"{name} is {'missing' if value is None else 'not a positive integer'}")
        return value


def parse_comment_event(data: object, event_name: str = "issue_comment") -> CommentEvent | None:
    """The comment in an ``issue_comment`` or ``pull_request_review_comment`` payload; None for
    other events. Raises ``GitHubError`` (and nothing else) when the payload lacks a field."""
    if event_name not in COMMENT_EVENTS:
        return None
    f = _Fields(event_name)
    if not isinstance(data, dict):
        raise f.fail("the payload is not a JSON object")
    repository = f.text(f.obj(data, "repository"), "repository.full_name")
    if not _FULL_NAME.fullmatch(repository):
        raise f.fail(f"repository.full_name {repository[:200]!r} is not owner/name")
    if event_name == "issue_comment":
        issue = f.obj(data, "issue")
        number = f.number(issue, "issue.number")
        is_pull_request = issue.get("pull_request") is not None
    else:
        number = f.number(f.obj(data, "pull_request"), "pull_request.number")
        is_pull_request = True
    comment = f.obj(data, "comment")
    body = comment.get("body")
    if body is not None and not isinstance(body, str):
        raise f.fail("comment.body is not a string")
    user = f.obj(comment, "comment.user")
    installation = data.get("installation")
    account = installation.get("account") if isinstance(installation, dict) else None
    login = account.get("login") if isinstance(account, dict) else None
    return CommentEvent(
        repository=repository,
        issue_number=number,
        is_pull_request=is_pull_request,
        comment_id=f.number(comment, "comment.id"),
        comment_url=f.text(comment, "comment.html_url"),
        body=body or "",
        author=f.text(user, "comment.user.login"),
        author_type=f.text(user, "comment.user.type"),
        author_association=f.text(comment, "comment.author_association"),
        action=f.text(data, "action"),
        installation_login=login if isinstance(login, str) and login else None,
    )


def load_event(path: str | os.PathLike[str], event_name: str) -> CommentEvent | None:
    """The comment event in the file at ``path`` (``GITHUB_EVENT_PATH``) for ``event_name``
    (``GITHUB_EVENT_NAME``); None for events that carry no comment."""
    if event_name not in COMMENT_EVENTS:
        return None
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise GitHubError(
            f"cannot read the event file {os.fspath(path)!r} (GITHUB_EVENT_PATH): "
            f"{e.strerror or e}; run ghqa action inside a GitHub Actions job"
        ) from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise _Fields(event_name).fail(f"the file is not valid JSON ({e})") from None
    return parse_comment_event(data, event_name)
