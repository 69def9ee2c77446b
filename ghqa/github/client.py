"""The GitHub REST API, through PyGithub, with bounded retries and errors in plain words."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.Issue import Issue

from ..errors import GitHubError

#: Permission levels, weakest first, as the collaborator-permission API names them.
PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")


def permission_rank(permission: str) -> int:
    """Where ``permission`` stands among :data:`PERMISSIONS` (unknown counts as none)."""
    try:
        return PERMISSIONS.index(permission.lower())
    except ValueError:
        return 0


class GitHubApiError(GitHubError):
    """GitHub answered a request with an error; ``status`` is its HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PostedComment:
    id: int
    url: str
    body: str


class GitHubClient:
    """The few calls the Action makes. 5xx and secondary rate limits are retried, but no call
    waits longer than ``max_wait`` seconds in all."""

    def __init__(self, token: str, api_url: str, max_wait: float = 60.0):
        retry = GithubRetry(
            secondary_rate_wait=min(30.0, max_wait),
            max_rate_limit_wait=max_wait,
            total=5,
            backoff_factor=0.5,
            backoff_max=min(20.0, max_wait),
            status_forcelist=[500, 502, 503, 504],  # GithubRetry adds 403 (secondary limits)
            allowed_methods=None,  # POST and PATCH too: a lost write is worse than a retried one
            retry_after_max=int(max_wait),  # Retry-After is obeyed, up to the bound
            raise_on_status=False,  # out of retries: a GithubException, not a RetryError
        )
        self.api_url = api_url.rstrip("/")
        self.gh = Github(
            base_url=self.api_url,
            auth=Auth.Token(token) if token else None,  # public repositories need none
            retry=retry,
            timeout=30,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )

    def close(self) -> None:
        self.gh.close()

    def permission(self, repo: str, login: str) -> str:
        """The role ``login`` has on ``repo`` (``none`` for strangers): the role name, which
        tells maintain and triage apart, or the coarse permission for a custom role."""
        try:
            with self._calling(f"checking {login}'s permission on {repo}"):
                r = self.gh.get_repo(repo)
                role = str(r.get_collaborator_role_name(login) or "none").lower()
                return role if role in PERMISSIONS else str(r.get_collaborator_permission(login))
        except GitHubApiError as exc:
            if exc.status == 404:
                return "none"
            raise

    def react(self, repo: str, issue: int, comment_id: int, content: str = "eyes") -> None:
        with self._calling(f"reacting to comment {comment_id}"):
            self._issue(repo, issue).get_comment(comment_id).create_reaction(content)

    def post(self, repo: str, issue: int, body: str) -> PostedComment:
        with self._calling(f"commenting on {repo}#{issue}"):
            c = self._issue(repo, issue).create_comment(body)
        return PostedComment(c.id, c.html_url, c.body)

    def edit(self, repo: str, issue: int, comment_id: int, body: str) -> PostedComment:
        with self._calling(f"editing comment {comment_id}"):
            c = self._issue(repo, issue).get_comment(comment_id)
            c.edit(body)
        return PostedComment(c.id, c.html_url, body)

    def delete(self, repo: str, issue: int, comment_id: int) -> None:
        with self._calling(f"deleting comment {comment_id}"):
            self._issue(repo, issue).get_comment(comment_id).delete()

    def find(self, repo: str, issue: int, marker: str) -> PostedComment | None:
        """The first comment of the issue whose body holds ``marker``."""
        found = self.find_all(repo, issue, marker, first=True)
        return found[0] if found else None

    def find_all(
        self, repo: str, issue: int, marker: str, first: bool = False
    ) -> list[PostedComment]:
        """The comments of the issue whose body holds ``marker``, oldest first."""
        found: list[PostedComment] = []
        with self._calling(f"reading the comments of {repo}#{issue}"):
            for c in self._issue(repo, issue).get_comments():
                if marker in (c.body or ""):
                    found.append(PostedComment(c.id, c.html_url, c.body))
                    if first:
                        break
        return found

    @contextlib.contextmanager
    def _calling(self, doing: str) -> Iterator[None]:
        """Turn PyGithub's and the transport's failures into one :class:`GitHubApiError`."""
        try:
            yield
        except GithubException as exc:
            raise explain(exc, doing) from None
        except requests.RequestException as exc:
            raise GitHubApiError(
                f"{doing} failed: cannot reach {self.api_url} ({type(exc).__name__}); "
                "try again later"
            ) from None

    def _issue(self, repo: str, issue: int) -> Issue:
        return self.gh.get_repo(repo).get_issue(issue)


def explain(exc: GithubException, doing: str, needs: str = "issues: write") -> GitHubApiError:
    """One line saying what failed and what to check; ``needs`` names the workflow permissions."""
    message = ""
    if isinstance(exc.data, dict):
        message = str(exc.data.get("message") or "")
    hint = {
        401: "the token was refused: check the github-token input",
        403: f"forbidden or rate-limited: check the workflow's permissions ({needs})",
        404: "not found (or the token cannot see it)",
        422: "GitHub rejected the content",
    }.get(exc.status, "GitHub had a problem; try again later")
    return GitHubApiError(
        f"{doing} failed ({exc.status} {message}): {hint}".replace("  ", " "), exc.status
    )
