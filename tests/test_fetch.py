"""The fetcher: real partial + sparse clones over file:// and smart HTTP."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ghqa.errors import FetchError, SpecError
from ghqa.fetch import fetch, parse_spec, repo_dir
from ghqa.settings import Settings

from gitserver import GitHTTPServer
from helpers import Recorder, commit_all, git


def blobs(repo: Path, rev: str = "HEAD") -> dict[str, str]:
    """path -> blob sha of every file at ``rev`` in a (full) repository."""
    out = git(repo, "ls-tree", "-r", "-z", rev)
    result = {}
    for record in out.split("\0"):
        if record:
            meta, _, path = record.partition("\t")
            result[path] = meta.split()[2]
    return result


def present_and_missing(clone: Path) -> tuple[set[str], set[str]]:
    """Objects the clone has and the ones it only knows of (without downloading any)."""
    out = git(clone, "rev-list", "--objects", "--all", "--missing=print")
    present, missing = set(), set()
    for line in out.splitlines():
        if line.startswith("?"):
            missing.add(line[1:].strip())
        else:
            present.add(line.split()[0])
    return present, missing


def fetch_local(repo: Path, settings: Settings, *paths: str, ref: str | None = None, **kw):  # type: ignore[no-untyped-def]
    return fetch(parse_spec(str(repo), paths, ref), settings, **kw)


def test_sparse_fetch_downloads_only_requested_blobs(sched_repo: Path, settings: Settings) -> None:
    co = fetch_local(sched_repo, settings, "kernel/sched")
    assert co.commit == git(sched_repo, "rev-parse", "HEAD").strip()
    assert co.paths == ("kernel/sched",)
    source = blobs(sched_repo)
    inside = {sha for path, sha in source.items() if path.startswith("kernel/sched/")}
    outside = {sha for path, sha in source.items() if not path.startswith("kernel/sched/")}
    present, missing = present_and_missing(co.root)
    assert inside <= present
    assert outside <= missing, "a blob outside kernel/sched was downloaded"
    assert not outside & present
    # The working tree holds exactly the requested directory (nothing from kernel/ itself).
    files = {p.relative_to(co.root).as_posix() for p in co.root.rglob("*") if ".git" not in p.parts}
    files = {f for f in files if (co.root / f).is_file()}
    assert files == {p for p in source if p.startswith("kernel/sched/")}
    assert (co.root / "kernel/sched/fair.c").read_bytes() == (
        sched_repo / "kernel/sched/fair.c"
    ).read_bytes()
    # Shallow: only the one commit is there.
    assert git(co.root, "rev-list", "--count", "HEAD").strip() == "1"


def test_second_fetch_reuses_clone_and_fetches_only_changes(
    sched_repo: Path, settings: Settings
) -> None:
    first = fetch_local(sched_repo, settings, "kernel/sched")
    marker = first.root / ".git" / "marker"
    marker.write_text("same clone")
    fair = sched_repo / "kernel/sched/fair.c"
    fair.write_text(fair.read_text().replace("#define WMULT_SHIFT\t32", "#define WMULT_SHIFT\t32 "))
    (sched_repo / "drivers/net/dummy.c").write_text("int changed;\n")
    new = commit_all(sched_repo, "touch fair.c and a driver")

    log = Recorder()
    second = fetch_local(sched_repo, settings, "kernel/sched", reporter=log)
    assert second.root == first.root and marker.exists(), "the clone was not reused"
    assert second.commit == new
    present, missing = present_and_missing(second.root)
    now = blobs(sched_repo)
    assert now["kernel/sched/fair.c"] in present
    assert now["drivers/net/dummy.c"] in missing
    assert (second.root / "kernel/sched/fair.c").read_text() == fair.read_text()
    assert not any("creating" in m for _, m, _ in log.events)


def test_new_paths_widen_the_sparse_set(sched_repo: Path, settings: Settings) -> None:
    fetch_local(sched_repo, settings, "kernel/sched")
    co = fetch_local(sched_repo, settings, "drivers/net/dummy.c")
    assert co.paths == ("drivers/net/dummy.c",)
    assert (co.root / "drivers/net/dummy.c").is_file()
    assert (co.root / "kernel/sched/fair.c").is_file(), "earlier paths must stay checked out"
    assert not (co.root / "drivers/net/dummy.h").exists()
    present, missing = present_and_missing(co.root)
    source = blobs(sched_repo)
    assert source["drivers/net/dummy.h"] in missing
    assert source["README"] in missing


def test_refs_tags_and_shas_pin_the_commit(sched_repo: Path, settings: Settings) -> None:
    old = git(sched_repo, "rev-parse", "HEAD").strip()
    (sched_repo / "kernel/sched/new.c").write_text("int added;\n")
    new = commit_all(sched_repo, "add new.c")
    assert fetch_local(sched_repo, settings, "kernel/sched").commit == new
    tagged = fetch_local(sched_repo, settings, "kernel/sched", ref="v6.12")
    assert tagged.commit == old
    assert not (tagged.root / "kernel/sched/new.c").exists()
    by_sha = fetch_local(sched_repo, settings, "kernel/sched", ref=new)
    assert by_sha.commit == new and (by_sha.root / "kernel/sched/new.c").exists()
    assert fetch_local(sched_repo, settings, "kernel/sched", ref="master").commit == new


def test_known_sha_needs_no_network(sched_repo: Path, settings: Settings) -> None:
    sha = fetch_local(sched_repo, settings, "kernel/sched").commit
    moved = sched_repo.with_name("moved")
    sched_repo.rename(moved)  # the source is gone: only the cache can answer
    try:
        assert fetch_local(sched_repo, settings, "kernel/sched", ref=sha).commit == sha
    finally:
        moved.rename(sched_repo)


def test_unknown_ref_and_path_give_clear_errors(sched_repo: Path, settings: Settings) -> None:
    with pytest.raises(FetchError, match="Unknown ref 'nope'.*check the branch"):
        fetch_local(sched_repo, settings, "kernel/sched", ref="nope")
    with pytest.raises(FetchError, match="Path 'kernel/schedule' does not exist.*spelling"):
        fetch_local(sched_repo, settings, "kernel/schedule")


def test_not_a_repository(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(FetchError, match="No such directory"):
        fetch_local(tmp_path / "absent", settings)
    (tmp_path / "plain").mkdir()
    with pytest.raises(FetchError, match="Not a git repository"):
        fetch_local(tmp_path / "plain", settings)


def test_unreachable_host_is_one_clear_error(settings: Settings, tmp_path: Path) -> None:
    # Nothing listens on port 9 of 127.0.0.1: a refused connection, like no network.
    local = Settings.resolve(cache_dir=tmp_path / "c", github_host="http://127.0.0.1:9")
    with pytest.raises(FetchError, match="Cannot reach 127.0.0.1:9: check your network"):
        fetch(parse_spec("owner/name", (), None, "http://127.0.0.1:9"), local)
    assert not repo_dir(parse_spec("owner/name", (), None, "http://127.0.0.1:9"), local).exists()


def test_missing_git_binary(
    monkeypatch: pytest.MonkeyPatch, sched_repo: Path, settings: Settings
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FetchError, match="git is not installed"):
        fetch_local(sched_repo, settings, "kernel/sched")


def test_interrupted_checkout_is_repaired(sched_repo: Path, settings: Settings) -> None:
    co = fetch_local(sched_repo, settings, "kernel/sched")
    state = co.root / ".git" / "ghqa-state.json"
    # Simulate a run killed half way through a checkout: dirty state, a stale lock, a
    # truncated file.
    state.write_text(state.read_text().replace('"dirty": false', '"dirty": true'))
    (co.root / ".git" / "index.lock").write_text("")
    (co.root / "kernel/sched/fair.c").write_bytes(b"trunc")
    log = Recorder()
    again = fetch_local(sched_repo, settings, "kernel/sched", reporter=log)
    assert any("repairing" in m for _, m, _ in log.events)
    assert (again.root / "kernel/sched/fair.c").read_bytes() == (
        sched_repo / "kernel/sched/fair.c"
    ).read_bytes()
    assert not (co.root / ".git" / "index.lock").exists()


def test_damaged_clone_is_recloned(sched_repo: Path, settings: Settings) -> None:
    co = fetch_local(sched_repo, settings, "kernel/sched")
    (co.root / ".git" / "HEAD").unlink()
    log = Recorder()
    again = fetch_local(sched_repo, settings, "kernel/sched", reporter=log)
    assert any("damaged" in m for _, m, _ in log.events)
    assert again.commit == co.commit
    assert (again.root / "kernel/sched/fair.c").is_file()


def test_killed_fetch_leaves_a_cache_the_next_run_repairs(
    sched_repo: Path, settings: Settings, isolated: Path
) -> None:
    """Kill a real fetch process at several points; the next run always ends with a good tree."""
    import sys
    import time

    spec = [
        "-c",
        f"from ghqa.pipeline import checkout; checkout({str(sched_repo)!r}, ['kernel/sched'])",
    ]
    for delay in (0.05, 0.15, 0.3):
        proc = subprocess.Popen([sys.executable, *spec])
        time.sleep(delay)
        proc.kill()
        proc.wait()
        co = fetch_local(sched_repo, settings, "kernel/sched")
        assert (co.root / "kernel/sched/fair.c").read_bytes() == (
            sched_repo / "kernel/sched/fair.c"
        ).read_bytes()
        status = git(co.root, "status", "--porcelain")
        assert status == ""


def test_private_repository_over_http_with_token(
    sched_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "ghp_" + "S3cr3tT0ken" * 3
    with GitHTTPServer(tmp_path / "served", token=token) as server:
        server.publish(sched_repo, "acme", "linux")
        cache = tmp_path / "cache-http"
        # Without the token: refused, and the message says how to fix it.
        anon = Settings.resolve(cache_dir=cache, github_host=server.base)
        with pytest.raises(FetchError, match="Repository not found: acme/linux.*GITHUB_TOKEN"):
            fetch(parse_spec("acme/linux", ["kernel/sched"], None, server.base), anon)
        monkeypatch.setenv("GITHUB_TOKEN", token)
        settings = Settings.resolve(cache_dir=cache, github_host=server.base)
        co = fetch(parse_spec("acme/linux", ["kernel/sched"], None, server.base), settings)
        assert (co.root / "kernel/sched/fair.c").is_file()
        present, missing = present_and_missing(co.root)
        assert blobs(sched_repo)["README"] in missing
        # The token went over the wire in a header only.
        assert any("authorization" in h for _, _, h in server.requests)
        assert all(token not in path for _, path, _ in server.requests)
        # ... and is nowhere on disk or in the remote's URL.
        remote = git(co.root, "remote", "-v")
        assert token not in remote and server.base in remote
        for path in cache.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert token.encode() not in data, f"token written to {path}"
        # A failure message never carries it either.
        with pytest.raises(FetchError) as err:
            fetch(parse_spec("acme/linux", ["kernel/sched"], "no-such-ref", server.base), settings)
        assert token not in str(err.value)


def test_token_is_not_sent_to_other_hosts(
    tmp_path: Path, sched_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "ghp_" + "A" * 36
    monkeypatch.setenv("GITHUB_TOKEN", token)
    with GitHTTPServer(tmp_path / "served") as server:
        server.publish(sched_repo, "acme", "linux")
        settings = Settings.resolve(cache_dir=tmp_path / "c")  # GitHub host: github.com
        co = fetch(parse_spec(f"{server.base}/acme/linux", ["kernel/sched"]), settings)
        assert (co.root / "kernel/sched/core.c").is_file()
        assert not any("authorization" in h for _, _, h in server.requests)


def test_spec_errors_are_spec_errors() -> None:
    with pytest.raises(SpecError):
        parse_spec("not a spec")
