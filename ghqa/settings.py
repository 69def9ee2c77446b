"""Settings, resolved at call time: explicit value > ``GHQA_*`` environment variable > default.

Front ends (CLI, Action, FAQ job, web page) build one frozen :class:`Settings` and pass it down;
nothing in the library reads the environment on its own.
"""

from __future__ import annotations

import dataclasses
import json
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
    github_api_url: str | None = _setting(
        None,
        "GHQA_GITHUB_API_URL",
        "GITHUB_API_URL",
        doc="GitHub REST API URL (default: from the GitHub host)",
    )
    # Models: any OpenAI-compatible server.
    api_key: str | None = _setting(
        None, "GHQA_API_KEY", "OPENAI_API_KEY", secret=True, doc="key for the model server"
    )
    base_url: str | None = _setting(
        None, "GHQA_BASE_URL", "OPENAI_BASE_URL", doc="OpenAI-compatible server URL"
    )
    model: str | None = _setting(None, "GHQA_MODEL", doc="root model (default: the server's first)")
    sub_model: str | None = _setting(
        None, "GHQA_SUB_MODEL", doc="model for sub-calls (default: the root model)"
    )
    strategy: str = _setting("auto", "GHQA_STRATEGY", doc="auto, direct, chunked or rlm")
    tools: str = _setting("auto", "GHQA_TOOLS", doc="native tool calls: auto, on or off")
    temperature: float | None = _setting(
        None, "GHQA_TEMPERATURE", doc="sampling temperature (default: the server's)"
    )
    extra_params: str | None = _setting(
        None,
        "GHQA_EXTRA_PARAMS",
        doc='JSON object of server-specific request fields, e.g. {"repeat_penalty": 1.3}',
    )
    request_timeout: float = _setting(
        120.0, "GHQA_REQUEST_TIMEOUT", doc="seconds one model call may take"
    )
    retries: int = _setting(4, "GHQA_RETRIES", doc="retries on 429, 5xx and timeouts")
    reply_tokens: int = _setting(4096, "GHQA_REPLY_TOKENS", doc="max tokens of one model reply")
    context_tokens: int = _setting(
        24_000, "GHQA_CONTEXT_TOKENS", doc="code sent in one call by direct/chunked"
    )
    concurrency: int = _setting(8, "GHQA_CONCURRENCY", doc="sub-calls in flight at once")
    price: str | None = _setting(
        None, "GHQA_PRICE", doc="USD per 1M tokens, 'input,output' (enables cost)"
    )
    cache: str = _setting("on", "GHQA_CACHE", doc="response cache: on, off, replay or refresh")
    local_model: str = _setting(
        "qwen2.5-coder-1.5b",
        "GHQA_LOCAL_MODEL",
        doc="model run locally when no key or server is set (qwen2.5-coder-1.5b or -0.5b)",
    )
    threads: int | None = _setting(None, "GHQA_THREADS", doc="CPU threads of the local model")
    # Budgets, enforced before each model call.
    max_iterations: int = _setting(12, "GHQA_MAX_ITERATIONS", doc="root turns of the rlm loop")
    max_calls: int = _setting(60, "GHQA_MAX_CALLS", doc="model calls per question")
    max_tokens: int = _setting(500_000, "GHQA_MAX_TOKENS", doc="tokens per question")
    max_cost: float | None = _setting(None, "GHQA_MAX_COST", doc="USD per question")
    timeout: float = _setting(600.0, "GHQA_TIMEOUT", doc="wall-clock seconds per question")
    max_errors: int = _setting(4, "GHQA_MAX_ERRORS", doc="consecutive failed turns")
    cell_timeout: float = _setting(30.0, "GHQA_CELL_TIMEOUT", doc="seconds one REPL cell may run")

    @property
    def cache_root(self) -> Path:
        """The cache directory, with the platform default filled in."""
        return self.cache_dir if self.cache_dir is not None else _default_cache_dir()

    @property
    def secret_values(self) -> tuple[str, ...]:
        """The values of the secret settings that are set (keys and tokens), for redaction."""
        return tuple(
            value
            for f in dataclasses.fields(self)
            if f.metadata.get("secret") and (value := getattr(self, f.name))
        )

    @property
    def github_api(self) -> str:
        """The GitHub REST API: the configured URL, else api.github.com or the Enterprise host's."""
        if self.github_api_url:
            return self.github_api_url.rstrip("/")
        if self.github_host == "github.com":
            return "https://api.github.com"
        return f"https://{self.github_host}/api/v3"

    @property
    def prices(self) -> tuple[float, float] | None:
        """(input, output) USD per million tokens, when configured."""
        if not self.price:
            return None
        parts = self.price.replace("/", ",").split(",")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) == 1:
            values *= 2
        if len(values) != 2 or min(values) < 0:
            raise ConfigError(
                f"price {self.price!r} is not 'input,output' USD per 1M tokens, e.g. 0.15,0.60"
            )
        return values[0], values[1]

    @property
    def extra(self) -> dict[str, Any]:
        """``extra_params`` parsed: fields added to every model request."""
        if not self.extra_params:
            return {}
        try:
            value = json.loads(self.extra_params)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ConfigError(
                f"extra_params {self.extra_params!r} is not a JSON object, e.g. "
                '{"repeat_penalty": 1.3}'
            )
        return value

    def check(self) -> Settings:
        """Reject values no run could use, each with its fix."""
        choices = {
            "strategy": ("auto", "direct", "chunked", "rlm"),
            "tools": ("auto", "on", "off"),
            "cache": ("on", "off", "replay", "refresh"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{name} {getattr(self, name)!r} is not one of {', '.join(allowed)}"
                )
        positive = (
            "max_iterations max_calls max_tokens timeout request_timeout reply_tokens "
            "context_tokens concurrency max_errors cell_timeout"
        )
        for name in positive.split():
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.retries < 0:
            raise ConfigError(f"retries must be 0 or more, got {self.retries}")
        self.prices  # noqa: B018 - validates the format
        self.extra  # noqa: B018 - validates the format
        return self

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
