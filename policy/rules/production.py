"""Production: state that cannot be recreated survives a destroy; no identity can write everything."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy.clouds import (
    AWS_MANAGED_POLICY_ATTACHMENTS,
    AWS_POLICY_DOCUMENTS,
    FORCE_DELETE_FIELDS,
    GCP_WRITE_ALL_ROLES,
    PROTECTED_KINDS,
    aws_managed_policy_name,
    deletion_protection_field,
    gcp_grant_scope,
    gcp_granted_roles,
    write_actions_on_everything,
    writes_on_everything,
)
from policy.framework import ADVISORY, DISABLED, MANDATORY, Rule, Setting, violation


def production_resources_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    kind = next((kind for kind, tokens in PROTECTED_KINDS if args.resource_type in tokens), None)
    if kind is None:
        return
    if not args.opts.protect:
        report(
            violation(
                f"the {kind} is not protected, so `pulumi destroy` or a replacement deletes it",
                "create it with protect=True (the cluster backend's `protect: true`: ml-platform:eks, ml-platform:gke)",
            ),
            None,
        )
    field = deletion_protection_field(args.resource_type)
    if field and args.props.get(field) is False:
        report(violation(f"the {kind}'s own deletion protection ({field}) is off", f"set {field} true"), None)
    force = FORCE_DELETE_FIELDS.get(args.resource_type)
    if force and args.props.get(force) is True:
        report(violation(f"{force} deletes the {kind}'s contents with it", f"set {force} false"), None)


ALLOWED_ACTIONS = Setting(
    name="allowedActions",
    schema={"type": "array", "items": {"type": "string"}},
    default=[],
    description='Write actions accepted on "Resource": "*" (each with a documented reason). Default: none.',
)


ALLOWED_MANAGED_POLICIES = Setting(
    name="allowedManagedPolicies",
    schema={"type": "array", "items": {"type": "string"}},
    default=[],
    description=(
        "AWS managed policies accepted although they allow writes on every resource, by name "
        "(AmazonS3FullAccess, job-function/SystemAdministrator) or ARN, each with a documented reason. Default: none."
    ),
)


def iam_no_write_on_all_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every way a stack can give an identity write on everything: an AWS policy document (inline or
    customer-managed), an attached AWS managed policy that is admin-equivalent, a GCP basic role."""
    _aws_policy_documents(args, report)
    _aws_managed_policies(args, report)
    _gcp_basic_roles(args, report)


def _aws_policy_documents(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = {str(action) for action in ALLOWED_ACTIONS.value(args)}
    extract = AWS_POLICY_DOCUMENTS.get(args.resource_type)
    for document in extract(args.props) if extract else []:
        actions = [action for action in write_actions_on_everything(document) if action not in allowed]
        if actions:
            report(
                violation(
                    f'the policy allows {", ".join(actions)} on every resource ("Resource": "*")',
                    'name the resources (ARNs) the actions need; only read-only Describe/Get/List actions may use "*"',
                ),
                None,
            )


def _aws_managed_policies(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = {str(policy) for policy in ALLOWED_MANAGED_POLICIES.value(args)}
    extract = AWS_MANAGED_POLICY_ATTACHMENTS.get(args.resource_type)
    for arn in extract(args.props) if extract else []:
        name = aws_managed_policy_name(arn)
        if name is None or not writes_on_everything(name) or {arn, name} & allowed:
            continue
        report(
            violation(
                f"attaches the AWS managed policy {name}, which allows writes on every resource of the services "
                'it covers ("Resource": "*")',
                "attach a customer-managed policy that names the resources (ARNs) the identity needs "
                "(AWS managed policies named *Administrator*, *PowerUser* or *FullAccess* are refused)",
            ),
            None,
        )


def _gcp_basic_roles(args: ResourceValidationArgs, report: ReportViolation) -> None:
    roles = gcp_granted_roles(args.resource_type, args.props) or []
    scope = gcp_grant_scope(args.resource_type)
    for role in sorted(set(roles) & GCP_WRITE_ALL_ROLES):
        report(
            violation(
                f"the IAM resource grants {role}, a basic role with write access to {scope}",
                "grant a predefined or custom role limited to what the member needs",
            ),
            None,
        )


RULES = (
    Rule(
        name="production-resources-protected",
        description="On production stacks the cluster, registry and artifact store are protected from deletion.",
        level=DISABLED,
        production_level=MANDATORY,
        validate_resource=production_resources_protected,
    ),
    Rule(
        name="iam-no-write-on-all-resources",
        description=(
            'No identity may write on every resource: no IAM policy allows a write action on "Resource": "*", '
            "no admin-equivalent AWS managed policy is attached, no GCP basic role (owner, editor) is granted."
        ),
        level=ADVISORY,
        production_level=MANDATORY,
        validate_resource=iam_no_write_on_all_resources,
        settings=(ALLOWED_ACTIONS, ALLOWED_MANAGED_POLICIES),
    ),
)
