"""The comment event an Action run starts from: real-shaped payloads (modelled on GitHub's webhook
documentation), other events, and malformed input, which fails with one GitHubError and nothing
else."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghqa.errors import GitHubError
from ghqa.github.event import CommentEvent, load_event, parse_comment_event

USER = {
    "login": "octocat",
    "id": 1,
    "node_id": "MDQ6VXNlcjE=",
    "avatar_url": "https://github.com/images/error/octocat_happy.gif",
    "gravatar_id": "",
    "url": "https://api.github.com/users/octocat",
    "html_url": "https://github.com/octocat",
    "type": "User",
    "site_admin": False,
}
REPOSITORY = {
    "id": 1296269,
    "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
    "name": "Hello-World",
    "full_name": "octocat/Hello-World",
    "private": False,
    "owner": USER,
    "html_url": "https://github.com/octocat/Hello-World",
    "url": "https://api.github.com/repos/octocat/Hello-World",
    "default_branch": "main",
    "visibility": "public",
}
ISSUE_COMMENT_CREATED: dict[str, Any] = {
    "action": "created",
    "issue": {
        "url": "https://api.github.com/repos/octocat/Hello-World/issues/1347",
        "repository_url": "https://api.github.com/repos/octocat/Hello-World",
        "html_url": "https://github.com/octocat/Hello-World/issues/1347",
        "id": 1,
        "node_id": "MDU6SXNzdWUx",
        "number": 1347,
        "title": "How does the scheduler pick the next task?",
        "user": USER,
        "labels": [{"id": 208045946, "name": "question", "color": "d876e3", "default": True}],
        "state": "open",
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": 1,
        "created_at": "2024-05-01T10:00:00Z",
        "updated_at": "2024-05-01T10:05:00Z",
        "closed_at": None,
        "author_association": "OWNER",
        "active_lock_reason": None,
        "body": "I cannot find where vruntime is updated.",
        "reactions": {"url": "https://api.github.com/...", "total_count": 0, "+1": 0},
        "performed_via_github_app": None,
        "state_reason": None,
    },
    "comment": {
        "url": "https://api.github.com/repos/octocat/Hello-World/issues/comments/1146825",
        "html_url": "https://github.com/octocat/Hello-World/issues/1347#issuecomment-1146825",
        "issue_url": "https://api.github.com/repos/octocat/Hello-World/issues/1347",
        "id": 1146825,
        "node_id": "IC_kwDOABCD5c5ERC1J",
        "user": USER,
        "created_at": "2024-05-01T10:05:00Z",
        "updated_at": "2024-05-01T10:05:00Z",
        "author_association": "OWNER",
        "body": "/ask how is vruntime updated?",
        "reactions": {"url": "https://api.github.com/...", "total_count": 0, "+1": 0},
        "performed_via_github_app": None,
    },
    "repository": REPOSITORY,
    "sender": USER,
}


def payload(**changes: Any) -> dict[str, Any]:
    """The fixture with dotted-path changes (``comment__user__type="Bot"``); None deletes."""
    data = copy.deepcopy(ISSUE_COMMENT_CREATED)
    for path, value in changes.items():
        *parents, key = path.split("__")
        node = data
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(key, None)
        else:
            node[key] = value
    return data


def test_issue_comment_created() -> None:
    assert parse_comment_event(ISSUE_COMMENT_CREATED) == CommentEvent(
        repository="octocat/Hello-World",
        issue_number=1347,
        is_pull_request=False,
        comment_id=1146825,
        comment_url="https://github.com/octocat/Hello-World/issues/1347#issuecomment-1146825",
        body="/ask how is vruntime updated?",
        author="octocat",
        author_type="User",
        author_association="OWNER",
        action="created",
        installation_login=None,
    )


def test_comment_on_a_pull_request() -> None:
    pr = {"url": "https://api.github.com/repos/octocat/Hello-World/pulls/1347", "merged_at": None}
    event = parse_comment_event(payload(issue__pull_request=pr))
    assert event is not None and event.is_pull_request and event.issue_number == 1347


def test_pull_request_review_comment() -> None:
    data = payload(issue=None, pull_request={"number": 7, "title": "Fix"})
    event = parse_comment_event(data, "pull_request_review_comment")
    assert event is not None and event.is_pull_request and event.issue_number == 7
    with pytest.raises(GitHubError, match="not an issue_comment event: issue is missing"):
        parse_comment_event(data, "issue_comment")


def test_bot_author_edited_and_deleted_actions_are_reported_as_they_are() -> None:
    bot = {**USER, "login": "ghqa-app[bot]", "type": "Bot"}
    event = parse_comment_event(
        payload(comment__user=bot, installation={"id": 42, "account": {"login": "octo-org"}})
    )
    assert event is not None
    assert (event.author, event.author_type, event.installation_login) == (
        "ghqa-app[bot]",
        "Bot",
        "octo-org",
    )
    for action in ("edited", "deleted"):
        event = parse_comment_event(payload(action=action, changes={"body": {"from": "old"}}))
        assert event is not None and event.action == action
    event = parse_comment_event(payload(comment__body=None))
    assert event is not None and event.body == ""
    event = parse_comment_event(payload(comment__author_association="CONTRIBUTOR"))
    assert event is not None and event.author_association == "CONTRIBUTOR"


@pytest.mark.parametrize("name", ["push", "pull_request", "pull_request_target", "issues", ""])
def test_other_events_are_ignored(name: str, tmp_path: Path) -> None:
    assert parse_comment_event(ISSUE_COMMENT_CREATED, name) is None
    assert load_event(tmp_path / "missing.json", name) is None


@pytest.mark.parametrize(
    ("data", "what"),
    [
        ([], "the payload is not a JSON object"),
        (payload(repository=None), "repository is missing"),
        (payload(repository__full_name="no-slash"), "is not owner/name"),
        (payload(repository__full_name=5), "repository.full_name is not a non-empty string"),
        (payload(issue="1347"), "issue is not an object"),
        (payload(issue__number=None), "issue.number is missing"),
        (payload(issue__number=True), "issue.number is not a positive integer"),
        (payload(issue__number=1.5), "issue.number is not a positive integer"),
        (payload(issue__number=0), "issue.number is not a positive integer"),
        (payload(comment=None), "comment is missing"),
        (payload(comment__id="1146825"), "comment.id is not a positive integer"),
        (payload(comment__body=["x"]), "comment.body is not a string"),
        (payload(comment__html_url=""), "comment.html_url is not a non-empty string"),
        (payload(comment__user=None), "comment.user is missing"),
        (payload(comment__user__login=None), "comment.user.login is missing"),
        (payload(comment__user__type=None), "comment.user.type is missing"),
        (payload(comment__author_association=None), "comment.author_association is missing"),
        (payload(action=None), "action is missing"),
    ],
)
def test_malformed_payloads(data: object, what: str) -> None:
    with pytest.raises(GitHubError) as info:
        parse_comment_event(data)
    message = str(info.value)
    assert message.startswith("the event in GITHUB_EVENT_PATH is not an issue_comment event: ")
    assert what in message


def test_load_event(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(ISSUE_COMMENT_CREATED), encoding="utf-8")
    assert load_event(path, "issue_comment") == parse_comment_event(ISSUE_COMMENT_CREATED)
    assert load_event(str(path), "issue_comment") is not None
    for raw in (b"{not json", b"\xff\xfe\x00", b"[" * 100_000 + b"]" * 100_000, b""):
        path.write_bytes(raw)
        with pytest.raises(GitHubError, match="is not valid JSON"):
            load_event(path, "issue_comment")
    with pytest.raises(GitHubError, match="cannot read the event file"):
        load_event(tmp_path / "missing.json", "issue_comment")
    with pytest.raises(GitHubError, match="cannot read the event file"):
        load_event(tmp_path, "issue_comment")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["action", "issue", "comment", "repository", "number", "id", "body"])
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON, st.sampled_from(["issue_comment", "pull_request_review_comment", "push"]))
def test_any_json_parses_or_raises_github_error(data: object, name: str) -> None:
    try:
        event = parse_comment_event(data, name)
    except GitHubError:
        return
    assert event is None or isinstance(event, CommentEvent)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        [
            "action",
            "issue",
            "issue__number",
            "issue__pull_request",
            "comment",
            "comment__id",
            "comment__body",
            "comment__user",
            "comment__user__login",
            "comment__user__type",
            "comment__html_url",
            "comment__author_association",
            "repository",
            "repository__full_name",
        ]
    ),
    JSON,
)
def test_any_field_replaced_parses_or_raises_github_error(path: str, value: object) -> None:
    data = payload(**{path: value})
    try:
        event = parse_comment_event(data)
    except GitHubError:
        return
    assert isinstance(event, CommentEvent)
