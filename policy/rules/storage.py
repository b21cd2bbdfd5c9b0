"""Artifact stores and image registries: private, versioned, encrypted; tags that never move."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policy.clouds import (
    ECR_REGISTRY_SCANNING,
    Check,
    Companion,
    ObjectStoreType,
    object_store_type,
    registry_scans_on_push,
    registry_type,
)
from policy.framework import ADVISORY, MANDATORY, Rule, violation


def _configures(resource: PolicyResource, bucket: PolicyResource) -> bool:
    """A settings resource belongs to the bucket it depends on (its `bucket` input is the bucket's
    name or id, an output that is unknown during a first preview; the dependency is always known)."""
    if any(dependency.urn == bucket.urn for dependency in resource.dependencies):
        return True
    return any(dep.urn == bucket.urn for deps in resource.property_dependencies.values() for dep in deps)


def buckets(args: StackValidationArgs) -> Iterator[tuple[PolicyResource, ObjectStoreType, list[Companion]]]:
    """Every object store of the stack with the resources that configure it."""
    for bucket in args.resources:
        row = object_store_type(bucket.resource_type)
        if row is None:
            continue
        companions = [
            (other.resource_type, other.props)
            for other in args.resources
            if other.resource_type in row.account_types
            or (other.resource_type in row.companion_types and _configures(other, bucket))
        ]
        yield bucket, row, companions


def _bucket_rule(
    check: Callable[[ObjectStoreType], Check], fix: Callable[[ObjectStoreType], str]
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for bucket, row, companions in buckets(args):
            problem = check(row)(bucket.props, companions)
            if problem:
                report(violation(problem, fix(row)), bucket.urn)

    return validate


object_store_public_access_blocked = _bucket_rule(lambda row: row.public_access, lambda row: row.public_access_fix)
object_store_versioned = _bucket_rule(lambda row: row.versioning, lambda row: row.versioning_fix)
object_store_encrypted = _bucket_rule(lambda row: row.encryption, lambda row: row.encryption_fix)


def registry_immutable_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    row = registry_type(args.resource_type)
    if row is not None and row.holds_images(args.props) and not row.immutable_tags(args.props):
        report(violation("the repository lets a pushed tag be moved to other image contents", row.immutable_fix), None)


def registry_scan_on_push(args: StackValidationArgs, report: ReportViolation) -> None:
    registry_wide = any(
        resource.resource_type == ECR_REGISTRY_SCANNING and registry_scans_on_push(resource.props)
        for resource in args.resources
    )
    for resource in args.resources:
        row = registry_type(resource.resource_type)
        if row is None or row.scans_on_push is None or not row.holds_images(resource.props):
            continue
        if row.registry_scanning_type == ECR_REGISTRY_SCANNING and registry_wide:
            continue
        if not row.scans_on_push(resource.props):
            report(
                violation("images pushed to the repository are not scanned for vulnerabilities", row.scan_fix),
                resource.urn,
            )


RULES = (
    Rule(
        name="object-store-public-access-blocked",
        description="Artifact buckets block every form of public access.",
        level=MANDATORY,
        production_level=MANDATORY,
        validate_stack=object_store_public_access_blocked,
    ),
    Rule(
        name="object-store-versioned",
        description="Artifact buckets keep versions, so an overwritten or deleted model can be restored.",
        level=ADVISORY,
        production_level=MANDATORY,
        validate_stack=object_store_versioned,
    ),
    Rule(
        name="object-store-encrypted",
        description="Artifact buckets encrypt objects at rest by default.",
        level=MANDATORY,
        production_level=MANDATORY,
        validate_stack=object_store_encrypted,
    ),
    Rule(
        name="registry-immutable-tags",
        description="Image repositories have immutable tags, so a tag always names the image that was scanned.",
        level=ADVISORY,
        production_level=MANDATORY,
        validate_resource=registry_immutable_tags,
    ),
    Rule(
        name="registry-scan-on-push",
        description="Images are scanned for vulnerabilities when pushed (where the registry makes it a setting).",
        level=ADVISORY,
        production_level=MANDATORY,
        validate_stack=registry_scan_on_push,
    ),
)
