"""The fake GitHub REST API, exercised through the real PyGithub client, including the retry
configuration that makes PyGithub retry 5xx on POST and wait out secondary rate limits."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import github
import pytest
import requests
from github import Auth, Github, GithubException, GithubRetry
from urllib3 import Retry

from fakegithub import MAX_COMMENT, FakeGitHub

TOKEN = "ghs_testtoken"
REPO = "octo/widgets"
POSTS = r"/issues/\d+/comments$"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKEN) as server:
        server.add_repo(REPO, default_branch="trunk")
        server.add_user("alice")
        server.add_user("dependabot[bot]", "Bot")
        server.set_permission(REPO, "alice", "write")
        server.add_issue(REPO, 7, "How is the scheduler tick handled?")
        server.add_issue(REPO, 8, "Speed up the tick", pull_request=True)
        yield server
        assert server.unexpected == []


def client(fake: FakeGitHub, retry: int | Retry | None = None, **kwargs: Any) -> Github:
    """A PyGithub client on the fake, without PyGithub's default pause between writes."""
    return Github(
        base_url=fake.base_url,
        auth=Auth.Token(TOKEN),
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=None,
        **kwargs,
    )


def raw(
    fake: FakeGitHub, method: str, path: str, body: Any = None, token: str | None = TOKEN
) -> tuple[int, dict[str, str], Any]:
    """One request without PyGithub, to see statuses and headers PyGithub hides."""
    host, port = fake.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None if body is None else json.dumps(body)
        conn.request(method, path, data, headers)
        response = conn.getresponse()
        content = response.read()
        found = {k.lower(): v for k, v in response.getheaders()}
        return response.status, found, json.loads(content) if content else None
    finally:
        conn.close()


def test_repository(fake: FakeGitHub) -> None:
    with client(fake) as gh:
        repo = gh.get_repo(REPO)
        assert (repo.full_name, repo.name, repo.default_branch) == (REPO, "widgets", "trunk")
        assert repo.owner.login == "octo" and repo.private is False
        assert repo.html_url == f"https://github.com/{REPO}"
        with pytest.raises(github.UnknownObjectException):
            gh.get_repo("octo/nothing")
    assert fake.requests == [("GET", f"/repos/{REPO}"), ("GET", "/repos/octo/nothing")]


def test_permissions(fake: FakeGitHub) -> None:
    for login, role in [("maint", "maintain"), ("tri", "triage"), ("reader", "read")]:
        fake.set_permission(REPO, login, role)
    fake.add_user("stranger")
    with client(fake) as gh:
        repo = gh.get_repo(REPO)
        assert repo.get_collaborator_permission("alice") == "write"
        assert repo.get_collaborator_permission("octo") == "admin"  # the owner
        # As on GitHub, `permission` holds the legacy role; `role_name` the real one.
        assert repo.get_collaborator_permission("maint") == "write"
        assert repo.get_collaborator_role_name("maint") == "maintain"
        assert repo.get_collaborator_permission("tri") == "read"
        assert repo.get_collaborator_role_name("tri") == "triage"
        assert repo.get_collaborator_permission("reader") == "read"
        assert repo.get_collaborator_permission("stranger") == "none"
        assert repo.get_collaborator_permission("github-actions[bot]") == "none"
        with pytest.raises(github.UnknownObjectException):
            repo.get_collaborator_permission("nobody")
    status, _, body = raw(fake, "GET", f"/repos/{REPO}/collaborators/maint/permission")
    assert status == 200 and body["user"]["permissions"] == {
        "pull": True,
        "triage": True,
        "push": True,
        "maintain": True,
        "admin": False,
    }


def test_issue_pull_request_and_comments(fake: FakeGitHub) -> None:
    fake.add_comment(REPO, 7, "alice", "/ask how is the tick handled?")
    fake.add_comment(REPO, 7, "dependabot[bot]", "bump")
    with client(fake) as gh:
        issue = gh.get_repo(REPO).get_issue(7)
        assert (issue.number, issue.title, issue.pull_request, issue.comments) == (
            7,
            "How is the scheduler tick handled?",
            None,
            2,
        )
        first, second = issue.get_comments()
        assert first.body.startswith("/ask") and first.user.login == "alice"
        assert first.user.type == "User" and first.author_association == "COLLABORATOR"
        assert second.user.type == "Bot" and second.author_association == "NONE"
        assert first.html_url == f"https://github.com/{REPO}/issues/7#issuecomment-{first.id}"
        pr = gh.get_repo(REPO).get_issue(8)
        assert pr.pull_request is not None
        assert pr.pull_request.html_url == f"https://github.com/{REPO}/pull/8"
        with pytest.raises(github.UnknownObjectException):
            gh.get_repo(REPO).get_issue(99)


def test_comment_pagination(fake: FakeGitHub) -> None:
    for i in range(65):
        fake.add_comment(REPO, 7, "alice", f"comment {i}")
    with client(fake) as gh:
        comments = gh.get_repo(REPO).get_issue(7).get_comments()
        assert [c.body for c in comments] == [f"comment {i}" for i in range(65)]
        assert comments.totalCount == 65
    pages = [path for method, path in fake.requests if "/comments" in path]
    assert pages == [
        f"/repos/{REPO}/issues/7/comments",
        f"/repos/{REPO}/issues/7/comments?page=2",
        f"/repos/{REPO}/issues/7/comments?page=3",
        f"/repos/{REPO}/issues/7/comments?per_page=1",  # totalCount reads the last page's number
    ]
    with client(fake, per_page=100) as gh:
        assert len(list(gh.get_repo(REPO).get_issue(7).get_comments())) == 65
    assert fake.requests[-1] == ("GET", f"/repos/{REPO}/issues/7/comments?per_page=100")

    status, headers, body = raw(fake, "GET", f"/repos/{REPO}/issues/7/comments?per_page=20&page=2")
    assert status == 200 and [c["body"] for c in body] == [f"comment {i}" for i in range(20, 40)]
    url = f"{fake.base_url}/repos/{REPO}/issues/7/comments?per_page=20&page="
    assert headers["link"] == (
        f'<{url}1>; rel="prev", <{url}3>; rel="next", <{url}4>; rel="last", <{url}1>; rel="first"'
    )
    assert "link" not in raw(fake, "GET", f"/repos/{REPO}/issues/8/comments")[1]


def test_create_edit_delete_comment(fake: FakeGitHub) -> None:
    with client(fake) as gh:
        issue = gh.get_repo(REPO).get_issue(7)
        posted = issue.create_comment("Thinking…")
        assert posted.user.login == "github-actions[bot]" and posted.user.type == "Bot"
        assert [c["body"] for c in fake.comments(REPO, 7)] == ["Thinking…"]

        posted.edit("The tick is handled in `scheduler_tick()`.")
        assert posted.body == "The tick is handled in `scheduler_tick()`."
        again = issue.get_comment(posted.id)
        assert again.body == posted.body and again.user.login == "github-actions[bot]"
        assert fake.comments(REPO, 7)[0]["body"] == posted.body

        again.delete()
        assert fake.comments(REPO, 7) == []
        with pytest.raises(github.UnknownObjectException):
            issue.get_comment(posted.id).edit("gone")
        with pytest.raises(github.UnknownObjectException):
            gh.get_repo(REPO).get_issue(99).create_comment("nowhere")
    assert ("PATCH", f"/repos/{REPO}/issues/comments/{posted.id}") in fake.requests
    assert ("DELETE", f"/repos/{REPO}/issues/comments/{posted.id}") in fake.requests


def test_comments_belong_to_their_repository(fake: FakeGitHub) -> None:
    fake.add_repo("octo/other")
    fake.add_issue("octo/other", 7)
    comment = fake.add_comment("octo/other", 7, "alice", "elsewhere")
    status, _, body = raw(fake, "GET", f"/repos/{REPO}/issues/comments/{comment['id']}")
    assert (status, body["message"]) == (404, "Not Found")
    assert raw(fake, "GET", f"/repos/OCTO/Other/issues/comments/{comment['id']}")[0] == 200


def test_reactions(fake: FakeGitHub) -> None:
    question = fake.add_comment(REPO, 7, "alice", "/ask why?")
    with client(fake) as gh:
        comment = gh.get_repo(REPO).get_issue(7).get_comment(question["id"])
        reaction = comment.create_reaction("eyes")
        assert reaction.content == "eyes" and reaction.user.login == "github-actions[bot]"
        assert comment.create_reaction("eyes").id == reaction.id  # no duplicate
        assert [r.content for r in comment.get_reactions()] == ["eyes"]
        with pytest.raises(GithubException) as refused:
            comment.create_reaction("shrug")
        assert refused.value.status == 422
        assert comment.delete_reaction(reaction.id)
    assert fake.reactions(REPO, question["id"]) == []

    path = f"/repos/{REPO}/issues/comments/{question['id']}/reactions"
    assert raw(fake, "POST", path, {"content": "rocket"})[0] == 201
    assert raw(fake, "POST", path, {"content": "rocket"})[0] == 200
    assert [r["content"] for r in fake.reactions(REPO, question["id"])] == ["rocket"]
    assert fake.comments(REPO, 7)[0]["reactions"]["rocket"] == 1


def test_authentication_required(fake: FakeGitHub) -> None:
    with Github(base_url=fake.base_url, retry=None) as anonymous:
        with pytest.raises(GithubException) as missing:
            anonymous.get_repo(REPO)
    assert (missing.value.status, missing.value.data["message"]) == (401, "Requires authentication")
    with Github(base_url=fake.base_url, auth=Auth.Token("ghs_wrong"), retry=None) as wrong:
        with pytest.raises(github.BadCredentialsException):
            wrong.get_repo(REPO)
    assert raw(fake, "GET", f"/repos/{REPO}", token=None)[0] == 401
    assert raw(fake, "GET", f"/repos/{REPO}")[0] == 200  # Bearer works as well as token
    assert fake.comments(REPO, 7) == []


def test_comment_too_long(fake: FakeGitHub) -> None:
    with client(fake) as gh:
        issue = gh.get_repo(REPO).get_issue(7)
        with pytest.raises(GithubException) as refused:
            issue.create_comment("x" * (MAX_COMMENT + 1))
        assert refused.value.status == 422
        assert refused.value.data["errors"] == [
            {
                "resource": "IssueComment",
                "code": "custom",
                "field": "body",
                "message": "body is too long (maximum is 65536 characters)",
            }
        ]
        posted = issue.create_comment("x" * MAX_COMMENT)
        with pytest.raises(GithubException) as edit_refused:
            posted.edit("y" * (MAX_COMMENT + 1))
        assert edit_refused.value.status == 422
    assert [len(c["body"]) for c in fake.comments(REPO, 7)] == [MAX_COMMENT]
    status, _, body = raw(fake, "POST", f"/repos/{REPO}/issues/7/comments", {"text": "hi"})
    assert status == 422 and "body" in body["message"]


def test_rate_limit_user_and_unknown_paths(fake: FakeGitHub) -> None:
    with client(fake) as gh:
        assert gh.get_rate_limit().resources.core.limit == 5000
        with pytest.raises(GithubException) as forbidden:
            _ = gh.get_user().login  # an Actions token may not read /user
        assert forbidden.value.status == 403
        assert gh.get_user("alice").type == "User"
    status, headers, body = raw(fake, "GET", "/repos/octo/widgets/pulls/8/files")
    assert (status, body["message"]) == (404, "Not Found")
    assert headers["x-ratelimit-limit"] == "5000"
    assert raw(fake, "PUT", f"/repos/{REPO}")[0] == 404


def test_fail_next_matches_method_path_and_count(fake: FakeGitHub) -> None:
    fake.fail_next("GET", r"/issues/7$", 500, times=2)
    assert raw(fake, "POST", f"/repos/{REPO}/issues/7/comments", {"body": "hi"})[0] == 201
    assert raw(fake, "GET", f"/repos/{REPO}/issues/8")[0] == 200
    assert [raw(fake, "GET", f"/repos/{REPO}/issues/7")[0] for _ in range(3)] == [500, 500, 200]
    fake.fail_next("*", r"^/repos/", 502, headers={"X-Extra": "1"}, message="upstream")
    status, headers, body = raw(fake, "DELETE", f"/repos/{REPO}/issues/comments/1")
    assert (status, headers["x-extra"], body["message"]) == (502, "1", "upstream")


NO_RETRY = None
INT_RETRY = 3  # connection errors only
URLLIB3_GET_ONLY = Retry(total=3, backoff_factor=0.01, status_forcelist=(500, 502))
URLLIB3_ANY_METHOD = Retry(
    total=3, backoff_factor=0.01, status_forcelist=(500, 502), allowed_methods=None
)
GITHUB_RETRY = GithubRetry(total=3, backoff_factor=0.01)


@pytest.mark.parametrize(
    ("retry", "retried"),
    [
        (NO_RETRY, False),
        (INT_RETRY, False),
        (URLLIB3_GET_ONLY, False),  # POST is not in urllib3's default allowed_methods
        (URLLIB3_ANY_METHOD, True),
        (GITHUB_RETRY, True),  # GithubRetry adds GET and POST (not PATCH) to them
    ],
    ids=["none", "int", "urllib3-default-methods", "urllib3-any-method", "GithubRetry"],
)
@pytest.mark.parametrize("status", [500, 502])
def test_which_retry_retries_a_failed_post(
    fake: FakeGitHub, retry: int | Retry | None, retried: bool, status: int
) -> None:
    fake.fail_next("POST", POSTS, status)
    with client(fake, retry) as gh:
        issue = gh.get_repo(REPO).get_issue(7)
        if retried:
            assert issue.create_comment("answer").body == "answer"
        else:
            with pytest.raises(GithubException) as failed:
                issue.create_comment("answer")
            assert failed.value.status == status
    posts = [r for r in fake.requests if r[0] == "POST"]
    assert len(posts) == (2 if retried else 1)
    assert [c["body"] for c in fake.comments(REPO, 7)] == (["answer"] if retried else [])


def test_patch_needs_allowed_methods(fake: FakeGitHub) -> None:
    posted = fake.add_comment(REPO, 7, "github-actions[bot]", "Thinking…")
    fake.fail_next("PATCH", r"/issues/comments/\d+$", 502)
    with client(fake, GithubRetry(total=3, backoff_factor=0.01)) as gh:
        with pytest.raises(GithubException):
            gh.get_repo(REPO).get_issue(7).get_comment(posted["id"]).edit("done")
    fake.fail_next("PATCH", r"/issues/comments/\d+$", 502)
    with client(fake, GithubRetry(total=3, backoff_factor=0.01, allowed_methods=None)) as gh:
        gh.get_repo(REPO).get_issue(7).get_comment(posted["id"]).edit("done")
    assert fake.comments(REPO, 7)[0]["body"] == "done"


def test_exhausted_retries_raise_requests_error_unless_raise_on_status_false(
    fake: FakeGitHub,
) -> None:
    fake.fail_next("POST", POSTS, 502, times=3)
    with client(fake, GithubRetry(total=2, backoff_factor=0.01)) as gh:
        with pytest.raises(requests.exceptions.RetryError):  # not a GithubException
            gh.get_repo(REPO).get_issue(7).create_comment("answer")
    fake.fail_next("POST", POSTS, 502, times=3)
    with client(fake, GithubRetry(total=2, backoff_factor=0.01, raise_on_status=False)) as gh:
        with pytest.raises(GithubException) as failed:
            gh.get_repo(REPO).get_issue(7).create_comment("answer")
    assert failed.value.status == 502
    assert fake.comments(REPO, 7) == []


def test_retrying_a_post_that_was_done_duplicates_it(fake: FakeGitHub) -> None:
    fake.fail_next("POST", POSTS, 502, commit=True)  # GitHub posted it; the answer was lost
    with client(fake, GithubRetry(total=3, backoff_factor=0.01)) as gh:
        gh.get_repo(REPO).get_issue(7).create_comment("answer")
    assert [c["body"] for c in fake.comments(REPO, 7)] == ["answer", "answer"]


def test_secondary_rate_limit_with_retry_after(fake: FakeGitHub) -> None:
    fake.fail_next("POST", POSTS, 403, headers={"retry-after": "1"})
    with client(fake, GithubRetry(total=3, backoff_factor=0.01)) as gh:
        start = time.monotonic()
        gh.get_repo(REPO).get_issue(7).create_comment("answer")
        assert 0.9 <= time.monotonic() - start < 3
    assert len(fake.comments(REPO, 7)) == 1
    fake.fail_next("POST", POSTS, 403, headers={"retry-after": "1"})
    with client(fake) as gh, pytest.raises(github.RateLimitExceededException):
        gh.get_repo(REPO).get_issue(7).create_comment("no retry")


def test_retry_after_is_capped_by_retry_after_max_not_max_rate_limit_wait(
    fake: FakeGitHub,
) -> None:
    fake.fail_next("POST", POSTS, 403, headers={"retry-after": "3600"})
    retry = GithubRetry(total=3, backoff_factor=0.01, max_rate_limit_wait=1, retry_after_max=1)
    with client(fake, retry) as gh:
        start = time.monotonic()
        gh.get_repo(REPO).get_issue(7).create_comment("answer")
        assert time.monotonic() - start < 3
    assert len(fake.comments(REPO, 7)) == 1


def test_secondary_rate_limit_without_retry_after(fake: FakeGitHub) -> None:
    fake.fail_next("POST", POSTS, 403)  # recognised by its message; waits secondary_rate_wait
    retry = GithubRetry(
        total=3, backoff_factor=0.01, secondary_rate_wait=0.1, max_rate_limit_wait=1
    )
    with client(fake, retry) as gh:
        gh.get_repo(REPO).get_issue(7).create_comment("answer")
    fake.fail_next("POST", POSTS, 403)  # default secondary_rate_wait is 60 s: over the bound
    with client(fake, GithubRetry(total=3, max_rate_limit_wait=5)) as gh:
        start = time.monotonic()
        with pytest.raises(github.RateLimitExceededExceedsMaxWait) as raised:
            gh.get_repo(REPO).get_issue(7).create_comment("too late")
        assert raised.value.wait == 60 and time.monotonic() - start < 2
    assert [c["body"] for c in fake.comments(REPO, 7)] == ["answer"]


def test_primary_rate_limit_beyond_the_bound_raises_at_once(fake: FakeGitHub) -> None:
    reset = str(int(time.time()) + 600)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    fake.fail_next("GET", rf"^/repos/{REPO}$", 403, headers=headers)
    with client(fake, GithubRetry(total=3, max_rate_limit_wait=5)) as gh:
        start = time.monotonic()
        with pytest.raises(github.RateLimitExceededExceedsMaxWait) as raised:
            gh.get_repo(REPO)
        assert (raised.value.wait or 0) > 500 and time.monotonic() - start < 2


def test_concurrent_clients(fake: FakeGitHub) -> None:
    errors: list[Exception] = []

    def post(n: int) -> None:
        try:
            with client(fake) as gh:
                issue = gh.get_repo(REPO).get_issue(7)
                for i in range(5):
                    issue.create_comment(f"{n}-{i}")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    comments = fake.comments(REPO, 7)
    assert sorted(c["body"] for c in comments) == sorted(
        f"{n}-{i}" for n in range(6) for i in range(5)
    )
    assert len({c["id"] for c in comments}) == 30


def test_close_is_prompt_with_idle_keep_alive_connections() -> None:
    fake = FakeGitHub(TOKEN).start()
    fake.add_repo(REPO)
    gh = client(fake)
    try:
        assert gh.get_repo(REPO).full_name == REPO
        start = time.monotonic()
        fake.close()
        assert time.monotonic() - start < 1.5
        fake.close()  # idempotent
    finally:
        gh.close()


def test_seeding_errors() -> None:
    fake = FakeGitHub(TOKEN)
    fake.add_repo(REPO)
    with pytest.raises(ValueError):
        fake.add_repo(REPO)
    with pytest.raises(ValueError):
        fake.add_repo("widgets")
    with pytest.raises(ValueError):
        fake.set_permission(REPO, "alice", "owner")
    with pytest.raises(KeyError):
        fake.add_issue("octo/nothing", 1)
    fake.add_issue(REPO, 1)
    with pytest.raises(ValueError):
        fake.add_issue(REPO, 1)
    with pytest.raises(KeyError):
        fake.add_comment(REPO, 2, "alice", "no such issue")
    with pytest.raises(ValueError):
        fake.fail_next("GET", ".", 500, times=0)
