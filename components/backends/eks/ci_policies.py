"""IAM documents of the EKS stack's CI identity, as pure functions of plain values (tested directly).

- Trust: only GitHub's OIDC provider, only audience `sts.amazonaws.com`, only the exact `sub`
  claims `components.ci` builds for one repository (StringEquals: no wildcard, so no other
  repository, fork or branch matches).
- Preview (pull requests, drift check): AWS's ReadOnlyAccess (attached by ARN) plus the state
  backend's read grants, minus a deny on reading data (objects, parameters, secrets, logs, items):
  pull-request code runs with this role, so it may read what the stack is made of, not what it holds.
- Deploy (main, inside the stack's GitHub environment): ReadOnlyAccess plus the writes `pulumi up`
  of this stack makes, by service, scoped to the stack's account and region (the cluster and its
  artifact buckets by name), and an explicit deny on changing the CI identity itself. No write
  action is allowed on `"Resource": "*"` (the policy pack's `iam-no-write-on-all-resources`).

What the deploy role cannot do, on purpose: create KMS keys (AWS allows `kms:CreateKey` only on
`"*"`), create a bucket other than the artifact buckets it was given, or change the CI roles, their
policies or the GitHub OIDC provider. Those take an administrator's `pulumi up` (docs/ci.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from components.backends.eks.policies import AWS_PARTITION, STS_AUDIENCE, document
from components.ci import GITHUB_OIDC_HOST, SecretsKey, StateBackend

CI_PATH = "/ml-platform-ci/"
"""IAM path of the CI roles: the deploy role's deny names them by it."""
READ_ONLY_ACCESS = f"arn:{AWS_PARTITION}:iam::aws:policy/ReadOnlyAccess"
INLINE_POLICY_LIMIT = 10_240
"""IAM's limit on the inline policies of one role, all together, whitespace excluded."""

# Reads of what resources hold rather than how they are configured. ReadOnlyAccess grants them all;
# `pulumi preview --refresh` of this stack needs none (it reads configuration, and the state's own
# objects, which are excepted).
DATA_READ_ACTIONS = (
    "athena:GetQueryResults",
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "ec2:GetConsoleOutput",
    "ec2:GetConsoleScreenshot",
    "ec2:GetPasswordData",
    "kinesis:GetRecords",
    "lambda:GetFunction",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
    "logs:GetQueryResults",
    "logs:StartQuery",
    "secretsmanager:BatchGetSecretValue",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParameterHistory",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
)
OBJECT_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")

# What the deploy role may do to IAM: the roles, policies and instance profiles of the stack's
# components (node role, IRSA roles, pulumi-eks's cluster role) and the cluster's OIDC provider.
IAM_WRITE_ACTIONS = (
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:AddRoleToInstanceProfile",
    "iam:AttachRolePolicy",
    "iam:CreateInstanceProfile",
    "iam:CreateOpenIDConnectProvider",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:CreateRole",
    "iam:DeleteInstanceProfile",
    "iam:DeleteOpenIDConnectProvider",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:SetDefaultPolicyVersion",
    "iam:TagInstanceProfile",
    "iam:TagOpenIDConnectProvider",
    "iam:TagPolicy",
    "iam:TagRole",
    "iam:UntagInstanceProfile",
    "iam:UntagOpenIDConnectProvider",
    "iam:UntagPolicy",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)
PASSED_TO_SERVICES = ("ec2.amazonaws.com", "eks.amazonaws.com")
"""Services the stack's roles are passed to: EKS (cluster role, node role of a node group), EC2."""
SERVICE_LINKED_ROLES = (
    "autoscaling.amazonaws.com",
    "eks-nodegroup.amazonaws.com",
    "eks.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
)
"""Service-linked roles the first cluster of an account may have to create."""
KMS_KEY_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:DisableKeyRotation",
    "kms:EnableKeyRotation",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
)
STATE_KEY_PROTECTED_ACTIONS = ("kms:DisableKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion")
NODE_GROUP_ASG_PREFIX = "eks-"
"""EKS names the Auto Scaling group of a managed node group `eks-<group>-<uuid>`."""


def github_provider_arn(account_id: str) -> str:
    """The ARN IAM gives the account's GitHub OIDC provider (one per account and URL)."""
    return f"arn:{AWS_PARTITION}:iam::{account_id}:oidc-provider/{GITHUB_OIDC_HOST}"


def github_trust_policy(provider_arn: str, subjects: Sequence[str]) -> str:
    """Only tokens of GitHub's provider, for STS, whose `sub` is exactly one of `subjects`."""
    if not subjects:
        raise ValueError("a CI role must trust at least one subject")
    return document(
        [
            {
                "Sid": "GitHubActions",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": list(subjects),
                    }
                },
            }
        ]
    )


def _state_objects(state: StateBackend, *parts: str) -> str:
    return f"arn:{AWS_PARTITION}:s3:::{state.bucket}/{state.object_prefix(*parts, '*')}"


def key_target(key: SecretsKey, region: str, account_id: str) -> dict[str, Any]:
    """`Resource` (and `Condition`) that name a secrets provider's key: by ARN, by id, or, for an
    alias, any key of the account and region that carries the alias (`kms:ResourceAliases`; a
    Decrypt request names no alias, so the alias ARN itself would never match)."""
    name = key.key
    if name.startswith("arn:"):
        if ":alias/" not in name:
            return {"Resource": name}
        _, _, _, key_region, key_account, alias = name.split(":", 5)
        return {
            "Resource": f"arn:{AWS_PARTITION}:kms:{key_region}:{key_account}:key/*",
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": alias}},
        }
    key_region = key.region or region
    if name.startswith("alias/"):
        return {
            "Resource": f"arn:{AWS_PARTITION}:kms:{key_region}:{account_id}:key/*",
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": name}},
        }
    return {"Resource": f"arn:{AWS_PARTITION}:kms:{key_region}:{account_id}:key/{name}"}


def state_statements(
    state: StateBackend | None, key: SecretsKey | None, *, region: str, account_id: str, writable: bool
) -> list[dict[str, Any]]:
    """The stack's state: list and read Pulumi's objects under the backend's prefix; write the lock
    objects (read-only) or every Pulumi object (deploy); decrypt with the secrets provider's key
    (the awskms provider decrypts the stack's data key once; neither role ever needs Encrypt)."""
    statements: list[dict[str, Any]] = []
    if state is not None:
        bucket_arn = f"arn:{AWS_PARTITION}:s3:::{state.bucket}"
        listing: dict[str, Any] = {
            "Sid": "StateList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
        }
        if state.prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [state.prefix, f"{state.prefix}/*"]}}
        statements += [
            listing,
            {
                "Sid": "StateRead",
                "Effect": "Allow",
                "Action": list(OBJECT_READ_ACTIONS),
                "Resource": _state_objects(state),
            },
            {
                "Sid": "StateWrite" if writable else "StateLocks",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:PutObject"],
                # Previews take the stack's lock too; only an update writes the state itself.
                "Resource": _state_objects(state) if writable else _state_objects(state, "locks"),
            },
        ]
    if key is not None:
        statements.append(
            {"Sid": "StateSecrets", "Effect": "Allow", "Action": "kms:Decrypt", **key_target(key, region, account_id)}
        )
    return statements


def preview_policy(state: StateBackend | None, key: SecretsKey | None, *, region: str, account_id: str) -> str:
    """The read-only role's inline policy, beside ReadOnlyAccess."""
    denied_objects: dict[str, Any] = {"NotResource": _state_objects(state)} if state else {"Resource": "*"}
    statements = state_statements(state, key, region=region, account_id=account_id, writable=False)
    statements += [
        {"Sid": "NoObjectReads", "Effect": "Deny", "Action": list(OBJECT_READ_ACTIONS), **denied_objects},
        {"Sid": "NoDataReads", "Effect": "Deny", "Action": list(DATA_READ_ACTIONS), "Resource": "*"},
    ]
    return document(statements)


EC2_RESOURCE_TYPES = (
    "elastic-ip",
    "internet-gateway",
    "launch-template",
    "natgateway",
    "route-table",
    "security-group",
    "security-group-rule",
    "subnet",
    "vpc",
)
"""The EC2 resource types (ARN `...:<type>/<id>`) the stack creates or changes; the deploy role may
write these only. Reads (Describe*) come from ReadOnlyAccess."""


def deploy_policy(
    *,
    region: str,
    account_id: str,
    cluster_name: str,
    artifact_bucket_arns: Sequence[str],
    state: StateBackend | None,
    key: SecretsKey | None,
) -> str:
    """The deploy role's inline policy, beside ReadOnlyAccess (which covers every read of a refresh)."""
    p, here = AWS_PARTITION, f"{region}:{account_id}"
    iam = f"arn:{p}:iam::{account_id}"
    statements: list[dict[str, Any]] = [
        {
            # What the network and node-group code declares (aws.ec2.Vpc, Subnet, RouteTable and its
            # routes and associations, InternetGateway, Eip, NatGateway, DefaultSecurityGroup,
            # LaunchTemplate), by resource type: not the region's instances, volumes or snapshots.
            "Sid": "Network",
            "Effect": "Allow",
            "Action": "ec2:*",
            "Resource": [f"arn:{p}:ec2:{here}:{kind}/*" for kind in EC2_RESOURCE_TYPES],
        },
        {
            # The cluster, its node groups, add-ons and access entries, by the cluster's name.
            "Sid": "Cluster",
            "Effect": "Allow",
            "Action": "eks:*",
            "Resource": [f"arn:{p}:eks:{here}:cluster/{cluster_name}", f"arn:{p}:eks:{here}:*/{cluster_name}/*"],
        },
        {
            "Sid": "ClusterAccessPolicies",
            "Effect": "Allow",
            "Action": ["eks:AssociateAccessPolicy", "eks:DisassociateAccessPolicy"],
            "Resource": f"arn:{p}:eks::aws:cluster-access-policy/*",
        },
        {
            # The autoscaler's scale-from-zero tags on the node groups' Auto Scaling groups.
            "Sid": "NodeGroupTags",
            "Effect": "Allow",
            "Action": ["autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"],
            "Resource": f"arn:{p}:autoscaling:{here}:autoScalingGroup:*:autoScalingGroupName/{NODE_GROUP_ASG_PREFIX}*",
        },
        {
            # Repositories, their lifecycle policies, and image pushes.
            "Sid": "Registry",
            "Effect": "Allow",
            "Action": "ecr:*",
            "Resource": f"arn:{p}:ecr:{here}:repository/*",
        },
        {
            "Sid": "Keys",
            "Effect": "Allow",
            "Action": list(KMS_KEY_ACTIONS),
            "Resource": f"arn:{p}:kms:{here}:key/*",
        },
        {
            # EKS envelope encryption: CreateCluster makes the caller grant EKS the use of the key.
            "Sid": "KeyGrantsForServices",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": f"arn:{p}:kms:{here}:key/*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
        {
            "Sid": "Identity",
            "Effect": "Allow",
            "Action": list(IAM_WRITE_ACTIONS),
            "Resource": [
                f"{iam}:role/*",
                f"{iam}:policy/*",
                f"{iam}:instance-profile/*",
                f"{iam}:oidc-provider/oidc.eks.{region}.amazonaws.com/id/*",
            ],
        },
        {
            "Sid": "PassRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"{iam}:role/*",
            "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}},
        },
        {
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": f"{iam}:role/aws-service-role/*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        },
    ]
    if artifact_bucket_arns:
        # Bucket configuration only (no `/*`): the deploy never reads or writes model objects.
        statements.append(
            {"Sid": "ArtifactBuckets", "Effect": "Allow", "Action": "s3:*", "Resource": sorted(artifact_bucket_arns)}
        )
    statements += state_statements(state, key, region=region, account_id=account_id, writable=True)
    statements.append(
        {
            # Who may deploy, and with what, is an administrator's change: not even a reviewed
            # deploy can widen the CI roles' trust or permissions, or replace the OIDC provider.
            "Sid": "CiIdentityIsAdministered",
            "Effect": "Deny",
            "NotAction": ["iam:Get*", "iam:List*"],
            "Resource": [f"{iam}:role{CI_PATH}*", f"{iam}:policy{CI_PATH}*", github_provider_arn(account_id)],
        }
    )
    if key is not None:
        statements.append(
            {
                "Sid": "StateKeyIsAdministered",
                "Effect": "Deny",
                "Action": list(STATE_KEY_PROTECTED_ACTIONS),
                **key_target(key, region, account_id),
            }
        )
    return document(statements)


def policy_size(policy: str) -> int:
    """Characters IAM counts against its limits: the document without whitespace."""
    return len(json.dumps(json.loads(policy), separators=(",", ":")))
