"""The sandbox that runs model-written Python code, in a separate worker process.

The engine's process holds the API keys and the budgets; the model's code never runs in it.
``Sandbox`` starts ``worker.py`` (stdlib only, not imported as part of ghqa) with ``python -I -S``,
an environment without any inherited variable, a fresh private temporary directory as its
working directory, its own session (so its whole process group can be killed) and two pipes
that carry length-prefixed JSON messages (not stdin/stdout, so printing cannot corrupt them).

The worker hardens itself before the prelude or any model code runs; each layer is applied
when the operating system allows it and skipped silently otherwise. ``Sandbox.layers`` says
which are active:

- ``rlimits``: CPU time, address space, file size, open files, no core dumps, no new processes
  or threads (RLIMIT_NPROC 0, which the kernel does not enforce for root);
- ``netns``: a new network namespace, with only a down loopback device;
- ``setuid``: when the engine runs as root, the worker becomes uid/gid 65534 (nobody), so files
  only root may read, such as ~/.ssh or /proc/<engine pid>/environ, are refused by the kernel.
  The worker therefore never reads the checkout itself: the prelude's helpers ask the engine
  through host calls, which is how "read-only access to the checkout" is provided;
- ``landlock`` (Linux >= 5.13): read-only access to the Python standard library and the
  system libraries, read-write access to the temporary directory, no TCP, no signals out;
- ``audit``: a PEP 578 audit hook, the portable layer: no file access outside those
  directories, no sockets, processes, signals, environment changes, ctypes or tracing.

Model code calls back into the engine with ``_host(name, *args, **kwargs)``; the engine's
``handler`` answers on the thread that called ``run()``. Each cell has a timeout (host calls
do not count towards it); a cell that does not stop, or a worker that dies, costs a restart
of the worker (the prelude runs again, earlier variables are lost) and the run goes on.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

from ghqa.errors import EngineError

HostHandler = Callable[[str, list[Any], dict[str, Any]], Any]

WORKER_ENV = {"LANG": "C.UTF-8"}
START_TIMEOUT = 15.0  # seconds for a worker to harden itself and report ready
KILL_GRACE = 2.0  # seconds the engine waits beyond the cell timeout before killing the worker
EXIT_WAIT = 1.0  # seconds a worker that closed its pipe gets to exit before it is killed
MAX_MESSAGE_BYTES = 64 << 20  # same bound as in worker.py
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of a worker: seconds per cell (host calls excluded), CPU seconds over the worker's
    life, bytes of address space, bytes per written file, characters of output kept per cell."""

    cell_timeout: float = 30.0
    cpu_seconds: int = 300
    memory_bytes: int = 2 << 30
    file_bytes: int = 64 << 20
    max_output: int = 200_000


@dataclass
class CellResult:
    """What a cell printed (and the repr of its last expression), its error (a short traceback),
    what it submitted, and whether the worker had to be restarted after it."""

    output: str
    error: str | None
    submitted: dict[str, Any] | None
    duration: float
    restarted: bool = False


class SandboxError(EngineError):
    """A sandbox worker could not be started."""


class HostCallError(Exception):
    """Raised by a host handler: the message is raised as ``HostError`` in the model's code."""


class _Timeout(Exception):
    pass


class _WorkerGone(Exception):
    """The worker died, closed its channel, or broke the protocol; the message says which."""


@cache
def worker_source() -> str:
    return Path(__file__).with_name("worker.py").read_text(encoding="utf-8")


class _Worker:
    """One worker process, its pipes and its temporary directory."""

    def __init__(self, limits: SandboxLimits) -> None:
        self.tmpdir = tempfile.mkdtemp(prefix="ghqa-sandbox-")
        fds: list[int] = []
        try:
            fds += os.pipe()
            fds += os.pipe()
        except OSError as exc:
            _release(None, tuple(fds), self.tmpdir)
            raise SandboxError(f"cannot create the sandbox's pipes: {exc}") from exc
        to_worker_r, self.to_worker, self.from_worker, from_worker_w = fds
        os.set_blocking(self.to_worker, False)  # a worker that stops reading must not block us
        config = {
            "read_fd": to_worker_r,
            "write_fd": from_worker_w,
            "tmpdir": self.tmpdir,
            "cell_timeout": limits.cell_timeout,
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_bytes,
            "file_bytes": limits.file_bytes,
            "max_output": limits.max_output,
        }
        argv = [sys.executable, "-I", "-S", "-B", "-X", "utf8", "-c", worker_source()]
        try:
            self.process = subprocess.Popen(
                [*argv, json.dumps(config)],
                env=dict(WORKER_ENV),
                cwd=self.tmpdir,
                pass_fds=(to_worker_r, from_worker_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            _release(None, (self.to_worker, self.from_worker), self.tmpdir)
            raise SandboxError(f"cannot start the sandbox worker {sys.executable}: {exc}") from exc
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        self._finalizer = weakref.finalize(
            self, _release, self.process, (self.to_worker, self.from_worker), self.tmpdir
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def close(self) -> None:
        self._finalizer()

    def send(self, message: dict[str, Any], deadline: float | None) -> None:
        data = json.dumps(message).encode("ascii")
        view = memoryview(len(data).to_bytes(4, "big") + data)
        poller = select.poll()
        poller.register(self.to_worker, select.POLLOUT)
        while view:
            _wait(poller, deadline)
            try:
                view = view[os.write(self.to_worker, view) :]
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise _WorkerGone(self.exit_reason()) from None

    def receive(self, deadline: float | None) -> dict[str, Any]:
        size = int.from_bytes(self._read_exact(4, deadline), "big")
        if size > MAX_MESSAGE_BYTES:
            raise _WorkerGone(f"the worker sent a message of {size} bytes")
        try:
            message = json.loads(self._read_exact(size, deadline))
        except ValueError:
            raise _WorkerGone("the worker sent a malformed message") from None
        if not isinstance(message, dict):
            raise _WorkerGone("the worker sent a malformed message")
        return message

    def _read_exact(self, size: int, deadline: float | None) -> bytes:
        data = bytearray()
        poller = select.poll()
        poller.register(self.from_worker, select.POLLIN)
        while len(data) < size:
            _wait(poller, deadline)
            chunk = os.read(self.from_worker, min(size - len(data), READ_CHUNK))
            if not chunk:
                raise _WorkerGone(self.exit_reason())
            data += chunk
        return bytes(data)

    def exit_reason(self) -> str:
        """Why the worker went away (it is killed if it has not exited by itself)."""
        try:
            code = self.process.wait(EXIT_WAIT)
        except subprocess.TimeoutExpired:
            self.close()
            return "the worker closed its channel and was stopped"
        if code >= 0:
            return f"the worker exited with status {code}"
        return f"the worker was killed by {_signal_name(-code)}"


def _wait(poller: select.poll, deadline: float | None) -> None:
    while True:
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise _Timeout
        if poller.poll(None if timeout is None else max(timeout * 1000, 1)):
            return


def _signal_name(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    if number == signal.SIGXCPU:
        return f"{name} (its CPU time limit was reached)"
    if number == signal.SIGKILL:
        return f"{name} (possibly for lack of memory)"
    return name


def _release(process: subprocess.Popen[bytes] | None, fds: tuple[int, ...], tmpdir: str) -> None:
    """Kill the worker's process group, reap it, close the pipes, remove the temp dir."""
    if process is not None and process.returncode is None:
        # Not reaped yet, so the pid (and the group id) cannot have been reused.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            process.kill()
        process.wait()
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    shutil.rmtree(tmpdir, ignore_errors=True)


class Sandbox:
    """A REPL for untrusted code in a hardened worker process. Not thread-safe."""

    def __init__(
        self, handler: HostHandler, limits: SandboxLimits = SandboxLimits(), prelude: str = ""
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.prelude = prelude
        self.layers: frozenset[str] = frozenset()
        self._worker: _Worker | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The worker's process id, while one is running."""
        return None if self._worker is None else self._worker.pid

    def start(self) -> None:
        """Start the worker and run the prelude, unless that is done; run() calls it."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        if self._worker is not None:
            return
        worker = _Worker(self.limits)
        try:
            self.layers = self._await_ready(worker)
            if self.prelude:
                self._run_prelude(worker)
        except BaseException:
            worker.close()
            raise
        self._worker = worker

    def run(self, code: str) -> CellResult:
        """Run one cell; errors in the code, timeouts and crashes are reported in the result."""
        self.start()
        worker = self._worker
        assert worker is not None
        started = time.monotonic()
        try:
            done = self._exchange(worker, {"op": "exec", "code": code})
        except _Timeout:
            problem = f"cell timed out after {self.limits.cell_timeout:g}s"
        except _WorkerGone as exc:
            problem = str(exc)
        except BaseException:
            self._stop()  # the handler failed: an engine bug, not the model's
            raise
        else:
            return CellResult(
                output=done["output"],
                error=done["error"],
                submitted=done["submitted"],
                duration=time.monotonic() - started,
            )
        self._stop()
        self.start()
        return CellResult(
            output="",
            error=f"{problem}; the REPL was restarted and earlier variables are lost",
            submitted=None,
            duration=time.monotonic() - started,
            restarted=True,
        )

    def close(self) -> None:
        """Kill the worker and remove its temporary directory; idempotent."""
        self._closed = True
        self._stop()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals

    def _stop(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()

    def _await_ready(self, worker: _Worker) -> frozenset[str]:
        try:
            message = worker.receive(time.monotonic() + START_TIMEOUT)
        except _Timeout:
            raise SandboxError(
                f"the sandbox worker did not start within {START_TIMEOUT:g}s"
            ) from None
        except _WorkerGone as exc:
            raise SandboxError(f"the sandbox worker did not start: {exc}") from None
        layers = message.get("layers")
        if message.get("op") != "ready" or not isinstance(layers, list):
            detail = message.get("error") if message.get("op") == "fatal" else "no ready message"
            raise SandboxError(f"the sandbox worker could not harden itself: {detail}")
        return frozenset(str(layer) for layer in layers)

    def _run_prelude(self, worker: _Worker) -> None:
        try:
            done = self._exchange(worker, {"op": "prelude", "code": self.prelude})
        except _Timeout:
            raise SandboxError(
                f"the sandbox prelude did not finish within {self.limits.cell_timeout:g}s"
            ) from None
        except _WorkerGone as exc:
            raise SandboxError(f"the sandbox prelude failed: {exc}") from None
        if done["error"] is not None:
            raise SandboxError(f"the sandbox prelude failed:\n{done['error']}")

    def _exchange(self, worker: _Worker, request: dict[str, Any]) -> dict[str, Any]:
        """Send a cell and serve its host calls until it is done; returns the done message."""
        deadline = time.monotonic() + self.limits.cell_timeout + KILL_GRACE
        worker.send(request, deadline)
        while True:
            message = worker.receive(deadline)
            op = message.get("op")
            if op == "done":
                return _checked_done(message)
            if op != "call":
                raise _WorkerGone(f"the worker sent an unexpected message ({op!r})")
            name, args, kwargs = _checked_call(message)
            paused = time.monotonic()
            reply = self._serve(name, args, kwargs)
            deadline += time.monotonic() - paused  # host calls do not count towards the timeout
            worker.send(reply, deadline)

    def _serve(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            value = self.handler(name, args, kwargs)
        except HostCallError as exc:
            return {"op": "reply", "error": str(exc)}
        return {"op": "reply", "value": value}


def _checked_call(message: dict[str, Any]) -> tuple[str, list[Any], dict[str, Any]]:
    name, args, kwargs = message.get("name"), message.get("args"), message.get("kwargs")
    if not isinstance(name, str) or not isinstance(args, list) or not isinstance(kwargs, dict):
        raise _WorkerGone("the worker sent a malformed host call")
    return name, args, kwargs


def _checked_done(message: dict[str, Any]) -> dict[str, Any]:
    output, error, submitted = message.get("output"), message.get("error"), message.get("submitted")
    valid = (
        isinstance(output, str)
        and (error is None or isinstance(error, str))
        and (
            submitted is None
            or isinstance(submitted, dict)
            and isinstance(submitted.get("answer"), str)
        )
    )
    if not valid:
        raise _WorkerGone("the worker sent a malformed result")
    return {"output": output, "error": error, "submitted": submitted}
