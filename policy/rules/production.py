"""Production: state that cannot be recreated survives a destroy; no identity can write everything."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy.clouds import (
    AWS_POLICY_DOCUMENTS,
    FORCE_DELETE_FIELDS,
    GCP_PROJECT_MEMBERS,
    GCP_WRITE_ALL_ROLES,
    PROTECTED_KINDS,
    deletion_protection_field,
    write_actions_on_everything,
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
                "create it with protect=True (ml-platform:eks protect: true)",
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


def iam_no_write_on_all_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
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
    role = args.props.get("role")
    if args.resource_type in GCP_PROJECT_MEMBERS and role in GCP_WRITE_ALL_ROLES:
        report(
            violation(
                f"the binding grants {role}, write access to everything in the project",
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
        description='No IAM policy allows a write action on every resource ("Resource": "*").',
        level=ADVISORY,
        production_level=MANDATORY,
        validate_resource=iam_no_write_on_all_resources,
        settings=(ALLOWED_ACTIONS,),
    ),
)
