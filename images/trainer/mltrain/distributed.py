"""Process-group setup from the environment that torchrun (and a Kubernetes Indexed Job) provide."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job. `world_size == 1` means no process group."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        """Rank 0 is the only writer of checkpoints and of the final model."""
        return self.rank == 0


def _env_int(env: dict[str, str], name: str, default: int, problems: list[str]) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        problems.append(f"environment variable {name}={raw!r} is not an integer")
        return default


def select_device(choice: str, local_rank: int) -> torch.device:
    """Map `--device` (auto, cpu, cuda) to a device; `auto` prefers a visible GPU."""
    if choice == "cpu":
        return torch.device("cpu")
    if choice not in ("auto", "cuda"):
        raise ValueError(f"unknown device {choice!r}; expected auto, cpu or cuda")
    if torch.cuda.is_available():
        index = local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    if choice == "cuda":
        raise RuntimeError("--device cuda was requested but torch sees no CUDA device")
    return torch.device("cpu")


def device_problem(choice: str) -> str | None:
    """Why `--device` cannot be used on this machine (cuda without a GPU torch sees), or None."""
    if choice == "cuda" and not torch.cuda.is_available():
        return "--device cuda needs a GPU, and torch sees none (--device auto or cpu train on the CPU)"
    return None


def _topology(env: dict[str, str]) -> tuple[tuple[int, int, int], list[str]]:
    problems: list[str] = []
    world_size = _env_int(env, "WORLD_SIZE", 1, problems)
    rank = _env_int(env, "RANK", 0, problems)
    local_rank = _env_int(env, "LOCAL_RANK", 0, problems)
    if world_size < 1:
        problems.append(f"environment variable WORLD_SIZE={world_size} must be at least 1")
    elif not 0 <= rank < world_size:
        problems.append(f"environment variable RANK={rank} must be from 0 to WORLD_SIZE-1 ({world_size - 1})")
    if local_rank < 0:
        problems.append(f"environment variable LOCAL_RANK={local_rank} must be at least 0")
    if world_size > 1:
        problems.extend(_rendezvous_problems(env, world_size))
    return (rank, local_rank, world_size), problems


def _rendezvous_problems(env: dict[str, str], world_size: int) -> list[str]:
    """What a process of a job of `world_size` lacks to join it: torchrun sets RANK, MASTER_ADDR
    and MASTER_PORT for every worker, and the process group's env:// method reads them (without
    them it fails with a traceback, after the device is chosen)."""
    problems = []
    needs = f"WORLD_SIZE={world_size} needs it (torchrun sets it)"
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if not env.get(name, "").strip():
            problems.append(f"environment variable {name} is not set; {needs}")
    port = env.get("MASTER_PORT", "").strip()
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        problems.append(f"environment variable MASTER_PORT={port!r} must be a port, 1 to 65535")
    return problems


def topology_problems(env: dict[str, str]) -> list[str]:
    """What is wrong with RANK, LOCAL_RANK and WORLD_SIZE (as torchrun sets them), and, for more
    than one process, with RANK, MASTER_ADDR and MASTER_PORT being set, each naming the variable
    and what it allows; empty when they describe a process of a job."""
    return _topology(env)[1]


def read_topology(env: dict[str, str]) -> tuple[int, int, int]:
    """Return `(rank, local_rank, world_size)` from RANK, LOCAL_RANK and WORLD_SIZE; raises
    ValueError naming every problem (train.py reports them as bad input before it starts)."""
    topology, problems = _topology(env)
    if problems:
        raise ValueError("; ".join(problems))
    return topology


def init(device_choice: str, env: dict[str, str] | None = None) -> DistContext:
    """Join the process group when WORLD_SIZE > 1 (NCCL on GPU, gloo on CPU)."""
    rank, local_rank, world_size = read_topology(dict(os.environ) if env is None else env)
    device = select_device(device_choice, local_rank)
    backend = None
    if world_size > 1:
        backend = "nccl" if device.type == "cuda" else "gloo"
        # MASTER_ADDR and MASTER_PORT come from torchrun through the env:// init method.
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistContext(rank, local_rank, world_size, device, backend)


def broadcast_from_main(ctx: DistContext, value: Any) -> Any:
    """Return rank 0's `value` on every rank (pickled; meant for small objects)."""
    if ctx.world_size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(ctx: DistContext, values: list[float]) -> list[float]:
    """Sum each number over all ranks."""
    if ctx.world_size == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def barrier(ctx: DistContext) -> None:
    if ctx.world_size > 1:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
