"""Helpers for tests: real git repositories and a reporter that records."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHED_DATA = ROOT.parent / "shared" / "data" / "linux-sched"

#: Unrelated content around kernel/sched: none of it may be downloaded by a sparse fetch.
UNRELATED = {
    "README": "Linux kernel (test copy)\n",
    "kernel/fork.c": "int copy_process(void) { return 0; }\n",
    "kernel/exit.c": "void do_exit(long code) { }\n",
    "drivers/net/dummy.c": "static int dummy_init(void) { return 0; }\n",
    "drivers/net/dummy.h": "#define DUMMY 1\n",
    "Documentation/scheduler/sched-design-CFS.rst": "CFS\n===\n" + "text\n" * 200,
    "tools/perf/big.bin": None,  # binary, filled below
}

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    # Fixed dates: the same files give the same commit sha in every run.
    "GIT_AUTHOR_DATE": "2024-11-17T12:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-11-17T12:00:00+00:00",
}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(cwd)}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def make_sched_repo(dest: Path) -> Path:
    """A git repository with kernel/sched from the snapshot plus unrelated directories."""
    if not SCHED_DATA.is_dir():
        raise RuntimeError(f"test data missing: {SCHED_DATA} (../shared must sit beside the repo)")
    dest.mkdir(parents=True)
    shutil.copytree(SCHED_DATA / "kernel", dest / "kernel")
    shutil.copy(SCHED_DATA / "COPYING", dest / "COPYING")
    for rel, text in UNRELATED.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            path.write_bytes(bytes(range(256)) * 64)
        else:
            path.write_text(text)
    for p in dest.rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    git(dest, "init", "-q", "-b", "master")
    commit_all(dest, "Import kernel/sched from Linux 6.12")
    git(dest, "tag", "v6.12")
    return dest


class Recorder:
    """A reporter that keeps what the library reports."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, object]]] = []

    def __call__(self, stage: str, message: str, /, **data: object) -> None:
        self.events.append((stage, message, data))

    def data(self, stage: str, key: str) -> list[object]:
        return [d[key] for s, _, d in self.events if s == stage and key in d]
