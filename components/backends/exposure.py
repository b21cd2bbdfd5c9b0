"""What a backend checks about its internet exposure at validation, the same way on every cluster:
on a cloud a LoadBalancer model needs its client CIDRs declared, and an API endpoint or a load
balancer open to the internet is allowed but never silent (a warning naming the policy rule
that flags it; the rules live in policy/rules/network.py). A cluster that exists already may leave
its load balancers' clients undeclared (its addresses may face a LAN only), with the same warning."""

from __future__ import annotations

from collections.abc import Sequence

from components.schema import MISSING, Problem, StackFacts
from policy.clouds import covers_every_address

ENDPOINT_RULE = "api-endpoint-restricted"
LOAD_BALANCER_RULE = "load-balancer-restricted"


def load_balanced(facts: StackFacts) -> list[str]:
    """Config keys of the models served as LoadBalancer."""
    return [service_key for service_key, kind in facts.service_types if kind == "LoadBalancer"]


def load_balancer_problems(sources_key: str, source_cidrs: Sequence[str], facts: StackFacts) -> list[Problem]:
    exposed = load_balanced(facts)
    if not exposed or source_cidrs:
        return []
    return [
        Problem(
            sources_key,
            MISSING,
            f"required because {exposed[0]} is LoadBalancer: list the client CIDRs the load balancer admits "
            '(one without source ranges admits anyone; ["0.0.0.0/0"] says so explicitly, with a warning)',
        )
    ]


def exposure_warnings(
    *,
    endpoint_key: str,
    endpoint_public: bool,
    endpoint_cidrs: Sequence[str],
    sources_key: str,
    source_cidrs: Sequence[str],
    internal: bool,
    facts: StackFacts,
) -> list[Problem]:
    warnings = []
    if endpoint_public and covers_every_address(endpoint_cidrs):
        warnings.append(
            Problem(
                endpoint_key,
                list(endpoint_cidrs),
                "the Kubernetes API endpoint is open to the internet (these ranges admit at least half of all "
                "addresses): a leaked credential or an API "
                "server flaw is exploitable from anywhere. List your operators' and CI's CIDRs, or set "
                f"public: false. Policy rule {ENDPOINT_RULE} flags this stack.",
            )
        )
    warnings += load_balancer_warnings(sources_key, source_cidrs, internal=internal, facts=facts)
    return warnings


def load_balancer_warnings(
    sources_key: str, source_cidrs: Sequence[str], *, internal: bool | None, facts: StackFacts
) -> list[Problem]:
    """LoadBalancer model services that admit anyone: source ranges covering every address, or none
    at all (where the backend allows none; EKS and GKE make that an error, `load_balancer_problems`).
    `internal`: the backend's setting for load balancers reachable from the VPC only; None where it
    has none to offer (a cluster that exists already)."""
    exposed = load_balanced(facts)
    if not exposed or internal:
        return []
    if not source_cidrs:
        exposure = "admits any client: no source ranges are set, so anyone who reaches its address (on a cloud, "
        exposure += "the whole internet) can call it"
    elif covers_every_address(source_cidrs):
        exposure = "is open to the internet (these ranges admit at least half of all addresses)"
    else:
        return []
    close = "List the clients' CIDRs" + ("" if internal is None else ", or set internal: true")
    return [
        Problem(
            sources_key,
            list(source_cidrs),
            f"every LoadBalancer model service ({', '.join(exposed)}) {exposure}. {close}. "
            f"Policy rule {LOAD_BALANCER_RULE} flags this stack.",
        )
    ]
