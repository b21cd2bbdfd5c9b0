"""Tier 3: the cost of the real prod-gke stack, from its real render. The figures must equal sums
computed here by hand from tools/prices.yaml, and a change of GPU pool size or of spot in a copy of
the stack file must move them by exactly what that change costs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import cost_helpers
from tools import cost, pricing

STACK = "prod-gke"
PRICES = yaml.safe_load(pricing.PRICES_FILE.read_text())
HOURS = PRICES["hours_per_month"]
USAGE = PRICES["usage"]
GCP = PRICES["clouds"]["gcp"]["regions"]["us-central1"]
ITEMS = GCP["items"]
MACHINES = GCP["machines"]["types"]
BALANCED = ITEMS["block_storage"]["per_gb_month"]["pd-balanced"]
SPOT_DISCOUNT = PRICES["clouds"]["gcp"]["spot"]["discount"]

# The stack's facts the hand sums use, checked against the render by the first test.
SYSTEM = {"machine": "e2-standard-4", "min": 2, "max": 4, "disk_gb": 50}
GPU = {"machine": "g2-standard-8", "min": 0, "max": 2, "disk_gb": 100}


def node_month(pool: dict[str, Any], discount: float = 0.0) -> float:
    return MACHINES[pool["machine"]]["hourly"] * (1 - discount) * HOURS + pool["disk_gb"] * BALANCED


def nat_month(nodes: int) -> float:
    """Cloud NAT bills per VM-hour up to its cap, plus the one external address it allocates."""
    nat = ITEMS["nat_gateway"]
    return (min(nodes * nat["per_vm_hourly"], nat["max_hourly"]) + ITEMS["public_ipv4"]["hourly"]) * HOURS


def hand_sums(gpu_max: int = GPU["max"]) -> tuple[float, float]:
    """(idle, busy) of prod-gke: every figure from the price file, every count from the stack."""
    fixed = (
        ITEMS["kubernetes_cluster"]["hourly"] * HOURS
        + 1 * ITEMS["load_balancer"]["hourly"] * HOURS  # the digits model's LoadBalancer Service
        + USAGE["artifact_bucket_gb"]["value"] * ITEMS["object_storage"]["per_gb_month"]
        + 1 * USAGE["registry_gb_per_repository"]["value"] * ITEMS["registry_storage"]["per_gb_month"]
    )
    nat_data = {s: USAGE["nat_processed_gb_per_month"][s] * ITEMS["nat_gateway"]["per_gb"] for s in ("idle", "busy")}
    idle_nodes, busy_nodes = SYSTEM["min"] + GPU["min"], SYSTEM["max"] + gpu_max
    idle = fixed + SYSTEM["min"] * node_month(SYSTEM) + nat_month(idle_nodes) + nat_data["idle"]
    busy = fixed + SYSTEM["max"] * node_month(SYSTEM) + gpu_max * node_month(GPU) + nat_month(busy_nodes)
    return idle, busy + nat_data["busy"]


@pytest.fixture(scope="module")
def gke(rendered_stack):
    return rendered_stack(STACK)


@pytest.fixture(scope="module")
def estimate(gke) -> cost.Estimate:
    return cost.estimate(gke.directory)


def test_the_stack_facts_of_the_hand_sums_are_the_renders(gke):
    for name, pool in (("cluster-system", SYSTEM), ("cluster-gpu-l4", GPU)):
        inputs = gke.one("gcp:container/nodePool:NodePool", name)["inputs"]
        node = inputs["nodeConfig"]
        assert node["machineType"] == pool["machine"] and node.get("spot", False) is False
        assert node["diskSizeGb"] == pool["disk_gb"] and node.get("diskType", "pd-balanced") == "pd-balanced"
        scaling = inputs["autoscaling"]
        assert (scaling["totalMinNodeCount"], scaling["totalMaxNodeCount"]) == (pool["min"], pool["max"])
    assert gke.outputs["region"] == "us-central1"


def test_monthly_figures_equal_a_hand_sum_from_the_price_file(estimate):
    idle, busy = hand_sums()
    assert estimate.unpriced == ()
    assert estimate.monthly_idle == pytest.approx(idle, abs=1e-9)
    assert estimate.monthly_busy == pytest.approx(busy, abs=1e-9)
    (node,) = estimate.gpu_nodes
    assert (node.pool, node.machine, node.gpus, node.spot) == ("cluster-gpu-l4", "g2-standard-8", 1, False)


def estimate_changed(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> cost.Estimate:
    return cost_helpers.estimate_changed(tmp_path, STACK, "ml-platform:gke", change)


def test_a_larger_gpu_pool_maximum_raises_busy_by_the_added_nodes_and_their_nat_share(estimate, tmp_path):
    def grow(gke: dict[str, Any]) -> None:
        gke["gpuNodePools"][0]["maxNodes"] = 5

    changed = estimate_changed(tmp_path, grow)
    assert changed.monthly_busy == pytest.approx(hand_sums(gpu_max=5)[1], abs=1e-9)
    assert changed.monthly_busy - estimate.monthly_busy > 3 * node_month(GPU) - 1e-9, "three more nodes at least"
    assert changed.monthly_idle == pytest.approx(estimate.monthly_idle, abs=1e-9), "idle GPU pools stay at zero"


def test_spot_lowers_busy_and_the_gpu_node_price_by_the_spot_assumption(estimate, tmp_path):
    def spot(gke: dict[str, Any]) -> None:
        gke["gpuNodePools"][0]["spot"] = True

    changed = estimate_changed(tmp_path, spot)
    saved_per_node_hour = MACHINES["g2-standard-8"]["hourly"] * SPOT_DISCOUNT  # the disk is not discounted
    assert estimate.monthly_busy - changed.monthly_busy == pytest.approx(GPU["max"] * saved_per_node_hour * HOURS)
    assert changed.monthly_idle == pytest.approx(estimate.monthly_idle, abs=1e-9)
    (node,) = changed.gpu_nodes
    assert node.spot and estimate.gpu_nodes[0].hourly - node.hourly == pytest.approx(saved_per_node_hour)
