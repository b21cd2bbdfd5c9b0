"""The GPU capacity check every backend with GPU pools makes at validation: a workload whose pods
no pool can ever schedule is a config error, named by the workload's key, before any resource."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.schema import Problem, StackFacts


@dataclass(frozen=True)
class PoolCapacity:
    name: str
    gpus_per_node: int
    max_nodes: int


def gpu_scheduling_problems(
    pools: Sequence[PoolCapacity], key: str, facts: StackFacts, *, gpus_field: str, nodes_field: str
) -> list[Problem]:
    """A workload whose pods can never be scheduled: more GPUs per pod than any pool's nodes have,
    or more such pods that must run together (a multi-node run) than the pools can ever hold.
    No pool at all is not a problem here: GPU workloads then run on CPU, with a warning.
    `key`: the backend's config key; `gpus_field` and `nodes_field`: what its pools call GPUs per
    node and their most nodes."""
    if not pools:
        return []
    problems = []
    sizes = ", ".join(f"{pool.name}: {pool.gpus_per_node}" for pool in pools)
    for gpus_key, gpus in facts.gpus_per_pod:
        fitting = [pool for pool in pools if pool.gpus_per_node >= gpus]
        if not fitting:
            most = max(pool.gpus_per_node for pool in pools)
            problems.append(
                Problem(
                    gpus_key,
                    gpus,
                    f"no GPU node pool has {gpus} GPUs per node ({key}.gpuNodePools {gpus_field}: {sizes}), so "
                    f"these pods could never be scheduled; ask for at most {most} or add a pool with "
                    f"{gpus_field} >= {gpus}",
                )
            )
            continue
        together = facts.pods_at_once.get(gpus_key, 1)
        capacity = sum(pool.max_nodes * (pool.gpus_per_node // gpus) for pool in fitting)
        if capacity < together:
            problems.append(
                Problem(
                    gpus_key,
                    gpus,
                    f"the run's {together} pods must all run at once, but the GPU pools with {gpus} or more GPUs "
                    f"per node hold at most {capacity} such pods ({nodes_field} x {gpus_field} // {gpus}); raise "
                    f"{nodes_field} in {key}.gpuNodePools or lower the run's nodes",
                )
            )
    return problems


def check_unique_pool_names(names: Sequence[str], reserved: str = "system") -> None:
    """GPU pool names become node labels and logical names: unique, and not the system pool's."""
    seen: set[str] = set()
    for name in names:
        if name in seen or name == reserved:
            raise ValueError(
                f"gpuNodePools names must be unique and not {reserved!r}; {name!r} is repeated or reserved"
            )
        seen.add(name)
