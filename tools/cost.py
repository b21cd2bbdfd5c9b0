"""What a stack costs per month, idle and busy, from its offline render and a price file.

    python -m tools.cost STACK                # renders STACK (tools.render), then estimates it
    python -m tools.cost --render DIR         # estimates a render already on disk
    python -m tools.cost STACK --json         # {"stack", "currency", "monthly": {"idle", "busy"}, ...}
    python -m tools.cost STACK --markdown     # the table as Markdown (README, pull requests)

Two scenarios, both for a full month (730 h):

- idle: every node pool at its minimum size (GPU pools scale from zero, so they are at zero unless
  their minimum says otherwise), usage-based charges at the file's idle assumption;
- busy: every node pool at its maximum size, usage at the busy assumption.

It also gives the hourly price of one more node of each GPU pool (instance, GPUs and disk).

Prices, usage assumptions and the rule for each resource type live in `tools/prices.yaml`, each
price with its source page and date. A resource whose type the file neither prices nor declares
free is listed "not priced", and so is one whose machine type or region has no price, or whose
inputs cannot be priced (a negative or fractional size, a maximum below its minimum, an absurd
count): an estimate never counts an unknown as zero, and never shows a negative or inverted figure.
Kubernetes objects cost what their cluster's cloud makes for them (a load balancer, a disk): on a
cluster the stack does not provision (clusterBackend existing), whose cloud the render cannot tell,
those are "not priced" too; only a cluster the price file knows to be local (kind) bills nothing.
A rule of a price the figures do not apply (an allowance per billing account, a tier shared with
the project's other resources) is listed with the assumptions.
Exit status 2, with one line saying what is wrong, when the stack cannot be rendered, the render or
the price file is malformed, or the region cannot be told. Markdown output escapes every text that
comes from the render or the price file (it goes into pull-request comments).

For scripts: `estimate(render_dir)` returns an `Estimate` (`.monthly_idle`, `.monthly_busy`). For
the pull-request preview: `preview_section(stack, base_dir, head_dir)` is the cost section of each
stack (tools/render_diff.py's `--section`): its base and head figures and their change.
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # `python tools/X.py`: run as `python -m tools.X`
    import _as_module  # type: ignore[import-not-found]  # noqa: F401 - never returns (tools/_as_module.py)

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components import outputs as stack_outputs
from tools import render
from tools.markdown import code as md_code
from tools.markdown import text as md_text
from tools.pricing import (
    CATEGORIES,
    GCP_ZONE,
    NODE_POOL_SHAPES,
    PRICERS,
    PRICES_FILE,
    SCENARIOS,
    Context,
    Free,
    GpuNode,
    Line,
    NodePool,
    NotPricedError,
    Prices,
    PricesError,
    Resource,
    cite,
    gke_default_pool,
    load_prices,
    rate,
    usage_lines,
)
from tools.render_diff import Section

CURRENCY = "USD"


class CostError(Exception):
    """A problem the user must fix (the stack does not render, the region is unknown); exit code 2."""


# --- What an estimate is made of ---------------------------------------------------------------


@dataclass(frozen=True)
class NotPriced:
    urn: str
    type: str
    name: str
    reason: str


@dataclass(frozen=True)
class Estimate:
    stack: str
    region: str | None
    lines: tuple[Line, ...]
    usage: tuple[Line, ...]
    unpriced: tuple[NotPriced, ...]
    free: tuple[tuple[str, str, str], ...]
    """(type, name, reason) of every resource that costs nothing by itself."""
    assumptions: Mapping[str, Mapping[str, Any]]
    """Name -> value(s) and why, for each usage or spot assumption the figures rely on."""

    @property
    def monthly_idle(self) -> float:
        return sum(line.monthly_idle for line in (*self.lines, *self.usage))

    @property
    def monthly_busy(self) -> float:
        return sum(line.monthly_busy for line in (*self.lines, *self.usage))

    @property
    def gpu_nodes(self) -> tuple[GpuNode, ...]:
        return tuple(line.gpu_node for line in self.lines if line.gpu_node is not None)

    def to_json(self) -> dict[str, Any]:
        def line_json(line: Line) -> dict[str, Any]:
            entry: dict[str, Any] = {
                "category": line.category,
                "name": line.name,
                "type": line.type,
                "what": line.what,
                "monthly": {"idle": _cents(line.monthly_idle), "busy": _cents(line.monthly_busy)},
                "notes": list(line.notes),
                "sources": list(line.sources),
            }
            if line.urn:
                entry["urn"] = line.urn
            return entry

        return {
            "stack": self.stack,
            "currency": CURRENCY,
            "region": self.region,
            "monthly": {"idle": _cents(self.monthly_idle), "busy": _cents(self.monthly_busy)},
            "resources": [line_json(line) for line in self.lines],
            "usage": [line_json(line) for line in self.usage],
            "gpu_nodes": [
                {
                    "pool": node.pool,
                    "machine": node.machine,
                    "gpus": node.gpus,
                    "gpu": node.gpu,
                    "capacity": "spot" if node.spot else "on-demand",
                    "hourly": round(node.hourly, 4),
                    "instance_hourly": round(node.instance_hourly, 4),
                    "disk_hourly": round(node.disk_hourly, 4),
                }
                for node in self.gpu_nodes
            ],
            "unpriced": [
                {"urn": item.urn, "type": item.type, "name": item.name, "reason": item.reason} for item in self.unpriced
            ],
            "free": dict(sorted(Counter(type_token for type_token, _, _ in self.free).items())),
            "assumptions": dict(self.assumptions),
        }


def _cents(amount: float) -> float:
    return round(amount + 0.0, 2)


# --- Estimating a render ------------------------------------------------------------------------


def _region_of(location: str) -> str:
    return location[:-2] if GCP_ZONE.match(location) else location


def detect_region(resources: Sequence[Resource], outputs: Mapping[str, Any]) -> str | None:
    """The stack's `region` output (EKS exports it), else a GKE cluster's location."""
    region = outputs.get(stack_outputs.REGION)
    if isinstance(region, str) and region:
        return region
    for resource in resources:
        location = resource["inputs"].get("location")
        if resource["type"] == "gcp:container/cluster:Cluster" and isinstance(location, str) and location:
            return _region_of(location)
    return None


def check_resources(resources: Any) -> None:
    """The fields of each resource the pricers rely on, as `tools.render` writes them; a render that
    differs is an error naming the resource and field, not a traceback in a pricer."""
    if not isinstance(resources, list):
        raise CostError(f"resources: expected a list, got {type(resources).__name__}")
    for index, resource in enumerate(resources):
        if not isinstance(resource, Mapping):
            raise CostError(f"resources[{index}]: expected an object, got {type(resource).__name__}")
        for key in ("urn", "type", "name"):
            if not isinstance(resource.get(key), str):
                raise CostError(f"resources[{index}].{key}: expected a string, got {_json_type(resource.get(key))}")
        inputs = resource.get("inputs")
        if not isinstance(inputs, Mapping):
            raise CostError(
                f"resources[{index}].inputs ({resource['name']}): expected an object, got {_json_type(inputs)}"
            )
        dependencies = resource.get("dependencies", [])
        if not isinstance(dependencies, list) or not all(isinstance(urn, str) for urn in dependencies):
            raise CostError(f"resources[{index}].dependencies ({resource['name']}): expected a list of URNs")


def _json_type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _context(resources: Sequence[Resource], prices: Prices, region: str | None) -> Context:
    rules = [prices.resource_types.get(resource["type"]) for resource in resources]
    clusters = {str(rule["cloud"]) for rule in rules if rule and rule.get("cluster")}
    local = next((prices.local_clusters[r["type"]] for r in resources if r["type"] in prices.local_clusters), None)
    if len(clusters) > 1:
        raise CostError(f"one Kubernetes cluster cloud per stack is supported; found {', '.join(sorted(clusters))}")
    clouds = {str(rule["cloud"]) for rule in rules if rule and rule["cloud"] != "cluster"}
    if clouds and region is None:
        raise CostError(
            f"cannot tell the stack's region ({', '.join(sorted(clouds))} resources, no `region` output "
            "and no GKE cluster location): pass --region"
        )
    pools: dict[str, NodePool] = {}
    errors: dict[str, str] = {}
    for resource, rule in zip(resources, rules, strict=True):
        urn = str(resource["urn"])
        try:
            if rule and rule["pricer"] == "node_pool":
                pools[urn] = NODE_POOL_SHAPES[str(rule["shape"])](resource, resources)
            elif rule and rule["pricer"] == "gke_cluster" and (default_pool := gke_default_pool(resource)):
                pools[urn] = default_pool
        except NotPricedError as error:
            errors[urn] = str(error)
    return Context(
        prices=prices,
        region=region,
        cluster_cloud=next(iter(clusters), None),
        local_cluster=local,
        pools=pools,
        pool_errors=errors,
        resources=resources,
    )


def estimate_resources(
    stack: str,
    resources: Sequence[Resource],
    outputs: Mapping[str, Any] | None = None,
    *,
    prices: Prices | None = None,
    region: str | None = None,
) -> Estimate:
    """Prices the resources of one render (the `resources` list of its resources.json). A resource
    whose inputs cannot be priced (a negative size, a maximum below its minimum, ...) is listed not
    priced with the reason; a list that is not shaped like a render is a CostError."""
    check_resources(resources)
    prices = prices or load_prices()
    region = region or detect_region(resources, outputs or {})
    ctx = _context(resources, prices, region)
    lines: list[Line] = []
    unpriced: list[NotPriced] = []
    free: list[tuple[str, str, str]] = []
    for resource in resources:
        type_token, name, urn = str(resource["type"]), str(resource["name"]), str(resource["urn"])
        rule = prices.resource_types.get(type_token)
        if rule is None:
            reason = prices.free_reason(type_token)
            if reason is None:
                unpriced.append(NotPriced(urn, type_token, name, "type not in tools/prices.yaml"))
            else:
                free.append((type_token, name, reason))
            continue
        try:
            result = PRICERS[str(rule["pricer"])](resource, rule, ctx)
        except NotPricedError as error:
            unpriced.append(NotPriced(urn, type_token, name, str(error)))
            continue
        if isinstance(result, Free):
            free.append((type_token, name, result.reason))
        else:
            lines.append(result)
    lines.sort(key=lambda line: (CATEGORIES.index(line.category), line.name))
    usage = usage_lines(ctx)
    return Estimate(stack, region, tuple(lines), tuple(usage), tuple(unpriced), tuple(free), _assumptions(ctx))


def _assumptions(ctx: Context) -> dict[str, dict[str, Any]]:
    """What the figures assume: usage values and the spot discount (value(s), why or source), the
    count of units sharing a tiered price (value, its rule, source), and the rules of the prices
    used that the figures do not apply (`assumed`, source)."""
    used: dict[str, dict[str, Any]] = {}
    for key in sorted(ctx.used_usage):
        entry = ctx.prices.usage[key]
        values = {s: ctx.prices.usage_value(key, s) for s in SCENARIOS}
        shown: dict[str, Any] = {"value": values["idle"]} if values["idle"] == values["busy"] else dict(values)
        used[key] = shown | {"why": _one_line(entry["why"])}
    for cloud in sorted({pool.cloud for pool in ctx.pools.values() if pool.spot}):
        if ctx.region and (cloud, ctx.region) in ctx.prices.regions:
            spot = ctx.prices.regions[(cloud, ctx.region)]
            used[f"{cloud}_spot_discount"] = {"value": spot.spot_discount, "source": spot.spot_source}
    for (cloud, key), count in sorted(ctx.units.items()):
        item = ctx.item(cloud, key)
        used[f"{cloud}_{key}_count"] = {
            "value": count,
            "rule": (
                f"the first {item['hourly_covers']} in {ctx.region} cost {rate(float(item['hourly']))} in total, "
                f"{rate(float(item['hourly_beyond']))} each beyond"
            ),
            "why": (
                f"how many of `{item['what']}` this stack makes in {ctx.region}; its project is assumed to have "
                f"no others there (they would share the first {item['hourly_covers']})"
            ),
            "source": cite(item),
        }
    for cloud, key in sorted(ctx.used_items):
        item = ctx.item(cloud, key)
        if "assumes" in item:
            used[f"{cloud}_{key}"] = {"assumed": _one_line(item["assumes"]), "source": cite(item)}
    return used


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def estimate(render_dir: Path, *, prices: Prices | None = None, region: str | None = None) -> Estimate:
    """Estimates a render written by `python -m tools.render STACK --out render_dir`."""
    document, outputs = _read_render(render_dir)
    return estimate_resources(document["stack"], document["resources"], outputs, prices=prices, region=region)


def _read_render(render_dir: Path) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """(resources.json, outputs.json) of a render; a missing or malformed file is a CostError."""
    try:
        return render.load_render(render_dir), render.load_outputs(render_dir)
    except render.RenderError as error:
        raise CostError(str(error)) from None


def render_stack(stack: str, out: Path, stacks_dir: Path | None = None) -> None:
    try:
        render.render_in_child(stack, out, stacks_dir)
    except render.RenderError as error:
        raise CostError(str(error)) from None


# --- Output -------------------------------------------------------------------------------------


def _money(amount: float) -> str:
    return f"{amount:,.2f}"


def _gpu_node_text(node: GpuNode) -> str:
    capacity = "spot" if node.spot else "on-demand"
    return (
        f"{node.pool}: {node.machine} ({node.gpus}x {node.gpu}), {capacity}: {rate(node.hourly)}"
        f" (instance {rate(node.instance_hourly)} + disk {rate(node.disk_hourly)})"
    )


def _heading(est: Estimate) -> str:
    where = f" in {est.region}" if est.region else ""
    return f"{est.stack}{where}: {CURRENCY}/month at list prices from tools/prices.yaml (re-check them before quoting)"


def format_text(est: Estimate) -> str:
    rows = [(line.category, line.name, line.what, line.monthly_idle, line.monthly_busy) for line in est.lines]
    rows += [("usage (assumed)", line.name, line.what, line.monthly_idle, line.monthly_busy) for line in est.usage]
    name_width = max([len(row[1]) for row in rows] + [8])
    what_width = max([len(row[2]) for row in rows] + [4])
    out = [_heading(est), ""]
    if not rows:
        out += [_nothing_priced(est), ""]
    out.append(f"  {'resource':<{name_width}}  {'what':<{what_width}}  {'idle':>10}  {'busy':>10}")
    category = None
    for row in rows:
        if row[0] != category:
            category = row[0]
            out.append(f"{category}")
        out.append(f"  {row[1]:<{name_width}}  {row[2]:<{what_width}}  {_money(row[3]):>10}  {_money(row[4]):>10}")
    out.append(
        f"  {'TOTAL':<{name_width}}  {'':<{what_width}}  {_money(est.monthly_idle):>10}  {_money(est.monthly_busy):>10}"
    )
    out.append("")
    out.append("One more GPU node, per hour:" if est.gpu_nodes else "GPU pools: none")
    out += [f"  {_gpu_node_text(node)}" for node in est.gpu_nodes]
    free_types = Counter(type_token for type_token, _, _ in est.free)
    out.append(
        f"Free: {len(est.free)} resources of {len(free_types)} types (reasons in tools/prices.yaml; --json lists them)"
    )
    if est.unpriced:
        out.append(f"NOT PRICED ({len(est.unpriced)}), not in the totals:")
        out += [f"  {item.name} ({item.type}): {item.reason}" for item in est.unpriced]
    else:
        out.append("Not priced: none")
    if est.assumptions:
        out.append("Assumptions (tools/prices.yaml; --json gives the reasons): " + _assumption_text(est))
    return "\n".join(out) + "\n"


def _nothing_priced(est: Estimate) -> str:
    """The line that stands for an empty table: local or free only when nothing is unpriced."""
    if not est.unpriced:
        return "Nothing billed by a cloud: every resource is local or free."
    count = len(est.unpriced)
    are = "resources are" if count > 1 else "resource is"
    return f"Nothing priced: {count} {are} not priced (listed below), so 0.00 is not the bill."


def _assumption_text(est: Estimate) -> str:
    parts = []
    for key, entry in est.assumptions.items():
        if "assumed" in entry:
            parts.append(f"{key}: {entry['assumed']}")
        elif "value" in entry:
            rule = f" ({entry['rule']})" if "rule" in entry else ""
            parts.append(f"{key} = {entry['value']:g}{rule}")
        else:
            parts.append(f"{key} = {entry['idle']:g} idle / {entry['busy']:g} busy")
    return "; ".join(parts)


def format_markdown(est: Estimate) -> str:
    out = [f"**{md_text(_heading(est))}**", ""]
    if not est.lines and not est.usage:
        out += [md_text(_nothing_priced(est)), ""]
    out += ["| resource | what | idle | busy |", "|---|---|---:|---:|"]
    for line in (*est.lines, *est.usage):
        out.append(
            f"| {md_code(line.name, in_table=True)} | {md_text(line.what)} "
            f"| {_money(line.monthly_idle)} | {_money(line.monthly_busy)} |"
        )
    out.append(f"| **total** | | **{_money(est.monthly_idle)}** | **{_money(est.monthly_busy)}** |")
    if est.gpu_nodes:
        out += ["", "One more GPU node: " + "; ".join(md_text(_gpu_node_text(node)) for node in est.gpu_nodes) + "."]
    if est.unpriced:
        unpriced = ", ".join(f"{md_code(item.name)} ({md_text(item.reason)})" for item in est.unpriced)
        out += ["", f"Not priced ({len(est.unpriced)}): {unpriced}"]
    if est.assumptions:
        out += ["", f"Assumptions: {md_text(_assumption_text(est))}."]
    return "\n".join(out) + "\n"


def _delta(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return ""
    change = after - before
    return "0.00" if abs(change) < 0.005 else f"{'+' if change > 0 else '-'}{_money(abs(change))}"


COST_TITLE = f"Cost ({CURRENCY}/month, list prices)"


def comparison_markdown(base: Estimate | None, head: Estimate | None) -> str:
    """One stack's monthly idle/busy figures at base and head and their change, as Markdown (a
    table row per scenario, then GPU node prices and not-priced resources that changed). None for a
    side where the stack does not exist."""

    def figure(est: Estimate | None, scenario: str) -> float | None:
        if est is None:
            return None
        return est.monthly_idle if scenario == "idle" else est.monthly_busy

    out = [
        "| | base | head | change |",
        "|---|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        before, after = figure(base, scenario), figure(head, scenario)
        shown = [_money(value) if value is not None else "-" for value in (before, after)]
        out.append(f"| {scenario} | {shown[0]} | {shown[1]} | {_delta(before, after)} |")
    base_nodes = {node.pool: node for node in (base.gpu_nodes if base else ())}
    for node in head.gpu_nodes if head else ():
        old = base_nodes.get(node.pool)
        if old is None or abs(old.hourly - node.hourly) >= 0.00005:
            was = f"{rate(old.hourly)} -> " if old else "new: "
            out.append(f"\nOne more {md_code(node.pool)} GPU node: {was}{rate(node.hourly)} ({md_text(node.machine)}).")
    base_unpriced = {(item.urn, item.reason) for item in (base.unpriced if base else ())}
    for item in head.unpriced if head else ():
        if (item.urn, item.reason) not in base_unpriced:
            out.append(f"\nNot priced: {md_code(item.name)} ({md_text(item.type)}): {md_text(item.reason)}.")
    return "\n".join(out) + "\n"


def estimate_if_rendered(render_dir: Path, prices: Prices | None = None) -> Estimate | None:
    """The estimate of a render directory, or None where the stack was not rendered there."""
    return estimate(render_dir, prices=prices) if render.is_render(render_dir) else None


def preview_section(stack: str, base_dir: Path, head_dir: Path) -> Section | None:
    """The cost section of the offline preview (tools/render_diff.py's `--section`): the stack's
    monthly figures at base and head and their change. Both sides are priced with this checkout's
    price file, so the change shown is what the change to the stack costs; a stack that cannot be
    estimated says why instead of failing the whole preview."""
    try:
        prices = load_prices()
        base = estimate_if_rendered(base_dir, prices)
        head = estimate_if_rendered(head_dir, prices)
    except (CostError, PricesError) as error:
        return Section(title=COST_TITLE, markdown=f"Not estimated: {md_text(str(error))}")
    if base is None and head is None:
        return None
    return Section(title=COST_TITLE, markdown=comparison_markdown(base, head))


def _print(text: str) -> None:
    sys.stdout.write(text)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cost", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("stack", nargs="?", help="stack to render and estimate: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--render", type=Path, help="estimate this render directory instead of rendering a stack")
    parser.add_argument("--stacks-dir", type=Path, help="where stack files live (default: stacks/)")
    parser.add_argument("--region", help="the stack's region, when the render does not tell")
    parser.add_argument("--prices", type=Path, default=PRICES_FILE, help="price file (default: tools/prices.yaml)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the estimate as JSON")
    output.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(None if argv is None else list(argv))
    if (args.stack is None) == (args.render is None):
        parser.error("give either a STACK or --render DIR")
    if not args.prices.is_file():
        parser.error(f"no price file {args.prices}")
    try:
        prices = load_prices(args.prices)
        if args.render is not None:
            est = estimate(args.render, prices=prices, region=args.region)
        else:
            with tempfile.TemporaryDirectory(prefix="cost-") as scratch:
                render_dir = Path(scratch) / "render"
                render_stack(args.stack, render_dir, args.stacks_dir)
                est = estimate(render_dir, prices=prices, region=args.region)
    except (CostError, PricesError) as error:
        print(f"cost: {error}", file=sys.stderr)
        return 2
    if args.json:
        _print(json.dumps(est.to_json(), indent=2) + "\n")
    elif args.markdown:
        _print(format_markdown(est))
    else:
        _print(format_text(est))
    return 0


if __name__ == "__main__":
    sys.exit(main())
