"""Production: state that cannot be recreated survives a destroy; no identity can write everything
or grant itself that; nothing is open to everyone."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy.clouds import (
    AWS_MANAGED_POLICY_ATTACHMENTS,
    AWS_POLICY_DOCUMENTS,
    AWS_RESOURCE_POLICIES,
    FORCE_DELETE_FIELDS,
    GCP_WRITE_ALL_ROLES,
    LAMBDA_PERMISSION,
    PROTECTED_KINDS,
    PUBLIC_ACL_GRANTS,
    aws_managed_policy_name,
    deletion_protection_field,
    document_writes_on_everything,
    escalation,
    gcp_grant_scope,
    gcp_grants,
    grants_on_projects,
    is_public_member,
    lambda_permission_public,
    public_statements,
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
    description=(
        'Write actions accepted on every resource ("Resource": "*", or an ARN pattern that names none), compared '
        "without regard to case, each with a documented reason. Default: none."
    ),
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


ALLOWED_ROLES = Setting(
    name="allowedRoles",
    schema={"type": "array", "items": {"type": "string"}},
    default=[],
    description=(
        "GCP roles accepted on a project, folder or organization although the member can use them to grant "
        "itself roles/owner (roles/iam.serviceAccountUser ...), each with a documented reason. Default: none. "
        "Basic roles (owner, editor) are never accepted."
    ),
)


def iam_no_write_on_all_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every way a stack can give an identity write on everything: an AWS policy document (inline or
    customer-managed), an attached AWS managed policy that is admin-equivalent, a GCP basic role, or
    a GCP role on a project (folder, organization) that lets the member grant itself one."""
    _aws_policy_documents(args, report)
    _aws_managed_policies(args, report)
    _gcp_basic_roles(args, report)
    _gcp_escalation_roles(args, report)


def _aws_policy_documents(args: ResourceValidationArgs, report: ReportViolation) -> None:
    # AWS matches action names without regard to case; so does the allowlist.
    allowed = {str(action).lower() for action in ALLOWED_ACTIONS.value(args)}
    extract = AWS_POLICY_DOCUMENTS.get(args.resource_type)
    for document in extract(args.props) if extract else []:
        found = document_writes_on_everything(document)
        actions = [action for action in found.actions if action.lower() not in allowed]
        if actions:
            report(
                violation(
                    f"the policy allows {', '.join(actions)} on every resource ({', '.join(found.resources)})",
                    "name the resources (ARNs) the actions need; only read-only Describe/Get/List actions may use "
                    '"*" or an ARN pattern that names no resource (arn:aws:iam::*:*)',
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
    grants = gcp_grants(args.resource_type, args.props) or []
    scope = gcp_grant_scope(args.resource_type)
    for role in sorted({grant.role for grant in grants} & GCP_WRITE_ALL_ROLES):
        report(
            violation(
                f"the IAM resource grants {role}, a basic role with write access to {scope}",
                "grant a predefined or custom role limited to what the member needs",
            ),
            None,
        )


def _gcp_escalation_roles(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not grants_on_projects(args.resource_type):
        return
    allowed = {str(role) for role in ALLOWED_ROLES.value(args)}
    scope = gcp_grant_scope(args.resource_type)
    for grant in gcp_grants(args.resource_type, args.props) or []:
        how = escalation(grant)
        if how is None or grant.role in allowed:
            continue
        report(
            violation(
                f"the IAM resource grants {grant.role} on {scope}: {how}",
                "grant it on the one service account or resource the member needs (serviceaccount.IAMMember ...); "
                "an IAM-admin role only under a condition that limits the roles it may grant "
                "(api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([...]))",
            ),
            None,
        )


PUBLIC_FIX_AWS = (
    "name the principals (accounts, roles, services) in Principal, or add a Condition that narrows them "
    "(StringEquals/ArnLike on aws:PrincipalOrgID, aws:PrincipalAccount, aws:SourceAccount, aws:SourceArn ...)"
)
PUBLIC_FIX_GCP = "grant to named members (user:, group:, serviceAccount:, principalSet:// of a pool)"
PUBLIC_FIX_ACL = (
    "remove the public entity or canned ACL (private, or none); grant through IAM or a bucket policy to named "
    "principals (GCS: with uniformBucketLevelAccess; S3: with objectOwnership BucketOwnerEnforced)"
)
PUBLIC_FIX_LAMBDA = (
    "name the caller in principal (an account, or a service with sourceArn/sourceAccount), or set "
    "principalOrgId; a public function URL wants functionUrlAuthType AWS_IAM"
)


def iam_no_public_principals(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Private by default: every way a resource policy or grant can admit anyone."""
    row = AWS_RESOURCE_POLICIES.get(args.resource_type)
    if row is not None and args.props.get(row.field):
        statements = public_statements(args.props.get(row.field))
        if statements:
            report(
                violation(
                    f'{row.noun} admits anyone ({", ".join(statements)}: a "*" principal or NotPrincipal, '
                    f"with no Condition that narrows who the caller is): {row.consequence}",
                    PUBLIC_FIX_AWS,
                ),
                None,
            )
    for grant in gcp_grants(args.resource_type, args.props) or []:
        public = [member for member in grant.members if is_public_member(member)]
        if public:
            report(
                violation(
                    f"the IAM resource grants {grant.role} to {', '.join(public)} "
                    f"({gcp_grant_scope(args.resource_type)} becomes public)",
                    PUBLIC_FIX_GCP,
                ),
                None,
            )
    acl_grants = PUBLIC_ACL_GRANTS.get(args.resource_type)
    public_grants = acl_grants(args.props) if acl_grants else []
    if public_grants:
        report(violation(f"the ACL grants access to {', '.join(public_grants)}", PUBLIC_FIX_ACL), None)
    if args.resource_type == LAMBDA_PERMISSION:
        exposure = lambda_permission_public(args.props)
        if exposure:
            report(violation(exposure, PUBLIC_FIX_LAMBDA), None)


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
            'No identity may write on every resource: no IAM policy allows a write action on "Resource": "*" '
            "(or an ARN pattern that names no resource), no admin-equivalent AWS managed policy is attached, "
            "no GCP basic role (owner, editor) is granted, nor a role that lets its member grant itself one."
        ),
        level=ADVISORY,
        production_level=MANDATORY,
        validate_resource=iam_no_write_on_all_resources,
        settings=(ALLOWED_ACTIONS, ALLOWED_MANAGED_POLICIES, ALLOWED_ROLES),
    ),
    Rule(
        name="iam-no-public-principals",
        description=(
            'Nothing is open to everyone: no role trust policy or resource policy allows a "*" principal without '
            "a Condition that narrows who the caller is, no Lambda permission admits any caller, no GCP grant or "
            "Cloud Storage or S3 ACL grants to everyone (allUsers, allAuthenticatedUsers, public canned ACLs)."
        ),
        level=MANDATORY,
        production_level=MANDATORY,
        validate_resource=iam_no_public_principals,
    ),
)
