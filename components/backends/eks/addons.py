"""Cluster add-ons the EKS backend installs with pinned Helm charts: the NVIDIA device plugin (GPU
nodes only), the cluster-autoscaler (auto-discovery, its own least-privilege IRSA role) and
metrics-server (EKS does not run one; HorizontalPodAutoscalers read CPU use from it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import labels
from components.backends.eks import policies as eks_policies
from components.backends.eks.settings import AddonCharts
from components.contracts.cluster import GPU_NODE_LABEL, GPU_NODE_LABEL_VALUE, GPU_TAINT_KEY
from components.contracts.metrics import metrics_server

ADDON_NAMESPACE = "kube-system"
NVIDIA_CHART_REPO = "https://nvidia.github.io/k8s-device-plugin"
AUTOSCALER_CHART_REPO = "https://kubernetes.github.io/autoscaler"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"


def vpc_cni_configuration() -> dict[str, Any]:
    """`configurationValues` of the `vpc-cni` EKS add-on (its schema: `aws eks
    describe-addon-configuration --addon-name vpc-cni`). The CNI's network policy agent is off by
    default, and then the API server accepts NetworkPolicies that nothing enforces: the
    workload namespace's default deny would be decoration. The agent needs the node's IP from the
    instance metadata service, which it reaches on the host network (IMDSv2 with hop limit 1 is
    enough)."""
    return {"enableNetworkPolicy": "true"}


def device_plugin_values() -> dict[str, Any]:
    """Only on GPU nodes, tolerating their taint. The chart's default affinity wants labels from
    node-feature-discovery, which this cluster does not run; ours replaces it (Helm replaces lists)."""
    return {
        "nodeSelector": {GPU_NODE_LABEL: GPU_NODE_LABEL_VALUE},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": GPU_NODE_LABEL, "operator": "In", "values": [GPU_NODE_LABEL_VALUE]}
                            ]
                        }
                    ]
                }
            }
        },
        "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
    }


def autoscaler_values(
    cluster_name: str, region: str, role_arn: pulumi.Input[str], system_node_selector: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        # Finds every ASG tagged k8s.io/cluster-autoscaler/enabled and .../<cluster>: EKS managed
        # node groups carry both tags.
        "autoDiscovery": {"clusterName": cluster_name},
        "fullnameOverride": "cluster-autoscaler",
        "rbac": {
            "serviceAccount": {
                "create": True,
                "name": AUTOSCALER_SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": role_arn},
            }
        },
        "extraArgs": {
            "balance-similar-node-groups": True,
            # Pick the group that wastes least: a CPU pod never wakes a GPU node.
            "expander": "least-waste",
            "skip-nodes-with-system-pods": False,
            "scale-down-unneeded-time": "10m",
        },
        # On the system group, which never scales to zero, so the autoscaler never evicts itself.
        "nodeSelector": dict(system_node_selector),
    }


def metrics_server_values(system_node_selector: Mapping[str, str]) -> dict[str, Any]:
    """Two replicas on the system nodes, at most one drained at a time: while metrics-server is down
    every autoscaler holds its pods where they are. Kubelet certificates verify on EKS (no
    `--kubelet-insecure-tls`), and the chart's container port is the kubelet's 10250, which EKS's
    security groups already open from the control plane to the nodes."""
    return {
        "replicas": 2,
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        "nodeSelector": dict(system_node_selector),
    }


@dataclass(frozen=True, kw_only=True)
class EksAddonsArgs:
    cluster_name: str
    region: str
    account_id: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    """Issuer URL without `https://`."""
    autoscaled_group_names: Sequence[pulumi.Input[str]]
    """Auto Scaling group names of the node groups the autoscaler may resize."""
    charts: AddonCharts
    system_node_selector: Mapping[str, str]
    gpu_nodes: bool
    """Install the NVIDIA device plugin (only useful with GPU node groups)."""
    node_groups: Sequence[pulumi.Resource] = ()
    """The charts wait for these: their pods need nodes (a component's dependsOn does not reach its children)."""


class EksAddons(pulumi.ComponentResource):
    """Give it `providers={"kubernetes": <cluster provider>}` in opts; AWS resources use the default provider."""

    ready: list[pulumi.Resource]
    """What GPU workloads wait for."""
    metrics_api: k8s.helm.v4.Chart
    """metrics-server: what autoscalers wait for."""
    autoscaler_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: EksAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:cluster:EksAddons", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        role = aws.iam.Role(
            f"{name}-autoscaler-role",
            description=f"cluster-autoscaler of EKS cluster {args.cluster_name}",
            assume_role_policy=pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
                lambda values: eks_policies.irsa_trust_policy(
                    values[0], values[1], ADDON_NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT
                )
            ),
            tags=labels.cloud_tags("autoscaler"),
            opts=child,
        )
        policy = aws.iam.Policy(
            f"{name}-autoscaler-policy",
            policy=pulumi.Output.all(args.account_id, *args.autoscaled_group_names).apply(
                lambda values: eks_policies.cluster_autoscaler_policy(
                    args.region, values[0], args.cluster_name, values[1:]
                )
            ),
            tags=labels.cloud_tags("autoscaler"),
            opts=child,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-autoscaler-policy-attachment", role=role.name, policy_arn=policy.arn, opts=child
        )
        autoscaler = k8s.helm.v4.Chart(
            f"{name}-cluster-autoscaler",
            chart="cluster-autoscaler",
            version=args.charts.cluster_autoscaler,
            repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=AUTOSCALER_CHART_REPO),
            namespace=ADDON_NAMESPACE,
            values=autoscaler_values(args.cluster_name, args.region, role.arn, args.system_node_selector),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[attachment, *args.node_groups])
            ),
        )
        self.ready = [autoscaler]
        if args.gpu_nodes:
            self.ready.append(
                k8s.helm.v4.Chart(
                    f"{name}-nvidia-device-plugin",
                    chart="nvidia-device-plugin",
                    version=args.charts.nvidia_device_plugin,
                    repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=NVIDIA_CHART_REPO),
                    namespace=ADDON_NAMESPACE,
                    values=device_plugin_values(),
                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(args.node_groups))),
                )
            )
        self.metrics_api = metrics_server(
            name,
            args.charts.metrics_server,
            metrics_server_values(args.system_node_selector),
            pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(args.node_groups))),
        )
        self.autoscaler_role_arn = role.arn
        self.register_outputs({"autoscaler_role_arn": self.autoscaler_role_arn})
