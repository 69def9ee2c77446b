"""Settings: explicit value > GHQA_* environment > default, resolved when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghqa.settings import Settings, resolve_with_sources


def test_precedence(tmp_path: Path) -> None:
    env = {"GHQA_CACHE_DIR": str(tmp_path / "env"), "GITHUB_TOKEN": "t0k"}
    settings, sources = resolve_with_sources(env, cache_dir=tmp_path / "flag")
    assert settings.cache_dir == tmp_path / "flag" and sources["cache_dir"] == "option"
    assert settings.github_token == "t0k" and sources["github_token"] == "GITHUB_TOKEN"
    assert settings.github_host == "github.com" and sources["github_host"] == "default"
    assert Settings.resolve(env).cache_dir == tmp_path / "env"


def test_ghqa_variable_beats_generic_one() -> None:
    env = {"GHQA_GITHUB_TOKEN": "specific", "GITHUB_TOKEN": "generic"}
    assert Settings.resolve(env).github_token == "specific"


def test_resolved_at_call_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GHQA_CACHE_DIR", str(tmp_path / "one"))
    first = Settings.resolve()
    monkeypatch.setenv("GHQA_CACHE_DIR", str(tmp_path / "two"))
    assert (first.cache_root, Settings.resolve().cache_root) == (tmp_path / "one", tmp_path / "two")


def test_secret_is_not_in_repr() -> None:
    settings = Settings.resolve({"GITHUB_TOKEN": "ghp_supersecret"})
    assert "supersecret" not in repr(settings)


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(TypeError, match="unknown settings: colour"):
        Settings.resolve({}, colour="red")
