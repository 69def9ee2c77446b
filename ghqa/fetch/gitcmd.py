"""Running the git binary (through GitPython), with errors turned into messages a user can act on.

Arguments are always passed as a list, never through a shell; nothing the user typed becomes an
option (specs, refs and paths are validated first, and patterns begin with ``/``).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import FetchError

#: Environment for every git call: never prompt, never wait for a password.
_QUIET_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GCM_INTERACTIVE": "never",
    "GIT_ASKPASS": "true",
    "SSH_ASKPASS": "true",
    "GIT_LITERAL_PATHSPECS": "1",
    "LC_ALL": "C",
    "LANGUAGE": "C",
}


def require_git() -> None:
    if shutil.which("git") is None:
        raise FetchError("git is not installed: install git (e.g. `apt-get install git`) and retry")


def auth_env(base_url: str, token: str | None) -> dict[str, str]:
    """Config entries (through the environment, never written to disk) that send ``token`` to
    URLs under ``base_url`` (``https://host/``) only."""
    if not token:
        return {}
    base = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    cred = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": str(base + 1),
        f"GIT_CONFIG_KEY_{base}": f"http.{base_url}.extraheader",
        f"GIT_CONFIG_VALUE_{base}": f"AUTHORIZATION: basic {cred}",
    }


class Git:
    """A git runner bound to a directory, with secrets to scrub from any message it produces."""

    def __init__(
        self, cwd: Path, env: Mapping[str, str] | None = None, secrets: tuple[str, ...] = ()
    ):
        require_git()
        import git  # GitPython; imported late so a missing git binary gives our message

        self.cwd = cwd
        self._git = git.Git(str(cwd))
        self._env = {**_QUIET_ENV, **(env or {})}
        self._secrets = tuple(s for s in secrets if s)

    @property
    def env(self) -> dict[str, str]:
        """The full environment git runs with (for callers that stream through subprocess)."""
        return {**os.environ, **self._env}

    def run(self, *args: str, network: bool = False) -> str:
        """Run ``git ARGS`` and return stdout; raise :class:`GitFailed` with scrubbed stderr."""
        import git

        kwargs: dict[str, Any] = {"with_extended_output": True, "strip_newline_in_stdout": False}
        try:
            _status, out, _err = self._git.execute(["git", *args], env=self._env, **kwargs)
        except git.GitCommandError as e:
            raise GitFailed(args, self.scrub(_text(e.stderr)), network) from None
        except FileNotFoundError:
            raise FetchError(f"Cannot run git in {self.cwd}: the directory is gone") from None
        return str(out)

    def scrub(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
            text = text.replace(base64.b64encode(f"x-access-token:{s}".encode()).decode(), "***")
        return text


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value or "")


class GitFailed(Exception):
    """A git command failed; ``stderr`` is already scrubbed of secrets."""

    def __init__(self, args: tuple[str, ...], stderr: str, network: bool):
        self.args_ = args
        self.stderr = stderr.strip()
        self.network = network
        super().__init__(f"git {' '.join(args[:2])}: {self.last_line}")

    @property
    def last_line(self) -> str:
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
        line = (fatal or lines or ["(no message)"])[-1]
        return re.sub(r"^(fatal|error):\s*", "", line)

    def kind(self) -> str:
        """Classify the failure: network, not_found, bad_ref, disk_full, corrupt or other."""
        s = self.stderr.lower()
        if "no space left on device" in s:
            return "disk_full"
        if any(
            m in s
            for m in (
                "could not resolve host",
                "failed to connect",
                "connection refused",
                "network is unreachable",
                "connection timed out",
                "operation timed out",
                "could not connect",
            )
        ):
            return "network"
        if any(
            m in s
            for m in (
                "corrupt",
                "not a tree object",
                "not a valid object",
                "unable to read",
                "inflate",
                "packfile",
                "loose object",
                "invalid object",
                "bad packed object",
                "premature end of pack",
                "missing blob",
                "missing tree",
                "invalid sha1 pointer",
            )
        ):
            return "corrupt"
        if any(
            m in s
            for m in (
                "couldn't find remote ref",
                "not our ref",
                "unadvertised object",
                "no such ref",
                "invalid refspec",
                "bad object",
            )
        ):
            return "bad_ref"
        if any(
            m in s
            for m in (
                "repository not found",
                "does not appear to be a git repository",
                "could not read username",
                "authentication failed",
                "not found",
                "403",
            )
        ):
            return "not_found"
        return "other"
