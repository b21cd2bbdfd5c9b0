"""Tier 1: the cost estimate (tools/cost.py, tools/pricing.py, tools/prices.yaml) on small
resources.json fragments shaped like real renders: GKE pricing ahead of a GKE stack, what is
reported as not priced, the price file's own consistency, and the pull-request comparison. The
shipped stacks' figures are checked against their real renders in tests/eks/test_cost_prod_eks.py
and at the end of this file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests import cost_helpers
from tests.cost_helpers import duplicate, named, render_copy
from tests.rendering import PROJECT_ROOT
from tools import cost, markdown, pricing
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


KIND_CLUSTER = "ml-platform:cluster:KindCluster"
EXISTING_CLUSTER = "ml-platform:cluster:ExistingCluster"
UNKNOWN_CLUSTER = "a cluster this stack does not provision"
UNKNOWN_REGISTRY = "a registry this stack does not provision"


def test_kubernetes_objects_cost_only_what_the_cluster_cloud_creates():
    """A LoadBalancer Service or a volume claim is priced on a cloud cluster, free on a local (kind)
    one, and not priced on a cluster whose cloud the render does not tell (never free by default)."""
    service = resource("kubernetes:core/v1:Service", "svc", {"spec": {"type": "LoadBalancer"}})
    claim = resource(
        "kubernetes:core/v1:PersistentVolumeClaim",
        "data",
        {"spec": {"resources": {"requests": {"storage": "20Gi"}}, "storageClassName": "gp2"}},
    )
    local = cost.estimate_resources("dev", [resource(KIND_CLUSTER, "cluster"), service, claim])
    assert local.lines == () and local.unpriced == () and len(local.free) == 3
    assert all("local cluster" in reason for type_token, _, reason in local.free if type_token != KIND_CLUSTER)

    for cluster in ([resource(EXISTING_CLUSTER, "cluster")], []):
        unknown = cost.estimate_resources("dev", [*cluster, service, claim])
        assert unknown.lines == () and [item.name for item in unknown.unpriced] == ["svc", "data"]
        assert all(UNKNOWN_CLUSTER in item.reason and "unknown" in item.reason for item in unknown.unpriced)

    eks = resource("eks:index:Cluster", "cluster-eks")
    subnet = resource(
        "aws:ec2/subnet:Subnet", "public-0", {"availabilityZone": "us-west-2a", "tags": {"kubernetes.io/role/elb": "1"}}
    )
    nlb = resource(
        "kubernetes:core/v1:Service",
        "svc",
        {
            "metadata": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}},
            "spec": {"type": "LoadBalancer"},
        },
    )
    on_eks = cost.estimate_resources("prod", [eks, subnet, nlb, claim], region="us-west-2")
    items = PRICES["clouds"]["aws"]["regions"]["us-west-2"]["items"]
    lines = {line.name: line for line in on_eks.lines}
    lb_hourly = items["load_balancer"]["hourly"] + items["public_ipv4"]["hourly"]  # one zone, one address
    assert lines["svc"].monthly_idle == pytest.approx(lb_hourly * HOURS)
    assert lines["data"].monthly_idle == pytest.approx(20 * items["block_storage"]["per_gb_month"]["gp2"])


# --- A cluster the stack does not provision: what its cloud bills is not priced, never free --------


def aks_like(config: dict[str, Any]) -> None:
    """dev-minikube's stack file turned into a cloud cluster's (AKS, say): the digits model served by
    a LoadBalancer Service, its training on a GPU."""
    existing = config["ml-platform:existing"]
    existing["serviceTypes"] = ["ClusterIP", "LoadBalancer"]
    existing["loadBalancer"] = {"sourceCidrs": ["203.0.113.0/24"]}
    existing["gpu"] = {"resourceName": "nvidia.com/gpu"}
    digits = config["ml-platform:models"][0]
    digits["serving"]["serviceType"] = "LoadBalancer"
    digits["training"]["resources"]["gpus"] = 1


def test_an_existing_cluster_leaves_its_load_balancers_disks_and_gpu_nodes_not_priced(tmp_path):
    """The reported case: on clusterBackend existing, a LoadBalancer Service and the artifacts claim
    were "local or free", total 0.00. The render cannot tell the cluster's cloud, so what that cloud
    bills (the load balancer, the disk, the GPU node a training job makes run) is not priced, with
    the reason; CPU-only workloads run on nodes the stack does not provision, which it never bills.
    (The images, pushed to ghcr.io, are not priced either.)"""
    est = cost_helpers.estimate_config_changed(tmp_path, "dev-minikube", aks_like, new_name="aks-lb")
    unpriced = {item.name: item for item in est.unpriced if item.type != "docker:index/image:Image"}
    assert set(unpriced) == {"digits-serving-service", "cluster-artifacts", "digits-training-job"}, unpriced
    for item in unpriced.values():
        assert UNKNOWN_CLUSTER in item.reason and "cloud and prices are unknown" in item.reason, item.reason
    assert "1 nvidia.com/gpu" in unpriced["digits-training-job"].reason
    assert (est.lines, est.monthly_idle, est.monthly_busy) == ((), 0, 0)
    free = {name: reason for _, name, reason in est.free}
    assert "breast-cancer-serving-service" in free, "a ClusterIP Service makes nothing billed anywhere"
    assert "does not provision" in free["digits-serving-deployment"], "a CPU workload runs on the cluster's own nodes"

    markdown = cost.format_markdown(est)
    assert "local or free" not in markdown and "Not priced (5)" in markdown
    assert "Nothing priced: 5 resources are not priced" in markdown
    assert "local or free" not in cost.format_text(est)


def test_the_shipped_minikube_stack_does_not_call_its_claim_free(rendered_stack):
    """dev-minikube's render cannot tell minikube from a cloud cluster (its context and storage class
    are names anyone may use), so its artifacts claim is not priced rather than guessed free."""
    est = cost.estimate(rendered_stack("dev-minikube").directory)
    claim = next(item for item in est.unpriced if item.type == "kubernetes:core/v1:PersistentVolumeClaim")
    assert claim.name == "cluster-artifacts" and UNKNOWN_CLUSTER in claim.reason


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
    """'Not priced' keeps its meaning only if the shipped stacks have none the price file could
    price: a new resource type must get a row in tools/prices.yaml (priced, or free with its
    reason). The one exception is what the cluster of an existing-cluster stack bills, which no
    price file can know."""
    est = cost.estimate(rendered_stack(stack).directory)
    unknowable = [item for item in est.unpriced if UNKNOWN_CLUSTER in item.reason or UNKNOWN_REGISTRY in item.reason]
    assert [item for item in est.unpriced if item not in unknowable] == [], est.unpriced
    assert not unknowable or any(r["type"] == EXISTING_CLUSTER for r in rendered_stack(stack).resources)


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


# --- Price rules the notes state: tiers, per-zone addresses, allowances not applied -------------------


def load_balancer_monthly(est: cost.Estimate) -> float:
    return sum(line.monthly_idle for line in est.lines if line.category == "load balancers")


def test_gke_forwarding_rules_pay_the_first_five_together_then_each_beyond(rendered_stack):
    """Google bills the first 5 forwarding rules of a project and region $0.025/h together, each
    further one $0.01/h: 1 to 5 LoadBalancer Services cost the same, the 6th and 7th $0.01/h each.
    A declared forwarding rule counts in the same five."""
    gke = rendered_stack("prod-gke")
    lb = GCP["items"]["load_balancer"]

    def with_extra(services: int, forwarding_rules: int = 0) -> cost.Estimate:
        resources = json.loads(json.dumps(gke.resources))
        for index in range(services):
            duplicate(resources, "digits-serving-service", f"extra-service-{index}")
        for index in range(forwarding_rules):
            resources.append(resource("gcp:compute/forwardingRule:ForwardingRule", f"rule-{index}"))
        return cost.estimate_resources(STACK, resources, gke.outputs)

    for extra, rules in ((0, 1), (4, 5), (5, 6), (6, 7)):
        est = with_extra(extra)
        expected = (lb["hourly"] + lb["hourly_beyond"] * max(0, rules - lb["hourly_covers"])) * HOURS
        assert load_balancer_monthly(est) == pytest.approx(expected, abs=1e-9), rules
        assert est.assumptions["gcp_load_balancer_count"]["value"] == rules
    assert load_balancer_monthly(with_extra(4, forwarding_rules=1)) == pytest.approx(
        (lb["hourly"] + lb["hourly_beyond"]) * HOURS, abs=1e-9
    ), "a declared forwarding rule is the sixth"

    est = with_extra(6)
    assert all(line.monthly_idle >= 0 for line in est.lines)
    markdown = cost.format_markdown(est)
    assert "gcp_load_balancer_count = 7 (the first 5 in us-central1 cost $0.025/h in total" in markdown
    document = est.to_json()
    assert "$0.01/h each beyond" in document["assumptions"]["gcp_load_balancer_count"]["rule"]
    assert "load-balancing/pricing" in document["assumptions"]["gcp_load_balancer_count"]["source"]


AWS_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"


def nlb_annotations(resources: list[dict[str, Any]]) -> dict[str, str]:
    annotations: dict[str, str] = named(resources, "digits-serving-service")["inputs"]["metadata"]["annotations"]
    return annotations


def test_an_internet_facing_nlb_pays_a_public_ipv4_address_per_zone(rendered_stack):
    """prod-eks's NLB (EKS cloud provider, `aws-load-balancer-type: nlb`) takes one public IPv4
    address in each zone of the subnets tagged kubernetes.io/role/elb, each $0.005/h since 2024-02;
    an internal one takes none; without the annotation EKS makes a Classic Load Balancer, which the
    price file does not price."""
    eks = rendered_stack("prod-eks")
    items = PRICES["clouds"]["aws"]["regions"]["us-west-2"]["items"]
    est = cost.estimate(eks.directory)
    (line,) = [line for line in est.lines if line.name == "digits-serving-service"]
    zones = {s["inputs"]["availabilityZone"] for s in eks.of_type("aws:ec2/subnet:Subnet") if "public" in s["name"]}
    assert len(zones) == 3
    hourly = items["load_balancer"]["hourly"] + 3 * items["public_ipv4"]["hourly"]
    assert line.monthly_idle == line.monthly_busy == pytest.approx(hourly * HOURS)
    assert "3 public IPv4 addresses" in line.what

    def estimate_with(change: Any) -> cost.Estimate:
        resources = json.loads(json.dumps(eks.resources))
        change(nlb_annotations(resources))
        return cost.estimate_resources("prod-eks", resources, eks.outputs)

    internal = estimate_with(lambda a: a.update({"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}))
    (line,) = [line for line in internal.lines if line.name == "digits-serving-service"]
    assert line.monthly_idle == pytest.approx(items["load_balancer"]["hourly"] * HOURS)

    controller = "service.beta.kubernetes.io/aws-load-balancer-type"
    for scheme, addresses in ((None, 0), ("internal", 0), ("internet-facing", 3)):
        # The AWS Load Balancer Controller's NLB is internal unless its scheme says otherwise.
        annotations = {controller: "external"} | ({} if scheme is None else {AWS_SCHEME: scheme})
        changed = estimate_with(lambda a, extra=annotations: a.update(extra))
        (line,) = [line for line in changed.lines if line.name == "digits-serving-service"]
        hourly = items["load_balancer"]["hourly"] + addresses * items["public_ipv4"]["hourly"]
        assert line.monthly_idle == pytest.approx(hourly * HOURS), scheme

    classic = estimate_with(lambda a: a.pop("service.beta.kubernetes.io/aws-load-balancer-type"))
    (item,) = classic.unpriced
    assert item.name == "digits-serving-service" and "Classic Load Balancer" in item.reason


def test_allowances_and_rules_the_figures_leave_out_are_stated_with_the_estimate(rendered_stack):
    """A price's rule the estimate does not apply (GKE's free tier per billing account, KMS key
    rotations, EKS extended support) is listed with the assumptions, in Markdown and JSON."""
    gke = cost.estimate(rendered_stack("prod-gke").directory)
    assumed = gke.to_json()["assumptions"]["gcp_kubernetes_cluster"]
    assert "free tier" in assumed["assumed"] and "not applied" in assumed["assumed"]
    assert assumed["source"].startswith("https://cloud.google.com/kubernetes-engine/pricing")
    assert "gcp_kubernetes_cluster: the billing account" in cost.format_markdown(gke)
    eks = cost.estimate(rendered_stack("prod-eks").directory)
    assert "rotation" in eks.assumptions["aws_kms_key"]["assumed"]
    assert "extended support" in eks.assumptions["aws_kubernetes_cluster"]["assumed"]


def test_charts_and_stateful_sets_that_may_make_billed_resources_are_not_priced(rendered_stack):
    """The render does not expand a Helm chart nor a StatefulSet's volumeClaimTemplates: a chart the
    price file has not checked, or a claim template, may make a load balancer or disks, so they are
    not priced on a cloud cluster; the shipped charts are listed as checked, and a local cluster
    bills nothing whatever they make."""
    eks = rendered_stack("prod-eks")
    resources = json.loads(json.dumps(eks.resources))
    chart = duplicate(resources, "cluster-addons-metrics-server", "ingress")
    chart["inputs"]["chart"] = "ingress-nginx"
    claim_template = {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "10Gi"}}}}
    stateful = duplicate(resources, "digits-serving-deployment", "store")
    stateful["type"] = "kubernetes:apps/v1:StatefulSet"
    stateful["inputs"]["spec"]["volumeClaimTemplates"] = [claim_template]
    stateless = duplicate(resources, "digits-serving-deployment", "store-without-claims")
    stateless["type"] = "kubernetes:apps/v1:StatefulSet"
    est = cost.estimate_resources("prod-eks", resources, eks.outputs)
    reasons = {item.name: item.reason for item in est.unpriced}
    assert set(reasons) == {"ingress", "store"}, reasons
    assert "does not expand" in reasons["ingress"] and "volumeClaimTemplates" in reasons["store"]
    free = {name for _, name, _ in est.free}
    assert {"cluster-addons-metrics-server", "cluster-addons-nvidia-device-plugin", "store-without-claims"} <= free

    kind = rendered_stack("dev-kind")
    resources = json.loads(json.dumps(kind.resources))
    duplicate(resources, "cluster-metrics-server", "ingress")["inputs"]["chart"] = "ingress-nginx"
    assert cost.estimate_resources("dev-kind", resources, kind.outputs).unpriced == ()


def test_an_image_is_free_only_where_its_registry_is_priced_or_local(rendered_stack):
    """An image's layers are billed by the registry it is pushed to: the stack's ECR or Artifact
    Registry repositories are priced, kind's registry is local; an OCI registry the stack does not
    provision (dev-minikube's ghcr.io) has a price the tool does not know."""
    for stack in ("prod-eks", "prod-gke", "dev-kind"):
        free = {name for type_token, name, _ in cost.estimate(rendered_stack(stack).directory).free}
        assert {"server-build", "trainer-build"} <= free, stack
    minikube = rendered_stack("dev-minikube")
    images = [r for r in minikube.resources if r["type"] == "docker:index/image:Image"]
    est = cost.estimate_resources("dev-minikube", images, minikube.outputs)
    assert sorted(item.name for item in est.unpriced) == ["server-build", "trainer-build"]
    assert all("pushed to ghcr.io, a registry this stack does not provision" in i.reason for i in est.unpriced)
    images[0]["inputs"]["skipPush"] = True
    assert [item.name for item in cost.estimate_resources("dev-minikube", images).unpriced] == ["trainer-build"]


# --- Inputs that cannot be priced: never a negative, inverted or absurd figure, never a traceback ---


def eks_group(**changes: Any) -> dict[str, Any]:
    """A GPU node group as the EKS stack renders it, with `changes` to its inputs."""
    inputs: dict[str, Any] = {
        "instanceTypes": ["g5.xlarge"],
        "scalingConfig": {"minSize": 0, "maxSize": 2, "desiredSize": 0},
        "diskSize": 100,
    }
    return resource("aws:eks/nodeGroup:NodeGroup", "cluster-gpu", inputs | changes)


def gke_pool(**changes: Any) -> dict[str, Any]:
    """A spot T4 node pool as the GKE stack renders it, with `changes` to its inputs."""
    inputs: dict[str, Any] = {
        "location": "us-central1-a",
        "autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": 2},
        "nodeConfig": {
            "machineType": "n1-standard-4",
            "guestAccelerators": [{"type": "nvidia-tesla-t4", "count": 1}],
            "spot": True,
            "diskSizeGb": 100,
        },
    }
    return resource("gcp:container/nodePool:NodePool", "cluster-gpu", inputs | changes)


BAD_POOLS = {
    "eks negative minimum": (eks_group(scalingConfig={"minSize": -3, "maxSize": 2}), "scalingConfig.minSize"),
    "eks maximum below minimum": (eks_group(scalingConfig={"minSize": 4, "maxSize": 1}), "below"),
    "eks fractional size": (eks_group(scalingConfig={"minSize": 0.5, "maxSize": 2}), "scalingConfig.minSize"),
    "eks size missing": (eks_group(scalingConfig={"maxSize": 2}), "scalingConfig.minSize is unset"),
    "eks no scaling config": (eks_group(scalingConfig=None), "scalingConfig.minSize is unset"),
    "eks absurd maximum": (eks_group(scalingConfig={"minSize": 0, "maxSize": 10**9}), "scalingConfig.maxSize"),
    "eks size as text": (eks_group(scalingConfig={"minSize": "2", "maxSize": 2}), "scalingConfig.minSize"),
    "eks size as boolean": (eks_group(scalingConfig={"minSize": True, "maxSize": 2}), "scalingConfig.minSize"),
    "eks negative disk": (eks_group(diskSize=-100), "diskSize"),
    "eks zero disk": (eks_group(diskSize=0), "diskSize"),
    "eks absurd disk": (eks_group(diskSize=1e12), "diskSize"),
    "eks types as one string": (eks_group(instanceTypes="g5.xlarge"), "instanceTypes"),
    "gke negative total": (gke_pool(autoscaling={"totalMinNodeCount": -1, "totalMaxNodeCount": 2}), "totalMin"),
    "gke per-zone maximum below minimum": (
        gke_pool(autoscaling={"minNodeCount": 3, "maxNodeCount": 1}),
        "autoscaling.maxNodeCount 1 is below autoscaling.minNodeCount 3",
    ),
    "gke negative fixed count": (gke_pool(autoscaling=None, nodeCount=-2), "nodeCount"),
    "gke negative GPU count": (
        gke_pool(
            nodeConfig={"machineType": "n1-standard-4", "guestAccelerators": [{"type": "nvidia-tesla-t4", "count": -1}]}
        ),
        "guestAccelerators[0].count",
    ),
    "gke absurd GPU count": (
        gke_pool(
            nodeConfig={"machineType": "n1-standard-4", "guestAccelerators": [{"type": "nvidia-tesla-t4", "count": 99}]}
        ),
        "guestAccelerators[0].count",
    ),
    "gke disk as text": (gke_pool(nodeConfig={"machineType": "e2-medium", "diskSizeGb": "big"}), "diskSizeGb"),
    "gke spot as text": (gke_pool(nodeConfig={"machineType": "e2-medium", "spot": "false"}), "nodeConfig.spot"),
    "gke zones as one string": (gke_pool(nodeLocations="us-central1-a"), "nodeLocations"),
}


@pytest.mark.parametrize("case", BAD_POOLS, ids=list(BAD_POOLS))
def test_a_pool_whose_sizes_cannot_be_priced_is_listed_not_priced_with_the_reason(case):
    pool, reason = BAD_POOLS[case]
    region = "us-west-2" if pool["type"].startswith("aws:") else "us-central1"
    est = cost.estimate_resources(STACK, [pool], region=region)
    assert est.lines == (), f"{case}: priced as {[line.what for line in est.lines]}"
    (item,) = est.unpriced
    assert item.name == "cluster-gpu" and reason in item.reason, item.reason
    assert (est.monthly_idle, est.monthly_busy) == (0, 0)


def test_a_volume_claim_of_an_absurd_or_malformed_size_is_not_priced():
    eks = resource("eks:index:Cluster", "cluster-eks")
    claims = {
        "zero": {"spec": {"resources": {"requests": {"storage": "0"}}}},
        "huge": {"spec": {"resources": {"requests": {"storage": "999999Ti"}}}},
        "listed": {"spec": {"resources": {"requests": {"storage": ["10Gi"]}}}},
        "spec-text": {"spec": "big"},
        "class-list": {"spec": {"resources": {"requests": {"storage": "1Gi"}}, "storageClassName": ["gp3"]}},
    }
    resources = [
        eks,
        *(resource("kubernetes:core/v1:PersistentVolumeClaim", name, inputs) for name, inputs in claims.items()),
    ]
    est = cost.estimate_resources(STACK, resources, region="us-west-2")
    assert sorted(item.name for item in est.unpriced) == sorted(claims)


def test_a_negative_node_group_on_a_real_render_is_not_priced_and_the_totals_stay_positive(rendered_stack, tmp_path):
    """The reported case: minSize -3 on prod-eks's GPU group printed `-3-2 x g5.xlarge ... -2,227.14`
    and a negative TOTAL."""
    eks = rendered_stack("prod-eks")
    baseline = cost.estimate(eks.directory)
    group = next(r["name"] for r in eks.of_type("aws:eks/nodeGroup:NodeGroup") if "gpu" in r["name"])

    def negative(resources: list[dict[str, Any]]) -> None:
        named(resources, group)["inputs"]["scalingConfig"]["minSize"] = -3

    result = run_cost("--render", str(render_copy(tmp_path, eks, negative)), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [item["name"] for item in document["unpriced"]] == [group]
    assert "scalingConfig.minSize is -3" in document["unpriced"][0]["reason"]
    assert 0 < document["monthly"]["idle"] <= document["monthly"]["busy"] < baseline.monthly_busy
    for line in document["resources"]:
        assert 0 <= line["monthly"]["idle"] <= line["monthly"]["busy"], line


# --- Markdown: render content is shown as written, never as markup ---------------------------------

EVIL = "evil|name`<img src=x onerror=alert(1)>"


def _unescaped_pipes(row: str) -> int:
    return len(re.findall(r"(?<!\\)\|", row))


def test_markdown_escapes_resource_names_and_texts_from_the_render(tmp_path):
    """A resource named like HTML with a pipe and a backtick must not add table cells, close its code
    span, or reach the comment as HTML; nor may a machine type that ends up in a reason."""
    bucket = resource("gcp:storage/bucket:Bucket", EVIL)
    pool = gke_pool(nodeConfig={"machineType": "<img src=y>|@team **x**"})
    pool["name"] = EVIL + "-pool"
    est = cost.estimate_resources(STACK, [bucket, pool], region="us-central1")
    assert [item.name for item in est.unpriced] == [pool["name"]], "the machine type has no price"
    text = cost.format_markdown(est)
    (row,) = [line for line in text.splitlines() if "evil" in line and line.startswith("|")]
    assert _unescaped_pipes(row) == 5, f"the name added table cells: {row}"
    assert "``evil\\|name`<img src=x onerror=alert(1)>``" in row, "a code span the backtick cannot close"
    (unpriced,) = [line for line in text.splitlines() if line.startswith("Not priced")]
    assert "``evil|name`<img src=x onerror=alert(1)>-pool``" in unpriced
    assert "\\<img src=y\\>\\|\\@team \\*\\*x\\*\\*" in unpriced, "the reason's render text is escaped"
    assert "<img" not in _outside_code_spans(text)

    head = cost.comparison_markdown(None, est)
    assert "<img" not in _outside_code_spans(head) and "@team" not in _outside_code_spans(head).replace("\\@", "")


def test_the_preview_section_escapes_what_it_reports(tmp_path):
    head = tmp_path / "head" / STACK
    head.mkdir(parents=True)
    pool = gke_pool(nodeConfig={"machineType": "<script>x</script>"})
    pool["name"] = EVIL
    (head / "resources.json").write_text(json.dumps({"stack": STACK, "resources": [pool]}))
    (head / "outputs.json").write_text(json.dumps({"region": "us-central1"}))
    section = cost.preview_section(STACK, tmp_path / "base" / STACK, head)
    assert section is not None
    assert "<script>" not in _outside_code_spans(section.markdown) and "\\<script\\>" in section.markdown
    assert "Not priced: ``evil|name`<img src=x onerror=alert(1)>``" in section.markdown

    (head / "resources.json").write_text(json.dumps({"stack": STACK, "resources": [{**pool, "inputs": None}]}))
    broken = cost.preview_section(STACK, tmp_path / "base" / STACK, head)
    assert broken is not None and broken.markdown.startswith("Not estimated: ")
    assert "resources\\[0\\].inputs: expected an object" in broken.markdown
    assert "<img" not in _outside_code_spans(broken.markdown)


def test_markdown_code_spans_hold_any_backtick_run():
    assert markdown.code("a``b") == "```a``b```"
    assert markdown.code("`x`") == "`` `x` ``"
    assert markdown.code("a|b", in_table=True) == "`a\\|b`"
    assert markdown.code("line\nbreak") == "`line\\x0abreak`"


def _outside_code_spans(markdown: str) -> str:
    """`markdown` without its code spans, with `\\x` escapes left in place (a `\\<` is no tag)."""
    without = re.sub(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)", "", markdown)
    return re.sub(r"\\.", "", without)


# --- Bad files: one line naming what is wrong, exit 2 ----------------------------------------------


@pytest.mark.parametrize(
    ("outputs_text", "message"),
    [
        ('{"region": ', "outputs.json"),
        ("[1, 2]", "outputs.json"),
        ('"us-west-2"', "outputs.json"),
    ],
    ids=["truncated", "a list", "a string"],
)
def test_a_malformed_outputs_file_is_one_line_exit_2(rendered_stack, tmp_path, outputs_text, message):
    result = run_cost("--render", str(render_copy(tmp_path, rendered_stack("prod-eks"), outputs_text=outputs_text)))
    assert_one_line_error(result, message)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda resource: resource.update(inputs=None), "resources[{index}].inputs"),
        (lambda resource: resource.update(inputs=[1]), "resources[{index}].inputs"),
        (lambda resource: resource.update(dependencies="urn"), "resources[{index}].dependencies"),
        (lambda resource: resource.update(name=7), "resources[{index}].name"),
    ],
    ids=["inputs null", "inputs a list", "dependencies a string", "name a number"],
)
def test_a_resource_not_shaped_like_a_render_is_one_line_exit_2(rendered_stack, tmp_path, change, message):
    eks = rendered_stack("prod-eks")
    index = next(i for i, r in enumerate(eks.resources) if r["type"] == "aws:eks/nodeGroup:NodeGroup")
    result = run_cost("--render", str(render_copy(tmp_path, eks, lambda resources: change(resources[index]))))
    assert_one_line_error(result, message.format(index=index))


def _prices_with(change: Any) -> str:
    document = yaml.safe_load(pricing.PRICES_FILE.read_text())
    change(document)
    return yaml.safe_dump(document)


def _drop_cluster_fee(document: dict[str, Any]) -> None:
    del document["clouds"]["aws"]["regions"]["us-west-2"]["items"]["kubernetes_cluster"]["hourly"]


def _negative_g5(document: dict[str, Any]) -> None:
    document["clouds"]["aws"]["regions"]["us-west-2"]["machines"]["types"]["g5.xlarge"]["hourly"] = -1


BAD_PRICE_FILES = {
    "not YAML": ("hours_per_month: [\n", "not valid YAML at line 2"),
    "a list": ("- 1\n- 2\n", "expected a mapping with hours_per_month"),
    "empty": ("", "expected a mapping with hours_per_month"),
    "no usage": (_prices_with(lambda document: document.pop("usage")), "top level: lacks usage"),
    "an item without its price": (
        _prices_with(_drop_cluster_fee),
        "clouds.aws.regions.us-west-2.items.kubernetes_cluster (used by resource_types.eks:index:Cluster): "
        "lacks hourly",
    ),
    "a negative price": (
        _prices_with(_negative_g5),
        "clouds.aws.regions.us-west-2.machines.types.g5.xlarge.hourly: expected a number 0 or more, got -1",
    ),
    "a spot discount of 100%": (
        _prices_with(lambda document: document["clouds"]["gcp"]["spot"].update(discount=1)),
        "clouds.gcp.spot.discount: expected a number from 0 to less than 1, got 1",
    ),
    "an unknown pricer": (
        _prices_with(lambda document: document["resource_types"]["aws:ec2/eip:Eip"].update(pricer="guess")),
        'resource_types.aws:ec2/eip:Eip.pricer: "guess" is not one of',
    ),
    "a null storage price": (
        _prices_with(
            lambda document: document["clouds"]["aws"]["regions"]["us-west-2"]["items"]["object_storage"].update(
                per_gb_month=None
            )
        ),
        "clouds.aws.regions.us-west-2.items.object_storage.per_gb_month: expected a number 0 or more, got null",
    ),
    "busy usage below idle": (
        _prices_with(lambda document: document["usage"]["nat_processed_gb_per_month"].update(idle=500)),
        "usage.nat_processed_gb_per_month.busy: 200 is below its idle 500",
    ),
    "a tier without its price beyond": (
        _prices_with(
            lambda document: document["clouds"]["gcp"]["regions"]["us-central1"]["items"]["load_balancer"].pop(
                "hourly_beyond"
            )
        ),
        "clouds.gcp.regions.us-central1.items.load_balancer: hourly_covers needs hourly_beyond",
    ),
    "a tier covering no unit": (
        _prices_with(
            lambda document: document["clouds"]["gcp"]["regions"]["us-central1"]["items"]["load_balancer"].update(
                hourly_covers=0
            )
        ),
        "clouds.gcp.regions.us-central1.items.load_balancer.hourly_covers: expected a whole number from 1",
    ),
    "a local cluster without its reason": (
        _prices_with(lambda document: document["local_clusters"].update({"ml-platform:cluster:KindCluster": None})),
        "local_clusters.ml-platform:cluster:KindCluster: expected a non-empty string",
    ),
    "a workload row priced by a cloud": (
        _prices_with(lambda document: document["resource_types"]["kubernetes:batch/v1:Job"].update(cloud="aws")),
        "resource_types.kubernetes:batch/v1:Job.cloud: the workload pricer prices what the cluster bills: "
        "expected `cluster`",
    ),
    "usage without a value": (
        _prices_with(lambda document: document["usage"]["artifact_bucket_gb"].pop("value")),
        "usage.artifact_bucket_gb: expected either `value` or both `idle` and `busy`",
    ),
}


@pytest.mark.parametrize("case", BAD_PRICE_FILES, ids=list(BAD_PRICE_FILES))
def test_a_bad_price_file_is_one_line_naming_the_key_exit_2(rendered_stack, tmp_path, case):
    text, message = BAD_PRICE_FILES[case]
    prices = tmp_path / "prices.yaml"
    prices.write_text(text)
    with pytest.raises(pricing.PricesError, match=re.escape(message)):
        pricing.load_prices(prices)
    result = run_cost("--render", str(rendered_stack("prod-eks").directory), "--prices", str(prices))
    assert_one_line_error(result, message)


def test_the_shipped_price_file_has_no_problems():
    assert pricing.price_file_problems(yaml.safe_load(pricing.PRICES_FILE.read_text())) == []


def assert_one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("cost: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr, result.stderr
    assert result.stdout == ""
