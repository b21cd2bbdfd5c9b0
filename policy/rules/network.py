"""Network exposure: who may reach a model's load balancer and the Kubernetes API."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy.clouds import INTERNAL_LOAD_BALANCER_ANNOTATIONS, SOURCE_RANGES_ANNOTATION, cluster_type, is_open
from policy.framework import ADVISORY, MANDATORY, Rule, violation
from policy.kubernetes import SERVICE_TYPE, dig, metadata_annotations, sequence

LOAD_BALANCER_FIX = (
    "list the clients' CIDRs in spec.loadBalancerSourceRanges (the stack's loadBalancer.sourceCidrs) "
    "or make the load balancer internal (loadBalancer.internal: true)"
)


def load_balancer_restricted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SERVICE_TYPE or dig(args.props, "spec", "type") != "LoadBalancer":
        return
    notes = metadata_annotations(args.props)
    if any(str(notes.get(key, "")).lower() == value for key, value in INTERNAL_LOAD_BALANCER_ANNOTATIONS.items()):
        return
    sources = [str(cidr) for cidr in sequence(dig(args.props, "spec", "loadBalancerSourceRanges"))]
    if not sources and notes.get(SOURCE_RANGES_ANNOTATION):
        sources = [cidr.strip() for cidr in str(notes[SOURCE_RANGES_ANNOTATION]).split(",") if cidr.strip()]
    open_sources = [cidr for cidr in sources if is_open(cidr)]
    if not sources:
        report(violation("the internet-facing load balancer admits any source address", LOAD_BALANCER_FIX), None)
    elif open_sources:
        report(
            violation(f"the internet-facing load balancer admits {', '.join(open_sources)}", LOAD_BALANCER_FIX), None
        )


def api_endpoint_restricted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    row = cluster_type(args.resource_type)
    if row is None:
        return
    exposure = row.endpoint_exposure(args.props)
    if exposure:
        report(violation(exposure, row.endpoint_fix), None)


RULES = (
    Rule(
        name="load-balancer-restricted",
        description="A Service of type LoadBalancer is internal or admits only listed source ranges.",
        level=MANDATORY,
        production_level=MANDATORY,
        validate_resource=load_balancer_restricted,
    ),
    Rule(
        name="api-endpoint-restricted",
        description="The cluster's Kubernetes API endpoint is private or open only to listed CIDRs, never 0.0.0.0/0.",
        level=ADVISORY,
        production_level=MANDATORY,
        validate_resource=api_endpoint_restricted,
    ),
)
