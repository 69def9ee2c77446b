"""Settings, resolved at call time: explicit value > ``GHQA_*`` environment variable > default.

Front ends (CLI, Action, FAQ job, web page) build one frozen :class:`Settings` and pass it down;
nothing in the library reads the environment on its own.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from .errors import ConfigError


def _default_cache_dir() -> Path:
    return Path(user_cache_dir("ghqa", appauthor=False))


def _setting(default: Any, *envs: str, secret: bool = False, doc: str = "") -> Any:
    return field(
        default=default,
        repr=not secret,
        metadata={"env": envs, "secret": secret, "doc": doc},
    )


@dataclass(frozen=True)
class Settings:
    cache_dir: Path | None = _setting(
        None, "GHQA_CACHE_DIR", doc="where clones, indexes and caches live"
    )
    github_host: str = _setting(
        "github.com", "GHQA_GITHUB_HOST", doc="host that owner/name specs refer to"
    )
    github_token: str | None = _setting(
        None,
        "GHQA_GITHUB_TOKEN",
        "GITHUB_TOKEN",
        secret=True,
        doc="token for private repositories",
    )

    @property
    def cache_root(self) -> Path:
        """The cache directory, with the platform default filled in."""
        return self.cache_dir if self.cache_dir is not None else _default_cache_dir()

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, **explicit: Any) -> Settings:
        """Settings from explicit values (``None`` means unset), then ``env``, then defaults."""
        return resolve_with_sources(env, **explicit)[0]


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "Path | None": lambda v: Path(v).expanduser(),
    "str": str,
    "str | None": str,
    "int": int,
    "int | None": int,
    "float": float,
    "float | None": float,
}


def resolve_with_sources(
    env: Mapping[str, str] | None = None, **explicit: Any
) -> tuple[Settings, dict[str, str]]:
    """Like :meth:`Settings.resolve`, also saying where each value came from."""
    env = os.environ if env is None else env
    known = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = set(explicit) - set(known)
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, f in known.items():
        convert = _CONVERTERS[str(f.type)]
        if explicit.get(name) is not None:
            value = explicit[name]
            values[name] = convert(value) if isinstance(value, str) else value
            sources[name] = "option"
            continue
        for var in f.metadata["env"]:
            raw = env.get(var)
            if raw:
                try:
                    values[name] = convert(raw)
                except ValueError:
                    raise ConfigError(
                        f"{var}={raw!r} is not a valid {f.type}: fix or unset {var}"
                    ) from None
                sources[name] = var
                break
        else:
            sources[name] = "default"
    return Settings(**values), sources
