"""A kind cluster on the laptop, wired to a local registry (or pulling from a remote one, with the
platform's imagePullSecret), with model artifacts on a volume and metrics-server for autoscalers.

kind has no cloud API, so the cluster's lifecycle is the `kind` CLI run through pulumi-command:
`kind create cluster` on create, `kind delete cluster` on delete, and a new cluster whenever its
generated config changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s
import yaml

from components import labels
from components.backends.kind.registry import REGISTRY_PORT, LocalRegistryEndpoint
from components.backends.kind.settings import KindSettings
from components.contracts.cluster import NO_GPUS, ClusterContract
from components.contracts.metrics import metrics_server
from components.contracts.namespace import workload_namespace
from components.contracts.volume_artifacts import VolumeArtifactStore, artifact_claim

SCRIPTS = Path(__file__).parent / "scripts"
# kind ships rancher's local-path provisioner as its default class; it creates volume
# directories world-writable, so the non-root workloads can write to them.
KIND_STORAGE_CLASS = "standard"
CONTAINERD_REGISTRY_PATCH = '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"'


def kind_config(node_image: str) -> str:
    """The kind cluster config: one node, containerd reading per-registry `hosts.toml` files."""
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [{"role": "control-plane", "image": node_image}],
        "containerdConfigPatches": [CONTAINERD_REGISTRY_PATCH],
    }
    return yaml.safe_dump(config, sort_keys=False)


def metrics_server_values() -> dict[str, Any]:
    """kind's kubelets serve metrics with self-signed certificates that no cluster CA signs, so
    metrics-server cannot verify them and, by default, scrapes nothing (every HPA then reports
    `<unknown>` and never scales). `--kubelet-insecure-tls` skips that verification: acceptable on
    a single-node cluster on the laptop, where the kubelet is a container on the same machine and
    the traffic never leaves the kind network. Cloud backends never set it."""
    return {"args": ["--kubelet-insecure-tls"]}


def registry_hosting_data(registry_host: str) -> dict[str, str]:
    """KEP-1755's `local-registry-hosting` ConfigMap, which tools like Tilt read to find the registry."""
    return {
        "localRegistryHosting.v1": yaml.safe_dump(
            {"host": registry_host, "help": "https://kind.sigs.k8s.io/docs/user/local-registry/"}, sort_keys=False
        )
    }


@dataclass(frozen=True, kw_only=True)
class KindClusterArgs:
    cluster_name: str
    """Name the kind CLI knows the cluster by (`kind get clusters`)."""
    settings: KindSettings
    """Its node image decides the Kubernetes version (config checks it matches kubernetesVersion)."""
    namespace: str
    local_registry: LocalRegistryEndpoint | None
    """The local registry to wire every node's containerd to; None: images come from a remote registry
    (pulled with the platform's imagePullSecret), nothing to wire."""


class KindCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    """Secret."""
    provider: k8s.Provider
    contract: ClusterContract

    def __init__(self, name: str, args: KindClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:cluster:KindCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        environment = {"CLUSTER": args.cluster_name}
        config = kind_config(args.settings.node_image)

        cluster = command.local.Command(
            f"{name}-kind",
            create=(
                'kind create cluster --name "$CLUSTER" --config - --wait 120s >&2 '
                '&& kind get kubeconfig --name "$CLUSTER"'
            ),
            delete='kind delete cluster --name "$CLUSTER"',
            stdin=config,
            environment=environment,
            interpreter=["/bin/bash", "-c"],
            # A changed node image or config means a new cluster; kind cannot reconfigure one.
            triggers=[config],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(additional_secret_outputs=["stdout"])),
        )
        self.cluster_name = pulumi.Output.from_input(args.cluster_name)
        self.kubeconfig = pulumi.Output.secret(cluster.stdout)
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            # A deleted kind cluster cannot be reached; let `pulumi destroy` drop its objects from state.
            delete_unreachable=True,
            opts=child,
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)

        ready: tuple[pulumi.Resource, ...] = ()
        if args.local_registry is not None:
            ready = self._wire_registry(name, args, args.local_registry, cluster, on_cluster)
        namespace = workload_namespace(name, args.namespace, on_cluster)
        artifacts = artifact_claim(
            name,
            namespace=namespace.metadata.name,
            storage_class=KIND_STORAGE_CLASS,
            # One node: every pod that mounts it runs on that node, so ReadWriteOnce suffices.
            access_modes=["ReadWriteOnce"],
            size=args.settings.artifact_volume_size,
            opts=on_cluster,
        )

        metrics = metrics_server(name, args.settings.charts.metrics_server, metrics_server_values(), on_cluster)

        self.contract = ClusterContract(
            provider=self.provider,
            namespace=namespace.metadata.name,
            gpu=NO_GPUS,
            artifacts=VolumeArtifactStore(artifacts.metadata.name, namespace.metadata.name),
            ready=ready,
            metrics_api=(metrics,),
        )
        self.register_outputs({"cluster_name": self.cluster_name, "kubeconfig": self.kubeconfig})

    def _wire_registry(
        self,
        name: str,
        args: KindClusterArgs,
        registry: LocalRegistryEndpoint,
        cluster: command.local.Command,
        on_cluster: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Resource, ...]:
        """containerd on every node resolves the registry's `localhost:<port>` to its container, and
        the KEP-1755 ConfigMap tells tools where it is."""
        child = pulumi.ResourceOptions(parent=self)
        environment = {"CLUSTER": args.cluster_name}
        registry_wiring = command.local.Command(
            f"{name}-registry-wiring",
            create=(SCRIPTS / "connect-registry.sh").read_text(),
            environment={
                **environment,
                "REGISTRY_CONTAINER": registry.container_name,
                "REGISTRY_HOST": registry.host,
                "REGISTRY_PORT": str(REGISTRY_PORT),
            },
            interpreter=["/bin/bash", "-c"],
            # Rewire whenever the cluster or the registry container is recreated.
            triggers=[cluster.id, registry.container_name],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cluster])),
        )
        registry_hosting = k8s.core.v1.ConfigMap(
            f"{name}-registry-hosting",
            # KEP-1755 fixes this name and namespace.
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="local-registry-hosting", namespace="kube-public", labels=labels.kubernetes_labels("registry")
            ),
            data=registry.host.apply(registry_hosting_data),
            opts=on_cluster,
        )
        return (registry_wiring, registry_hosting)
