"""What ``ghqa config`` shows: the resolved settings (secrets masked) and health checks."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from .settings import Settings


def mask(value: str) -> str:
    """A secret shown only by its length and last four characters."""
    return f"set (…{value[-4:]}, {len(value)} chars)" if len(value) > 8 else "set"


def describe(settings: Settings, sources: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """(name, shown value, where it came from) for every setting."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.metadata.get("secret") and value:
            shown = mask(str(value))
        elif f.name == "cache_dir" and value is None:
            shown = str(settings.cache_root)
        else:
            shown = "-" if value is None else str(value)
        yield f.name, shown, sources.get(f.name, "default")


def checks(settings: Settings) -> Iterator[tuple[str, bool, str]]:
    """(what, ok, detail) for git, the cache directory and the model."""
    git = shutil.which("git")
    if git is None:
        yield "git", False, "not found: install git (e.g. apt install git)"
    else:
        version = subprocess.run([git, "--version"], capture_output=True, text=True).stdout
        yield "git", True, version.strip()
    yield _check_cache(settings)
    yield _check_model(settings)


def _check_cache(settings: Settings) -> tuple[str, bool, str]:
    root = settings.cache_root
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".probe-"):
            pass
    except OSError as exc:
        return "cache", False, f"{root} is not writable ({exc.strerror}): set GHQA_CACHE_DIR"
    free = shutil.disk_usage(root).free
    return "cache", True, f"{root} (writable, {free / 2**30:.1f} GB free)"


def _check_model(settings: Settings) -> tuple[str, bool, str]:
    if settings.api_key or settings.base_url:
        import openai

        url = settings.base_url or "https://api.openai.com/v1"
        client = openai.OpenAI(
            api_key=settings.api_key or "not-needed", base_url=url, timeout=10, max_retries=0
        )
        try:
            served = [m.id for m in client.models.list()]
        except openai.APIError as exc:
            from .engine.models import explain_api_error

            return "model", False, str(explain_api_error(exc, url, settings.model or "(default)"))
        finally:
            client.close()
        model = settings.model or (served[0] if served else None)
        if model is None:
            return "model", False, f"{url} serves no models: name one with --model"
        if served and model not in served:
            return (
                "model",
                False,
                f"{url} does not list {model!r}; it serves {', '.join(served[:8])}",
            )
        return "model", True, f"{url}: {model} ({len(served)} models served)"
    from .local import local_available, local_model

    missing = local_available()
    name = local_model(settings.local_model).name
    if missing is not None:
        return (
            "model",
            False,
            f"no key or server set, and the local model is not installed: {missing} "
            "(or set OPENAI_API_KEY)",
        )
    threads = settings.threads or os.cpu_count() or 1
    return "model", True, f"local {name} ({threads} threads), started on demand"
