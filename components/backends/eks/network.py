"""The VPC an EKS cluster runs in: private subnets for nodes, public subnets for load balancers,
one route table per AZ, and NAT gateways per AZ or a single one.

Availability zones come from the region (an invoke), never a hard-coded list; the number of them
is a setting, so the set of resources is known before the invoke answers.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components import labels

# The subnet role tags the AWS cloud provider and load balancer controller select subnets by.
PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(private, public) CIDRs, one each per AZ. Private subnets get an eighth of the VPC each (pods
    take VPC addresses with the VPC CNI); public ones, which hold only load balancers and NAT
    gateways, share one further eighth."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    eighths = list(vpc.subnets(prefixlen_diff=3))
    if zones > 6:
        raise ValueError(f"at most 6 availability zones fit this layout, not {zones}")
    private = [str(block) for block in eighths[:zones]]
    public = [str(block) for block in list(eighths[6].subnets(prefixlen_diff=3))[:zones]]
    return private, public


def pick_zone(names: Sequence[str], index: int, wanted: int) -> str:
    if len(names) < wanted:
        raise ValueError(
            f"ml-platform:eks.availabilityZones asks for {wanted} zones but the region has {len(names)} available: "
            + ", ".join(names)
        )
    return sorted(names)[index]


@dataclass(frozen=True, kw_only=True)
class EksNetworkArgs:
    cluster_name: str
    """Tags subnets `kubernetes.io/cluster/<name>: shared`."""
    vpc_cidr: str
    availability_zones: int
    """Zones to span, at least 2."""
    nat_gateways: Literal["single", "perAz"]
    """perAz: an AZ outage leaves the other zones' egress up; single: one gateway (cheaper)."""


class EksNetwork(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    zones: list[pulumi.Output[str]]
    egress: list[pulumi.Resource]
    """The private subnets' default routes and associations: nodes cannot join the cluster before them."""

    def __init__(self, name: str, args: EksNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:cluster:EksNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = labels.cloud_tags("network")
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        available = aws.get_availability_zones_output(
            state="available",
            # Local Zones and Wavelength Zones need an opt-in and lack most instance types.
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.zones = [
            available.names.apply(functools.partial(pick_zone, index=i, wanted=args.availability_zones))
            for i in range(args.availability_zones)
        ]
        private_cidrs, public_cidrs = subnet_cidrs(args.vpc_cidr, args.availability_zones)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": f"{args.cluster_name}"},
            opts=child,
        )
        # The default security group allows all traffic between its members; nothing should use it.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-security-group", vpc_id=vpc.id, tags=tags, opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-internet-gateway", vpc_id=vpc.id, tags=tags, opts=child)

        public_routes = aws.ec2.RouteTable(f"{name}-public-routes", vpc_id=vpc.id, tags=tags, opts=child)
        aws.ec2.Route(
            f"{name}-public-default-route",
            route_table_id=public_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )

        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        nat_gateways: list[aws.ec2.NatGateway] = []
        self.egress = []
        for index, zone in enumerate(self.zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{index}",
                vpc_id=vpc.id,
                cidr_block=public_cidrs[index],
                availability_zone=zone,
                # Load balancers get their own addresses; nothing launched here needs a public IP.
                map_public_ip_on_launch=False,
                tags={**tags, **cluster_tag, PUBLIC_ELB_TAG: "1", "Name": f"{args.cluster_name}-public-{index}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}-association", subnet_id=public.id, route_table_id=public_routes.id, opts=child
            )
            public_subnets.append(public)
            if args.nat_gateways == "perAz" or index == 0:
                address = aws.ec2.Eip(f"{name}-nat-{index}-address", domain="vpc", tags=tags, opts=child)
                nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{index}",
                        allocation_id=address.id,
                        subnet_id=public.id,
                        tags=tags,
                        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[gateway])),
                    )
                )

            private = aws.ec2.Subnet(
                f"{name}-private-{index}",
                vpc_id=vpc.id,
                cidr_block=private_cidrs[index],
                availability_zone=zone,
                tags={**tags, **cluster_tag, INTERNAL_ELB_TAG: "1", "Name": f"{args.cluster_name}-private-{index}"},
                opts=child,
            )
            private_routes = aws.ec2.RouteTable(f"{name}-private-{index}-routes", vpc_id=vpc.id, tags=tags, opts=child)
            private_route = aws.ec2.Route(
                f"{name}-private-{index}-default-route",
                route_table_id=private_routes.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat_gateways[index if args.nat_gateways == "perAz" else 0].id,
                opts=child,
            )
            association = aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}-association",
                subnet_id=private.id,
                route_table_id=private_routes.id,
                opts=child,
            )
            self.egress += [private_route, association]
            private_subnets.append(private)

        self.vpc_id = vpc.id
        self.private_subnet_ids = [subnet.id for subnet in private_subnets]
        self.public_subnet_ids = [subnet.id for subnet in public_subnets]
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )
