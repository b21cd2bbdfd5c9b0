"""How each resource type is priced: the price file's model and the pricers it names.

`tools/prices.yaml` maps a resource type to a `pricer` (a function in `PRICERS`) with its
arguments (`item`, `usage`, `shape`, `cloud`, `category`); a pricer reads the resource's inputs
(Pulumi's camelCase names, as `tools.render` writes them) and returns a `Line` (monthly cost when
idle and busy), `Free(reason)`, or raises `NotPricedError(reason)`. Node groups of every cloud are
read into one `NodePool` shape (`NODE_POOL_SHAPES`) and priced by one function, so a new cloud's
node pools are a reader and a row, not new pricing logic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRICES_FILE = Path(__file__).with_name("prices.yaml")
SCENARIOS = ("idle", "busy")
"""idle: every node pool at its minimum; busy: every node pool at its maximum."""
CATEGORIES = ("control plane", "nodes", "network", "load balancers", "storage", "other")

Resource = Mapping[str, Any]


class NotPricedError(Exception):
    """Raised by a pricer: the resource cannot be priced from the price file, and why."""


# --- The price file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    hourly: float
    gpus: int = 0
    gpu: str = ""
    """GPU model included in `hourly` (empty: none)."""


@dataclass(frozen=True)
class RegionPrices:
    cloud: str
    region: str
    machines: Mapping[str, Machine]
    machines_source: str
    accelerators: Mapping[str, float]
    """$/hour per attachable GPU (GCP guestAccelerators)."""
    accelerators_source: str
    items: Mapping[str, Mapping[str, Any]]
    spot_discount: float
    """Fraction off on-demand assumed for spot capacity."""
    spot_source: str

    def item(self, key: str) -> Mapping[str, Any]:
        if key not in self.items:
            raise NotPricedError(f"no {key!r} price for {self.cloud} {self.region} in tools/prices.yaml")
        return self.items[key]

    def machine(self, machine_type: str) -> Machine:
        if machine_type not in self.machines:
            raise NotPricedError(f"machine type {machine_type} has no price for {self.cloud} {self.region}")
        return self.machines[machine_type]

    def accelerator(self, accelerator_type: str) -> float:
        if accelerator_type not in self.accelerators:
            raise NotPricedError(f"accelerator {accelerator_type} has no price for {self.cloud} {self.region}")
        return self.accelerators[accelerator_type]

    def disk(self, disk_type: str | None) -> tuple[str, float, str]:
        """(disk type, $/GB-month, source) for a node or volume disk; None means the region's default."""
        item = self.item("block_storage")
        chosen = disk_type or str(item["default"])
        per_gb = item["per_gb_month"]
        if chosen not in per_gb:
            raise NotPricedError(f"disk type {chosen} has no price for {self.cloud} {self.region}")
        return chosen, float(per_gb[chosen]), _cite(item)


@dataclass(frozen=True)
class Prices:
    hours_per_month: float
    usage: Mapping[str, Mapping[str, Any]]
    regions: Mapping[tuple[str, str], RegionPrices]
    resource_types: Mapping[str, Mapping[str, Any]]
    free: Mapping[str, str]
    free_prefixes: Mapping[str, str]

    def usage_value(self, key: str, scenario: str) -> float:
        entry = self.usage[key]
        return float(entry[scenario] if scenario in entry else entry["value"])

    def free_reason(self, type_token: str) -> str | None:
        if type_token in self.free:
            return self.free[type_token]
        for prefix, reason in self.free_prefixes.items():
            if type_token.startswith(prefix):
                return reason
        return None


def _cite(entry: Mapping[str, Any]) -> str:
    """A price's source page and the month its figure was the published list price."""
    return f"{entry['source']} (as of {entry['as_of']})"


def load_prices(path: Path = PRICES_FILE) -> Prices:
    document = yaml.safe_load(path.read_text())
    regions: dict[tuple[str, str], RegionPrices] = {}
    for cloud, cloud_prices in document["clouds"].items():
        spot = cloud_prices["spot"]
        for region, table in cloud_prices["regions"].items():
            machines = table["machines"]
            accelerators = machines.get("accelerators") or {"types": {}, "source": ""}
            regions[(cloud, region)] = RegionPrices(
                cloud=cloud,
                region=region,
                machines={
                    name: Machine(float(entry["hourly"]), int(entry.get("gpus", 0)), str(entry.get("gpu", "")))
                    for name, entry in machines["types"].items()
                },
                machines_source=_cite(machines),
                accelerators={name: float(hourly) for name, hourly in accelerators["types"].items()},
                accelerators_source=_cite(accelerators) if accelerators["source"] else "",
                items=table["items"],
                spot_discount=float(spot["discount"]),
                spot_source=_cite(spot),
            )
    return Prices(
        hours_per_month=float(document["hours_per_month"]),
        usage=document["usage"],
        regions=regions,
        resource_types=document["resource_types"],
        free=document["free"],
        free_prefixes=document["free_prefixes"],
    )


@dataclass(frozen=True)
class GpuNode:
    """The hourly price of one more node of a GPU pool."""

    pool: str
    machine: str
    gpus: int
    gpu: str
    spot: bool
    instance_hourly: float
    """Instance and its GPUs, after the spot assumption."""
    disk_hourly: float

    @property
    def hourly(self) -> float:
        return self.instance_hourly + self.disk_hourly


@dataclass(frozen=True)
class Line:
    """One priced resource (or one usage assumption) with its monthly cost in each scenario."""

    category: str
    name: str
    type: str
    what: str
    monthly_idle: float
    monthly_busy: float
    urn: str = ""
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    gpu_node: GpuNode | None = None


@dataclass(frozen=True)
class Free:
    reason: str


# --- Node pools: one shape for EKS node groups and GKE node pools ------------------------------


@dataclass(frozen=True)
class NodePool:
    cloud: str
    machine_types: tuple[str, ...]
    """Candidates, in the order given; on-demand uses the first, spot is priced at the dearest."""
    spot: bool
    min_nodes: int
    max_nodes: int
    disk_gb: float
    disk_type: str | None
    """None: the region's default block storage type."""
    sizing: str
    """How the counts were read, for the reader (`2-4`, `1-2 per zone x 3 zones`)."""
    accelerators: tuple[tuple[str, int], ...] = ()
    notes: tuple[str, ...] = ()

    def nodes(self, scenario: str) -> int:
        return self.min_nodes if scenario == "idle" else self.max_nodes


LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def _launch_template_root_volume(resource: Resource, resources: Sequence[Resource]) -> Mapping[str, Any] | None:
    """The root EBS volume of the launch template a node group depends on (its `launchTemplate`
    names it by an id the render cannot see, so it is found among the group's dependencies)."""
    dependencies = set(resource.get("dependencies") or ())
    for candidate in resources:
        if candidate["type"] == LAUNCH_TEMPLATE and candidate["urn"] in dependencies:
            mappings = candidate["inputs"].get("blockDeviceMappings") or []
            return next((mapping["ebs"] for mapping in mappings if mapping.get("ebs")), None)
    return None


def eks_node_group(resource: Resource, resources: Sequence[Resource]) -> NodePool:
    """aws:eks/nodeGroup:NodeGroup: instanceTypes, capacityType, scalingConfig, and the root disk
    from `diskSize` or, with a launch template, the template's block device mapping."""
    inputs = resource["inputs"]
    scaling = inputs.get("scalingConfig") or {}
    notes: list[str] = []
    instance_types = tuple(inputs.get("instanceTypes") or ())
    if not instance_types:
        instance_types = ("t3.medium",)
        notes.append("instanceTypes unset: EKS's default t3.medium")
    disk_type = None
    root_volume = _launch_template_root_volume(resource, resources) if "launchTemplate" in inputs else None
    if root_volume is not None and "volumeSize" in root_volume:
        disk_gb = float(root_volume["volumeSize"])
        disk_type = root_volume.get("volumeType")
    elif "diskSize" in inputs:
        disk_gb = float(inputs["diskSize"])
    else:
        disk_gb = 20.0
        notes.append("disk size unset: EKS's default 20 GB")
    spot = inputs.get("capacityType", "ON_DEMAND") == "SPOT"
    if len(instance_types) > 1:
        notes.append(
            "spot: priced at the dearest listed type (EKS picks by capacity and price)"
            if spot
            else "on-demand: priced at the first listed type (EKS's priority order)"
        )
    low, high = int(scaling["minSize"]), int(scaling["maxSize"])
    return NodePool(
        cloud="aws",
        machine_types=instance_types,
        spot=spot,
        min_nodes=low,
        max_nodes=high,
        disk_gb=disk_gb,
        disk_type=disk_type,
        sizing=f"{low}-{high}",
        notes=tuple(notes),
    )


GCP_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
GKE_DEFAULT_ZONES = 3
"""GKE places a regional cluster's nodes in three of the region's zones unless told otherwise."""


def _gke_cluster_of(resource: Resource, resources: Sequence[Resource]) -> Resource | None:
    clusters = [r for r in resources if r["type"] == "gcp:container/cluster:Cluster"]
    linked = [c for c in clusters if c["urn"] in resource.get("dependencies", ())]
    if linked:
        return linked[0]
    return clusters[0] if len(clusters) == 1 else None


def _gke_zones(inputs: Mapping[str, Any], cluster_inputs: Mapping[str, Any]) -> tuple[int, str]:
    locations = inputs.get("nodeLocations") or cluster_inputs.get("nodeLocations")
    if locations:
        return len(locations), ""
    location = str(inputs.get("location") or cluster_inputs.get("location") or "")
    if GCP_ZONE.match(location):
        return 1, ""
    return GKE_DEFAULT_ZONES, f"no nodeLocations: GKE's default of {GKE_DEFAULT_ZONES} zones for a regional cluster"


def _gke_pool(inputs: Mapping[str, Any], cluster_inputs: Mapping[str, Any], config: Mapping[str, Any]) -> NodePool:
    zones, zone_note = _gke_zones(inputs, cluster_inputs)
    notes = [zone_note] if zone_note else []
    autoscaling = inputs.get("autoscaling") or {}
    if "totalMinNodeCount" in autoscaling or "totalMaxNodeCount" in autoscaling:
        low = int(autoscaling.get("totalMinNodeCount", 0))
        high = int(autoscaling.get("totalMaxNodeCount", low))
        sizing = f"{low}-{high} in total"
    elif autoscaling:
        per_low = int(autoscaling.get("minNodeCount", 0))
        per_high = int(autoscaling.get("maxNodeCount", per_low))
        low, high = per_low * zones, per_high * zones
        sizing = f"{per_low}-{per_high} per zone x {zones} zone(s)"
    else:
        per_zone = int(inputs.get("nodeCount", inputs.get("initialNodeCount", 1)))
        low = high = per_zone * zones
        sizing = f"{per_zone} per zone x {zones} zone(s)"
    machine = config.get("machineType")
    if not machine:
        machine = "e2-medium"
        notes.append("machineType unset: GKE's default e2-medium")
    accelerators = tuple(
        (str(accelerator["type"]), int(accelerator.get("count", 1)))
        for accelerator in config.get("guestAccelerators") or ()
    )
    return NodePool(
        cloud="gcp",
        machine_types=(str(machine),),
        spot=bool(config.get("spot") or config.get("preemptible")),
        min_nodes=low,
        max_nodes=high,
        disk_gb=float(config.get("diskSizeGb", 100)),
        disk_type=config.get("diskType"),
        sizing=sizing,
        accelerators=accelerators,
        notes=tuple(notes),
    )


def gke_node_pool(resource: Resource, resources: Sequence[Resource]) -> NodePool:
    """gcp:container/nodePool:NodePool: nodeConfig.{machineType, guestAccelerators, spot, diskSizeGb,
    diskType}, autoscaling.{totalMin,totalMax}NodeCount or {min,max}NodeCount per zone x nodeLocations."""
    cluster = _gke_cluster_of(resource, resources)
    inputs = resource["inputs"]
    return _gke_pool(inputs, cluster["inputs"] if cluster else {}, inputs.get("nodeConfig") or {})


def gke_default_pool(cluster: Resource) -> NodePool | None:
    """The default node pool a GKE cluster keeps unless removeDefaultNodePool (or Autopilot)."""
    inputs = cluster["inputs"]
    if inputs.get("removeDefaultNodePool") or inputs.get("enableAutopilot") or inputs.get("nodePools"):
        return None
    return _gke_pool({"initialNodeCount": inputs.get("initialNodeCount", 1)}, inputs, inputs.get("nodeConfig") or {})


NODE_POOL_SHAPES: Mapping[str, Callable[[Resource, Sequence[Resource]], NodePool]] = {
    "eks": eks_node_group,
    "gke": gke_node_pool,
}


# --- Pricing ------------------------------------------------------------------------------------


@dataclass
class Context:
    prices: Prices
    region: str | None
    cluster_cloud: str | None
    """The cloud of the stack's Kubernetes cluster; None for a local (kind) cluster."""
    pools: Mapping[str, NodePool]
    """urn -> node pool, including the default pool a GKE cluster keeps (under the cluster's urn)."""
    pool_errors: Mapping[str, str]
    nat_data: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """cloud -> its NAT item, for each cloud with a NAT gateway (data processing is priced once)."""
    used_usage: set[str] = field(default_factory=set)
    """The usage assumptions the estimate relied on."""

    @property
    def hours(self) -> float:
        return self.prices.hours_per_month

    def cloud_of(self, rule: Mapping[str, Any]) -> str | None:
        cloud = str(rule["cloud"])
        return self.cluster_cloud if cloud == "cluster" else cloud

    def region_prices(self, cloud: str) -> RegionPrices:
        if self.region is None:
            raise NotPricedError(f"the stack's {cloud} region is unknown")
        if (cloud, self.region) not in self.prices.regions:
            raise NotPricedError(f"no {cloud} prices for region {self.region} in tools/prices.yaml")
        return self.prices.regions[(cloud, self.region)]

    def nodes(self, cloud: str, scenario: str) -> int:
        return sum(pool.nodes(scenario) for pool in self.pools.values() if pool.cloud == cloud)


PricerResult = Line | Free
Pricer = Callable[[Resource, Mapping[str, Any], Context], PricerResult]


def _line(resource: Resource, rule: Mapping[str, Any], what: str, idle: float, busy: float, **extra: Any) -> Line:
    return Line(
        category=str(rule["category"]),
        name=str(resource["name"]),
        type=str(resource["type"]),
        what=what,
        monthly_idle=idle,
        monthly_busy=busy,
        urn=str(resource["urn"]),
        **extra,
    )


def rate(amount: float, unit: str = "/h") -> str:
    """$1.006/h, $0.10/h: up to 4 decimals, at least 2."""
    text = f"{amount:.4f}".rstrip("0")
    if len(text.partition(".")[2]) < 2:
        text = f"{amount:.2f}"
    return f"${text}{unit}"


def _item_notes(item: Mapping[str, Any]) -> tuple[str, ...]:
    return (str(item["note"]),) if item.get("note") else ()


def _item(rule: Mapping[str, Any], ctx: Context) -> Mapping[str, Any] | None:
    """The row's item in the stack's region of the row's cloud; None on a local cluster."""
    cloud = ctx.cloud_of(rule)
    return None if cloud is None else ctx.region_prices(cloud).item(str(rule["item"]))


LOCAL = Free("on a local cluster: no cloud resource behind it")


def price_hourly(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    item = _item(rule, ctx)
    if item is None:
        return LOCAL
    monthly = float(item["hourly"]) * ctx.hours
    what = f"{item['what']}, {rate(float(item['hourly']))}"
    return _line(resource, rule, what, monthly, monthly, notes=_item_notes(item), sources=(_cite(item),))


def price_monthly(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    item = _item(rule, ctx)
    if item is None:
        return LOCAL
    monthly = float(item["monthly"])
    what = f"{item['what']}, ${monthly:.2f}/month"
    return _line(resource, rule, what, monthly, monthly, notes=_item_notes(item), sources=(_cite(item),))


def price_storage(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """Stored GB at the file's usage assumption (the same in both scenarios)."""
    item = _item(rule, ctx)
    if item is None:
        return LOCAL
    usage_key = str(rule["usage"])
    gigabytes = ctx.prices.usage_value(usage_key, "idle")
    ctx.used_usage.add(usage_key)
    per_gb = float(item["per_gb_month"])
    monthly = gigabytes * per_gb
    what = f"{item['what']}, {gigabytes:g} GB assumed ({usage_key}) x {rate(per_gb, '/GB-month')}"
    return _line(resource, rule, what, monthly, monthly, notes=_item_notes(item), sources=(_cite(item),))


def price_nat_gateway(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """An hourly gateway; its data processing is one stack-wide usage line (see `usage_lines`)."""
    line = price_hourly(resource, rule, ctx)
    cloud = str(rule["cloud"])
    ctx.nat_data[cloud] = ctx.region_prices(cloud).item(str(rule["item"]))
    return line


def price_cloud_nat(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """Cloud NAT bills per VM using it (every node of the stack's GKE pools), capped per gateway,
    plus one auto-allocated external address."""
    cloud = str(rule["cloud"])
    region = ctx.region_prices(cloud)
    item = region.item(str(rule["item"]))
    monthly = {}
    for scenario in SCENARIOS:
        hourly = min(float(item["per_vm_hourly"]) * ctx.nodes(cloud, scenario), float(item["max_hourly"]))
        monthly[scenario] = hourly * ctx.hours
    what = f"{item['what']}, {rate(float(item['per_vm_hourly']))} per node (capped {rate(float(item['max_hourly']))})"
    notes = list(_item_notes(item))
    sources = [_cite(item)]
    if resource["inputs"].get("natIpAllocateOption", "AUTO_ONLY") == "AUTO_ONLY":
        address = region.item("public_ipv4")
        for scenario in SCENARIOS:
            monthly[scenario] += float(address["hourly"]) * ctx.hours
        what += f" + 1 auto-allocated address {rate(float(address['hourly']))}"
        notes.append("one NAT address assumed; GCP allocates more as nodes need ports")
        sources.append(_cite(address))
    ctx.nat_data[cloud] = item
    return _line(resource, rule, what, monthly["idle"], monthly["busy"], notes=tuple(notes), sources=tuple(sources))


def price_load_balancer_service(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    service_type = (resource["inputs"].get("spec") or {}).get("type", "ClusterIP")
    if service_type != "LoadBalancer":
        return Free(f"a {service_type} Service creates no cloud resource")
    return price_hourly(resource, rule, ctx)


QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$")
GIB_PER_UNIT = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1, "Ti": 2**10, "K": 1e3 / 2**30, "M": 1e6 / 2**30}
GIB_PER_UNIT |= {"G": 1e9 / 2**30, "T": 1e12 / 2**30, "": 1 / 2**30}


def price_volume_claim(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    cloud = ctx.cloud_of(rule)
    if cloud is None:
        return LOCAL
    spec = resource["inputs"].get("spec") or {}
    request = str(((spec.get("resources") or {}).get("requests") or {}).get("storage", ""))
    match = QUANTITY.match(request)
    if not match:
        raise NotPricedError(f"storage request {request!r} is not a size")
    gigabytes = float(match.group(1)) * GIB_PER_UNIT[match.group(2) or ""]
    region = ctx.region_prices(cloud)
    item = region.item(str(rule["item"]))
    requested_class = spec.get("storageClassName")
    disk_type = requested_class if requested_class in item["per_gb_month"] else None
    chosen, per_gb, source = region.disk(disk_type)
    notes = () if disk_type else (f"storage class {requested_class or '(default)'} priced as {chosen}",)
    monthly = gigabytes * per_gb
    what = f"{item['what']} {chosen}, {gigabytes:g} GB x {rate(per_gb, '/GB-month')}"
    return _line(resource, rule, what, monthly, monthly, notes=notes, sources=(source,))


def _pool_cost(pool: NodePool, name: str, ctx: Context) -> tuple[str, dict[str, float], GpuNode | None, list[str]]:
    """(description, scenario -> monthly, GPU node price or None, sources) of a node pool."""
    region = ctx.region_prices(pool.cloud)
    machines = [(machine_type, region.machine(machine_type)) for machine_type in pool.machine_types]
    machine_type, machine = max(machines, key=lambda entry: entry[1].hourly) if pool.spot else machines[0]
    hourly = machine.hourly
    gpus, gpu = machine.gpus, machine.gpu
    sources = [region.machines_source]
    for accelerator, count in pool.accelerators:
        if accelerator == machine.gpu:
            continue  # A2/G2: the machine's price includes its GPUs
        hourly += region.accelerator(accelerator) * count
        gpus, gpu = gpus + count, accelerator
        sources.append(region.accelerators_source)
    if pool.spot:
        hourly *= 1 - region.spot_discount
        sources.append(region.spot_source)
    disk_type, per_gb, disk_source = region.disk(pool.disk_type)
    sources.append(disk_source)
    disk_monthly = pool.disk_gb * per_gb
    monthly = {s: pool.nodes(s) * (hourly * ctx.hours + disk_monthly) for s in SCENARIOS}
    capacity = f"spot (-{region.spot_discount:.0%} assumed)" if pool.spot else "on-demand"
    gpu_text = f" ({gpus}x {gpu})" if gpus else ""
    choices = "|".join(pool.machine_types)
    what = f"{pool.sizing} x {choices}{gpu_text} {capacity} {rate(hourly)} + {pool.disk_gb:g} GB {disk_type} each"
    gpu_node = None
    if gpus:
        gpu_node = GpuNode(name, machine_type, gpus, gpu, pool.spot, hourly, disk_monthly / ctx.hours)
    return what, monthly, gpu_node, sources


def price_node_pool(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    urn = str(resource["urn"])
    if urn in ctx.pool_errors:
        raise NotPricedError(ctx.pool_errors[urn])
    pool = ctx.pools[urn]
    what, monthly, gpu_node, sources = _pool_cost(pool, str(resource["name"]), ctx)
    return _line(
        resource,
        rule,
        what,
        monthly["idle"],
        monthly["busy"],
        notes=pool.notes,
        sources=tuple(dict.fromkeys(sources)),
        gpu_node=gpu_node,
    )


def price_gke_cluster(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """The management fee, plus the default node pool if the cluster keeps it."""
    if resource["inputs"].get("enableAutopilot"):
        raise NotPricedError("Autopilot bills the pods' resource requests, which this tool does not model")
    if resource["inputs"].get("nodePools"):
        raise NotPricedError("node pools declared inside the cluster are not modelled: use gcp:container/nodePool")
    line = price_hourly(resource, rule, ctx)
    pool = ctx.pools.get(str(resource["urn"]))
    if pool is None or isinstance(line, Free):
        return line
    what, monthly, gpu_node, sources = _pool_cost(pool, f"{resource['name']} default pool", ctx)
    return Line(
        category=line.category,
        name=line.name,
        type=line.type,
        what=f"{line.what}; default node pool kept: {what}",
        monthly_idle=line.monthly_idle + monthly["idle"],
        monthly_busy=line.monthly_busy + monthly["busy"],
        urn=line.urn,
        notes=(*line.notes, *pool.notes),
        sources=tuple(dict.fromkeys((*line.sources, *sources))),
        gpu_node=gpu_node,
    )


PRICERS: Mapping[str, Pricer] = {
    "hourly": price_hourly,
    "monthly": price_monthly,
    "storage": price_storage,
    "nat_gateway": price_nat_gateway,
    "cloud_nat": price_cloud_nat,
    "load_balancer_service": price_load_balancer_service,
    "volume_claim": price_volume_claim,
    "node_pool": price_node_pool,
    "gke_cluster": price_gke_cluster,
}
"""The `pricer` names tools/prices.yaml's resource_types may use."""


def usage_lines(ctx: Context) -> list[Line]:
    """NAT data processing, once per cloud with a NAT gateway (the data does not grow with gateways)."""
    lines = []
    if ctx.nat_data:
        ctx.used_usage.add("nat_processed_gb_per_month")
    for cloud, item in sorted(ctx.nat_data.items()):
        per_gb = float(item["per_gb"])
        idle, busy = (ctx.prices.usage_value("nat_processed_gb_per_month", s) for s in SCENARIOS)
        lines.append(
            Line(
                category="network",
                name=f"{cloud} NAT data processing",
                type="usage",
                what=(
                    f"{idle:g} GB idle / {busy:g} GB busy assumed (nat_processed_gb_per_month) x {rate(per_gb, '/GB')}"
                ),
                monthly_idle=idle * per_gb,
                monthly_busy=busy * per_gb,
                sources=(_cite(item),),
            )
        )
    return lines
