"""The fake GitHub's git model, contents API, pull requests and issue mining, exercised through
the real PyGithub client: what publishing a FAQ through one pull request and mining questions
from issues rely on, including the errors GitHub gives and PyGithub's quirks around them."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import github
import pytest
from github import Auth, Github, GithubException, InputGitAuthor

from fakegithub import EMPTY_TREE, MAX_INLINE, FakeGitHub

TOKEN = "ghs_testtoken"
REPO = "octo/widgets"
BRANCH = "ghqa/faq"
FAQ = "docs/FAQ.md"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKEN) as server:
        server.set_time(T0)
        server.add_repo(REPO)
        server.set_file(REPO, "README.md", "# widgets\n")
        server.add_issue(REPO, 7, "How is the scheduler tick handled?")
        yield server
        assert server.unexpected == []


@pytest.fixture
def gh(fake: FakeGitHub) -> Iterator[Github]:
    with client(fake) as gh:
        yield gh


def client(fake: FakeGitHub, **kwargs: Any) -> Github:
    """A PyGithub client on the fake, without retries or pauses between writes."""
    return Github(
        base_url=fake.base_url,
        auth=Auth.Token(TOKEN),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        **kwargs,
    )


def raw(fake: FakeGitHub, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request without PyGithub, to see the statuses PyGithub hides."""
    host, port = fake.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, path, data, {"Authorization": f"token {TOKEN}"})
        response = conn.getresponse()
        content = response.read()
        return response.status, json.loads(content) if content else None
    finally:
        conn.close()


def git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def refused(call: Any, status: int) -> dict[str, Any]:
    """The error body of a call that must fail with ``status``."""
    with pytest.raises(GithubException) as failed:
        call()
    assert failed.value.status == status, failed.value.data
    data: dict[str, Any] = failed.value.data
    return data


def query(target: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(target).query))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- the git model and its seeding helpers --------------------------------------------------


def test_a_new_repository_has_one_empty_commit() -> None:
    with FakeGitHub(TOKEN) as fake:
        fake.add_repo(REPO, default_branch="trunk")
        (initial,) = fake.branches(REPO).values()
        assert fake.branches(REPO) == {"trunk": initial}
        assert fake.commits(REPO) == [initial] and fake.files(REPO) == {}
        commit = fake.commit(REPO, initial)
        assert commit["tree"]["sha"] == EMPTY_TREE  # git's empty tree
        assert (commit["message"], commit["parents"]) == ("Initial commit", [])
        assert commit["author"]["name"] == "octo"
        with client(fake) as gh:
            repo = gh.get_repo(REPO)
            assert repo.default_branch == "trunk"
            assert repo.get_branch("trunk").commit.sha == initial
            assert repo.get_contents("") == []


def test_set_file_commits_on_a_branch(fake: FakeGitHub) -> None:
    seeded = fake.commits(REPO)
    assert len(seeded) == 2 and fake.branches(REPO) == {"main": seeded[0]}
    assert fake.commit(REPO, seeded[0])["parents"][0]["sha"] == seeded[1]

    first = fake.set_file(REPO, "docs/a.md", b"\x00bytes", branch=BRANCH, message="on a branch")
    assert fake.branches(REPO) == {"main": seeded[0], BRANCH: first}  # cut from main
    assert fake.commits(REPO, BRANCH) == [first, *seeded]
    assert fake.files(REPO, BRANCH) == {"README.md": b"# widgets\n", "docs/a.md": b"\x00bytes"}
    assert fake.files(REPO) == {"README.md": b"# widgets\n"}  # main is untouched
    assert fake.files(REPO, seeded[1]) == {}  # a commit sha works too
    assert fake.commit(REPO, first)["message"] == "on a branch"

    gone = fake.set_file(REPO, "docs/a.md", None, branch=BRANCH)
    assert fake.files(REPO, BRANCH) == {"README.md": b"# widgets\n"}
    assert fake.commits(REPO, BRANCH)[:2] == [gone, first]

    fake.set_branch(REPO, BRANCH, seeded[1])
    assert fake.branches(REPO)[BRANCH] == seeded[1]
    fake.set_branch(REPO, BRANCH, None)
    assert BRANCH not in fake.branches(REPO)


def test_shas_are_gits() -> None:
    with FakeGitHub(TOKEN) as fake:
        fake.set_time("2023-11-14T22:13:20Z")  # 1700000000
        fake.add_repo(REPO)
        sha = fake.set_file(REPO, "hello.txt", "hello\n", message="seed")
        commit = fake.commit(REPO, sha)
        # `git hash-object` of "hello\n", `git write-tree` of a tree holding just it, and
        # the id `git commit -m seed` gives with this author, committer and date.
        with client(fake) as gh:
            hello = gh.get_repo(REPO).get_contents("hello.txt")
            assert not isinstance(hello, list)
            assert hello.sha == "ce013625030ba8dba906f756967f9e9ca394464a"
        assert commit["tree"]["sha"] == "aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7"
        email = f"{commit['author']['email']}"
        assert email.endswith("+octo@users.noreply.github.com")
        text = (
            f"tree aaa96ced2d9a1c8e72c56b253a0e2fe78393feb7\n"
            f"parent {fake.commits(REPO)[1]}\n"
            f"author octo <{email}> 1700000000 +0000\n"
            f"committer octo <{email}> 1700000000 +0000\n\nseed\n"
        ).encode()
        assert sha == hashlib.sha1(b"commit %d\0" % len(text) + text).hexdigest()
        assert commit["author"]["date"] == "2023-11-14T22:13:20Z"


def test_seeding_errors(fake: FakeGitHub) -> None:
    with pytest.raises(ValueError):
        fake.set_file(REPO, "README.md/inside", "a file is no directory")
    fake.set_file(REPO, "docs/x", "x")
    with pytest.raises(ValueError):
        fake.set_file(REPO, "docs", "a directory is no file")
    with pytest.raises(KeyError):
        fake.set_file(REPO, "missing.md", None)
    with pytest.raises(ValueError):
        fake.set_branch(REPO, BRANCH, "0" * 40)
    with pytest.raises(KeyError):
        fake.set_branch(REPO, "nothing", None)
    with pytest.raises(ValueError):
        fake.set_branch(REPO, "main", None)
    with pytest.raises(KeyError):
        fake.files(REPO, "nothing")
    with pytest.raises(KeyError):
        fake.commits(REPO, "nothing")
    with pytest.raises(ValueError):
        fake.add_issue(REPO, 9, state="merged")
    with pytest.raises(ValueError):
        fake.close_issue(REPO, 7, reason="duplicate")
    with pytest.raises(ValueError):
        fake.merge_pull(REPO, 7)  # an issue
    with pytest.raises(ValueError):
        fake.set_time("yesterday")


# -- branches and refs ----------------------------------------------------------------------


def test_get_branch(fake: FakeGitHub, gh: Github) -> None:
    fake.set_file(REPO, FAQ, "# FAQ\n", branch=BRANCH, message="Add the FAQ")
    repo = gh.get_repo(REPO)
    branch = repo.get_branch(BRANCH)
    assert (branch.name, branch.protected) == (BRANCH, False)
    assert branch.commit.sha == fake.branches(REPO)[BRANCH]
    assert branch.commit.commit.message == "Add the FAQ"
    assert branch.commit.parents[0].sha == fake.branches(REPO)["main"]
    # PyGithub quotes the name but keeps its "/": /branches/ghqa/faq.
    assert ("GET", f"/repos/{REPO}/branches/{BRANCH}") in fake.requests
    missing = refused(lambda: repo.get_branch("ghqa/nothing"), 404)
    assert missing["message"] == "Branch not found"
    assert sorted(b.name for b in repo.get_branches()) == [BRANCH, "main"]


def test_git_refs(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    main, initial = fake.commits(REPO)
    # get_git_ref is eager with a non-lazy client: a missing ref raises at once.
    with pytest.raises(github.UnknownObjectException):
        repo.get_git_ref(f"heads/{BRANCH}")
    assert fake.requests[-1] == ("GET", f"/repos/{REPO}/git/ref/heads/{BRANCH}")

    created = repo.create_git_ref(ref=f"refs/heads/{BRANCH}", sha=initial)
    assert (created.ref, created.object.sha, created.object.type) == (
        f"refs/heads/{BRANCH}",
        initial,
        "commit",
    )
    assert fake.branches(REPO)[BRANCH] == initial
    again = refused(lambda: repo.create_git_ref(ref=f"refs/heads/{BRANCH}", sha=main), 422)
    assert again["message"] == "Reference already exists"
    unknown = refused(lambda: repo.create_git_ref(ref="refs/heads/other", sha="1" * 40), 422)
    assert unknown["message"] == "Object does not exist"
    short = refused(lambda: repo.create_git_ref(ref="refs/other", sha=main), 422)
    assert "three slash-separated components" in short["message"]
    bad = refused(lambda: repo.create_git_ref(ref="refs/heads/a..b", sha=main), 422)
    assert bad["message"] == "refs/heads/a..b is not a valid ref name."

    ref = repo.get_git_ref(f"heads/{BRANCH}")
    assert ref.object.sha == initial and ref.url.endswith(f"/git/refs/heads/{BRANCH}")
    ref.edit(main)  # a fast-forward
    assert fake.branches(REPO)[BRANCH] == main == ref.object.sha
    behind = refused(lambda: ref.edit(initial), 422)
    assert behind["message"] == "Update is not a fast forward"
    ref.edit(initial, force=True)
    assert fake.branches(REPO)[BRANCH] == initial
    ref.delete()
    assert BRANCH not in fake.branches(REPO)
    assert refused(ref.delete, 422)["message"] == "Reference does not exist"
    assert refused(lambda: ref.edit(main, force=True), 422)["message"] == (
        "Reference does not exist"
    )
    assert [r.ref for r in repo.get_git_refs()] == ["refs/heads/main"]
    assert [r.ref for r in repo.get_git_matching_refs("heads/ma")] == ["refs/heads/main"]


# -- the contents API -----------------------------------------------------------------------


def test_get_contents(fake: FakeGitHub, gh: Github) -> None:
    text = "# FAQ\n\n" + "Why? Because.\n" * 20
    first = fake.set_file(REPO, FAQ, text, branch=BRANCH)
    fake.set_file(REPO, FAQ, "changed\n", branch=BRANCH)
    repo = gh.get_repo(REPO)
    found = repo.get_contents(FAQ, ref=BRANCH)
    assert not isinstance(found, list)
    assert found.decoded_content == b"changed\n"
    assert (found.path, found.name, found.type, found.size) == (FAQ, "FAQ.md", "file", 8)
    assert found.sha == git_blob(b"changed\n") and found.encoding == "base64"
    old = repo.get_contents(FAQ, ref=first)  # a commit sha
    assert not isinstance(old, list) and old.decoded_content == text.encode()
    assert old.content.count("\n") > 1  # base64 in lines of 60, as GitHub sends it
    assert {len(line) for line in old.content.splitlines()[:-1]} == {60}

    missing = refused(lambda: repo.get_contents(FAQ), 404)  # not on the default branch
    assert missing["message"] == "Not Found"
    no_ref = refused(lambda: repo.get_contents(FAQ, ref="nothing"), 404)
    assert no_ref["message"] == "No commit found for the ref nothing"

    listing = repo.get_contents("docs", ref=BRANCH)
    assert isinstance(listing, list) and [(c.path, c.type) for c in listing] == [(FAQ, "file")]
    root = repo.get_contents("/", ref=f"refs/heads/{BRANCH}")
    assert isinstance(root, list)
    assert [(c.path, c.type) for c in root] == [("README.md", "file"), ("docs", "dir")]
    assert [c.decoded_content for c in root if c.type == "file"] == [b"# widgets\n"]  # lazily

    fake.set_file(REPO, "big.bin", b"x" * (MAX_INLINE + 1))
    big = repo.get_contents("big.bin")
    assert not isinstance(big, list)
    assert (big.encoding, big.content, big.size) == ("none", "", MAX_INLINE + 1)


def test_create_update_and_delete_a_file(fake: FakeGitHub, gh: Github) -> None:
    main = fake.branches(REPO)["main"]
    fake.set_branch(REPO, BRANCH, main)
    repo = gh.get_repo(REPO)

    created = repo.create_file(FAQ, "Add the FAQ", "# FAQ\n", branch=BRANCH)
    content, commit = created["content"], created["commit"]
    assert isinstance(content, github.ContentFile.ContentFile)
    assert (content.path, content.sha) == (FAQ, git_blob(b"# FAQ\n"))
    assert commit.sha == fake.branches(REPO)[BRANCH]
    assert commit.commit is None  # PyGithub wraps a git commit: only sha, url and such
    assert commit.raw_data["message"] == "Add the FAQ"
    assert [p.sha for p in commit.parents] == [main]
    assert fake.files(REPO, BRANCH)[FAQ] == b"# FAQ\n"
    assert fake.branches(REPO)["main"] == main

    exists = refused(lambda: repo.create_file(FAQ, "again", "x", branch=BRANCH), 422)
    assert exists["message"] == 'Invalid request.\n\n"sha" wasn\'t supplied.'
    stale = refused(lambda: repo.update_file(FAQ, "m", "x", sha="f" * 40, branch=BRANCH), 409)
    assert stale["message"] == f"{FAQ} does not match {'f' * 40}"
    nowhere = refused(lambda: repo.create_file("x.md", "m", "x", branch="nothing"), 404)
    assert nowhere["message"] == "Branch nothing not found"

    updated = repo.update_file(FAQ, "Update the FAQ", b"# FAQ\nQ?\n", content.sha, branch=BRANCH)
    assert fake.commits(REPO, BRANCH)[:2] == [updated["commit"].sha, commit.sha]
    assert fake.files(REPO, BRANCH)[FAQ] == b"# FAQ\nQ?\n"
    # Writing the same bytes again still makes a commit, as on GitHub.
    same = repo.update_file(FAQ, "no change", b"# FAQ\nQ?\n", git_blob(b"# FAQ\nQ?\n"), BRANCH)
    assert fake.commits(REPO, BRANCH)[0] == same["commit"].sha != updated["commit"].sha
    assert (
        fake.commit(REPO, same["commit"].sha)["tree"]
        == fake.commit(REPO, updated["commit"].sha)["tree"]
    )

    author = InputGitAuthor("Q Bot", "q@example.com")
    repo.create_file("docs/other.md", "other", "o", branch=BRANCH, author=author)
    assert fake.commit(REPO, fake.branches(REPO)[BRANCH])["author"]["email"] == "q@example.com"

    deleted = repo.delete_file(FAQ, "Remove the FAQ", git_blob(b"# FAQ\nQ?\n"), branch=BRANCH)
    assert deleted["commit"].sha == fake.branches(REPO)[BRANCH]
    assert FAQ not in fake.files(REPO, BRANCH)
    assert refused(lambda: repo.delete_file(FAQ, "again", "0" * 40, BRANCH), 404)
    # The default branch is the default.
    repo.create_file(FAQ, "On main", "main\n")
    assert fake.files(REPO)[FAQ] == b"main\n"


def test_contents_statuses_and_validation(fake: FakeGitHub) -> None:
    path = f"/repos/{REPO}/contents/{FAQ}"
    status, body = raw(fake, "PUT", path, {"message": "add", "content": b64("a")})
    assert status == 201 and body["content"]["sha"] == git_blob(b"a")
    assert "content" not in body["content"]  # the answer does not echo the content
    assert body["commit"]["message"] == "add" and len(body["commit"]["parents"]) == 1
    sha = body["content"]["sha"]
    status, body = raw(fake, "PUT", path, {"message": "edit", "content": b64("b"), "sha": sha})
    assert status == 200 and body["content"]["sha"] == git_blob(b"b")
    assert raw(fake, "PUT", path, {"content": b64("c"), "sha": sha})[1]["message"] == (
        'Invalid request.\n\n"message" wasn\'t supplied.'
    )
    status, body = raw(fake, "PUT", path, {"message": "m", "content": "not base64!"})
    assert (status, body["message"]) == (422, "content is not valid Base64")
    # A sha for a file that does not exist is ignored: the file is created.
    create = {"message": "m", "content": b64("n"), "sha": "0" * 40}
    assert raw(fake, "PUT", f"/repos/{REPO}/contents/new.md", create)[0] == 201
    status, body = raw(fake, "DELETE", path, {"message": "rm", "sha": git_blob(b"b")})
    assert status == 200 and body["content"] is None
    assert FAQ not in fake.files(REPO)


def test_a_retried_write_that_went_through_conflicts(fake: FakeGitHub, gh: Github) -> None:
    """When GitHub did the PUT but the answer was lost, the retry's sha is stale: 409."""
    fake.set_file(REPO, FAQ, "old\n")
    repo = gh.get_repo(REPO)
    sha = git_blob(b"old\n")
    fake.fail_next("PUT", r"/contents/", 502, commit=True)
    refused(lambda: repo.update_file(FAQ, "update", "new\n", sha), 502)
    assert fake.files(REPO)[FAQ] == b"new\n"
    refused(lambda: repo.update_file(FAQ, "update", "new\n", sha), 409)
    assert len(fake.commits(REPO)) == 4


def test_concurrent_updates_of_one_file_let_one_win(fake: FakeGitHub) -> None:
    fake.set_file(REPO, FAQ, "old\n")
    sha = git_blob(b"old\n")
    statuses: list[int] = []

    def update(n: int) -> None:
        with client(fake) as gh:
            try:
                gh.get_repo(REPO).update_file(FAQ, f"update {n}", f"{n}\n", sha)
                statuses.append(200)
            except GithubException as exc:
                statuses.append(exc.status)

    threads = [threading.Thread(target=update, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 5
    assert len(fake.commits(REPO)) == 4


# -- pull requests --------------------------------------------------------------------------


def publish(fake: FakeGitHub, text: str = "# FAQ\n") -> str:
    return fake.set_file(REPO, FAQ, text, branch=BRANCH, message="Update the FAQ")


def test_create_and_read_a_pull_request(fake: FakeGitHub, gh: Github) -> None:
    head = publish(fake)
    main = fake.branches(REPO)["main"]
    repo = gh.get_repo(REPO)
    fake.set_time(T0 + timedelta(minutes=5))
    pull = repo.create_pull(title="Update the FAQ", body="From 3 issues", head=BRANCH, base="main")
    assert pull.number == 8  # after issue 7: one sequence
    assert (pull.state, pull.title, pull.body, pull.merged, pull.draft) == (
        "open",
        "Update the FAQ",
        "From 3 issues",
        False,
        False,
    )
    assert pull.html_url == f"https://github.com/{REPO}/pull/8"
    assert (pull.head.ref, pull.head.sha, pull.head.label) == (BRANCH, head, f"octo:{BRANCH}")
    assert (pull.base.ref, pull.base.sha, pull.base.repo.full_name) == ("main", main, REPO)
    assert pull.user.login == "github-actions[bot]"
    assert pull.created_at == T0 + timedelta(minutes=5)
    assert (pull.commits, pull.changed_files, pull.additions, pull.deletions) == (1, 1, 1, 0)
    assert pull.mergeable is True

    issue = repo.get_issue(8)  # a pull request is an issue too
    assert issue.pull_request is not None and issue.pull_request.html_url == pull.html_url
    assert repo.get_pull(8).head.sha == head
    assert fake.pulls(REPO)[0]["number"] == 8
    pull.create_issue_comment("Thanks!")
    assert [c["body"] for c in fake.comments(REPO, 8)] == ["Thanks!"]


def test_pull_request_errors(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    fake.set_branch(REPO, BRANCH, fake.branches(REPO)["main"])
    empty = refused(lambda: repo.create_pull(title="t", head=BRANCH, base="main"), 422)
    assert empty["errors"] == [
        {
            "resource": "PullRequest",
            "code": "custom",
            "message": f"No commits between main and {BRANCH}",
        }
    ]
    publish(fake)
    missing = refused(lambda: repo.create_pull(title="t", head="nothing", base="main"), 422)
    assert missing["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
    no_base = refused(lambda: repo.create_pull(title="t", head=BRANCH, base="nothing"), 422)
    assert no_base["errors"][0]["field"] == "base"
    fork = refused(lambda: repo.create_pull(title="t", head=f"other:{BRANCH}", base="main"), 422)
    assert fork["errors"][0]["field"] == "head"
    untitled = refused(lambda: repo.create_pull(head=BRANCH, base="main"), 422)
    assert untitled["errors"][0]["field"] == "title"

    repo.create_pull(title="first", head=f"octo:{BRANCH}", base="main")
    twice = refused(lambda: repo.create_pull(title="again", head=BRANCH, base="main"), 422)
    assert twice["message"] == "Validation Failed"
    assert twice["errors"][0]["message"] == f"A pull request already exists for octo:{BRANCH}."
    assert len(fake.pulls(REPO)) == 1


def test_list_pull_requests(fake: FakeGitHub, gh: Github) -> None:
    publish(fake)
    fake.set_file(REPO, "other.md", "o", branch="other")
    fake.set_file(REPO, "x.md", "x", branch="dev")
    repo = gh.get_repo(REPO)
    faq = repo.create_pull(title="faq", head=BRANCH, base="main")
    other = repo.create_pull(title="other", head="other", base="main")
    into_dev = repo.create_pull(title="faq into dev", head=BRANCH, base="dev")

    def numbers(**kwargs: str) -> list[int]:
        return [p.number for p in repo.get_pulls(**kwargs)]

    assert numbers() == [into_dev.number, other.number, faq.number]  # newest first
    assert numbers(head=f"octo:{BRANCH}", base="main") == [faq.number]
    assert numbers(head=f"OCTO:{BRANCH}") == [into_dev.number, faq.number]
    assert numbers(head=f"someone:{BRANCH}") == []
    assert numbers(head=BRANCH, base="main") == [other.number, faq.number]  # head ignored!
    assert numbers(base="dev", state="open") == [into_dev.number]
    assert numbers(state="closed") == []
    listed = repo.get_pulls(head=f"octo:{BRANCH}", base="main")[0]
    assert listed.title == "faq" and listed.merged is False  # completes lazily
    assert ("GET", f"/repos/{REPO}/pulls/{faq.number}") in fake.requests
    assert numbers(sort="created", direction="asc") == [faq.number, other.number, into_dev.number]
    with client(fake, per_page=2) as paged:
        pages = paged.get_repo(REPO).get_pulls()
        assert [p.number for p in pages] == [into_dev.number, other.number, faq.number]
    assert query(fake.requests[-1][1]) == {"per_page": "2", "page": "2"}


def test_edit_close_and_reopen_a_pull_request(fake: FakeGitHub, gh: Github) -> None:
    publish(fake)
    repo = gh.get_repo(REPO)
    pull = repo.create_pull(title="faq", body="old", head=BRANCH, base="main")
    fake.set_time(T0 + timedelta(hours=1))
    pull.edit(title="FAQ: 4 questions", body="new")
    assert (pull.title, pull.body) == ("FAQ: 4 questions", "new")
    again = repo.get_pull(pull.number)
    assert (again.title, again.body, again.updated_at) == (
        pull.title,
        "new",
        T0 + timedelta(hours=1),
    )
    assert repo.get_issue(pull.number).title == "FAQ: 4 questions"
    refused(lambda: pull.edit(state="merged"), 422)

    pull.edit(state="closed")
    assert pull.state == "closed" and pull.merged is False and pull.closed_at is not None
    assert repo.get_pulls(state="open").totalCount == 0
    assert [p.number for p in repo.get_pulls(state="closed")] == [pull.number]
    pull.edit(state="open")
    assert pull.state == "open" and pull.closed_at is None
    pull.edit(state="closed")
    newer = repo.create_pull(title="new one", head=BRANCH, base="main")  # none open any more
    reopen = refused(lambda: pull.edit(state="open"), 422)
    assert reopen["errors"][0]["message"] == f"A pull request already exists for octo:{BRANCH}."
    assert [p.number for p in repo.get_pulls()] == [newer.number]


def test_pull_requests_follow_their_branches(fake: FakeGitHub, gh: Github) -> None:
    publish(fake, "# FAQ\n")
    repo = gh.get_repo(REPO)
    pull = repo.create_pull(title="faq", head=BRANCH, base="main")
    pushed = publish(fake, "# FAQ\n\nQ: why?\n")
    again = repo.get_pull(pull.number)
    assert (again.head.sha, again.commits, again.additions) == (pushed, 2, 3)

    fake.set_branch(REPO, BRANCH, None)  # deleting the head branch closes the pull request
    closed = repo.get_pull(pull.number)
    assert closed.state == "closed" and closed.merged is False and closed.head.sha == pushed
    assert refused(lambda: closed.edit(state="open"), 422)["errors"][0]["field"] == "state"


def test_merge_pull(fake: FakeGitHub, gh: Github) -> None:
    head = publish(fake)
    repo = gh.get_repo(REPO)
    pull = repo.create_pull(title="faq", head=BRANCH, base="main")
    fake.set_file(REPO, "NEWS.md", "news\n")  # main moves on meanwhile
    main = fake.branches(REPO)["main"]
    merge = fake.merge_pull(REPO, pull.number)

    assert fake.branches(REPO)["main"] == merge and fake.branches(REPO)[BRANCH] == head
    commit = fake.commit(REPO, merge)
    assert [p["sha"] for p in commit["parents"]] == [main, head]
    assert commit["message"].startswith(f"Merge pull request #{pull.number} from octo/{BRANCH}")
    assert fake.files(REPO) == {"README.md": b"# widgets\n", "NEWS.md": b"news\n", FAQ: b"# FAQ\n"}
    merged = repo.get_pull(pull.number)
    assert (merged.state, merged.merged, merged.merge_commit_sha) == ("closed", True, merge)
    assert merged.merged_by.login == "octo" and merged.commits == 1
    as_issue = repo.get_issue(pull.number).pull_request
    assert as_issue is not None and as_issue.merged_at == merged.merged_at
    refused(lambda: merged.edit(state="open"), 422)
    with pytest.raises(ValueError):
        fake.merge_pull(REPO, pull.number)  # merged already

    # The same branch again, now conflicting with main.
    publish(fake, "# FAQ, on the branch\n")
    fake.set_file(REPO, FAQ, "# FAQ, on main\n")
    conflicting = repo.create_pull(title="faq 2", head=BRANCH, base="main")
    assert conflicting.mergeable is False and conflicting.mergeable_state == "dirty"
    with pytest.raises(ValueError):
        fake.merge_pull(REPO, conflicting.number)


# -- mining issues --------------------------------------------------------------------------


def test_list_issues_by_state_labels_and_since(fake: FakeGitHub, gh: Github) -> None:
    fake.add_issue(REPO, 8, "Why is it slow?", labels=["question"])
    fake.set_time(T0 + timedelta(days=1))
    fake.add_issue(REPO, 9, "Crash on boot", labels=["bug"])
    fake.add_issue(REPO, 10, "Why two locks?", labels=["Question", "Locking"], state="closed")
    fake.add_issue(REPO, 11, "Docs: why?", True, labels=["question"])  # a pull request
    repo = gh.get_repo(REPO)

    def numbers(**kwargs: Any) -> list[int]:
        return [issue.number for issue in repo.get_issues(**kwargs)]

    assert numbers() == [11, 9, 8, 7]  # open, newest first, pull requests included
    assert numbers(state="all", labels=["question"]) == [11, 10, 8]
    assert numbers(state="all", labels=["QUESTION"]) == [11, 10, 8]  # names: any case
    assert numbers(state="all", labels=["question", "locking"]) == [10]  # all of them
    assert numbers(state="closed") == [10]
    assert numbers(state="all", since=T0 + timedelta(hours=1)) == [11, 10, 9]
    assert numbers(state="all", since=T0 + timedelta(days=1)) == [11, 10, 9]  # inclusive
    assert numbers(state="all", sort="created", direction="asc")[:2] == [7, 8]
    assert numbers(state="all", creator="nobody") == []

    closed = repo.get_issue(10)
    assert (closed.state, closed.state_reason) == ("closed", "completed")
    assert closed.closed_at == T0 + timedelta(days=1)
    assert closed.closed_by is not None and closed.closed_by.login == "octo"
    assert [label.name for label in closed.labels] == ["question", "Locking"]  # as first seen
    listed = next(i for i in repo.get_issues(state="all") if i.number == 11)
    assert listed.pull_request is not None and listed.labels[0].name == "question"

    fake.set_time(T0 + timedelta(days=2))
    fake.close_issue(REPO, 8, "not_planned")
    assert numbers(state="all", since=T0 + timedelta(days=2)) == [8]
    assert fake.issue(REPO, 8)["state_reason"] == "not_planned"
    fake.close_issue(REPO, 11)
    assert fake.issue(REPO, 11)["state_reason"] is None  # pull requests have none
    assert gh.get_repo(REPO).open_issues_count == 2


def test_since_pitfall_of_pyGithub(fake: FakeGitHub, gh: Github) -> None:
    """PyGithub formats ``since`` with strftime and a literal Z: an aware datetime in another
    zone is sent as if it were UTC. Convert to UTC first."""
    two_hours_east = timezone(timedelta(hours=2))
    since = datetime(2024, 5, 1, 14, 0, tzinfo=two_hours_east)  # 12:00 UTC, T0
    repo = gh.get_repo(REPO)
    assert [i.number for i in repo.get_issues(since=since)] == []  # 14:00Z: too late
    assert query(fake.requests[-1][1]) == {"since": "2024-05-01T14:00:00Z"}
    assert [i.number for i in repo.get_issues(since=since.astimezone(timezone.utc))] == [7]


def test_issue_listing_pagination(fake: FakeGitHub) -> None:
    for number in range(8, 48):
        fake.add_issue(REPO, number, f"q{number}", labels=["question"])
    with client(fake, per_page=25) as gh:
        issues = gh.get_repo(REPO).get_issues(state="all", labels=["question"])
        assert [i.number for i in issues] == list(range(47, 7, -1))
    pages = [query(target) for method, target in fake.requests if "/issues?" in target]
    first = {"state": "all", "labels": "question", "per_page": "25"}
    assert pages == [first, {**first, "page": "2"}]
    status, body = raw(fake, "GET", f"/repos/{REPO}/issues?since=soon")
    assert status == 422 and body["message"] == "Validation Failed"


def test_repository_issue_comments(fake: FakeGitHub, gh: Github) -> None:
    fake.add_issue(REPO, 8, "Why?", labels=["question"])
    first = fake.add_comment(REPO, 7, "alice", "Because of the tick.")
    fake.set_time(T0 + timedelta(hours=1))
    second = fake.add_comment(REPO, 8, "bob", "No idea.")
    fake.add_repo("octo/other")
    fake.add_issue("octo/other", 1)
    fake.add_comment("octo/other", 1, "alice", "elsewhere")
    repo = gh.get_repo(REPO)

    comments = list(repo.get_issues_comments())
    assert [c.id for c in comments] == [first["id"], second["id"]]
    assert comments[0].issue_url.endswith(f"/repos/{REPO}/issues/7")
    assert comments[1].user.login == "bob"
    assert [c.id for c in repo.get_issues_comments(since=T0 + timedelta(minutes=1))] == [
        second["id"]
    ]
    desc = repo.get_issues_comments(sort="created", direction="desc")
    assert [c.id for c in desc] == [second["id"], first["id"]]

    fake.set_time(T0 + timedelta(hours=2))  # an edit makes an old comment new again
    comment = repo.get_issue(7).get_comment(first["id"])
    comment.edit("Because of the tick, see kernel/sched/core.c.")
    since = T0 + timedelta(hours=1, minutes=30)
    assert [c.body for c in repo.get_issues_comments(since=since, sort="created")] == [
        "Because of the tick, see kernel/sched/core.c."
    ]
    assert [c.id for c in repo.get_issue(7).get_comments(since=since)] == [first["id"]]
