"""Shared fixtures: isolation from the user's environment, and real git repositories built from
the Linux scheduler snapshot in ../shared/data/linux-sched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ghqa.settings import Settings

from helpers import make_sched_repo


@pytest.fixture(scope="session")
def sched_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sched_repo(tmp_path_factory.mktemp("template") / "linux")


@pytest.fixture
def sched_repo(sched_template: Path, tmp_path: Path) -> Path:
    """A private copy of the linux-sched repository that a test may commit to."""
    dest = tmp_path / "src" / "linux"
    shutil.copytree(sched_template, dest, symlinks=True)
    return dest


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache and none of the user's secrets or settings."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GHQA_CACHE_DIR", str(cache))
    for var in list(os.environ):
        if var.startswith(("GHQA_", "OPENAI_", "GITHUB_")) and var != "GHQA_CACHE_DIR":
            monkeypatch.delenv(var)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return cache


@pytest.fixture
def settings(isolated: Path) -> Settings:
    return Settings.resolve()
