"""Benchmark the server's input path in process: CPU per request of parsing each body on its own
(`InputSpec.parse`) against decoding each and assembling a call's requests together
(`InputSpec.decode` + `InputSpec.assemble`, what micro-batching does for small requests).

    python bench/bench_inputs.py [--repeat 5]

Bodies are digits images (8 x 8, the [8, 8] layout) as the server bench sends them. The rows are
requests of 1, 4 and 8 instances shared by calls of 1 to 16 requests; the deferral threshold
(DEFERRED_MAX_VALUES, 256 numbers: four images) sits where assembling stops paying.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "images" / "server"))

import numpy as np  # noqa: E402 - after the path to the server's package
from mlserve.inputs import InputSpec  # noqa: E402


def microseconds_per_request(statement: object, requests: int, repeat: int) -> float:
    runs = 2000 // requests + 1
    return 1e6 * min(timeit.repeat(statement, number=runs, repeat=repeat)) / (runs * requests)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timing rounds; the best is kept (default 5)")
    args = parser.parse_args()
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]  # scikit-learn ships no types

    images = load_digits().images
    spec = InputSpec((1, 8, 8), (0.0, 16.0))
    columns = ("instances per request", "requests per call", "parse each µs/request", "decode + assemble µs/request")
    print("| " + " | ".join(columns) + " | ratio |")
    print("|---" * (len(columns) + 1) + "|")
    for instances in (1, 4, 8):
        body = json.dumps({"instances": images[:instances].tolist()}).encode()
        for per_call in (1, 4, 8, 16):

            def parse_each(body: bytes = body, per_call: int = per_call) -> None:
                np.concatenate([spec.parse(body, 64) for _ in range(per_call)])

            def decode_and_assemble(body: bytes = body, per_call: int = per_call) -> None:
                decoded = [spec.decode(body, 64) for _ in range(per_call)]
                spec.assemble([d for d in decoded if d is not None])

            separate = microseconds_per_request(parse_each, per_call, args.repeat)
            together = microseconds_per_request(decode_and_assemble, per_call, args.repeat)
            print(f"| {instances} | {per_call} | {separate:.1f} | {together:.1f} | {together / separate:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
