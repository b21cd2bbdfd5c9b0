"""IAM policy documents of the EKS backend, as pure functions of plain values (tested directly).

Every statement names its resources. Only actions that AWS does not scope to a resource
(`Describe*`) use `"Resource": "*"`, and no write action ever does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

AWS_PARTITION = "aws"
STS_AUDIENCE = "sts.amazonaws.com"
"""The audience of every web-identity token AWS STS takes: IRSA's and GitHub's OIDC alike."""
MODELS_PREFIX = "models"


def document(statements: Sequence[dict[str, Any]]) -> str:
    """An IAM policy document (JSON, keys sorted so renders are stable)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def service_trust_policy(service: str) -> str:
    """Trust for an AWS service principal, e.g. `ec2.amazonaws.com` for node instance roles."""
    return document([{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}])


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> str:
    """IAM Roles for Service Accounts: only `namespace/service_account`'s projected token may assume
    the role. `oidc_issuer` is the issuer URL without `https://`."""
    issuer = oidc_issuer.removeprefix("https://")
    return document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": STS_AUDIENCE,
                    }
                },
            }
        ]
    )


def model_prefix(model: str) -> str:
    """Where a model's artifacts live, `models/<model>`: the root of its URI. Never a policy scope
    on its own: `models/digits` is also the start of `models/digits-wide/...`."""
    return f"{MODELS_PREFIX}/{model}"


def model_scope(model: str) -> str:
    """What a model's roles may reach: `models/<model>/`, with the slash that ends the name."""
    return f"{model_prefix(model)}/"


def artifact_policy(bucket_arn: str, kms_key_arn: str, model: str, writable: bool) -> str:
    """One model's artifacts: objects under `models/<model>/` and listing of that prefix only (the
    trailing slash keeps `digits` out of `digits-wide`). Read-only grants Get/List and decryption;
    read-write adds Put/Delete and data-key generation."""
    scope = model_scope(model)
    object_actions = ["s3:GetObject"] + (
        ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"] if writable else []
    )
    key_actions = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if writable else [])
    return document(
        [
            {
                "Sid": "ModelObjects",
                "Effect": "Allow",
                "Action": object_actions,
                "Resource": f"{bucket_arn}/{scope}*",
            },
            {
                "Sid": "ListModelPrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                # A List request's prefix, as sent: the model's folder itself, or anything inside it.
                "Condition": {"StringLike": {"s3:prefix": [scope, f"{scope}*"]}},
            },
            {"Sid": "BucketKey", "Effect": "Allow", "Action": key_actions, "Resource": kms_key_arn},
        ]
    )


def tls_only_bucket_policy(bucket_arn: str) -> str:
    """Refuses any request to the bucket that is not over TLS."""
    return document(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    )


def autoscaling_group_arn(region: str, account_id: str, group_name: str) -> str:
    # The group's UUID is not known before it exists; its name is, and names are unique per region.
    return f"arn:{AWS_PARTITION}:autoscaling:{region}:{account_id}:autoScalingGroup:*:autoScalingGroupName/{group_name}"


def cluster_autoscaler_policy(region: str, account_id: str, cluster_name: str, group_names: Sequence[str]) -> str:
    """cluster-autoscaler with auto-discovery (the upstream AWS minimal policy), writes scoped to the
    cluster's own node groups by ARN and by the `k8s.io/cluster-autoscaler/<cluster>` tag."""
    groups = [autoscaling_group_arn(region, account_id, name) for name in sorted(group_names)]
    return document(
        [
            {
                "Sid": "Discover",
                "Effect": "Allow",
                # Describe calls cannot be scoped to resources in IAM.
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                "Sid": "DescribeOwnNodeGroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": f"arn:{AWS_PARTITION}:eks:{region}:{account_id}:nodegroup/{cluster_name}/*/*",
            },
            {
                "Sid": "ScaleOwnNodeGroups",
                "Effect": "Allow",
                "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                "Resource": groups,
                "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}},
            },
        ]
    )
