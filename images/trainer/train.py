"""Train the digits classifier and write model.onnx, metadata.json and checkpoints to a URI.

Single process:  python train.py --output-uri file:///data/run1
Distributed:     torchrun --nnodes=N --nproc-per-node=P --node-rank=R --master-addr=HOST \
                     --master-port=29500 train.py --output-uri s3://bucket/run1
Rank and world size come from the environment torchrun sets; only rank 0 writes. Started again
with the same --output-uri, it resumes from the newest checkpoint there.
"""

from __future__ import annotations

import argparse
import os
import sys

from mltrain import distributed
from mltrain.training import TrainConfig, configure_logging, run


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Parse the command line into a validated TrainConfig; exits 2 listing every bad flag."""
    defaults = TrainConfig(output_uri="")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-uri", required=True, help="file://, s3://, gs:// URI or a local path")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="total epochs (default %(default)s)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help="images per step and per process (default %(default)s)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=defaults.learning_rate,
        help="initial Adam learning rate, decayed by a cosine (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="default %(default)s")
    parser.add_argument("--model-name", default=defaults.model_name, help="default %(default)s")
    parser.add_argument(
        "--device",
        default=defaults.device,
        choices=("auto", "cpu", "cuda"),
        help="auto uses a GPU when one is visible (default %(default)s)",
    )
    args = parser.parse_args(argv)
    config = TrainConfig(
        output_uri=args.output_uri,
        model_name=args.model_name,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        device=args.device,
    )
    problems = config.problems()
    if problems:
        parser.error("; ".join(problems))
    return config


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    rank, _, _ = distributed.read_topology(dict(os.environ))
    configure_logging(rank)
    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
