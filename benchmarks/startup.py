"""Start-up time of the `move` command: help, an argument error, and `move info`.

Runs each command as a fresh process, as a user would type it, and prints the median
wall time of several runs (the first run of each is a warm-up, not counted). `move
--help` and argument errors import nothing heavy and should answer in well under 0.3 s;
`move info` reads the shipped model and so pays for importing torch.

    python benchmarks/startup.py                # 5 runs each
    python benchmarks/startup.py --runs 9 --move .venv/bin/move
    PYTHONPATH=/tmp/old/src python benchmarks/startup.py --move "python -m move.cli"   # another version

Python writes no bytecode caches (``__pycache__``) when PYTHONDONTWRITEBYTECODE is set,
and then compiles the modules that have none on every start; run once with it unset
(``PYTHONDONTWRITEBYTECODE= python benchmarks/startup.py``) to measure what an installed
package does.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time

#: (label, arguments, expected exit status)
COMMANDS: list[tuple[str, list[str], int]] = [
    ("move --help", ["--help"], 0),
    ("move transfer (missing input: argument error)", ["transfer"], 2),
    ("move info (shipped model)", ["info"], 0),
]


def wall_time(command: list[str], expected: int) -> float:
    """Seconds one run of ``command`` takes.

    Raises
    ------
    RuntimeError
        The command exits with another status than ``expected`` (its last stderr line).
    """
    t0 = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != expected:
        last = (done.stderr.strip().splitlines() or [""])[-1]
        raise RuntimeError(f"exit status {done.returncode}, expected {expected}: {last}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (median printed)")
    parser.add_argument("--move", default=None,
                        help="the move command line (default: `move` on PATH, else python -m move.cli)")
    args = parser.parse_args()
    exe = args.move or shutil.which("move")
    base = shlex.split(exe) if exe else [sys.executable, "-m", "move.cli"]
    pyc = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "unset"
    print(f"{' '.join(base)}; PYTHONDONTWRITEBYTECODE {pyc}; median of {args.runs} runs after one warm-up")
    for label, argv, expected in COMMANDS:
        try:
            wall_time(base + argv, expected)  # warm-up: file cache, bytecode
            times = [wall_time(base + argv, expected) for _ in range(args.runs)]
        except RuntimeError as exc:
            print(f"{label:<48} failed ({exc})")
            continue
        print(f"{label:<48} {statistics.median(times):6.3f} s  (min {min(times):.3f}, max {max(times):.3f})")


if __name__ == "__main__":
    main()
