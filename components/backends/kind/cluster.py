"""A kind cluster on the laptop, wired to a local registry, with model artifacts on a volume and
metrics-server for autoscalers.

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
from components.backends.kind.artifacts import VolumeArtifactStore
from components.backends.kind.registry import REGISTRY_PORT
from components.backends.kind.settings import KindSettings
from components.contracts.cluster import NO_GPUS, ClusterContract
from components.contracts.metrics import metrics_server
from components.contracts.namespace import workload_namespace

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
    registry_host: pulumi.Input[str]
    """`localhost:<port>`, what images are tagged with."""
    registry_container: pulumi.Input[str]
    """Registry container name, reachable on the kind network."""


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
        registry_wiring = command.local.Command(
            f"{name}-registry-wiring",
            create=(SCRIPTS / "connect-registry.sh").read_text(),
            environment={
                **environment,
                "REGISTRY_CONTAINER": args.registry_container,
                "REGISTRY_HOST": args.registry_host,
                "REGISTRY_PORT": str(REGISTRY_PORT),
            },
            interpreter=["/bin/bash", "-c"],
            # Rewire whenever the cluster or the registry container is recreated.
            triggers=[cluster.id, args.registry_container],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cluster])),
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

        registry_hosting = k8s.core.v1.ConfigMap(
            f"{name}-registry-hosting",
            # KEP-1755 fixes this name and namespace.
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="local-registry-hosting", namespace="kube-public", labels=labels.kubernetes_labels("registry")
            ),
            data=pulumi.Output.from_input(args.registry_host).apply(registry_hosting_data),
            opts=on_cluster,
        )
        namespace = workload_namespace(name, args.namespace, on_cluster)
        artifacts = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-artifacts",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                namespace=namespace.metadata.name,
                labels=labels.kubernetes_labels("artifacts"),
                # local-path binds on first consumer, the training pod, which needs this claim
                # first: waiting for Bound here would wait forever.
                annotations={"pulumi.com/skipAwait": "true"},
            ),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                # One node: every pod that mounts it runs on that node, so ReadWriteOnce suffices.
                access_modes=["ReadWriteOnce"],
                storage_class_name=KIND_STORAGE_CLASS,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                    requests={"storage": args.settings.artifact_volume_size}
                ),
            ),
            opts=on_cluster,
        )

        metrics = metrics_server(name, args.settings.charts.metrics_server, metrics_server_values(), on_cluster)

        self.contract = ClusterContract(
            name=self.cluster_name,
            provider=self.provider,
            namespace=namespace.metadata.name,
            gpu=NO_GPUS,
            artifacts=VolumeArtifactStore(artifacts.metadata.name, namespace.metadata.name),
            ready=(registry_wiring, registry_hosting),
            metrics_api=(metrics,),
        )
        self.register_outputs({"cluster_name": self.cluster_name, "kubeconfig": self.kubeconfig})
