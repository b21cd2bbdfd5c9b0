"""The VPC a GKE cluster runs in: a custom-mode network with one regional subnet (nodes on its
primary range, pods and Services on two secondary ranges: a VPC-native cluster), and a Cloud
Router with Cloud NAT so private nodes reach registries outside Google (Docker Hub, ghcr.io).

Google APIs (Artifact Registry, Cloud Storage) are reached through Private Google Access on the
subnet, without NAT.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.backends.gke.settings import NetworkRanges

PODS_RANGE = "pods"
SERVICES_RANGE = "services"
"""Names of the subnet's secondary ranges; the cluster's IP allocation policy refers to them."""


@dataclass(frozen=True, kw_only=True)
class GkeNetworkArgs:
    project: str
    region: str
    ranges: NetworkRanges


class GkeNetwork(pulumi.ComponentResource):
    network_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    egress: list[pulumi.Resource]
    """The NAT gateway: nodes pull images from outside Google only once it exists."""

    def __init__(self, name: str, args: GkeNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:cluster:GkeNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        network = gcp.compute.Network(
            f"{name}-vpc",
            project=args.project,
            # Custom mode: no subnet in every region, only the one declared here.
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description=f"ml-platform {pulumi.get_stack()}: GKE nodes, pods and services",
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            project=args.project,
            region=args.region,
            network=network.id,
            ip_cidr_range=args.ranges.nodes_cidr,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=args.ranges.pods_cidr),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=SERVICES_RANGE, ip_cidr_range=args.ranges.services_cidr
                ),
            ],
            # Private nodes reach Google APIs (Artifact Registry, Cloud Storage) on internal routes.
            private_ip_google_access=True,
            opts=child,
        )
        router = gcp.compute.Router(
            f"{name}-router", project=args.project, region=args.region, network=network.id, opts=child
        )
        nat = gcp.compute.RouterNat(
            f"{name}-nat",
            project=args.project,
            region=args.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            # Only this subnet's nodes and pods, not every subnet someone adds to the network later.
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])
            ],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )

        self.network_id = network.id
        self.subnet_id = subnet.id
        self.egress = [nat]
        self.register_outputs({"network_id": self.network_id, "subnet_id": self.subnet_id})
