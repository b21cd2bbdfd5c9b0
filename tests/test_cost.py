"""Tier 1: the cost estimate (tools/cost.py, tools/pricing.py, tools/prices.yaml) on small
resources.json fragments shaped like real renders: GKE pricing ahead of a GKE stack, what is
reported as not priced, the price file's own consistency, and the pull-request comparison. The
shipped stacks' figures are checked against their real renders in tests/eks/test_cost_prod_eks.py
and at the end of this file."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.rendering import PROJECT_ROOT
from tools import cost, pricing
from tools.render import known_stacks

PRICES = yaml.safe_load(pricing.PRICES_FILE.read_text())
HOURS = PRICES["hours_per_month"]
USAGE = PRICES["usage"]
GCP = PRICES["clouds"]["gcp"]["regions"]["us-central1"]
GCP_SPOT = PRICES["clouds"]["gcp"]["spot"]["discount"]
STACK = "prod-gke-fragment"


def resource(
    type_token: str, name: str, inputs: dict[str, Any] | None = None, *, dependencies: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A resource as tools.render writes it to resources.json."""
    parent = f"urn:pulumi:{STACK}::ml-platform::pulumi:pulumi:Stack$ml-platform:cluster:GkeCluster::cluster"
    return {
        "urn": f"urn:pulumi:{STACK}::ml-platform::ml-platform:cluster:GkeCluster${type_token}::{name}",
        "type": type_token,
        "name": name,
        "custom": True,
        "parent": parent,
        "provider": "",
        "dependencies": list(dependencies),
        "options": {"protect": False, "ignoreChanges": [], "deleteBeforeReplace": False, "replaceOnChanges": []},
        "inputs": inputs or {},
    }


def gke_fragment() -> list[dict[str, Any]]:
    """A regional GKE cluster over three zones: an autoscaled CPU pool (per-zone limits), a spot N1
    pool with a T4 (total limits), a G2 pool whose L4 is part of the machine, Cloud NAT, a bucket,
    two registry repositories, a LoadBalancer Service and free plumbing."""
    zones = ["us-central1-a", "us-central1-b", "us-central1-c"]
    cluster = resource(
        "gcp:container/cluster:Cluster",
        "cluster-gke",
        {"location": "us-central1", "nodeLocations": zones, "removeDefaultNodePool": True, "initialNodeCount": 1},
    )
    depends = (cluster["urn"],)
    return [
        cluster,
        resource(
            "gcp:container/nodePool:NodePool",
            "cluster-system",
            {
                "cluster": "cluster-gke-1234567",
                "autoscaling": {"minNodeCount": 1, "maxNodeCount": 2},
                "nodeConfig": {"machineType": "e2-standard-4"},
            },
            dependencies=depends,
        ),
        resource(
            "gcp:container/nodePool:NodePool",
            "cluster-gpu-t4",
            {
                "cluster": "cluster-gke-1234567",
                "autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": 2, "locationPolicy": "ANY"},
                "nodeConfig": {
                    "machineType": "n1-standard-4",
                    "guestAccelerators": [{"type": "nvidia-tesla-t4", "count": 1}],
                    "spot": True,
                    "diskSizeGb": 200,
                    "diskType": "pd-ssd",
                },
            },
            dependencies=depends,
        ),
        resource(
            "gcp:container/nodePool:NodePool",
            "cluster-gpu-l4",
            {
                "cluster": "cluster-gke-1234567",
                "autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": 1},
                "nodeConfig": {
                    "machineType": "g2-standard-4",
                    "guestAccelerators": [{"type": "nvidia-l4", "count": 1}],
                },
            },
            dependencies=depends,
        ),
        resource("gcp:compute/network:Network", "network-vpc"),
        resource("gcp:compute/subnetwork:Subnetwork", "network-nodes"),
        resource("gcp:compute/router:Router", "network-router"),
        resource(
            "gcp:compute/routerNat:RouterNat",
            "network-nat",
            {"natIpAllocateOption": "AUTO_ONLY", "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES"},
        ),
        resource("gcp:storage/bucket:Bucket", "artifacts-bucket", {"location": "US-CENTRAL1"}),
        resource("gcp:artifactregistry/repository:Repository", "registry-trainer", {"format": "DOCKER"}),
        resource("gcp:artifactregistry/repository:Repository", "registry-server", {"format": "DOCKER"}),
        resource("gcp:serviceaccount/account:Account", "cluster-nodes"),
        resource("gcp:projects/iAMMember:IAMMember", "cluster-nodes-logging"),
        resource("kubernetes:core/v1:Service", "digits-serving-service", {"spec": {"type": "LoadBalancer"}}),
        resource("kubernetes:core/v1:Service", "digits-internal", {"spec": {"type": "ClusterIP"}}),
        resource("kubernetes:apps/v1:Deployment", "digits-serving"),
    ]


def test_gke_figures_equal_a_hand_sum_from_the_price_file():
    est = cost.estimate_resources(STACK, gke_fragment())
    machines, gpus, items = GCP["machines"]["types"], GCP["machines"]["accelerators"]["types"], GCP["items"]
    disks = items["block_storage"]["per_gb_month"]
    system_node = machines["e2-standard-4"]["hourly"] * HOURS + 100 * disks["pd-balanced"]  # GKE's default disk
    t4_hourly = (machines["n1-standard-4"]["hourly"] + gpus["nvidia-tesla-t4"]) * (1 - GCP_SPOT)
    t4_node = t4_hourly * HOURS + 200 * disks["pd-ssd"]
    l4_node = machines["g2-standard-4"]["hourly"] * HOURS + 100 * disks["pd-balanced"]  # the L4 is in the price
    nat = items["nat_gateway"]
    address = items["public_ipv4"]["hourly"] * HOURS
    fixed = (
        items["kubernetes_cluster"]["hourly"] * HOURS
        + items["load_balancer"]["hourly"] * HOURS
        + address
        + USAGE["artifact_bucket_gb"]["value"] * items["object_storage"]["per_gb_month"]
        + 2 * USAGE["registry_gb_per_repository"]["value"] * items["registry_storage"]["per_gb_month"]
    )
    idle_nodes, busy_nodes = 3 * 1, 3 * 2 + 2 + 1  # per-zone limits x 3 zones; total limits as given
    idle = (
        fixed
        + idle_nodes * nat["per_vm_hourly"] * HOURS
        + 3 * system_node
        + USAGE["nat_processed_gb_per_month"]["idle"] * nat["per_gb"]
    )
    busy = (
        fixed
        + busy_nodes * nat["per_vm_hourly"] * HOURS
        + 6 * system_node
        + 2 * t4_node
        + l4_node
        + USAGE["nat_processed_gb_per_month"]["busy"] * nat["per_gb"]
    )
    assert est.unpriced == ()
    assert est.region == "us-central1", "the region comes from the cluster's location"
    assert est.monthly_idle == pytest.approx(idle, abs=1e-9)
    assert est.monthly_busy == pytest.approx(busy, abs=1e-9)
    nodes = {node.pool: node for node in est.gpu_nodes}
    assert set(nodes) == {"cluster-gpu-t4", "cluster-gpu-l4"}
    assert nodes["cluster-gpu-t4"].hourly == pytest.approx(t4_hourly + 200 * disks["pd-ssd"] / HOURS)
    assert (nodes["cluster-gpu-t4"].gpus, nodes["cluster-gpu-t4"].gpu) == (1, "nvidia-tesla-t4")
    assert (nodes["cluster-gpu-l4"].gpus, nodes["cluster-gpu-l4"].gpu) == (1, "nvidia-l4"), "not counted twice"
    assert {name for _, name, _ in est.free} >= {"network-vpc", "cluster-nodes", "digits-internal", "digits-serving"}


def test_gke_pool_sizes_follow_node_locations_zonal_clusters_and_fixed_counts():
    """Per-zone limits multiply by the pool's zones (its nodeLocations, else the cluster's, else
    GKE's three for a regional cluster, one for a zonal one); a pool without autoscaling has
    nodeCount per zone in both scenarios."""

    def busy_system_nodes(cluster_inputs: dict[str, Any], pool_inputs: dict[str, Any]) -> int:
        cluster = resource("gcp:container/cluster:Cluster", "c", {"removeDefaultNodePool": True, **cluster_inputs})
        pool = resource("gcp:container/nodePool:NodePool", "p", {"nodeConfig": {"machineType": "e2-standard-2"}})
        pool["inputs"].update(pool_inputs)
        est = cost.estimate_resources(STACK, [cluster, pool], region="us-central1")
        (line,) = [line for line in est.lines if line.name == "p"]
        node_month = GCP["machines"]["types"]["e2-standard-2"]["hourly"] * HOURS + 100 * 0.10
        return round(line.monthly_busy / node_month)

    per_zone = {"autoscaling": {"minNodeCount": 0, "maxNodeCount": 2}}
    assert busy_system_nodes({"location": "us-central1"}, per_zone) == 6
    assert busy_system_nodes({"location": "us-central1-b"}, per_zone) == 2
    assert busy_system_nodes({"location": "us-central1"}, {**per_zone, "nodeLocations": ["us-central1-a"]}) == 2
    assert busy_system_nodes({"location": "us-central1"}, {"nodeCount": 1}) == 3


def test_gke_cluster_keeping_its_default_pool_pays_for_it_and_autopilot_is_not_priced():
    kept = resource("gcp:container/cluster:Cluster", "kept", {"location": "us-central1-a", "initialNodeCount": 2})
    (line,) = cost.estimate_resources(STACK, [kept]).lines
    default_node = GCP["machines"]["types"]["e2-medium"]["hourly"] * HOURS + 100 * 0.10
    assert line.monthly_idle == pytest.approx(GCP["items"]["kubernetes_cluster"]["hourly"] * HOURS + 2 * default_node)
    assert "default node pool kept" in line.what

    autopilot = resource("gcp:container/cluster:Cluster", "auto", {"location": "us-central1", "enableAutopilot": True})
    est = cost.estimate_resources(STACK, [autopilot])
    assert [item.name for item in est.unpriced] == ["auto"]
    assert "Autopilot" in est.unpriced[0].reason


def test_cloud_nat_per_node_charge_is_capped_per_gateway():
    nat = GCP["items"]["nat_gateway"]
    pool = resource(
        "gcp:container/nodePool:NodePool",
        "big",
        {"autoscaling": {"totalMinNodeCount": 1, "totalMaxNodeCount": 100}, "nodeConfig": {"machineType": "e2-medium"}},
    )
    gateway = resource("gcp:compute/routerNat:RouterNat", "nat", {"natIpAllocateOption": "MANUAL_ONLY"})
    est = cost.estimate_resources(STACK, [pool, gateway], region="us-central1")
    (line,) = [line for line in est.lines if line.name == "nat"]
    assert line.monthly_idle == pytest.approx(1 * nat["per_vm_hourly"] * HOURS)
    assert line.monthly_busy == pytest.approx(nat["max_hourly"] * HOURS), "100 nodes pay the 32-VM cap"


def test_an_unknown_resource_type_is_reported_not_priced_and_left_out_of_the_totals(tmp_path):
    known = resource("gcp:storage/bucket:Bucket", "artifacts-bucket")
    unknown = resource("gcp:sql/databaseInstance:DatabaseInstance", "metadata-db", {"tier": "db-f1-micro"})
    baseline = cost.estimate_resources(STACK, [known], region="us-central1")
    est = cost.estimate_resources(STACK, [known, unknown], region="us-central1")
    assert [(item.name, item.type) for item in est.unpriced] == [
        ("metadata-db", "gcp:sql/databaseInstance:DatabaseInstance")
    ]
    assert "not in tools/prices.yaml" in est.unpriced[0].reason
    assert (est.monthly_idle, est.monthly_busy) == (baseline.monthly_idle, baseline.monthly_busy)

    render = tmp_path / "render"
    render.mkdir()
    (render / "resources.json").write_text(json.dumps({"stack": STACK, "resources": [known, unknown]}))
    (render / "outputs.json").write_text(json.dumps({"region": "us-central1"}))
    text = run_cost("--render", str(render))
    assert text.returncode == 0, text.stderr
    assert "NOT PRICED (1)" in text.stdout and "metadata-db (gcp:sql/databaseInstance:DatabaseInstance)" in text.stdout
    document = json.loads(run_cost("--render", str(render), "--json").stdout)
    assert document["unpriced"][0]["type"] == "gcp:sql/databaseInstance:DatabaseInstance"
    assert set(document) >= {"stack", "currency", "monthly", "resources", "unpriced"}
    assert document["currency"] == "USD" and set(document["monthly"]) == {"idle", "busy"}


def test_a_machine_type_or_region_without_a_price_is_not_priced_never_zero():
    pool = resource(
        "aws:eks/nodeGroup:NodeGroup",
        "cluster-gpu-h100",
        {"instanceTypes": ["p5.48xlarge"], "scalingConfig": {"minSize": 0, "maxSize": 1}, "diskSize": 100},
    )
    (item,) = cost.estimate_resources(STACK, [pool], region="us-west-2").unpriced
    assert "p5.48xlarge" in item.reason and "us-west-2" in item.reason

    bucket = resource("aws:s3/bucket:Bucket", "artifacts-bucket")
    (item,) = cost.estimate_resources(STACK, [bucket], region="ap-south-2").unpriced
    assert "no aws prices for region ap-south-2" in item.reason


def test_an_unknown_stack_is_an_error_from_the_render():
    result = run_cost("no-such-stack")
    assert result.returncode == 2 and "unknown stack 'no-such-stack'" in result.stderr


def test_cloud_resources_without_a_known_region_are_an_error(tmp_path):
    with pytest.raises(cost.CostError, match="--region"):
        cost.estimate_resources(STACK, [resource("aws:s3/bucket:Bucket", "artifacts-bucket")])
    render = tmp_path / "render"
    render.mkdir()
    (render / "resources.json").write_text(
        json.dumps({"stack": STACK, "resources": [resource("aws:s3/bucket:Bucket", "b")]})
    )
    result = run_cost("--render", str(render))
    assert result.returncode == 2 and "--region" in result.stderr
    assert run_cost("--render", str(render), "--region", "us-east-1").returncode == 0


def test_kubernetes_objects_cost_only_what_the_cluster_cloud_creates():
    """A LoadBalancer Service or a volume claim is priced on a cloud cluster, free on a local one."""
    service = resource("kubernetes:core/v1:Service", "svc", {"spec": {"type": "LoadBalancer"}})
    claim = resource(
        "kubernetes:core/v1:PersistentVolumeClaim",
        "data",
        {"spec": {"resources": {"requests": {"storage": "20Gi"}}, "storageClassName": "gp2"}},
    )
    local = cost.estimate_resources("dev", [service, claim])
    assert local.lines == () and local.unpriced == () and len(local.free) == 2

    eks = resource("eks:index:Cluster", "cluster-eks")
    on_eks = cost.estimate_resources("prod", [eks, service, claim], region="us-west-2")
    items = PRICES["clouds"]["aws"]["regions"]["us-west-2"]["items"]
    lines = {line.name: line for line in on_eks.lines}
    assert lines["svc"].monthly_idle == pytest.approx(items["load_balancer"]["hourly"] * HOURS)
    assert lines["data"].monthly_idle == pytest.approx(20 * items["block_storage"]["per_gb_month"]["gp2"])


def test_price_file_rules_name_existing_pricers_items_and_cited_figures():
    """Every row names a pricer that exists and items each fully priced region has; every figure
    has a source page and a date; no type is both priced and free."""
    prices = pricing.load_prices()
    full_regions = {"aws": ("us-west-2", "us-east-1"), "gcp": ("us-central1",)}
    for type_token, rule in prices.resource_types.items():
        assert rule["pricer"] in pricing.PRICERS, type_token
        assert rule["category"] in pricing.CATEGORIES, type_token
        assert type_token not in prices.free, f"{type_token} is both priced and free"
        clouds = ("aws", "gcp") if rule["cloud"] == "cluster" else (rule["cloud"],)
        for cloud in clouds:
            for region in full_regions[cloud]:
                if "item" in rule:
                    assert rule["item"] in prices.regions[(cloud, region)].items, (type_token, cloud, region)
        if "usage" in rule:
            assert rule["usage"] in prices.usage
        if rule["pricer"] == "node_pool":
            assert rule["shape"] in pricing.NODE_POOL_SHAPES
    for cloud in PRICES["clouds"].values():
        assert cloud["spot"]["source"].startswith("https://") and cloud["spot"]["as_of"]
        for region in cloud["regions"].values():
            for entry in (region["machines"], *region["items"].values()):
                assert entry["source"].startswith("https://") and str(entry["as_of"]), entry
    for region in prices.regions.values():
        for name, machine in region.machines.items():
            if name.startswith(("g4dn", "g5", "g6", "g2-", "a2-")):
                assert machine.gpus > 0 and machine.gpu, f"{name}: a GPU machine's price must include its GPUs"


def test_comparison_markdown_shows_base_head_and_change_per_scenario(tmp_path):
    fragment = gke_fragment()
    base = cost.estimate_resources(STACK, fragment)
    bigger = json.loads(json.dumps(fragment))
    t4_pool = next(r for r in bigger if r["name"] == "cluster-gpu-t4")
    t4_pool["inputs"]["autoscaling"]["totalMaxNodeCount"] = 4
    t4_pool["inputs"]["nodeConfig"]["spot"] = False
    bigger.append(resource("gcp:sql/databaseInstance:DatabaseInstance", "metadata-db"))
    head = cost.estimate_resources(STACK, bigger)

    text = cost.comparison_markdown(base, head)
    change = head.monthly_busy - base.monthly_busy
    assert change > 0
    assert f"| busy | {base.monthly_busy:,.2f} | {head.monthly_busy:,.2f} | +{change:,.2f} |" in text
    assert f"| idle | {base.monthly_idle:,.2f} | {head.monthly_idle:,.2f} | 0.00 |" in text
    assert "One more `cluster-gpu-t4` GPU node: $" in text, "the GPU node price changed with spot off"
    assert "Not priced: `metadata-db`" in text
    assert "| idle | - |" in cost.comparison_markdown(None, head), "a stack new in head has no base"

    for side, resources in (("base", fragment), ("head", bigger)):
        directory = tmp_path / side / STACK
        directory.mkdir(parents=True)
        (directory / "resources.json").write_text(json.dumps({"stack": STACK, "resources": resources}))
    section = cost.preview_section(STACK, tmp_path / "base" / STACK, tmp_path / "head" / STACK)
    assert section is not None and section.title == cost.COST_TITLE and section.markdown == text
    assert cost.preview_section(STACK, tmp_path / "none", tmp_path / "none") is None, "no render on either side"


def run_cost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cost", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("stack", known_stacks())
def test_every_resource_of_every_shipped_stack_is_priced_or_declared_free(rendered_stack, stack):
    """'Not priced' keeps its meaning only if the shipped stacks have none: a new resource type
    must get a row in tools/prices.yaml (priced, or free with its reason)."""
    est = cost.estimate(rendered_stack(stack).directory)
    assert est.unpriced == (), [(item.type, item.reason) for item in est.unpriced]


def test_dev_kind_costs_nothing_in_the_cloud(rendered_stack):
    est = cost.estimate(rendered_stack("dev-kind").directory)
    assert (est.monthly_idle, est.monthly_busy, est.lines) == (0, 0, ())
    assert len(est.free) == len(rendered_stack("dev-kind").resources)


def test_readme_tables_are_the_tools_output(rendered_stack):
    """The README's cost tables are pasted from `python -m tools.cost STACK --markdown`."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    for stack in known_stacks():
        table = cost.format_markdown(cost.estimate(rendered_stack(stack).directory))
        assert table in readme, f"README's table for {stack} is stale: rerun python -m tools.cost {stack} --markdown"
