"""AWS and EKS answers for the render mocks: what the APIs return for the resources and invokes of
the EKS backend (ARNs in their real shapes, generated names, Auto Scaling groups behind node groups,
an ECR token), computed deterministically from logical names.

pulumi-eks's `Cluster` is a multi-language component: under mocks it is one resource without
children, so its outputs are invented here (kubeconfig, OIDC provider), never echoed from inputs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml
from pulumi.runtime import mocks as pulumi_mocks

from tools.mocks import FAKE_KUBECONFIG, BackendMocks, auto_name, cloud_resource, short_hash

ACCOUNT_ID = "123456789012"
REGION = "us-west-2"

ZONES = [f"{REGION}{letter}" for letter in "abcd"]
ECR_HOST = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com"
ECR_PASSWORD = "mock-ecr-password"  # noqa: S105 - what the mocked ECR token API answers


def _with_identity(
    args: pulumi_mocks.MockResourceArgs, name: str, arn: str, **extra: Any
) -> tuple[str, dict[str, Any]]:
    return name, {**args.inputs, "id": name, "name": name, "arn": arn, **extra}


def _iam_role(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    name = args.inputs.get("name") or auto_name(args.name)
    path = args.inputs.get("path") or "/"  # in the ARN between `role` and the name
    return _with_identity(
        args, name, f"arn:aws:iam::{ACCOUNT_ID}:role{path}{name}", uniqueId=f"AROA{short_hash(name, length=16).upper()}"
    )


def _iam_policy(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    name = args.inputs.get("name") or auto_name(args.name)
    arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}"
    return arn, {**args.inputs, "id": arn, "name": name, "arn": arn}


def _oidc_provider(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """IAM names an OIDC provider by its URL's host and path: one per account and URL."""
    arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{str(args.inputs['url']).removeprefix('https://')}"
    return arn, {**args.inputs, "id": arn, "arn": arn}


def _kms_key(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    key_id = f"{short_hash(args.name, length=8)}-0000-4000-8000-{short_hash(args.name, 'key', length=12)}"
    return key_id, {**args.inputs, "keyId": key_id, "arn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"}


def _s3_bucket(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    bucket = args.inputs.get("bucket") or auto_name(args.name)
    return bucket, {
        **args.inputs,
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketRegionalDomainName": f"{bucket}.s3.{REGION}.amazonaws.com",
        "region": REGION,
    }


def _ecr_repository(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    name = args.inputs.get("name") or auto_name(args.name)
    return _with_identity(
        args,
        name,
        f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/{name}",
        registryId=ACCOUNT_ID,
        repositoryUrl=f"{ECR_HOST}/{name}",
    )


def _eks_node_group(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """EKS creates an Auto Scaling group per managed node group, named `eks-<group>-<uuid>`."""
    group = args.inputs.get("nodeGroupName") or auto_name(args.name)
    cluster = args.inputs["clusterName"]
    uuid = short_hash(cluster, group, length=8)
    return f"{cluster}:{group}", {
        **args.inputs,
        "nodeGroupName": group,
        "arn": f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:nodegroup/{cluster}/{group}/{uuid}",
        "status": "ACTIVE",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{group}-{uuid}"}], "remoteAccessSecurityGroupId": ""}],
    }


def _launch_template(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """EC2 names templates `lt-<17 hex>` and numbers versions from 1."""
    template_id = f"lt-{short_hash(args.name, length=17)}"
    name = args.inputs.get("name") or auto_name(args.name)
    return template_id, {
        **args.inputs,
        "id": template_id,
        "name": name,
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:launch-template/{template_id}",
        "latestVersion": 1,
        "defaultVersion": 1,
    }


def _eks_cluster(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    """pulumi-eks `Cluster`'s outputs as the real component gives them (those the program reads)."""
    name = args.inputs.get("name") or auto_name(args.name)
    oidc_id = short_hash(name, length=32).upper()
    issuer = f"oidc.eks.{REGION}.amazonaws.com/id/{oidc_id}"
    kubeconfig = yaml.safe_load(FAKE_KUBECONFIG)
    return {
        "kubeconfig": kubeconfig,
        "kubeconfigJson": json.dumps(kubeconfig, sort_keys=True),
        "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
        "oidcProviderUrl": f"https://{issuer}",
        "oidcIssuer": issuer,
        "clusterSecurityGroupId": f"sg-{short_hash(name, 'cluster', length=17)}",
        "nodeSecurityGroupId": f"sg-{short_hash(name, 'node', length=17)}",
    }


def _availability_zones(args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:
    return {
        "id": REGION,
        "names": list(ZONES),
        "zoneIds": [f"usw2-az{index + 1}" for index in range(len(ZONES))],
        "groupNames": [REGION],
        "state": args.args.get("state"),
        "region": REGION,
    }


def _caller_identity(args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:
    return {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/operator",
        "id": ACCOUNT_ID,
        "userId": "AIDAMOCKOPERATOR",
    }


def _ecr_token(args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:
    return {
        "id": REGION,
        "registryId": args.args.get("registryId") or ACCOUNT_ID,
        "userName": "AWS",
        "password": ECR_PASSWORD,
        "authorizationToken": base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode(),
        "proxyEndpoint": f"https://{ECR_HOST}",
        "expiresAt": "2030-01-01T00:00:00Z",
        "region": REGION,
    }


RESOURCES = {
    "aws:iam/role:Role": _iam_role,
    "aws:iam/policy:Policy": _iam_policy,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:kms/key:Key": _kms_key,
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:eks/nodeGroup:NodeGroup": _eks_node_group,
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
}
COMPONENTS = {
    "eks:index:Cluster": _eks_cluster,
}
CALLS = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": _ecr_token,
}


def _aws_resource(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """Any other AWS resource: what `cloud_resource` answers, plus its ARN in the real shape."""
    resource_id, state = cloud_resource(args)
    _, module, kind = args.typ.split(":")
    service = module.split("/")[0]
    state.setdefault("arn", f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{kind.lower()}/{state['name']}")
    return resource_id, state


MOCKS = BackendMocks(resources=RESOURCES, calls=CALLS, components=COMPONENTS, packages={"aws": _aws_resource})
