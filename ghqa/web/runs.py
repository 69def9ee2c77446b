"""Questions being answered: their processes, what they have done so far, and how they end.

Each question runs ``python -m ghqa ask ... --trace FILE --json`` as a child process in its own
session. Its progress comes from two places, both read as they grow: the progress lines on its
stderr (fetching, indexing, the strategy chosen) and the trace file (turns, code cells, sub-call
batches, model calls). Both become messages that any number of pages follow through
server-sent events; the answer is the child's JSON on stdout. Cancel sends the child SIGINT
(the command line stops its sandbox workers and exits 130), then SIGTERM and SIGKILL to its
process group if it does not stop in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..settings import Settings
from .askform import AskRequest
from .history import History, RunRecord
from .security import Redactor
from .traceview import CodeUrl, Node, TraceView, parse_line

#: Seconds between reads of a growing trace file.
POLL_SECONDS = 0.1
#: Seconds a cancelled run has to stop after SIGINT, then after SIGTERM.
CANCEL_GRACE = (5.0, 2.0)
#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_SECONDS = 15.0
#: Finished runs whose messages stay in memory (for pages still following them).
KEEP_FINISHED = 20
RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
_PROGRESS = re.compile(r"^ghqa \[\s*(?P<t>[0-9.]+)s\] (?P<message>.*)$")


class Renderer(Protocol):
    """Turns what a run produces into HTML for the page."""

    def node(self, node: Node, view: TraceView) -> str: ...

    def answer(self, record: RunRecord) -> str: ...


@dataclass
class Message:
    """One server-sent event: its sequence number, name and JSON data."""

    seq: int
    event: str
    data: str


@dataclass
class LiveRun:
    """A run started by this server: its process and the messages it has produced."""

    record: RunRecord
    view: TraceView
    process: asyncio.subprocess.Process | None = None
    messages: list[Message] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    cancel_requested: bool = False
    finished: bool = False
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        self.messages.append(Message(len(self.messages) + 1, event, json.dumps(data)))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self, after: int = 0) -> AsyncIterator[Message | None]:
        """The messages after number ``after``, as they come; ``None`` when a keep-alive is due.
        Ends after the run's last message."""
        sent = max(0, after)
        while True:
            while sent < len(self.messages):
                sent += 1
                yield self.messages[sent - 1]
            if self.finished:
                return
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)
            except asyncio.TimeoutError:
                yield None


class _Tail:
    """The complete lines appended to a file since the last read."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        return [line.decode("utf-8", "replace") for line in lines]


class RunManager:
    """Starts, follows and cancels the questions of one server."""

    def __init__(
        self,
        settings: Settings,
        history: History,
        redactor: Redactor,
        renderer: Renderer,
        code_url: CodeUrl,
        env: Mapping[str, str] | None = None,
    ):
        self.settings = settings
        self.history = history
        self.redactor = redactor
        self.renderer = renderer
        self.code_url = code_url
        self.env = dict(os.environ if env is None else env)
        self.env.pop("GHQA_SERVE_TOKEN", None)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.live: dict[str, LiveRun] = {}
        self.traces_dir = settings.cache_root / "web" / "traces"

    def get(self, run_id: str) -> LiveRun | None:
        return self.live.get(run_id)

    async def start(self, request: AskRequest) -> RunRecord:
        """Start answering ``request``; the record is in the history before this returns."""
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
        self.traces_dir.mkdir(parents=True, exist_ok=True)
        trace = self.traces_dir / f"{run_id}.jsonl"
        record = RunRecord(
            id=run_id,
            repo=request.repo,
            question=request.question,
            trace_path=str(trace),
            paths=list(request.paths),
            ref=request.ref,
            options=request.options(),
            server_pid=os.getpid(),
        )
        self.history.add(record)
        run = LiveRun(record, TraceView(self.redactor, self.code_url, request.repo))
        self.live[run_id] = run
        try:
            run.process = await asyncio.create_subprocess_exec(
                *request.argv(trace, self.settings.cache_root),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
                start_new_session=True,
            )
        except OSError as exc:
            self._finish(run, "failed", None, f"cannot start ghqa: {exc.strerror or exc}")
            return record
        assert run.process.stdin is not None
        run.process.stdin.write(request.question.encode())
        with contextlib.suppress(ConnectionError):
            await run.process.stdin.drain()
        run.process.stdin.close()
        run.task = asyncio.create_task(self._watch(run))
        self._forget_old()
        return record

    async def cancel(self, run_id: str) -> bool:
        """Ask a running question to stop; False when it is not running here."""
        run = self.live.get(run_id)
        if run is None or run.finished or run.process is None:
            return False
        if run.cancel_requested:
            return True
        run.cancel_requested = True
        run.publish("state", {"state": "cancelling"})
        self._progress(run, "cancelling")
        with contextlib.suppress(ProcessLookupError):
            run.process.send_signal(signal.SIGINT)
        asyncio.create_task(self._escalate(run))
        return True

    async def close(self) -> None:
        """Stop every running question (the server is shutting down)."""
        running = [r for r in self.live.values() if not r.finished]
        for run in running:
            await self.cancel(run.record.id)
        tasks = [r.task for r in running if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=sum(CANCEL_GRACE) + 1)

    # -- following a run ---------------------------------------------------------------------

    async def _watch(self, run: LiveRun) -> None:
        process = run.process
        assert process is not None and process.stdout is not None and process.stderr is not None
        tail = _Tail(Path(run.record.trace_path))
        stdout = asyncio.create_task(process.stdout.read())
        stderr = asyncio.create_task(self._read_stderr(run, process.stderr))
        exited = asyncio.create_task(process.wait())
        errors: list[str] = []
        try:
            while not exited.done():
                self._pump(run, tail)
                await asyncio.wait({exited}, timeout=POLL_SECONDS)
            out = await stdout
            errors = await stderr
            self._pump(run, tail)
        except Exception as exc:  # noqa: BLE001 - a broken run must still end in the history
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            self._finish(run, "failed", None, f"the server lost track of the run: {exc}")
            return
        self._conclude(run, process.returncode, out, errors)

    def _pump(self, run: LiveRun, tail: _Tail) -> None:
        changed = False
        for line in tail.read():
            record = parse_line(line)
            if record is None:
                continue
            node = run.view.add(record)
            if node is None:
                continue
            run.publish(
                "node",
                {
                    "id": node.id,
                    "parent": node.parent,
                    "kind": node.kind,
                    "html": self.renderer.node(node, run.view),
                },
            )
            changed = changed or node.kind in ("call", "route", "strategy", "turn")
        if changed:
            run.publish("usage", self.usage(run.view))

    @staticmethod
    def usage(view: TraceView) -> dict[str, Any]:
        return {**view.usage.as_dict(), "strategy": view.strategy, "turns": view.turns}

    async def _read_stderr(self, run: LiveRun, stream: asyncio.StreamReader) -> list[str]:
        """Progress lines become messages; the lines that say what went wrong are returned."""
        errors: list[str] = []
        while True:
            raw = await stream.readline()
            if not raw:
                return errors
            line = self.redactor.text(raw.decode("utf-8", "replace").rstrip())
            if not line.strip():
                continue
            match = _PROGRESS.match(line)
            if match:
                self._progress(run, match["message"], float(match["t"]))
            else:
                errors.append(line)
                self._progress(run, line)

    def _progress(self, run: LiveRun, message: str, t: float | None = None) -> None:
        seconds = round(time.monotonic() - run.started if t is None else t, 1)
        run.record.progress.append([seconds, message])
        run.publish("progress", {"t": seconds, "message": message})

    def _conclude(self, run: LiveRun, code: int | None, out: bytes, errors: list[str]) -> None:
        answer: dict[str, Any] | None = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(out.decode("utf-8", "replace") or "null")
            if isinstance(parsed, dict):
                answer = self.redactor.value(parsed)
        problem = next((e for e in reversed(errors) if e.startswith(("Error", "Usage"))), None)
        problem = problem.removeprefix("Error: ") if problem else None
        if run.cancel_requested and code != 0:
            self._finish(run, "cancelled", answer, "cancelled")
        elif answer is not None:
            self._finish(run, "done", answer, problem if code else None)
        else:
            reason = problem or (errors[-1] if errors else f"ghqa exited with code {code}")
            self._finish(run, "failed", None, reason)

    def _finish(
        self, run: LiveRun, status: str, answer: dict[str, Any] | None, error: str | None
    ) -> None:
        record = run.record
        record.status, record.answer, record.error = status, answer, error
        record.finished = time.time()
        self.history.finish(record.id, status, answer, error, record.progress)
        run.publish(
            "done",
            {
                "state": record.badge,
                "html": self.renderer.answer(record),
                "usage": self.usage(run.view),
            },
        )
        run.finished = True
        run.publish("end", {})

    async def _escalate(self, run: LiveRun) -> None:
        """SIGTERM, then SIGKILL, to the process group of a run that ignores its SIGINT."""
        process = run.process
        assert process is not None
        for sig, grace in zip((signal.SIGTERM, signal.SIGKILL), CANCEL_GRACE, strict=True):
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), grace)
                return
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, sig)

    def _forget_old(self) -> None:
        finished = [r for r in self.live.values() if r.finished]
        for run in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            self.live.pop(run.record.id, None)
