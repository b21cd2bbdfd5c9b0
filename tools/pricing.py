"""How each resource type is priced: the price file's model and the pricers it names.

`tools/prices.yaml` maps a resource type to a `pricer` (a function in `PRICERS`) with its
arguments (`item`, `usage`, `shape`, `cloud`, `category`); a pricer reads the resource's inputs
(Pulumi's camelCase names, as `tools.render` writes them) and returns a `Line` (monthly cost when
idle and busy), `Free(reason)`, or raises `NotPricedError(reason)`. Node groups of every cloud are
read into one `NodePool` shape (`NODE_POOL_SHAPES`) and priced by one function, so a new cloud's
node pools are a reader and a row, not new pricing logic.

What a Kubernetes object costs depends on its cluster (`Context.cloud_of`): on a cloud cluster of
the stack, what that cloud makes for it (a load balancer, a disk); on a local cluster (the price
file's `local_clusters`), nothing; on a cluster the stack does not provision (clusterBackend
existing), whose cloud the render cannot tell, it is not priced. An item's `assumes` (a rule of its
price the figure does not apply) and the count behind a shared price (`hourly_covers`: GCP's first
five forwarding rules) are recorded in the `Context` for the estimate's assumptions.

Both inputs are checked before a figure is made from them: `load_prices` refuses a price file that
is not shaped as the pricers read it (`PricesError`, every problem with its key), and the readers
of a resource's inputs raise `NotPricedError` for a count, size or name that cannot be priced.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
        return chosen, float(per_gb[chosen]), cite(item)


@dataclass(frozen=True)
class Prices:
    hours_per_month: float
    usage: Mapping[str, Mapping[str, Any]]
    regions: Mapping[tuple[str, str], RegionPrices]
    resource_types: Mapping[str, Mapping[str, Any]]
    free: Mapping[str, str]
    free_prefixes: Mapping[str, str]
    local_clusters: Mapping[str, str]
    """Resource type -> why nothing on a cluster it makes is billed (kind)."""
    charts: Mapping[str, str]
    """Helm chart name -> why it creates nothing billed by itself."""

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


def cite(entry: Mapping[str, Any]) -> str:
    """A price's source page and the month its figure was the published list price."""
    return f"{entry['source']} (as of {entry['as_of']})"


class PricesError(Exception):
    """The price file cannot be read, or is not shaped as tools/prices.yaml documents; one line."""


def load_prices(path: Path = PRICES_FILE) -> Prices:
    """The price file, checked first: every problem with its key is one `PricesError`."""
    document = _read_price_document(path)
    problems = price_file_problems(document)
    if problems:
        raise PricesError(f"{path}: {'; '.join(problems)}")
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
                machines_source=cite(machines),
                accelerators={name: float(hourly) for name, hourly in accelerators["types"].items()},
                accelerators_source=cite(accelerators) if accelerators["source"] else "",
                items=table["items"],
                spot_discount=float(spot["discount"]),
                spot_source=cite(spot),
            )
    return Prices(
        hours_per_month=float(document["hours_per_month"]),
        usage=document["usage"],
        regions=regions,
        resource_types=document["resource_types"],
        free=document["free"],
        free_prefixes=document.get("free_prefixes") or {},
        local_clusters=document.get("local_clusters") or {},
        charts=document.get("charts") or {},
    )


def _read_price_document(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise PricesError(f"{path}: cannot read it ({error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "malformed"
        raise PricesError(f"{path}: not valid YAML{where}: {problem}") from None


# --- Checking the price file ---------------------------------------------------------------------
# The pricers read the file without defending every key: these checks are what makes that safe.

MAX_HOURS_PER_MONTH = 744
"""31 days: the most hours a month has."""
ITEM_NUMBERS = ("hourly", "hourly_beyond", "monthly", "per_vm_hourly", "max_hourly", "per_gb")
"""Item fields that are prices ($, not negative)."""
MAX_TIER_UNITS = 1000
"""The most units one `hourly` may cover together (`hourly_covers`): a larger count is a typo."""
PRICER_ITEM_FIELDS: Mapping[str, tuple[str, ...]] = {
    "hourly": ("hourly", "what"),
    "monthly": ("monthly", "what"),
    "storage": ("per_gb_month", "what"),
    "nat_gateway": ("hourly", "what", "per_gb"),
    "cloud_nat": ("per_vm_hourly", "max_hourly", "per_gb", "what"),
    "load_balancer_service": ("hourly", "what"),
    "volume_claim": ("per_gb_month", "default", "what"),
    "gke_cluster": ("hourly", "what"),
}
"""The fields of its `item` each pricer reads (node_pool reads machines and block_storage only)."""
NAMED_ITEM_FIELDS: Mapping[str, tuple[str, ...]] = {
    "block_storage": ("per_gb_month", "default"),
    "public_ipv4": ("hourly",),
}
"""Items the pricers read by name (node and volume disks, Cloud NAT's address), and what they read."""


def _shown(value: Any) -> str:
    """A value from a file, short and on one line, for an error message."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Check:
    """Collects the price file's problems, each naming its key."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        self.problems.append(f"{key}: expected a mapping, got {_shown(value)}")
        return {}

    def text(self, value: Any, key: str) -> None:
        if not isinstance(value, str) or not value:
            self.problems.append(f"{key}: expected a non-empty string, got {_shown(value)}")

    def present(self, entry: Mapping[str, Any], key: str, where: str) -> bool:
        if key in entry:
            return True
        self.problems.append(f"{where}: lacks {key}")
        return False

    def number(self, value: Any, key: str, *, high: float = math.inf, below_high: bool = False) -> None:
        """A finite number from 0 to `high` (exclusive with `below_high`)."""
        if not _is_number(value) or value < 0 or value > high or (below_high and value == high):
            allowed = "0 or more" if high == math.inf else f"from 0 to {'less than ' if below_high else ''}{high:g}"
            self.problems.append(f"{key}: expected a number {allowed}, got {_shown(value)}")

    def cited(self, entry: Mapping[str, Any], key: str) -> None:
        """A price's `source` page and `as_of` month."""
        if self.present(entry, "source", key):
            self.text(entry["source"], f"{key}.source")
        if self.present(entry, "as_of", key) and entry["as_of"] in (None, ""):
            self.problems.append(f"{key}.as_of: expected the month the figure was read, got {_shown(entry['as_of'])}")


def price_file_problems(document: Any) -> list[str]:
    """Every way `document` (a parsed price file) differs from the shape the pricers read."""
    check = _Check()
    sections = ("hours_per_month", "usage", "clouds", "resource_types", "free")
    if not isinstance(document, Mapping):
        return [f"expected a mapping with {', '.join(sections)}, got {_shown(document)}"]
    top: Mapping[str, Any] = document
    for key in sections:
        check.present(top, key, "top level")
    if "hours_per_month" in top:
        check.number(top["hours_per_month"], "hours_per_month", high=MAX_HOURS_PER_MONTH)
        if top["hours_per_month"] == 0:
            check.problems.append("hours_per_month: expected more than 0")
    usage = check.mapping(top.get("usage", {}), "usage")
    for name, entry in usage.items():
        _check_usage(check, check.mapping(entry, f"usage.{name}"), f"usage.{name}")
    clouds = check.mapping(top.get("clouds", {}), "clouds")
    for cloud, cloud_prices in clouds.items():
        _check_cloud(check, check.mapping(cloud_prices, f"clouds.{cloud}"), f"clouds.{cloud}")
    rules = check.mapping(top.get("resource_types", {}), "resource_types")
    for type_token, rule in rules.items():
        _check_rule(check, check.mapping(rule, f"resource_types.{type_token}"), f"resource_types.{type_token}", top)
    for section in ("free", "free_prefixes", "local_clusters", "charts"):
        for type_token, reason in check.mapping(top.get(section, {}), section).items():
            check.text(reason, f"{section}.{type_token}")
    return check.problems


def _check_usage(check: _Check, entry: Mapping[str, Any], key: str) -> None:
    scenarios = [scenario for scenario in SCENARIOS if scenario in entry]
    if "value" in entry and not scenarios:
        check.number(entry["value"], f"{key}.value")
    elif set(scenarios) == set(SCENARIOS) and "value" not in entry:
        for scenario in SCENARIOS:
            check.number(entry[scenario], f"{key}.{scenario}")
        if _is_number(entry["idle"]) and _is_number(entry["busy"]) and entry["busy"] < entry["idle"]:
            check.problems.append(f"{key}.busy: {entry['busy']:g} is below its idle {entry['idle']:g}")
    else:
        check.problems.append(f"{key}: expected either `value` or both `idle` and `busy`")
    if check.present(entry, "why", key):
        check.text(entry["why"], f"{key}.why")


def _check_cloud(check: _Check, cloud_prices: Mapping[str, Any], key: str) -> None:
    if check.present(cloud_prices, "spot", key):
        spot = check.mapping(cloud_prices["spot"], f"{key}.spot")
        if check.present(spot, "discount", f"{key}.spot"):
            check.number(spot["discount"], f"{key}.spot.discount", high=1, below_high=True)
        check.cited(spot, f"{key}.spot")
    if check.present(cloud_prices, "regions", key):
        for region, table in check.mapping(cloud_prices["regions"], f"{key}.regions").items():
            _check_region(check, check.mapping(table, f"{key}.regions.{region}"), f"{key}.regions.{region}")


def _check_region(check: _Check, table: Mapping[str, Any], key: str) -> None:
    if check.present(table, "machines", key):
        machines = check.mapping(table["machines"], f"{key}.machines")
        check.cited(machines, f"{key}.machines")
        if check.present(machines, "types", f"{key}.machines"):
            for name, entry in check.mapping(machines["types"], f"{key}.machines.types").items():
                _check_machine(
                    check, check.mapping(entry, f"{key}.machines.types.{name}"), f"{key}.machines.types.{name}"
                )
        if machines.get("accelerators") is not None:
            accelerators = check.mapping(machines["accelerators"], f"{key}.machines.accelerators")
            check.cited(accelerators, f"{key}.machines.accelerators")
            if check.present(accelerators, "types", f"{key}.machines.accelerators"):
                types = check.mapping(accelerators["types"], f"{key}.machines.accelerators.types")
                for name, hourly in types.items():
                    check.number(hourly, f"{key}.machines.accelerators.types.{name}")
    if check.present(table, "items", key):
        for name, item in check.mapping(table["items"], f"{key}.items").items():
            _check_item(check, check.mapping(item, f"{key}.items.{name}"), f"{key}.items.{name}")
            if name in NAMED_ITEM_FIELDS and isinstance(item, Mapping):
                for field_name in NAMED_ITEM_FIELDS[name]:
                    check.present(item, field_name, f"{key}.items.{name}")
                if name == "block_storage" and not isinstance(item.get("per_gb_month", {}), Mapping):
                    check.problems.append(f"{key}.items.{name}.per_gb_month: expected a price per disk type")


def _check_machine(check: _Check, entry: Mapping[str, Any], key: str) -> None:
    if check.present(entry, "hourly", key):
        check.number(entry["hourly"], f"{key}.hourly")
    if "gpus" in entry:
        gpus = entry["gpus"]
        if not isinstance(gpus, int) or isinstance(gpus, bool) or not 0 <= gpus <= MAX_GPUS_PER_NODE:
            check.problems.append(
                f"{key}.gpus: expected a whole number from 0 to {MAX_GPUS_PER_NODE}, got {_shown(gpus)}"
            )
        elif gpus:
            if check.present(entry, "gpu", key):
                check.text(entry["gpu"], f"{key}.gpu")


def _check_item(check: _Check, item: Mapping[str, Any], key: str) -> None:
    check.cited(item, key)
    for field_name in ITEM_NUMBERS:
        if field_name in item:
            check.number(item[field_name], f"{key}.{field_name}")
    for field_name in ("what", "note", "default", "assumes"):
        if field_name in item:
            check.text(item[field_name], f"{key}.{field_name}")
    _check_tier(check, item, key)
    per_gb = item.get("per_gb_month")
    if isinstance(per_gb, Mapping):  # disk prices by type, with the type used when none is named
        for disk_type, price in per_gb.items():
            check.number(price, f"{key}.per_gb_month.{disk_type}")
        if check.present(item, "default", key) and not _is_key(item["default"], per_gb):
            check.problems.append(f"{key}.default: {_shown(item['default'])} is not a type in its per_gb_month")
    elif "per_gb_month" in item:
        check.number(per_gb, f"{key}.per_gb_month")


def _check_tier(check: _Check, item: Mapping[str, Any], key: str) -> None:
    """`hourly` for the first `hourly_covers` units together, `hourly_beyond` for each further one:
    both or neither."""
    if ("hourly_covers" in item) != ("hourly_beyond" in item):
        check.problems.append(f"{key}: hourly_covers needs hourly_beyond, and hourly_beyond needs hourly_covers")
    if "hourly_covers" in item:
        covers = item["hourly_covers"]
        if not isinstance(covers, int) or isinstance(covers, bool) or not 1 <= covers <= MAX_TIER_UNITS:
            check.problems.append(
                f"{key}.hourly_covers: expected a whole number from 1 to {MAX_TIER_UNITS}, got {_shown(covers)}"
            )
        if "hourly" not in item:
            check.problems.append(f"{key}: hourly_covers needs hourly, the price of the units it covers")


def _mapping_at(document: Any, *keys: str) -> Mapping[str, Any]:
    """document[key][key]..., or empty where a step is missing or not a mapping (reported elsewhere)."""
    for key in keys:
        document = document.get(key) if isinstance(document, Mapping) else None
    return document if isinstance(document, Mapping) else {}


def _is_key(value: Any, names: Iterable[str]) -> bool:
    """`value in names`, for a value from a file that may be a list or a mapping (unhashable)."""
    return isinstance(value, str) and value in names


def _check_rule(check: _Check, rule: Mapping[str, Any], key: str, top: Mapping[str, Any]) -> None:
    clouds = _mapping_at(top, "clouds")
    pricer = rule.get("pricer")
    if not _is_key(pricer, PRICERS):
        check.problems.append(f"{key}.pricer: {_shown(pricer)} is not one of {', '.join(PRICERS)}")
    if not _is_key(rule.get("category"), CATEGORIES):
        check.problems.append(f"{key}.category: {_shown(rule.get('category'))} is not one of {', '.join(CATEGORIES)}")
    cloud = rule.get("cloud")
    if cloud != "cluster" and not _is_key(cloud, clouds):
        check.problems.append(f"{key}.cloud: {_shown(cloud)} is not `cluster` or a cloud under clouds")
    if pricer == "node_pool" and not _is_key(rule.get("shape"), NODE_POOL_SHAPES):
        check.problems.append(f"{key}.shape: {_shown(rule.get('shape'))} is not one of {', '.join(NODE_POOL_SHAPES)}")
    if pricer == "storage" and not _is_key(rule.get("usage"), _mapping_at(top, "usage")):
        check.problems.append(f"{key}.usage: {_shown(rule.get('usage'))} is not a key of usage")
    if pricer in ("nat_gateway", "cloud_nat") and NAT_USAGE not in _mapping_at(top, "usage"):
        check.problems.append(f"usage: lacks {NAT_USAGE}, which {key} (a NAT gateway) needs")
    if pricer in CLUSTER_PRICERS and cloud != "cluster":
        check.problems.append(f"{key}.cloud: the {pricer} pricer prices what the cluster bills: expected `cluster`")
    if _is_key(pricer, PRICER_ITEM_FIELDS):
        if not isinstance(rule.get("item"), str):
            check.problems.append(f"{key}.item: expected the name of a region's item, got {_shown(rule.get('item'))}")
            return
        rule_clouds = list(clouds) if cloud == "cluster" else [str(cloud)]
        for rule_cloud in rule_clouds:
            for region in _mapping_at(clouds, rule_cloud, "regions"):
                item = _mapping_at(clouds, rule_cloud, "regions", region, "items", rule["item"])
                if item:
                    where = f"clouds.{rule_cloud}.regions.{region}.items.{rule['item']} (used by {key})"
                    _check_rule_item(check, str(pricer), item, where)


def _check_rule_item(check: _Check, pricer: str, item: Mapping[str, Any], where: str) -> None:
    """A region may lack a rule's item (its resources are then "not priced"); where it has it, the
    item holds every field the rule's pricer reads, of the kind it reads."""
    for field_name in PRICER_ITEM_FIELDS[pricer]:
        check.present(item, field_name, where)
    per_gb = item.get("per_gb_month")
    if pricer == "storage" and isinstance(per_gb, Mapping):
        check.problems.append(f"{where}.per_gb_month: the storage pricer needs one price, not one per type")
    if pricer == "volume_claim" and per_gb is not None and not isinstance(per_gb, Mapping):
        check.problems.append(f"{where}.per_gb_month: the volume_claim pricer needs a price per disk type")


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


# --- Reading a render's inputs -------------------------------------------------------------------
# A render is data a pull request may have shaped: every number a price is multiplied by is checked
# here, so that a bad one makes its resource "not priced" with the reason, never a negative,
# inverted or absurd figure.

MAX_NODES_PER_POOL = 10_000
"""Far above what one managed pool holds (EKS: 450 nodes per node group by default; GKE: 1,000
per zone): a larger count is a typo, not a plan."""
MAX_DISK_GB = 65_536
"""The largest persistent disk GCP offers (EBS: 16 TiB): a larger disk or claim is a typo."""
MAX_GPUS_PER_NODE = 16
"""The most GPUs one machine takes (a2-megagpu-16g)."""


def _object(inputs: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    """inputs[key] as a mapping; unset is empty."""
    value = inputs.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise NotPricedError(f"{where}{key} is not an object: {_shown(value)}")
    return value


def _objects(value: Any, name: str) -> list[Mapping[str, Any]]:
    """A list of mappings; unset is empty."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(entry, Mapping) for entry in value):
        raise NotPricedError(f"{name} is not a list of objects: {_shown(value)}")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise NotPricedError(f"{name} is not a name: {_shown(value)}")
    return value


def _optional_text(value: Any, name: str) -> str | None:
    return None if value is None else _text(value, name)


def _texts(value: Any, name: str) -> tuple[str, ...]:
    """A list of names; unset is empty."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise NotPricedError(f"{name} is not a list: {_shown(value)}")
    return tuple(_text(entry, f"{name}[{index}]") for index, entry in enumerate(value))


def _flag(value: Any, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    raise NotPricedError(f"{name} is not true or false: {_shown(value)}")


def _whole(value: Any, name: str, low: int, high: int) -> int:
    """A count from `low` to `high` (a render may hold 2.0 for 2)."""
    if value is None:
        raise NotPricedError(f"{name} is unset")
    if not _is_number(value) or (isinstance(value, float) and not value.is_integer()) or not low <= value <= high:
        raise NotPricedError(f"{name} is {_shown(value)}: expected a whole number from {low} to {high:,}")
    return int(value)


def _node_range(low_value: Any, high_value: Any, low_name: str, high_name: str) -> tuple[int, int]:
    """(minimum, maximum) node counts, each from 0 to MAX_NODES_PER_POOL, the maximum not below the minimum."""
    low = _whole(low_value, low_name, 0, MAX_NODES_PER_POOL)
    high = _whole(high_value, high_name, 0, MAX_NODES_PER_POOL)
    if high < low:
        raise NotPricedError(f"{high_name} {high} is below {low_name} {low}")
    return low, high


def _disk_gb(value: Any, name: str) -> float:
    if not _is_number(value) or not 0 < value <= MAX_DISK_GB:
        raise NotPricedError(f"{name} is {_shown(value)}: expected a size in GB above 0, at most {MAX_DISK_GB:,}")
    return float(value)


LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def _launch_template_root_volume(resource: Resource, resources: Sequence[Resource]) -> Mapping[str, Any] | None:
    """The root EBS volume of the launch template a node group depends on (its `launchTemplate`
    names it by an id the render cannot see, so it is found among the group's dependencies)."""
    dependencies = set(resource.get("dependencies") or ())
    for candidate in resources:
        if candidate["type"] == LAUNCH_TEMPLATE and candidate["urn"] in dependencies:
            mappings = _objects(candidate["inputs"].get("blockDeviceMappings"), "launch template blockDeviceMappings")
            return next(
                (_object(mapping, "ebs", "launch template ") for mapping in mappings if mapping.get("ebs")), None
            )
    return None


def eks_node_group(resource: Resource, resources: Sequence[Resource]) -> NodePool:
    """aws:eks/nodeGroup:NodeGroup: instanceTypes, capacityType, scalingConfig, and the root disk
    from `diskSize` or, with a launch template, the template's block device mapping."""
    inputs = resource["inputs"]
    scaling = _object(inputs, "scalingConfig")
    low, high = _node_range(
        scaling.get("minSize"), scaling.get("maxSize"), "scalingConfig.minSize", "scalingConfig.maxSize"
    )
    notes: list[str] = []
    instance_types = _texts(inputs.get("instanceTypes"), "instanceTypes")
    if not instance_types:
        instance_types = ("t3.medium",)
        notes.append("instanceTypes unset: EKS's default t3.medium")
    disk_type = None
    root_volume = _launch_template_root_volume(resource, resources) if "launchTemplate" in inputs else None
    if root_volume is not None and "volumeSize" in root_volume:
        disk_gb = _disk_gb(root_volume["volumeSize"], "launch template volumeSize")
        disk_type = _optional_text(root_volume.get("volumeType"), "launch template volumeType")
    elif "diskSize" in inputs:
        disk_gb = _disk_gb(inputs["diskSize"], "diskSize")
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
    locations = _texts(inputs.get("nodeLocations"), "nodeLocations") or _texts(
        cluster_inputs.get("nodeLocations"), "the cluster's nodeLocations"
    )
    if locations:
        return len(set(locations)), ""
    location = inputs.get("location") or cluster_inputs.get("location") or ""
    if isinstance(location, str) and GCP_ZONE.match(location):
        return 1, ""
    return GKE_DEFAULT_ZONES, f"no nodeLocations: GKE's default of {GKE_DEFAULT_ZONES} zones for a regional cluster"


def _gke_sizes(inputs: Mapping[str, Any], zones: int) -> tuple[int, int, str]:
    """(minimum, maximum, how they were read): total limits, per-zone limits x zones, or a fixed count."""
    autoscaling = _object(inputs, "autoscaling")
    if "totalMinNodeCount" in autoscaling or "totalMaxNodeCount" in autoscaling:
        total_low = autoscaling.get("totalMinNodeCount", 0)
        low, high = _node_range(
            total_low,
            autoscaling.get("totalMaxNodeCount", total_low),
            "autoscaling.totalMinNodeCount",
            "autoscaling.totalMaxNodeCount",
        )
        return low, high, f"{low}-{high} in total"
    if autoscaling:
        zone_low = autoscaling.get("minNodeCount", 0)
        per_low, per_high = _node_range(
            zone_low, autoscaling.get("maxNodeCount", zone_low), "autoscaling.minNodeCount", "autoscaling.maxNodeCount"
        )
        return per_low * zones, per_high * zones, f"{per_low}-{per_high} per zone x {zones} zone(s)"
    count_key = "nodeCount" if "nodeCount" in inputs else "initialNodeCount"
    per_zone = _whole(inputs.get(count_key, 1), count_key, 0, MAX_NODES_PER_POOL)
    return per_zone * zones, per_zone * zones, f"{per_zone} per zone x {zones} zone(s)"


def _gke_accelerators(config: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    accelerators = _objects(config.get("guestAccelerators"), "nodeConfig.guestAccelerators")
    return tuple(
        (
            _text(accelerator.get("type"), f"nodeConfig.guestAccelerators[{index}].type"),
            _whole(accelerator.get("count", 1), f"nodeConfig.guestAccelerators[{index}].count", 1, MAX_GPUS_PER_NODE),
        )
        for index, accelerator in enumerate(accelerators)
    )


def _gke_pool(inputs: Mapping[str, Any], cluster_inputs: Mapping[str, Any], config: Mapping[str, Any]) -> NodePool:
    zones, zone_note = _gke_zones(inputs, cluster_inputs)
    notes = [zone_note] if zone_note else []
    low, high, sizing = _gke_sizes(inputs, zones)
    machine = _optional_text(config.get("machineType"), "nodeConfig.machineType")
    if machine is None:
        machine = "e2-medium"
        notes.append("machineType unset: GKE's default e2-medium")
    return NodePool(
        cloud="gcp",
        machine_types=(machine,),
        spot=_flag(config.get("spot"), "nodeConfig.spot") or _flag(config.get("preemptible"), "nodeConfig.preemptible"),
        min_nodes=low,
        max_nodes=high,
        disk_gb=_disk_gb(config.get("diskSizeGb", 100), "nodeConfig.diskSizeGb"),
        disk_type=_optional_text(config.get("diskType"), "nodeConfig.diskType"),
        sizing=sizing,
        accelerators=_gke_accelerators(config),
        notes=tuple(notes),
    )


def gke_node_pool(resource: Resource, resources: Sequence[Resource]) -> NodePool:
    """gcp:container/nodePool:NodePool: nodeConfig.{machineType, guestAccelerators, spot, diskSizeGb,
    diskType}, autoscaling.{totalMin,totalMax}NodeCount or {min,max}NodeCount per zone x nodeLocations."""
    cluster = _gke_cluster_of(resource, resources)
    inputs = resource["inputs"]
    return _gke_pool(inputs, cluster["inputs"] if cluster else {}, _object(inputs, "nodeConfig"))


def gke_default_pool(cluster: Resource) -> NodePool | None:
    """The default node pool a GKE cluster keeps unless removeDefaultNodePool (or Autopilot)."""
    inputs = cluster["inputs"]
    if inputs.get("removeDefaultNodePool") or inputs.get("enableAutopilot") or inputs.get("nodePools"):
        return None
    return _gke_pool({"initialNodeCount": inputs.get("initialNodeCount", 1)}, inputs, _object(inputs, "nodeConfig"))


NODE_POOL_SHAPES: Mapping[str, Callable[[Resource, Sequence[Resource]], NodePool]] = {
    "eks": eks_node_group,
    "gke": gke_node_pool,
}


# --- Pricing ------------------------------------------------------------------------------------


UNKNOWN_CLUSTER = "on a cluster this stack does not provision: its cloud and prices are unknown"
"""Why what a Kubernetes object makes its cluster's cloud create is not priced on a cluster that is
neither a cloud cluster of the stack nor a local one (clusterBackend existing)."""


@dataclass
class Context:
    prices: Prices
    region: str | None
    cluster_cloud: str | None
    """The cloud of the stack's Kubernetes cluster; None for a local one or one the stack does not provision."""
    local_cluster: str | None
    """Why nothing on the stack's cluster is billed, when it is local (kind); None otherwise."""
    pools: Mapping[str, NodePool]
    """urn -> node pool, including the default pool a GKE cluster keeps (under the cluster's urn)."""
    pool_errors: Mapping[str, str]
    resources: Sequence[Resource] = ()
    """The whole render, for a pricer that needs another resource (the subnets a load balancer uses)."""
    nat_data: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """cloud -> its NAT item, for each cloud with a NAT gateway (data processing is priced once)."""
    used_usage: set[str] = field(default_factory=set)
    """The usage assumptions the estimate relied on."""
    used_items: set[tuple[str, str]] = field(default_factory=set)
    """(cloud, item) of every price the estimate used, for the rules their `assumes` state."""
    units: dict[tuple[str, str], int] = field(default_factory=dict)
    """(cloud, item) -> units priced so far, for an item whose `hourly` covers its first units together."""

    @property
    def hours(self) -> float:
        return self.prices.hours_per_month

    def cloud_of(self, rule: Mapping[str, Any], makes: str) -> str | None:
        """The cloud whose prices apply to a row; None on a local cluster, where no cloud bills
        anything. On a cluster the stack does not provision, what `makes` (e.g. "a load balancer")
        would be billed by an unknown cloud: NotPricedError."""
        cloud = str(rule["cloud"])
        if cloud != "cluster" or self.cluster_cloud is not None:
            return self.cluster_cloud if cloud == "cluster" else cloud
        if self.local_cluster is None:
            raise NotPricedError(f"{makes} {UNKNOWN_CLUSTER}")
        return None

    def local_free(self) -> Free:
        return Free(f"on a local cluster ({self.local_cluster}): no cloud resource behind it")

    def region_prices(self, cloud: str) -> RegionPrices:
        if self.region is None:
            raise NotPricedError(f"the stack's {cloud} region is unknown")
        if (cloud, self.region) not in self.prices.regions:
            raise NotPricedError(f"no {cloud} prices for region {self.region} in tools/prices.yaml")
        return self.prices.regions[(cloud, self.region)]

    def item(self, cloud: str, key: str) -> Mapping[str, Any]:
        """The region's item `key` of `cloud`, noted as used (its `assumes` go with the estimate)."""
        item = self.region_prices(cloud).item(key)
        self.used_items.add((cloud, key))
        return item

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


def _item(rule: Mapping[str, Any], ctx: Context, makes: str) -> tuple[str, Mapping[str, Any]] | None:
    """(cloud, the row's item in the stack's region of that cloud); None on a local cluster."""
    cloud = ctx.cloud_of(rule, makes)
    return None if cloud is None else (cloud, ctx.item(cloud, str(rule["item"])))


def _hourly_unit(cloud: str, key: str, item: Mapping[str, Any], ctx: Context) -> tuple[float, str]:
    """($/hour, how) of one more unit of an hourly item. Where `hourly` is for the first
    `hourly_covers` units of the region together (GCP forwarding rules), the first unit carries it,
    the next ones within the cover cost nothing more, and each one beyond costs `hourly_beyond`."""
    hourly = float(item["hourly"])
    if "hourly_covers" not in item:
        return hourly, f"{item['what']}, {rate(hourly)}"
    covers, beyond = int(item["hourly_covers"]), float(item["hourly_beyond"])
    rank = ctx.units[(cloud, key)] = ctx.units.get((cloud, key), 0) + 1
    where = f"{item['what']}, no. {rank} in {ctx.region}"
    if rank == 1:
        return hourly, f"{where}: {rate(hourly)} covers the first {covers}"
    if rank <= covers:
        return 0.0, f"{where}: within the {rate(hourly)} of the first {covers}"
    return beyond, f"{where}: {rate(beyond)} beyond the first {covers}"


def price_hourly(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    found = _item(rule, ctx, "what it creates")
    if found is None:
        return ctx.local_free()
    cloud, item = found
    hourly, what = _hourly_unit(cloud, str(rule["item"]), item, ctx)
    monthly = hourly * ctx.hours
    return _line(resource, rule, what, monthly, monthly, notes=_item_notes(item), sources=(cite(item),))


def price_monthly(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    found = _item(rule, ctx, "what it creates")
    if found is None:
        return ctx.local_free()
    item = found[1]
    monthly = float(item["monthly"])
    what = f"{item['what']}, ${monthly:.2f}/month"
    return _line(resource, rule, what, monthly, monthly, notes=_item_notes(item), sources=(cite(item),))


def price_storage(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """Stored GB at the file's usage assumption (the same in both scenarios)."""
    found = _item(rule, ctx, "the storage it holds")
    if found is None:
        return ctx.local_free()
    item = found[1]
    usage_key = str(rule["usage"])
    gigabytes = ctx.prices.usage_value(usage_key, "idle")
    ctx.used_usage.add(usage_key)
    per_gb = float(item["per_gb_month"])
    monthly = gigabytes * per_gb
    what = f"{item['what']}, {gigabytes:g} GB assumed ({usage_key}) x {rate(per_gb, '/GB-month')}"
    return _line(resource, rule, what, monthly, monthly, notes=_item_notes(item), sources=(cite(item),))


def price_nat_gateway(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """An hourly gateway; its data processing is one stack-wide usage line (see `usage_lines`)."""
    line = price_hourly(resource, rule, ctx)
    cloud = str(rule["cloud"])
    ctx.nat_data[cloud] = ctx.item(cloud, str(rule["item"]))
    return line


def price_cloud_nat(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """Cloud NAT bills per VM using it (every node of the stack's GKE pools), capped per gateway,
    plus one auto-allocated external address."""
    cloud = str(rule["cloud"])
    item = ctx.item(cloud, str(rule["item"]))
    monthly = {}
    for scenario in SCENARIOS:
        hourly = min(float(item["per_vm_hourly"]) * ctx.nodes(cloud, scenario), float(item["max_hourly"]))
        monthly[scenario] = hourly * ctx.hours
    what = f"{item['what']}, {rate(float(item['per_vm_hourly']))} per node (capped {rate(float(item['max_hourly']))})"
    notes = list(_item_notes(item))
    sources = [cite(item)]
    if resource["inputs"].get("natIpAllocateOption", "AUTO_ONLY") == "AUTO_ONLY":
        address = ctx.item(cloud, "public_ipv4")
        for scenario in SCENARIOS:
            monthly[scenario] += float(address["hourly"]) * ctx.hours
        what += f" + 1 auto-allocated address {rate(float(address['hourly']))}"
        notes.append("one NAT address assumed; GCP allocates more as nodes need ports")
        sources.append(cite(address))
    ctx.nat_data[cloud] = item
    return _line(resource, rule, what, monthly["idle"], monthly["busy"], notes=tuple(notes), sources=tuple(sources))


def price_load_balancer_service(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """A LoadBalancer Service makes its cluster's cloud create a load balancer: the row's item, and
    what the cloud adds to it (`SERVICE_LOAD_BALANCERS`)."""
    service_type = _object(resource["inputs"], "spec").get("type", "ClusterIP")
    if service_type != "LoadBalancer":
        return Free(f"a {service_type} Service creates no cloud resource")
    cloud = ctx.cloud_of(rule, "its load balancer")
    if cloud is None:
        return ctx.local_free()
    shape = SERVICE_LOAD_BALANCERS.get(cloud)
    return shape(resource, rule, ctx) if shape else price_hourly(resource, rule, ctx)


AWS_LOAD_BALANCER_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
AWS_NLB_TYPES = ("nlb", "nlb-ip", "external")
"""`nlb`: the EKS cloud provider's NLB; `external`, `nlb-ip`: the AWS Load Balancer Controller's."""
AWS_INTERNAL = "service.beta.kubernetes.io/aws-load-balancer-internal"
AWS_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
AWS_EIP_ALLOCATIONS = "service.beta.kubernetes.io/aws-load-balancer-eip-allocations"
AWS_PUBLIC_SUBNET_TAG = "kubernetes.io/role/elb"
"""The tag of the subnets an internet-facing load balancer is placed in, one per zone."""


def _annotations(resource: Resource) -> Mapping[str, Any]:
    return _object(_object(resource["inputs"], "metadata"), "annotations", "metadata.")


def _aws_public_zones(resources: Sequence[Resource]) -> int:
    """Zones of the subnets tagged for internet-facing load balancers (a subnet without a zone counts as one)."""
    zones = set()
    for subnet in resources:
        if subnet["type"] == "aws:ec2/subnet:Subnet":
            tags = subnet["inputs"].get("tags")
            if isinstance(tags, Mapping) and tags.get(AWS_PUBLIC_SUBNET_TAG) == "1":
                zones.add(str(subnet["inputs"].get("availabilityZone") or subnet["urn"]))
    return len(zones)


def _aws_internal(annotations: Mapping[str, Any], load_balancer_type: str) -> bool:
    """Whether the NLB faces the VPC only. The EKS cloud provider (`nlb`) reads the `internal`
    annotation and defaults to internet-facing; the AWS Load Balancer Controller reads `scheme`
    first, then `internal`, and defaults to internal."""
    internal = annotations.get(AWS_INTERNAL)
    if load_balancer_type != "nlb":
        if AWS_SCHEME in annotations:
            return str(annotations[AWS_SCHEME]) != "internet-facing"
        if internal is None:
            return True
    return str(internal).lower() not in ("", "false", "none")


def aws_service_load_balancer(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """An NLB (the only AWS load balancer the price file has), plus, when internet-facing, one
    public IPv4 address per zone it serves: AWS bills every public IPv4 address since 2024-02
    (Elastic IPs named by annotation are priced as their own resources instead)."""
    annotations = _annotations(resource)
    load_balancer_type = annotations.get(AWS_LOAD_BALANCER_TYPE)
    if load_balancer_type not in AWS_NLB_TYPES:
        raise NotPricedError(
            f"without the annotation {AWS_LOAD_BALANCER_TYPE}: nlb, EKS makes a Classic Load Balancer, "
            "which tools/prices.yaml does not price"
        )
    line = price_hourly(resource, rule, ctx)
    internal = _aws_internal(annotations, str(load_balancer_type))
    if isinstance(line, Free) or internal or AWS_EIP_ALLOCATIONS in annotations:
        return line
    zones = _aws_public_zones(ctx.resources)
    if not zones:
        raise NotPricedError(
            f"an internet-facing load balancer takes a public address per zone of the subnets tagged "
            f"{AWS_PUBLIC_SUBNET_TAG}, and the render has none"
        )
    address = ctx.item("aws", "public_ipv4")
    addresses = zones * float(address["hourly"]) * ctx.hours
    return replace(
        line,
        what=f"{line.what} + {zones} public IPv4 addresses (one per zone) x {rate(float(address['hourly']))}",
        monthly_idle=line.monthly_idle + addresses,
        monthly_busy=line.monthly_busy + addresses,
        sources=(*line.sources, cite(address)),
    )


SERVICE_LOAD_BALANCERS: Mapping[str, Pricer] = {"aws": aws_service_load_balancer}
"""cloud -> how a LoadBalancer Service is priced there, where it is more than the row's hourly
item (GKE's is a forwarding rule, priced as one)."""


QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$")
GIB_PER_UNIT = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1, "Ti": 2**10, "K": 1e3 / 2**30, "M": 1e6 / 2**30}
GIB_PER_UNIT |= {"G": 1e9 / 2**30, "T": 1e12 / 2**30, "": 1 / 2**30}


def price_volume_claim(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    cloud = ctx.cloud_of(rule, "its disk")
    if cloud is None:
        return ctx.local_free()
    spec = _object(resource["inputs"], "spec")
    request = _object(_object(spec, "resources", "spec."), "requests", "spec.resources.").get("storage", "")
    match = QUANTITY.match(request) if isinstance(request, str) else None
    if not match:
        raise NotPricedError(f"storage request {_shown(request)} is not a size")
    gigabytes = float(match.group(1)) * GIB_PER_UNIT[match.group(2) or ""]
    if not 0 < gigabytes <= MAX_DISK_GB:
        raise NotPricedError(
            f"storage request {request} is {gigabytes:g} GB: expected above 0, at most {MAX_DISK_GB:,}"
        )
    region = ctx.region_prices(cloud)
    item = ctx.item(cloud, str(rule["item"]))
    requested_class = _optional_text(spec.get("storageClassName"), "spec.storageClassName")
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


def _pod_spec(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template's spec of a workload's spec (a CronJob's is inside its jobTemplate)."""
    if "jobTemplate" in spec:
        spec = _object(_object(spec, "jobTemplate", "spec."), "spec", "spec.jobTemplate.")
    return _object(_object(spec, "template", "spec."), "spec", "spec.template.")


def _device_requests(pod: Mapping[str, Any]) -> str:
    """The extended resources (`<domain>/<name>`: nvidia.com/gpu, amd.com/gpu) a pod's containers
    request, as `1 nvidia.com/gpu`; empty when only CPU and memory."""
    containers = _objects(pod.get("containers"), "containers") + _objects(pod.get("initContainers"), "initContainers")
    devices: dict[str, str] = {}
    for container in containers:
        resources = _object(container, "resources", "container ")
        for section in ("limits", "requests"):
            for name, quantity in _object(resources, section, "container resources.").items():
                if "/" in str(name):
                    devices.setdefault(str(name), str(quantity))
    return ", ".join(f"{quantity} {name}" for name, quantity in sorted(devices.items()))


def price_workload(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """Pods run on the cluster's nodes: a cloud stack's node pools are priced, a local cluster bills
    nothing. A StatefulSet's volumeClaimTemplates make disks the render does not show. On a cluster
    the stack does not provision, pods that request a device (a GPU) make nodes with it run, at a
    price unknown here; CPU and memory come from nodes the cluster has anyway."""
    if ctx.cluster_cloud is None and ctx.local_cluster is not None:
        return ctx.local_free()
    spec = _object(resource["inputs"], "spec")
    if _objects(spec.get("volumeClaimTemplates"), "spec.volumeClaimTemplates"):
        raise NotPricedError("its volumeClaimTemplates make a disk per replica, which this tool does not expand")
    if ctx.cluster_cloud is not None:
        return Free("runs on the priced nodes")
    devices = _device_requests(_pod_spec(spec))
    if devices:
        raise NotPricedError(f"its pods request {devices} each: the nodes that have them are {UNKNOWN_CLUSTER}")
    return Free("runs on nodes of a cluster this stack does not provision (CPU and memory only, no device)")


def price_manifest_bundle(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """A Helm chart or YAML bundle, which the render does not expand: free on a local cluster or
    when the price file lists the chart as checked, otherwise not priced."""
    if ctx.cluster_cloud is None and ctx.local_cluster is not None:
        return ctx.local_free()
    chart = resource["inputs"].get("chart")
    if isinstance(chart, str) and chart in ctx.prices.charts:
        return Free(ctx.prices.charts[chart])
    raise NotPricedError(
        "the render does not expand it, so whether it creates something billed (a LoadBalancer Service, "
        "a volume claim) is unknown; tools/prices.yaml's `charts` lists the charts checked to create neither"
    )


LOCAL_REGISTRY_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""Registries on the machine running Pulumi (kind's), which nobody bills."""


def _registry_host(image_name: Any) -> str:
    """The registry host of an image reference, as Docker reads it: the first path component when it
    has a dot or a port or is localhost, else Docker Hub."""
    if not isinstance(image_name, str) or not image_name:
        raise NotPricedError(f"imageName is not a name: {_shown(image_name)}")
    first, slash, _ = image_name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def price_image(resource: Resource, rule: Mapping[str, Any], ctx: Context) -> PricerResult:
    """An image is built on the machine running Pulumi and its layers stored by the registry it is
    pushed to: the stack's own registry repositories are priced (rows with `registry: true`), a
    registry on the local machine bills nothing, and any other (ghcr.io, Docker Hub, a registry the
    stack does not provision) has a price unknown here."""
    inputs = resource["inputs"]
    if _flag(inputs.get("skipPush"), "skipPush"):
        return Free("built on the machine running Pulumi and not pushed")
    host = _registry_host(inputs.get("imageName"))
    if host.rpartition(":")[0] in LOCAL_REGISTRY_HOSTS or host in LOCAL_REGISTRY_HOSTS:
        return Free("pushed to a registry on the machine running Pulumi")
    if any(ctx.prices.resource_types.get(other["type"], {}).get("registry") for other in ctx.resources):
        return Free("built on the machine running Pulumi; its layers are priced with the stack's registry repository")
    raise NotPricedError(f"pushed to {host}, a registry this stack does not provision: its storage price is unknown")


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
    "workload": price_workload,
    "manifest_bundle": price_manifest_bundle,
    "image": price_image,
}
"""The `pricer` names tools/prices.yaml's resource_types may use."""
CLUSTER_PRICERS = ("load_balancer_service", "volume_claim", "workload", "manifest_bundle")
"""Pricers of Kubernetes objects: what they make depends on the stack's cluster (`cloud: cluster`)."""


NAT_USAGE = "nat_processed_gb_per_month"
"""The usage assumption NAT data processing is priced at."""


def usage_lines(ctx: Context) -> list[Line]:
    """NAT data processing, once per cloud with a NAT gateway (the data does not grow with gateways)."""
    lines = []
    if ctx.nat_data:
        ctx.used_usage.add(NAT_USAGE)
    for cloud, item in sorted(ctx.nat_data.items()):
        per_gb = float(item["per_gb"])
        idle, busy = (ctx.prices.usage_value(NAT_USAGE, s) for s in SCENARIOS)
        lines.append(
            Line(
                category="network",
                name=f"{cloud} NAT data processing",
                type="usage",
                what=(f"{idle:g} GB idle / {busy:g} GB busy assumed ({NAT_USAGE}) x {rate(per_gb, '/GB')}"),
                monthly_idle=idle * per_gb,
                monthly_busy=busy * per_gb,
                sources=(cite(item),),
            )
        )
    return lines
