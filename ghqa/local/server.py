"""Running a local model: llama-cpp-python's OpenAI-compatible server on 127.0.0.1.

The server runs in its own process (and process group) and is reached like any other model
server, through the ``openai`` client. It is stopped by :meth:`LocalServer.stop`, at interpreter
exit, and, should ghqa die without cleaning up (SIGTERM, SIGKILL, a crash), by itself: a thread
in the server process watches a pipe from ghqa and exits the process when the pipe closes.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from ..errors import EngineError, NeedsKeyError
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .weights import INSTALL_FIX, MODELS, LocalModel, local_model, missing_parts, model_file

#: Modules the server needs: llama-cpp-python and its ``[server]`` extra.
SERVER_MODULES = (
    "llama_cpp",
    "fastapi",
    "uvicorn",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)

#: Runs first in the server process: a thread that exits the process as soon as ghqa's end of
#: the stdin pipe closes (ghqa stopped the server, exited, or was killed).
WATCHER = """\
import os, sys, threading

_pipe = os.dup(0)  # a private copy; stdin itself becomes /dev/null
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)

def _watch_parent():
    try:
        while os.read(_pipe, 65536):  # unbuffered: no lock held at interpreter shutdown
            pass
    finally:
        os._exit(0)

threading.Thread(target=_watch_parent, daemon=True).start()
"""

#: Then, where llama.cpp was built with AMX kernels (``-march=native`` on a CPU that has AMX,
#: such as Xeon Sapphire Rapids): weights stay in plain CPU buffers, since the AMX matrix
#: multiplication crashes the process (SIGSEGV in ggml_backend_amx_mul_mat, llama-cpp-python
#: 0.3.36) on the first prompt. Without AMX kernels, nothing changes.
NO_AMX = """\
import llama_cpp.llama_cpp as _lib

if b"AMX_INT8 = 1" in _lib.llama_print_system_info():
    _model_defaults = _lib.llama_model_default_params

    def _without_extra_buffers():
        params = _model_defaults()
        params.use_extra_bufts = False
        return params

    _lib.llama_model_default_params = _without_extra_buffers
"""

#: Then: drop environment variables the server would read as settings (PORT, HOST, API_KEY,
#: CONFIG_FILE, MODEL, ...) and run ``python -m llama_cpp.server`` with the given arguments.
_RUN_SERVER = """\
import runpy
from llama_cpp.server.settings import ModelSettings, ServerSettings
_names = set(ModelSettings.model_fields) | set(ServerSettings.model_fields)
_names |= {"host", "port", "config_file"}
for _key in list(os.environ):
    if _key.lower() in _names:
        del os.environ[_key]
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""

_LOG_TAIL_LINES = 15
#: The logs of servers that stopped by themselves (or with a killed ghqa) are kept for the user
#: to read; of one model's, the newest few and any from the last day stay, and the rest go.
_KEPT_LOGS = 5
_KEPT_LOG_SECONDS = 24 * 3600


def local_available(model: LocalModel | None = None) -> str | None:
    """None if the local model can run (llama-cpp-python, its server dependencies and the weight
    packages of ``model``, or of every model when None, are installed), else a one-line reason."""
    for module in SERVER_MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{module} is not installed (local models need it): run {INSTALL_FIX}"
    models = [model] if model is not None else list(MODELS.values())
    for m in models:
        missing = missing_parts(m)
        if missing:
            return (
                f"the weights of {m.name} are not installed ({missing[0]} is missing): "
                f"run {INSTALL_FIX}"
            )
    return None


def default_threads() -> int:
    """CPU threads to run with: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """A llama-cpp-python server for one model, on 127.0.0.1 and a free port."""

    def __init__(
        self,
        model: LocalModel,
        path: Path,
        threads: int | None = None,
        reporter: Reporter = null_reporter,
        *,
        context: int | None = None,
        log_dir: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.path = path
        self.threads = threads if threads and threads > 0 else default_threads()
        self.context = context or model.context
        self.reporter = reporter
        self.model_alias = model.name
        self.base_url = ""
        self.port = 0
        self.log_path: Path | None = None
        self._log_dir = log_dir if log_dir is not None else path.parent
        self._extra_args = tuple(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def command(self, port: int) -> list[str]:
        """The command line that runs the server on ``port``."""
        return [
            sys.executable,
            "-c",
            WATCHER + NO_AMX + _RUN_SERVER,
            "--model", str(self.path),
            "--model_alias", self.model_alias,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_ctx", str(self.context),
            "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.threads),
            # Logits of the last token only: logits for every prompt token would cost
            # n_ctx x 152k floats of memory and a vocabulary-sized matmul per prompt token.
            "--logits_all", "false",
            # Requests queue (one runs at a time); a new one must not cut a streamed one short.
            "--interrupt_requests", "false",
            *self._extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = 120.0) -> str:
        """Start the server and wait until it answers; returns its base URL.

        Raises EngineError, with the end of the server's log, if it exits or does not answer
        within ``timeout`` seconds.
        """
        with self._lock:
            if self.pid is not None:
                return self.base_url
            if not self._stop_process():  # reaps a server that died since the last start
                self._drop_log()
            deadline = time.monotonic() + timeout
            for attempt in range(3):
                try:
                    return self._start_once(deadline)
                except _PortTaken:
                    if attempt == 2:
                        raise EngineError(
                            "the local model server found no free port on 127.0.0.1 in 3 "
                            "tries: another program is taking ports; try again"
                        ) from None
            raise AssertionError("unreachable")

    def _start_once(self, deadline: float) -> str:
        port = free_port()
        self._log_dir.mkdir(parents=True, exist_ok=True)
        prefix = f"{self.model_alias}-server-"
        _prune_logs(self._log_dir, prefix)
        fd, log_name = tempfile.mkstemp(dir=self._log_dir, prefix=prefix, suffix=".log")
        self.log_path = Path(log_name)
        self.reporter(
            "local",
            f"starting the local model {self.model_alias}",
            model=self.model_alias,
            port=port,
            threads=self.threads,
            context=self.context,
        )
        started = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                self.command(port),
                stdin=subprocess.PIPE,
                stdout=fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: a Ctrl-C goes to ghqa only
                close_fds=True,
            )
        except OSError as exc:
            raise EngineError(f"could not start the local model server: {exc}") from exc
        finally:
            os.close(fd)
        atexit.register(self.stop)
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}/v1"
        try:
            self._wait_ready(deadline)
        except _PortTaken:
            self._stop_process(report=False)
            self._drop_log()
            raise
        except BaseException:
            self._stop_process(report=False)
            self.log_path = None  # kept for the user: the error names it
            raise
        self.reporter(
            "local",
            f"local model {self.model_alias} is ready",
            model=self.model_alias,
            seconds=round(time.monotonic() - started, 2),
            pid=self._proc.pid,
        )
        return self.base_url

    def _wait_ready(self, deadline: float) -> None:
        proc = self._proc
        assert proc is not None
        url = f"{self.base_url}/models"
        while True:
            code = proc.poll()
            if code is not None:
                tail = self.log_tail()
                if "address already in use" in tail.lower():
                    raise _PortTaken
                raise EngineError(
                    f"the local model server exited with status {code} while starting "
                    f"(log: {self.log_path}):\n{tail}"
                )
            if _answers(url, self.model_alias):
                return
            if time.monotonic() > deadline:
                raise EngineError(
                    f"the local model server did not answer within the time allowed "
                    f"(log: {self.log_path}); a slow disk or little free memory can cause "
                    f"this; the log ends with:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def ended(self) -> str | None:
        """How the server ended if it has stopped by itself ("killed by SIGSEGV"); None while
        it runs, and once stopped."""
        proc = self._proc
        code = None if proc is None else proc.poll()
        return None if code is None else _exit_status(code)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines the server wrote."""
        if self.log_path is None:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 16384))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (SIGTERM to its group, then SIGKILL) and reap it. Idempotent. The log
        of a server that had stopped by itself (crashed) is kept, and named in a report."""
        with self._lock:
            if not self._stop_process():
                self._drop_log()

    def _drop_log(self) -> None:
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()
            self.log_path = None

    def _stop_process(self, report: bool = True) -> bool:
        """Stop and reap the server process; whether it had stopped by itself, which (with
        ``report``) is reported with its exit status and its log."""
        ended = self.ended()  # before its stdin closes, which ends it
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is None:
            return False
        died = ended is not None
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # the server's watcher exits the process at once
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        if died and not report:
            return died
        message = (
            f"the local model server had stopped by itself ({ended}); its log: {self.log_path}"
            if died
            else "local model server stopped"
        )
        self.reporter("local", message, model=self.model_alias, status=proc.returncode)
        return died

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _PortTaken(Exception):
    pass


def _prune_logs(folder: Path, prefix: str) -> None:
    """Delete the older logs named ``prefix*.log`` in ``folder``: past the newest
    :data:`_KEPT_LOGS`, those untouched for :data:`_KEPT_LOG_SECONDS`."""
    logs: list[tuple[float, Path]] = []
    for path in folder.glob(f"{prefix}*.log"):
        with contextlib.suppress(OSError):
            logs.append((path.stat().st_mtime, path))
    logs.sort(reverse=True)
    old = time.time() - _KEPT_LOG_SECONDS
    for mtime, path in logs[_KEPT_LOGS:]:
        if mtime < old:
            with contextlib.suppress(OSError):
                path.unlink()


def _exit_status(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


#: Talks to 127.0.0.1 directly, whatever http_proxy says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str, alias: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=2) as response:
            body = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False
    ids = [m.get("id") for m in body.get("data", []) if isinstance(m, dict)]
    return alias in ids or not ids


def start_local(settings: Settings, reporter: Reporter = null_reporter) -> LocalServer:
    """A started server for ``settings.local_model``: checks the install, assembles and verifies
    the weights on first use, starts the server and waits until it answers."""
    model = local_model(settings.local_model)
    reason = local_available(model)
    if reason is not None:
        raise NeedsKeyError(
            f"no API key or base URL is set and the local model cannot run: {reason}; "
            f"or set GHQA_API_KEY (or GHQA_BASE_URL) to use a model server"
        )
    path = model_file(model, settings, reporter)
    server = LocalServer(model, path, settings.threads, reporter)
    server.start()
    return server
