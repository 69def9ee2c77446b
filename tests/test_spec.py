"""Repository spec parsing: every accepted form, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghqa.errors import SpecError
from ghqa.fetch.spec import normalize_paths, parse_spec, split_host


def test_owner_name() -> None:
    spec = parse_spec("torvalds/linux", ["kernel/sched"])
    assert (spec.kind, spec.owner, spec.name, spec.ref) == ("github", "torvalds", "linux", None)
    assert spec.url == "https://github.com/torvalds/linux.git"
    assert spec.paths == ("kernel/sched",)
    assert spec.web_url == "https://github.com/torvalds/linux"
    assert spec.cache_key == "github.com/torvalds/linux"


def test_owner_name_with_ref_and_enterprise_host() -> None:
    spec = parse_spec("acme/widgets@v1.2", github_host="ghe.example.com")
    assert spec.url == "https://ghe.example.com/acme/widgets.git" and spec.ref == "v1.2"
    assert parse_spec("acme/widgets@v1.2", ref="main").ref == "main"  # the flag wins


def test_urls() -> None:
    spec = parse_spec("https://github.com/torvalds/linux.git")
    assert (spec.kind, spec.owner, spec.name) == ("github", "torvalds", "linux")
    other = parse_spec("https://gitlab.example.org/group/project")
    assert other.kind == "url" and other.url == "https://gitlab.example.org/group/project.git"
    assert other.web_url is None
    tree = parse_spec("https://github.com/torvalds/linux/tree/v6.12/kernel/sched")
    assert (tree.ref, tree.paths) == ("v6.12", ("kernel/sched",))


def test_local_path_and_file_url(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    by_path = parse_spec(str(tmp_path / "repo"))
    by_url = parse_spec((tmp_path / "repo").as_uri())
    assert by_path.kind == by_url.kind == "file"
    assert by_path.url == by_url.url and by_path.cache_key == by_url.cache_key
    assert by_path.display == str(tmp_path / "repo")


def test_paths_are_normalized() -> None:
    assert normalize_paths(["./kernel/sched/", "kernel/sched/fair.c", "kernel//sched"]) == (
        "kernel/sched",
    )
    assert normalize_paths(["a", "b/c", "."]) == ()
    assert normalize_paths(["b", "a"]) == ("a", "b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "No repository given"),
        ("   ", "No repository given"),
        ("--upload-pack=evil", "Invalid repository"),
        ("just-a-name", "Invalid repository"),
        ("a/b/c/d", "Invalid repository"),
        ("git@github.com:torvalds/linux.git", "SSH URLs are not supported"),
        ("https://user:pass@github.com/a/b", "Do not put credentials in the URL"),
        ("https://github.com/onlyowner", "expected https://github.com/OWNER/NAME"),
        ("owner/\nname", "Invalid repository"),
    ],
)
def test_bad_specs(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


@pytest.mark.parametrize(
    "path", ["../etc", "/etc/passwd", "a/../../b", ".git/config", "-rf", "a\nb"]
)
def test_bad_paths(path: str) -> None:
    with pytest.raises(SpecError, match="Invalid path"):
        parse_spec("torvalds/linux", [path])


@pytest.mark.parametrize("ref", ["-x", "a..b", "x.lock", "a b", "@{-1}", "ref;rm"])
def test_bad_refs(ref: str) -> None:
    with pytest.raises(SpecError, match="Invalid ref"):
        parse_spec("torvalds/linux", ref=ref)


def test_github_host_setting() -> None:
    assert split_host("github.com") == ("https", "github.com")
    assert split_host("http://127.0.0.1:8080/") == ("http", "127.0.0.1:8080")
    with pytest.raises(SpecError, match="Invalid GitHub host"):
        split_host("ftp://example.com")
