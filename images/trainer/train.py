r"""Train a classifier (--dataset) and write run.json, checkpoints, model.onnx and metadata.json to a URI.

Single process:  python train.py --output-uri file:///data/run1
Distributed:     torchrun --nnodes=N --nproc-per-node=P --node-rank=R --master-addr=HOST \
                     --master-port=29500 train.py --output-uri s3://bucket/run1
Rank and world size come from the environment torchrun sets; only rank 0 writes. Started again
with the same --output-uri and settings, it resumes from the newest checkpoint there; other
settings are refused (a run is never extended or changed).

Exit codes: 0 the model is complete; 2 bad flags or torchrun variables (RANK, WORLD_SIZE,
MASTER_ADDR, ...); 3 the output location cannot be read or written; 4 the output holds a run with
other settings, or artifacts without run.json; 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import os
import sys

from mltrain import distributed
from mltrain.data import DATASETS
from mltrain.storage_uri import SUPPORTED_LOCATIONS
from mltrain.training import TrainConfig, TrainerError, configure_logging, log, run


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Parse the command line into a validated TrainConfig; exits 2 listing every bad flag, bad
    topology variable (RANK, LOCAL_RANK, WORLD_SIZE, and MASTER_ADDR and MASTER_PORT for more than
    one process) and a device this machine lacks."""
    defaults = TrainConfig(output_uri="")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-uri", required=True, help=SUPPORTED_LOCATIONS)
    parser.add_argument(
        "--dataset",
        default=defaults.dataset,
        metavar="{" + ",".join(DATASETS) + "}",
        help="what to train on; it decides the network and the model's input (default %(default)s)",
    )
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="total epochs (default %(default)s)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help="examples per step and per process (default %(default)s)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=defaults.learning_rate,
        help="initial Adam learning rate, decayed by a cosine (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="default %(default)s")
    parser.add_argument("--model-name", default=None, help="name in metadata.json (default: the dataset's name)")
    parser.add_argument(
        "--device",
        default=defaults.device,
        choices=("auto", "cpu", "cuda"),
        help="auto uses a GPU when one is visible (default %(default)s)",
    )
    args = parser.parse_args(argv)
    config = TrainConfig(
        output_uri=args.output_uri,
        dataset=args.dataset,
        model_name=args.model_name,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        device=args.device,
    )
    # Flags, the environment torchrun sets and the device, all before anything is written.
    problems = [*config.problems(), *distributed.topology_problems(dict(os.environ))]
    if (device := distributed.device_problem(config.device)) is not None:
        problems.append(device)
    if problems:
        # Exit 2 as argparse does for bad flags, in one line (no usage block): in a Job's log the
        # reason is what matters.
        parser.exit(2, f"{parser.prog}: error: {'; '.join(problems)}\n")
    return config


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    rank, _, _ = distributed.read_topology(dict(os.environ))
    configure_logging(rank)
    try:
        run(config)
    except TrainerError as error:
        log.error("%s", error)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
