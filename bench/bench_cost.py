"""Cost of a cost estimate, beside the render it reads.

    .venv/bin/python bench/bench_cost.py [--repeat 5]

For each stack, prints the median wall time of: rendering it (`python -m tools.render`, a fresh
process), estimating that render in this process (`tools.cost.estimate`: reading resources.json,
outputs.json and tools/prices.yaml, pricing every resource), the same as a command
(`python -m tools.cost --render DIR`), and the whole `python -m tools.cost STACK` (render + estimate).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import cost  # noqa: E402 - after the path fix, as when run from the repository root
from tools.render import known_stacks  # noqa: E402


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    print(
        f"{'stack':<10}{'render s':>10}{'estimate ms':>13}{'cost --render s':>17}{'cost STACK s':>14}{'resources':>11}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for stack in known_stacks():
            out = Path(scratch) / stack
            render = statistics.median(
                timed([python, "-m", "tools.render", stack, "--out", str(out)]) for _ in range(args.repeat)
            )
            in_process = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                est = cost.estimate(out)
                in_process.append(time.perf_counter() - start)
            command = statistics.median(
                timed([python, "-m", "tools.cost", "--render", str(out)]) for _ in range(args.repeat)
            )
            whole = statistics.median(timed([python, "-m", "tools.cost", stack]) for _ in range(args.repeat))
            count = len(est.lines) + len(est.free) + len(est.unpriced)
            print(
                f"{stack:<10}{render:>10.2f}{statistics.median(in_process) * 1000:>13.1f}"
                f"{command:>17.2f}{whole:>14.2f}{count:>11}"
            )


if __name__ == "__main__":
    main()
