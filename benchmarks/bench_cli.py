"""Command-line start-up: `ghqa --help` against a bare Python start, in the same run.

python benchmarks/bench_cli.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    bare = wall([sys.executable, "-c", "pass"], args.repeat)
    help_ = wall([sys.executable, "-m", "ghqa", "--help"], args.repeat)
    ask_help = wall([sys.executable, "-m", "ghqa", "ask", "--help"], args.repeat)
    print(f"python -c pass      {bare * 1000:7.1f} ms")
    print(f"ghqa --help         {help_ * 1000:7.1f} ms  ({help_ / bare:.1f}x a bare start; "
          "target well under 1 s)")  # fmt: skip
    print(f"ghqa ask --help     {ask_help * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
