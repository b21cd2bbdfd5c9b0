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
    shared_clients: int = 1
    """Containers that share each GPU (GKE's GPU sharing; each asks for one): a node holds
    `gpus_per_node x shared_clients` one-GPU server pods. Training pods are counted one per GPU:
    a multi-node run on time-shared GPUs would take turns on one GPU (docs/prod-gke.md: sharing
    is for serving)."""

    def holds(self, gpus: int, *, shares_gpus: bool) -> int:
        """Pods of `gpus` GPUs each that the pool holds at its largest; `shares_gpus`: the pods may
        take a shared GPU slot (servers), else each takes a whole GPU (training)."""
        shared = shares_gpus and gpus == 1
        per_node = self.gpus_per_node * self.shared_clients if shared else self.gpus_per_node // gpus
        return self.max_nodes * per_node


def gpu_scheduling_problems(
    pools: Sequence[PoolCapacity], key: str, facts: StackFacts, *, gpus_field: str, nodes_field: str
) -> list[Problem]:
    """A workload whose pods can never be scheduled: more GPUs per pod than any pool's nodes have,
    or more such pods that must run together (a multi-node run; a Deployment's replicas and the pod
    its rolling update adds) than the pools can ever hold. Shared GPU slots count for servers only.
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
        together = facts.pods_at_once.get(gpus_key)
        shares_gpus = together is not None and together.may_share_gpus
        capacity = sum(pool.holds(gpus, shares_gpus=shares_gpus) for pool in fitting)
        formula = f"{nodes_field} x {gpus_field} // {gpus}"
        if shares_gpus and gpus == 1 and any(pool.shared_clients > 1 for pool in fitting):
            formula += ", x maxSharedClientsPerGpu where the GPUs are shared"
        if together is not None and capacity < together.pods:
            fewer = capacity - together.extra
            problems.append(
                Problem(
                    gpus_key,
                    gpus,
                    f"{together.claim}, but the GPU pools with {gpus} or more GPUs per node hold at most "
                    f"{capacity} such pods ({formula}); raise {nodes_field} in "
                    f"{key}.gpuNodePools" + (f" or {together.count.at_most(fewer)}" if fewer >= 1 else ""),
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
