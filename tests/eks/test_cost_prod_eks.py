"""Tier 3: the cost of the real prod-eks stack, from its real render. The figures must equal sums
computed here by hand from tools/prices.yaml, and a change of GPU pool size, of capacity type or
of NAT mode in a copy of the stack file must move them by exactly what that change costs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import cost_helpers
from tests.rendering import PROJECT_ROOT
from tools import cost, pricing

STACK = "prod-eks"
PRICES = yaml.safe_load(pricing.PRICES_FILE.read_text())
HOURS = PRICES["hours_per_month"]
USAGE = PRICES["usage"]
AWS = PRICES["clouds"]["aws"]["regions"]["us-west-2"]
ITEMS = AWS["items"]
MACHINES = AWS["machines"]["types"]
GP3 = ITEMS["block_storage"]["per_gb_month"]["gp3"]
SPOT_DISCOUNT = PRICES["clouds"]["aws"]["spot"]["discount"]

# The stack's facts the hand sums use, checked against the render by the first test.
ZONES = 3
SYSTEM = {"instance": "m6i.large", "min": 2, "max": 4, "disk_gb": 50}
GPU = {"instance": "g5.xlarge", "min": 0, "max": 2, "disk_gb": 100}


def node_month(pool: dict[str, Any], discount: float = 0.0) -> float:
    return MACHINES[pool["instance"]]["hourly"] * (1 - discount) * HOURS + pool["disk_gb"] * GP3


def hand_sums(nat_gateways: int = ZONES) -> tuple[float, float]:
    """(idle, busy) of prod-eks: every figure from the price file, every count from the stack."""
    fixed = (
        ITEMS["kubernetes_cluster"]["hourly"] * HOURS
        + nat_gateways * (ITEMS["nat_gateway"]["hourly"] + ITEMS["public_ipv4"]["hourly"]) * HOURS  # NAT + its EIP
        # the digits model's LoadBalancer Service: an internet-facing NLB, one public IPv4 address per zone
        + 1 * (ITEMS["load_balancer"]["hourly"] + ZONES * ITEMS["public_ipv4"]["hourly"]) * HOURS
        + 2 * ITEMS["kms_key"]["monthly"]  # cluster secrets, artifacts
        + USAGE["artifact_bucket_gb"]["value"] * ITEMS["object_storage"]["per_gb_month"]
        + 2 * USAGE["registry_gb_per_repository"]["value"] * ITEMS["registry_storage"]["per_gb_month"]
    )
    nat_data = {s: USAGE["nat_processed_gb_per_month"][s] * ITEMS["nat_gateway"]["per_gb"] for s in ("idle", "busy")}
    idle = fixed + SYSTEM["min"] * node_month(SYSTEM) + GPU["min"] * node_month(GPU) + nat_data["idle"]
    busy = fixed + SYSTEM["max"] * node_month(SYSTEM) + GPU["max"] * node_month(GPU) + nat_data["busy"]
    return idle, busy


@pytest.fixture(scope="module")
def eks(rendered_stack):
    return rendered_stack(STACK)


@pytest.fixture(scope="module")
def estimate(eks) -> cost.Estimate:
    return cost.estimate(eks.directory)


def test_the_stack_facts_of_the_hand_sums_are_the_renders(eks):
    assert len(eks.of_type("aws:ec2/natGateway:NatGateway")) == ZONES
    for name, pool in (("cluster-system", SYSTEM), ("cluster-gpu-gpu", GPU)):
        inputs = eks.one("aws:eks/nodeGroup:NodeGroup", name)["inputs"]
        assert inputs["instanceTypes"] == [pool["instance"]] and inputs["capacityType"] == "ON_DEMAND"
        assert (inputs["scalingConfig"]["minSize"], inputs["scalingConfig"]["maxSize"]) == (pool["min"], pool["max"])
        template = eks.one("aws:ec2/launchTemplate:LaunchTemplate", f"{name}-launch-template")["inputs"]
        root = template["blockDeviceMappings"][0]["ebs"]
        assert (root["volumeSize"], root["volumeType"]) == (pool["disk_gb"], "gp3"), "the root disk is the template's"
    assert eks.outputs["region"] == "us-west-2"


def test_monthly_figures_equal_a_hand_sum_from_the_price_file(estimate):
    idle, busy = hand_sums()
    assert estimate.unpriced == ()
    assert estimate.monthly_idle == pytest.approx(idle, abs=1e-9)
    assert estimate.monthly_busy == pytest.approx(busy, abs=1e-9)
    (node,) = estimate.gpu_nodes
    assert (node.pool, node.machine, node.gpus, node.spot) == ("cluster-gpu-gpu", "g5.xlarge", 1, False)
    assert node.hourly == pytest.approx(MACHINES["g5.xlarge"]["hourly"] + GPU["disk_gb"] * GP3 / HOURS)


def test_the_command_renders_the_stack_and_prints_the_same_figures_as_json():
    result = subprocess.run(
        [sys.executable, "-m", "tools.cost", STACK, "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    idle, busy = hand_sums()
    assert (document["stack"], document["currency"]) == (STACK, "USD")
    assert document["monthly"] == {"idle": round(idle, 2), "busy": round(busy, 2)}
    assert document["unpriced"] == []
    assert {r["type"] for r in document["resources"]} >= {"eks:index:Cluster", "aws:eks/nodeGroup:NodeGroup"}


def estimate_changed(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> cost.Estimate:
    return cost_helpers.estimate_changed(tmp_path, STACK, "ml-platform:eks", change)


def test_a_larger_gpu_pool_maximum_raises_busy_by_the_added_nodes_only(estimate, tmp_path):
    def grow(eks: dict[str, Any]) -> None:
        eks["gpuNodePools"][0]["maxSize"] = 5

    changed = estimate_changed(tmp_path, grow)
    assert changed.monthly_busy - estimate.monthly_busy == pytest.approx(3 * node_month(GPU), abs=1e-9)
    assert changed.monthly_idle == pytest.approx(estimate.monthly_idle, abs=1e-9), "idle GPU pools stay at zero"
    assert changed.gpu_nodes[0].hourly == pytest.approx(estimate.gpu_nodes[0].hourly)


def test_spot_capacity_lowers_busy_and_the_gpu_node_price_by_the_spot_assumption(estimate, tmp_path):
    def spot(eks: dict[str, Any]) -> None:
        eks["gpuNodePools"][0]["capacityType"] = "SPOT"

    changed = estimate_changed(tmp_path, spot)
    saved_per_node_hour = MACHINES["g5.xlarge"]["hourly"] * SPOT_DISCOUNT  # the disk is not discounted
    assert estimate.monthly_busy - changed.monthly_busy == pytest.approx(
        GPU["max"] * saved_per_node_hour * HOURS, abs=1e-9
    )
    assert changed.monthly_idle == pytest.approx(estimate.monthly_idle, abs=1e-9)
    (node,) = changed.gpu_nodes
    assert node.spot and estimate.gpu_nodes[0].hourly - node.hourly == pytest.approx(saved_per_node_hour)
    assert "aws_spot_discount" in changed.assumptions


def test_a_single_nat_gateway_saves_the_other_gateways_and_their_addresses(estimate, tmp_path):
    def single(eks: dict[str, Any]) -> None:
        eks["natGateways"] = "single"

    changed = estimate_changed(tmp_path, single)
    saved = (ZONES - 1) * (ITEMS["nat_gateway"]["hourly"] + ITEMS["public_ipv4"]["hourly"]) * HOURS
    for scenario in ("idle", "busy"):
        before = getattr(estimate, f"monthly_{scenario}")
        after = getattr(changed, f"monthly_{scenario}")
        assert before - after == pytest.approx(saved, abs=1e-9), scenario
    assert (changed.monthly_idle, changed.monthly_busy) == pytest.approx(hand_sums(nat_gateways=1))
    assert [line.name for line in changed.usage] == ["aws NAT data processing"], "data volume does not depend on mode"
