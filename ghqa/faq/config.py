"""The FAQ's configuration file (YAML or TOML): repository, paths, output, model, questions."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_T = TypeVar("_T")

#: Settings a FAQ file may set for its questions (the rest come from the environment).
SETTING_KEYS = (
    "model", "sub_model", "base_url", "strategy", "max_calls", "max_tokens", "max_cost",
    "timeout", "price",
)  # fmt: skip


@dataclass(frozen=True)
class MineConfig:
    """Where new questions come from besides the fixed list (all on the publishing repository)."""

    label: str | None = "question"  # issues with this label: their titles are questions
    ask: bool = True  # /ask comments that ghqa answered
    trigger: str = "/ask"
    limit: int = 20  # new questions per run at most


@dataclass(frozen=True)
class PublishConfig:
    """Where ``--publish`` commits the file and opens its pull request."""

    repository: str | None = None  # default: GITHUB_REPOSITORY (the workflow's repository)
    branch: str = "ghqa/faq"
    base: str | None = None  # default: the repository's default branch
    title: str = "Update the FAQ"


@dataclass(frozen=True)
class FaqConfig:
    repository: str | None  # None: the repository the FAQ is published to
    questions: tuple[str, ...]
    paths: tuple[str, ...] = ()
    ref: str | None = None
    output: str = "docs/FAQ.md"
    title: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    mine: MineConfig | None = None
    publish: PublishConfig = field(default_factory=PublishConfig)


def load_config(path: Path) -> FaqConfig:
    """Read and check a FAQ configuration; every problem is one line naming the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the FAQ config {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {first}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping with 'questions' (and 'repository')")
    repo = data.get("repository")
    if repo is not None and (not isinstance(repo, str) or not repo.strip()):
        raise ConfigError(f"{path}: 'repository' must be a repository, e.g. torvalds/linux")
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        raise ConfigError(f"{path}: 'questions' must be a non-empty list of strings")
    cleaned: list[str] = []
    for q in questions:
        if not isinstance(q, str) or not q.strip():
            raise ConfigError(f"{path}: every question must be a non-empty string, got {q!r}")
        text_q = " ".join(q.split())
        if text_q not in cleaned:
            cleaned.append(text_q)
    paths = data.get("paths") or []
    if isinstance(paths, str):
        paths = paths.split()
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ConfigError(f"{path}: 'paths' must be a list of paths")
    keys = {"repository", "questions", "paths", "ref", "output", "title", "mine", "publish"}
    unknown = set(data) - keys - set(SETTING_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    return FaqConfig(
        repository=repo.strip() if repo else None,
        questions=tuple(cleaned),
        paths=tuple(paths),
        ref=data.get("ref"),
        output=str(data.get("output") or "docs/FAQ.md"),
        title=data.get("title"),
        settings={k: data[k] for k in SETTING_KEYS if data.get(k) is not None},
        mine=_section(path, data, "mine", MineConfig) if data.get("mine") is not None else None,
        publish=_section(path, data, "publish", PublishConfig),
    )


def _section(path: Path, data: dict[str, Any], key: str, kind: type[_T]) -> _T:
    """A nested mapping checked against the fields (and field types) of ``kind``."""
    raw = data.get(key)
    if raw is None or raw is True:
        return kind()
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: '{key}' must be a mapping (e.g. {key}: {{...}})")
    fields = {f.name: f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = set(raw) - set(fields)
    if unknown:
        raise ConfigError(
            f"{path}: unknown keys under '{key}': {', '.join(sorted(map(str, unknown)))}"
            f" (known: {', '.join(fields)})"
        )
    for name, value in raw.items():
        default = fields[name].default
        expected = type(default) if default is not None else str
        wrong_type = not isinstance(value, expected) or (
            isinstance(value, bool) and expected is not bool
        )
        if value is not None and wrong_type:
            raise ConfigError(
                f"{path}: '{key}.{name}' must be a {expected.__name__}, got {value!r}"
            )
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise ConfigError(f"{path}: '{key}.{name}' must be at least 1, got {value}")
    return kind(**raw)
