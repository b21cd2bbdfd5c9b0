"""Benchmark the trainer: time per epoch with one process and with two under torchrun.

    python bench/bench_trainer.py [--epochs 10]

Runs `python images/trainer/train.py` (torch's default thread count, and pinned to one thread)
and `torchrun --nproc-per-node=2` (gloo on CPU, one thread each, as torchrun sets) on this
machine, and reads the per-epoch `epoch_seconds=` the trainer logs (the training loop and the
gradient all-reduce; evaluation and the checkpoint write are reported separately as the wall
time between epoch lines). --batch-size is per process, so two processes take half the steps
per epoch with twice the global batch.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = ROOT / "images" / "trainer" / "train.py"
TORCHRUN = Path(sys.executable).with_name("torchrun")
EPOCH = re.compile(
    r"^(\S+)Z INFO rank=0 epoch=(\d+)/\d+ .*test_accuracy=([\d.]+) .*epoch_seconds=([\d.]+)", re.MULTILINE
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(label: str, command: list[str], env: dict[str, str]) -> dict:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{label} failed:\n{result.stdout}{result.stderr}")
    matches = EPOCH.findall(result.stdout + result.stderr)
    stamps = [datetime.fromisoformat(m[0]) for m in matches]
    # Epoch 1 pays for first-touch allocations and thread start-up; report steady state.
    loop = [float(m[3]) for m in matches][1:]
    between = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    return {
        "label": label,
        "epoch_seconds_median": statistics.median(loop),
        "epoch_wall_median": statistics.median(between),
        "final_test_accuracy": float(matches[-1][2]),
        "process_wall_seconds": wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    base_env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "OMP_NUM_THREADS")}
    flags = ["--epochs", str(args.epochs), "--device", "cpu"]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        configs = [
            ("1 process, default threads", [sys.executable, str(TRAIN_SCRIPT)], base_env),
            (
                "1 process, 1 thread",
                [sys.executable, str(TRAIN_SCRIPT)],
                {**base_env, "OMP_NUM_THREADS": "1"},
            ),
            (
                "2 processes (torchrun, gloo), 1 thread each",
                [
                    str(TORCHRUN),
                    "--nnodes=1",
                    "--nproc-per-node=2",
                    "--node-rank=0",
                    "--master-addr=127.0.0.1",
                    f"--master-port={free_port()}",
                    str(TRAIN_SCRIPT),
                ],
                base_env,
            ),
        ]
        for index, (label, command, env) in enumerate(configs):
            output = Path(scratch, f"run{index}").as_uri()
            rows.append(run(label, [*command, "--output-uri", output, *flags], env))
            print(f"  done: {label}", flush=True)
    print(f"\ncpus={os.cpu_count()} epochs={args.epochs} batch_size=32 per process")
    print(
        "| configuration | training loop s/epoch (median) | wall s/epoch incl. eval + checkpoint "
        "| final test accuracy | process wall s |"
    )
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['label']} | {row['epoch_seconds_median']:.3f} | {row['epoch_wall_median']:.3f} "
            f"| {row['final_test_accuracy']:.4f} | {row['process_wall_seconds']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
