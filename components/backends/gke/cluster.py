"""The GKE Standard control plane and what it gives workloads: the cluster contract (GPU
scheduling, GCS artifacts granted to each workload's Kubernetes service account, load balancer
annotations), and its node pools (`node_pools`).

Private nodes (no public IPs; egress through the network's Cloud NAT), master authorized networks,
Workload Identity, Dataplane V2 (which enforces the project's NetworkPolicies), shielded nodes,
a release channel, and no default node pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import yaml

from components.backends.gke import node_pools
from components.backends.gke.artifacts import GcsArtifacts, GcsArtifactStore
from components.backends.gke.iam import workload_pool
from components.backends.gke.naming import gcp_labels
from components.backends.gke.network import PODS_RANGE, SERVICES_RANGE
from components.backends.gke.registry import READER_ROLE, ArtifactRegistryEndpoint
from components.backends.gke.settings import GkeSettings, LoadBalancing
from components.backends.node_labels import labelled_gpu_scheduling
from components.contracts.cluster import LOAD_BALANCER_SOURCE_RANGES, ClusterContract
from components.contracts.namespace import workload_namespace

DATAPATH = "ADVANCED_DATAPATH"
"""Dataplane V2 (eBPF, Cilium): enforces NetworkPolicies without the Calico add-on."""
AUTH_PLUGIN = "gke-gcloud-auth-plugin"
AUTH_PLUGIN_HINT = (
    "Install gke-gcloud-auth-plugin for kubectl: `gcloud components install gke-gcloud-auth-plugin`, see "
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
)
INTERNAL_LB_ANNOTATION = "networking.gke.io/load-balancer-type"


def load_balancer_annotations(settings: LoadBalancing) -> dict[str, str]:
    """A passthrough Network Load Balancer, admitting only the configured clients; internal when asked."""
    annotations = {LOAD_BALANCER_SOURCE_RANGES: ",".join(settings.source_cidrs)}
    if settings.internal:
        annotations[INTERNAL_LB_ANNOTATION] = "Internal"
    return annotations


def kubeconfig(cluster_name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig that authenticates with the caller's gcloud credentials through the
    gke-gcloud-auth-plugin (an exec plugin): no token or key is stored in it."""
    context = f"gke_{cluster_name}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca_certificate},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "users": [
            {
                "name": context,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": AUTH_PLUGIN,
                        "installHint": AUTH_PLUGIN_HINT,
                        "provideClusterInfo": True,
                        "interactiveMode": "IfAvailable",
                    }
                },
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)


@dataclass(frozen=True, kw_only=True)
class GkeClusterArgs:
    cluster_name: str
    """Physical GKE name: `gcloud container clusters get-credentials` names it."""
    project: str
    location: str
    """The region (a regional cluster) or a zone (a zonal one)."""
    kubernetes_version: str
    """Minimum control-plane version; the release channel upgrades from there."""
    namespace: str
    settings: GkeSettings
    network_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    artifacts: GcsArtifacts
    registry: ArtifactRegistryEndpoint | None
    """The stack's Artifact Registry repository: nodes may read it (and no other repository). None:
    images come from another registry (`oci`), which pods pull with the platform's pull secret."""
    node_network: Sequence[pulumi.Resource] = ()
    """What nodes need before they boot (the NAT gateway)."""


class GkeCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    location: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    """Secret. Uses the gke-gcloud-auth-plugin, so gcloud and its credentials must be present."""
    node_service_account_email: pulumi.Output[str]
    node_service_account_name: pulumi.Output[str]
    """`projects/<p>/serviceAccounts/<email>`: what IAM bindings on the nodes' account name (the CI
    deploy account's actAs on it, which creating a node pool needs)."""
    provider: k8s.Provider
    contract: ClusterContract

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:cluster:GkeCluster", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)

        node_account, node_roles = node_pools.node_service_account(name, args.project, child)
        cluster = self._control_plane(name, args, node_account.email, [*node_roles, *args.node_network])
        self.cluster_name = cluster.name
        self.location = cluster.location
        self.node_service_account_email = node_account.email
        self.node_service_account_name = node_account.name
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate).apply(
                lambda values: kubeconfig(values[0], values[1], values[2] or "")
            )
        )
        self.provider = k8s.Provider(f"{name}-provider", kubeconfig=self.kubeconfig, opts=child)

        context = node_pools.NodePoolContext(
            name=name,
            project=args.project,
            cluster_id=cluster.id,
            location=cluster.location,
            zonal=settings.zone is not None,
            service_account_email=node_account.email,
            resource_labels=gcp_labels("cluster"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*node_roles, *args.node_network]),
        )
        pools = [node_pools.system_node_pool(context, settings.system_node_pool)]
        pools += [node_pools.gpu_node_pool(context, pool) for pool in settings.gpu_node_pools]
        registry_readers = []
        if args.registry is not None:
            registry_readers.append(
                gcp.artifactregistry.RepositoryIamMember(
                    f"{name}-registry-reader",
                    project=args.registry.project,
                    location=args.registry.location,
                    repository=args.registry.repository_name,
                    role=READER_ROLE,
                    member=node_account.member,
                    opts=child,
                )
            )

        on_kubernetes = pulumi.ResourceOptions(parent=self, provider=self.provider)
        namespace = workload_namespace(name, args.namespace, on_kubernetes)
        # The project's number names the Workload Identity pool's parent in workload principals.
        project = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.contract = ClusterContract(
            provider=self.provider,
            namespace=namespace.metadata.name,
            gpu=labelled_gpu_scheduling(bool(settings.gpu_node_pools)),
            artifacts=GcsArtifactStore(
                artifacts=args.artifacts,
                project=args.project,
                project_number=project.number,
                namespace=namespace.metadata.name,
                cluster=cluster,
            ),
            service_annotations={"LoadBalancer": load_balancer_annotations(settings.load_balancer)},
            # GKE installs the GPU driver and device plugin itself: workloads wait for the pools and
            # for the nodes' permission to pull.
            ready=(*pools, *registry_readers),
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "location": self.location,
                "kubeconfig": self.kubeconfig,
                "node_service_account_email": self.node_service_account_email,
                "node_service_account_name": self.node_service_account_name,
            }
        )

    def _control_plane(
        self,
        name: str,
        args: GkeClusterArgs,
        node_account_email: pulumi.Output[str],
        node_prerequisites: Sequence[pulumi.Resource],
    ) -> gcp.container.Cluster:
        settings = args.settings
        endpoint = settings.endpoint
        return gcp.container.Cluster(
            f"{name}-gke",
            name=args.cluster_name,
            project=args.project,
            location=args.location,
            description=f"ml-platform {pulumi.get_stack()}",
            min_master_version=args.kubernetes_version,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=settings.release_channel),
            network=args.network_id,
            subnetwork=args.subnet_id,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE, services_secondary_range_name=SERVICES_RANGE
            ),
            # Private nodes; no master CIDR, so the control plane is reached over Private Service Connect.
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True, enable_private_endpoint=not endpoint.public
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=cidr, display_name=f"authorized-{index}"
                    )
                    for index, cidr in enumerate(endpoint.authorized_networks)
                ],
                # Not every Google Cloud VM's public address, only the listed networks.
                gcp_public_cidrs_access_enabled=False,
                private_endpoint_enforcement_enabled=True,
            ),
            master_auth=gcp.container.ClusterMasterAuthArgs(
                client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False
                )
            ),
            enable_legacy_abac=False,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=workload_pool(args.project)
            ),
            datapath_provider=DATAPATH,
            enable_shielded_nodes=True,
            # Node pool sizes only; no node auto-provisioning. Idle nodes (GPU ones above all) go sooner.
            cluster_autoscaling=gcp.container.ClusterClusterAutoscalingArgs(
                enabled=False, autoscaling_profile="OPTIMIZE_UTILIZATION"
            ),
            # GKE cannot create a cluster without a node pool: it creates a default one and this
            # removes it at once. That short-lived pool still runs as the node account, never as the
            # Compute Engine default account (project Editor, possibly disabled by org policy).
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=node_account_email,
                oauth_scopes=[node_pools.CLOUD_PLATFORM_SCOPE],
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(
                    mode=node_pools.WORKLOAD_METADATA_MODE
                ),
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
            ),
            deletion_protection=settings.protect,
            resource_labels=gcp_labels("cluster"),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=settings.protect,
                depends_on=list(node_prerequisites),
                # The default pool's config describes a pool removed at creation; a change to it would
                # replace the whole cluster.
                ignore_changes=["nodeConfig"],
            ),
        )
