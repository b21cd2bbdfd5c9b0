"""Network exposure: who may reach a model's load balancer and the Kubernetes API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy.clouds import INTERNAL_LOAD_BALANCER_ANNOTATIONS, SOURCE_RANGES_ANNOTATION, cluster_type, range_exposure
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
    field, sources = _source_ranges(args.props)
    if not sources:
        report(violation("the internet-facing load balancer admits any source address", LOAD_BALANCER_FIX), None)
        return
    exposure = range_exposure(sources, field, "the internet-facing load balancer")
    if exposure:
        report(violation(exposure, LOAD_BALANCER_FIX), None)


def _source_ranges(props: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(where, the ranges): the spec's field wins over the annotation, as in Kubernetes' cloud providers."""
    sources = [str(cidr) for cidr in sequence(dig(props, "spec", "loadBalancerSourceRanges"))]
    if sources:
        return "spec.loadBalancerSourceRanges", sources
    annotation = str(metadata_annotations(props).get(SOURCE_RANGES_ANNOTATION) or "")
    return f"annotation {SOURCE_RANGES_ANNOTATION}", [cidr for cidr in annotation.split(",") if cidr.strip()]


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
        description=(
            "A Service of type LoadBalancer is internal or admits only listed source ranges, which together "
            "cover less than half of all addresses."
        ),
        level=MANDATORY,
        production_level=MANDATORY,
        validate_resource=load_balancer_restricted,
    ),
    Rule(
        name="api-endpoint-restricted",
        description=(
            "The cluster's Kubernetes API endpoint is private or open only to listed CIDRs, which together "
            "cover less than half of all addresses."
        ),
        level=ADVISORY,
        production_level=MANDATORY,
        validate_resource=api_endpoint_restricted,
    ),
)
