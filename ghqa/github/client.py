"""The GitHub REST API, through PyGithub, with bounded retries and errors in plain words."""

from __future__ import annotations

from dataclasses import dataclass

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
            r = self.gh.get_repo(repo)
            role = str(r.get_collaborator_role_name(login) or "none").lower()
            return role if role in PERMISSIONS else str(r.get_collaborator_permission(login))
        except GithubException as exc:
            if exc.status == 404:
                return "none"
            raise explain(exc, f"checking {login}'s permission on {repo}") from None

    def react(self, repo: str, issue: int, comment_id: int, content: str = "eyes") -> None:
        try:
            self._issue(repo, issue).get_comment(comment_id).create_reaction(content)
        except GithubException as exc:
            raise explain(exc, f"reacting to comment {comment_id}") from None

    def post(self, repo: str, issue: int, body: str) -> PostedComment:
        try:
            c = self._issue(repo, issue).create_comment(body)
        except GithubException as exc:
            raise explain(exc, f"commenting on {repo}#{issue}") from None
        return PostedComment(c.id, c.html_url, c.body)

    def edit(self, repo: str, issue: int, comment_id: int, body: str) -> PostedComment:
        try:
            c = self._issue(repo, issue).get_comment(comment_id)
            c.edit(body)
        except GithubException as exc:
            raise explain(exc, f"editing comment {comment_id}") from None
        return PostedComment(c.id, c.html_url, body)

    def find(self, repo: str, issue: int, marker: str) -> PostedComment | None:
        """The first comment of the issue whose body holds ``marker``."""
        try:
            for c in self._issue(repo, issue).get_comments():
                if marker in (c.body or ""):
                    return PostedComment(c.id, c.html_url, c.body)
        except GithubException as exc:
            raise explain(exc, f"reading the comments of {repo}#{issue}") from None
        return None

    def _issue(self, repo: str, issue: int) -> Issue:
        return self.gh.get_repo(repo).get_issue(issue)


def explain(exc: GithubException, doing: str, needs: str = "issues: write") -> GitHubError:
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
    return GitHubError(f"{doing} failed ({exc.status} {message}): {hint}".replace("  ", " "))
