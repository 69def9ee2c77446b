"""Counting tokens: with the local model's own tokenizer, or with an estimate calibrated on it.

Prompts are sized in tokens, and code is sent as numbered lines (``Workspace.numbered``)::

    counter = local_tokenizer(settings) or estimated_counter("c")
    counter.count(prompt)                                 # tokens of any text
    counter.count_lines(rendered)                         # per line, with its newline
    counter.count_numbered(lines, first=259, width=3)     # per line, as "259| code\\n"

:class:`ModelTokenizer` reads the vocabulary of a GGUF file in this process (llama-cpp-python,
without the weights) and counts exactly what llama.cpp's tokenizer makes of a text, as
``tokenize(text, add_bos=False, special=False)``. For Qwen2's tokenizer it splits the text into
pre-tokens itself (the regular expression llama.cpp applies first; byte-pair merges never cross
them) and counts each distinct pre-token once, which is many times faster than handing every
line to llama.cpp.

:class:`EstimatedCounter` needs nothing: digits, ``|`` and non-ASCII characters count a token
each, other characters at a per-language ratio fitted to the Qwen2.5 tokenizer on numbered
lines of real code. Hosted models have other tokenizers: OpenAI's keep up to three digits in a
token, so for them line numbers are counted high.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import re
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import EngineError, NeedsKeyError
from ..settings import Settings


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens for one model: exactly (its tokenizer) or as an estimate."""

    def count(self, text: str) -> int:
        """The tokens of ``text``; 0 for an empty text."""
        ...

    def count_lines(self, lines: Sequence[str]) -> list[int]:
        """The tokens of each of ``lines`` followed by a newline, as in a text of them."""
        ...

    def count_numbered(
        self, lines: Sequence[str], first: int = 1, width: int | None = None
    ) -> list[int]:
        """The tokens of each of ``lines`` (numbered from ``first``) as ``Workspace.numbered``
        renders it: ``f"{n:>{width}}| {line}"`` and its newline. ``width`` defaults to the
        digits of the last number. The sum is the cost of the whole listing."""
        ...


def numbered_width(first: int, count: int) -> int:
    """The width of the line numbers of ``count`` lines numbered from ``first``."""
    return len(str(max(first, first + count - 1)))


def prefix_tokens(number: int, width: int) -> int:
    """Qwen2's tokens for the ``f"{number:>{width}}|"`` before a line: a token per digit, one
    or two for the padding (the spaces after a newline but the last are one pre-token, the
    last another) and one for the bar, whose pre-token the space after it always ends."""
    digits = len(str(number))
    return digits + min(max(width - digits, 0), 2) + 1


# --- the estimate ----------------------------------------------------------------------------

#: Characters per token for each language, digits, ``|`` and non-ASCII characters excepted
#: (a token each). Fitted to the Qwen2.5-Coder tokenizer's count of every line as a numbered
#: listing shows it after its number (``" code\n"``), over the files named in each comment
#: (``benchmarks/calibrate_tokens.py``).
CHARS_PER_TOKEN: dict[str, float] = {
    "c": 3.48,  # kernel/sched of Linux 6.12 (.c and .h, 1.57 MB)
    "cpp": 3.62,  # llama.cpp's src/*.cpp (vendored by llama-cpp-python 0.3.36, 1.84 MB)
    "python": 4.16,  # itsdangerous 2.2.0 and ghqa's own package (0.74 MB)
    "java": 4.49,  # java.base/java/util/*.java of the JDK 25 sources (4.4 MB)
    "javascript": 4.08,  # npm 11's lib/ (0.54 MB)
    "typescript": 4.01,  # tests/fixtures/languages/{typescript,tsx} (2.4 kB)
    "go": 3.52,  # git's contrib/persistent-https and tests/fixtures/languages/go (16 kB)
    "rust": 3.74,  # tests/fixtures/languages/rust (1.4 kB)
    "markdown": 3.98,  # ghqa's README and benchmark reports, two Node.js API pages (0.22 MB)
}
#: Languages without a measured ratio get the lowest one (C's): rather too many tokens than
#: too few.
DEFAULT_CHARS_PER_TOKEN = min(CHARS_PER_TOKEN.values())

_LANGUAGE_ALIASES = {
    "tsx": "typescript",
    "jsx": "javascript",
    "md": "markdown",
    "english": "markdown",
    "text": "markdown",
    "rst": "markdown",
    "c++": "cpp",
    "objc": "c",
    "objcpp": "cpp",
}


def chars_per_token(lang: str | None) -> float:
    """The calibrated ratio for ``lang`` (a name of ``ghqa.index.languages``), or the default."""
    key = (lang or "").strip().lower()
    key = _LANGUAGE_ALIASES.get(key, key)
    return CHARS_PER_TOKEN.get(key, DEFAULT_CHARS_PER_TOKEN)


class EstimatedCounter:
    """Tokens estimated from characters: a token per digit, ``|`` and non-ASCII character, and
    ``chars_per_token`` characters per token for the rest. Thread-safe (no state)."""

    exact = False

    def __init__(self, chars_per_token: float = DEFAULT_CHARS_PER_TOKEN) -> None:
        if not chars_per_token > 0:
            raise ValueError(f"chars_per_token must be positive, not {chars_per_token!r}")
        self.chars_per_token = chars_per_token

    def __repr__(self) -> str:
        return f"EstimatedCounter({self.chars_per_token})"

    def _tokens(self, text: str) -> float:
        ascii_chars = len(text) if text.isascii() else len(text.encode("ascii", "ignore"))
        whole = sum(map(text.count, "0123456789|"))
        return whole + (len(text) - ascii_chars) + (ascii_chars - whole) / self.chars_per_token

    def count(self, text: str) -> int:
        if not text:
            return 0
        return max(1, int(self._tokens(text) + 0.5))

    def count_lines(self, lines: Sequence[str]) -> list[int]:
        return [self.count(f"{line}\n") for line in lines]

    def count_numbered(
        self, lines: Sequence[str], first: int = 1, width: int | None = None
    ) -> list[int]:
        width = numbered_width(first, len(lines)) if width is None else width
        return [
            prefix_tokens(n, width) + int(self._tokens(f" {line}\n") + 0.5)
            for n, line in enumerate(lines, first)
        ]


def estimated_counter(lang: str | None = None) -> EstimatedCounter:
    """The estimate calibrated for ``lang`` (``c``, ``python``, ...; None: the default)."""
    return EstimatedCounter(chars_per_token(lang))


# --- the model's tokenizer -------------------------------------------------------------------

#: llama.cpp's pre-tokenizer expression for Qwen2 (``LLAMA_VOCAB_PRE_TYPE_QWEN2``), with
#: ``\p{L}`` and ``\p{N}`` narrowed to ASCII: it is applied only to text of printable ASCII,
#: tabs and newlines, where the two are the same.
_QWEN2_ASCII = re.compile(
    r"'(?:[sStTmMdD]|[rR][eE]|[vV][eE]|[lL][lL])"
    r"|[^\r\nA-Za-z0-9]?[A-Za-z]+"
    r"|[0-9]"
    r"| ?[^\sA-Za-z0-9]+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)
#: Characters outside that alphabet: text holding any goes to llama.cpp whole.
_NOT_PLAIN = re.compile(r"[^\t\n\r\x20-\x7e]")
#: Texts are counted in pieces of about this many characters, cut after a newline that a
#: letter or digit follows: a pre-token never spans such a place.
_PIECE = 1 << 18
_CUT = re.compile(r"\n(?=[A-Za-z0-9])")
#: Most distinct pre-tokens (and lines) remembered; the cache starts afresh past this.
_CACHE_LIMIT = 200_000

_TOKEN_ATTR_USER_DEFINED = 1 << 4  # llama_token_attr: matched in text even without `special`
_GGML_LOG_ERROR = 4

_load_lock = threading.Lock()
_log_lines: list[bytes] = []


def _pieces(text: str) -> Iterator[str]:
    start = 0
    while len(text) - start > _PIECE:
        cut = _CUT.search(text, start + _PIECE)
        if cut is None:
            break
        yield text[start : cut.end()]
        start = cut.end()
    yield text[start:] if start else text


class ModelTokenizer:
    """The tokenizer of a GGUF model, loaded without its weights. Thread-safe.

    ``fast`` (the default) counts Qwen2-tokenized ASCII text by pre-token, with a cache;
    results are the same as llama.cpp's, which counts everything else (and all text when
    ``fast`` is False)."""

    exact = True

    def __init__(self, path: Path, *, fast: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._model, self._vocab, self._lib = _load_vocab(self.path)
        self._finalizer = weakref.finalize(self, self._lib.llama_model_free, self._model)
        self.pre_tokenizer = _meta(self._lib, self._model, "tokenizer.ggml.pre")
        self.fast = fast and self.pre_tokenizer == "qwen2"
        #: Texts of tokens llama.cpp matches in plain text (Qwen's ``<tool_call>``).
        self.user_tokens = _user_defined_tokens(self._lib, self._vocab)
        self._user_token = (
            re.compile("|".join(map(re.escape, self.user_tokens))) if self.user_tokens else None
        )
        self._piece_tokens: dict[str, int] = {}
        self._text_tokens: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ModelTokenizer({str(self.path)!r})"

    def close(self) -> None:
        """Free the vocabulary; counting afterwards raises EngineError."""
        with self._lock:
            self._finalizer()

    def __enter__(self) -> ModelTokenizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self, text: str) -> int:
        if not text:
            return 0
        if len(text) <= _PIECE and self.fast and self._plain(text):
            return self._count_plain(text)
        total = 0
        for piece in _pieces(text):
            if self.fast and self._plain(piece):
                total += self._count_plain(piece)
            else:
                total += self._llama_count(piece)
        return total

    def count_numbered(
        self, lines: Sequence[str], first: int = 1, width: int | None = None
    ) -> list[int]:
        width = numbered_width(first, len(lines)) if width is None else width
        if not self.fast:
            return [self.count(f"{n:>{width}}| {line}\n") for n, line in enumerate(lines, first)]
        return [
            prefix_tokens(n, width) + self._remembered(f" {line}\n")
            for n, line in enumerate(lines, first)
        ]

    def count_lines(self, lines: Sequence[str]) -> list[int]:
        return [self._remembered(f"{line}\n") for line in lines]

    def _remembered(self, text: str) -> int:
        """:meth:`count`, remembered for the text (lines repeat: blank lines, braces)."""
        known = self._text_tokens
        tokens = known.get(text)
        if tokens is None:
            tokens = self.count(text)
            if len(known) >= _CACHE_LIMIT:
                known.clear()
            known[text] = tokens
        return tokens

    def _plain(self, text: str) -> bool:
        if _NOT_PLAIN.search(text) is not None:
            return False
        return self._user_token is None or self._user_token.search(text) is None

    def _count_plain(self, text: str) -> int:
        pieces: Iterable[tuple[str, int]]
        if len(text) > 512:  # many repeats: count each distinct pre-token once
            pieces = collections.Counter(_QWEN2_ASCII.findall(text)).items()
        else:
            pieces = ((piece, 1) for piece in _QWEN2_ASCII.findall(text))
        known = self._piece_tokens
        total = 0
        for piece, times in pieces:
            tokens = known.get(piece)
            if tokens is None:
                tokens = self._llama_count(piece)
                if len(known) >= _CACHE_LIMIT:
                    known.clear()
                known[piece] = tokens
            total += tokens * times
        return total

    def _llama_count(self, text: str) -> int:
        data = text.encode("utf-8", "surrogatepass")
        with self._lock:
            if not self._finalizer.alive:
                raise EngineError(f"the tokenizer of {self.path.name} was closed")
            # With no room for tokens, llama_tokenize returns minus the number it needs.
            n = self._lib.llama_tokenize(self._vocab, data, len(data), None, 0, False, False)
        return -int(n)


def _silent_log(level: int, text: bytes, user_data: Any) -> None:
    if level == _GGML_LOG_ERROR:
        _log_lines.append(text)


def _load_vocab(path: Path) -> tuple[Any, Any, Any]:
    """The model handle, vocabulary and ``llama_cpp`` module for the GGUF at ``path``.

    llama.cpp's log goes nowhere while it loads (its errors into the exception), and back to
    llama-cpp-python's handler afterwards."""
    try:
        import llama_cpp
        from llama_cpp import _logger
    except ImportError as exc:
        raise EngineError(
            f"llama-cpp-python is not installed ({exc}): run pip install 'ghqa[local]'"
        ) from exc
    if not path.is_file():
        raise EngineError(f"no model file at {path}")
    with _load_lock:
        _log_lines.clear()
        quiet = _quiet_callback(llama_cpp)
        llama_cpp.llama_log_set(quiet, ctypes.c_void_p(0))
        try:
            params = llama_cpp.llama_model_default_params()
            params.vocab_only = True
            model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        finally:
            llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
        if not model:
            said = b"".join(_log_lines).decode("utf-8", "replace").strip().splitlines()
            why = f": {said[-1]}" if said else ""
            raise EngineError(f"llama.cpp could not read the vocabulary of {path}{why}")
    return model, llama_cpp.llama_model_get_vocab(model), llama_cpp


_QUIET: list[Any] = []  # the ctypes callback, kept alive for as long as llama.cpp may call it


def _quiet_callback(llama_cpp: Any) -> Any:
    if not _QUIET:
        _QUIET.append(llama_cpp.llama_log_callback(_silent_log))
    return _QUIET[0]


def _meta(lib: Any, model: Any, key: str) -> str:
    buf = ctypes.create_string_buffer(256)
    n = lib.llama_model_meta_val_str(model, key.encode(), buf, len(buf))
    return buf.value.decode("utf-8", "replace") if n >= 0 else ""


def _user_defined_tokens(lib: Any, vocab: Any) -> tuple[str, ...]:
    found = []
    for token in range(lib.llama_vocab_n_tokens(vocab)):
        if lib.llama_vocab_get_attr(vocab, token) & _TOKEN_ATTR_USER_DEFINED:
            text = lib.llama_vocab_get_text(vocab, token)
            if text:
                found.append(text.decode("utf-8", "replace"))
    return tuple(found)


_tokenizers: dict[Path, ModelTokenizer] = {}


def model_tokenizer(path: Path) -> ModelTokenizer:
    """The tokenizer of the GGUF at ``path``, loaded once per process."""
    path = Path(path).resolve()
    with _load_lock:
        found = _tokenizers.get(path)
    if found is None:
        found = ModelTokenizer(path)
        with _load_lock:
            found = _tokenizers.setdefault(path, found)
    return found


def local_tokenizer(settings: Settings, model: str | None = None) -> ModelTokenizer | None:
    """The tokenizer of the local model (``settings.local_model``, or ``model``), or None when
    llama-cpp-python or the model's weights are not installed (or cannot be read). The weights
    are assembled first if needed. ConfigError if the model is unknown."""
    from ..local import local_available, local_model, model_file

    chosen = local_model(model or settings.local_model)
    if local_available(chosen) is not None:
        return None
    with contextlib.suppress(EngineError, NeedsKeyError):
        return model_tokenizer(model_file(chosen, settings))
    return None
