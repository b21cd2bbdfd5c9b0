"""The network addresses backend settings take, checked one way for every backend so that the rules
cannot drift: CIDR blocks (load balancers' clients, API-server allow-lists, a VPC's or a subnet's
ranges) and a server's host and port. Pure: no Pulumi or cloud SDK import.

Kubernetes, AWS and Google read a CIDR as `address/prefix length` only (Go's `net.ParseCIDR`): a
bare address, which Python reads as a /32, and Python's netmask forms (`10.0.0.0/255.0.0.0`) are
refused there, so they are refused here, before any resource. Every class is ASCII (Python's `\\d`
also matches other scripts' digits) and every pattern matches the whole value.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator

_CIDR = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}/(0|[1-9][0-9]?)")
CIDR_ALLOWED = "must be an IPv4 CIDR block (address/prefix length, no host bits set), e.g. 203.0.113.0/24"

PRIVATE_RANGES = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv4Network("100.64.0.0/10"),
)
"""Where a cluster's own ranges may lie: RFC 1918's private blocks and RFC 6598's shared address
space, which AWS VPCs and Google subnets (primary and secondary ranges) both take. Not what
`ipaddress.is_private` admits: that also passes loopback, link-local and 0.0.0.0/8, which no
VPC or subnet may use."""
PRIVATE_RANGES_TEXT = "10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918), or 100.64.0.0/10 (RFC 6598)"

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}\Z){_DNS_LABEL}(\.{_DNS_LABEL})*")
_DOTTED_NUMBERS = re.compile(r"[0-9]+(\.[0-9]+)*")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
MAX_PORT = 65535
HOST_ALLOWED = (
    "a lower-case DNS name (labels of 1-63 letters, digits or '-', at most 253 characters), an IPv4 "
    f"address or an IPv6 address in brackets, optionally with a port from 1 to {MAX_PORT}"
)
IPV6_IN_BRACKETS = "an IPv6 address must be in brackets, e.g. [2001:db8::1]:5000"


def ipv4_network(value: str) -> ipaddress.IPv4Network:
    """`value` as a network, written the one way every API reads it; ValueError saying what is allowed."""
    if not _CIDR.fullmatch(value):
        raise ValueError(CIDR_ALLOWED)
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise ValueError(CIDR_ALLOWED) from None


def _cidr(value: str) -> str:
    ipv4_network(value)
    return value


def private_cidr(*, min_prefix: int, max_prefix: int, example: str, why: str = "") -> AfterValidator:
    """A block of a cluster's own network: inside one of `PRIVATE_RANGES`, its prefix length from
    `min_prefix` to `max_prefix` (`why` says why those, in the error, after `example`)."""
    sizes = f"/{min_prefix} to /{max_prefix}" + (f" ({why})" if why else "")
    allowed = f"must be a private IPv4 CIDR block, {sizes}, inside {PRIVATE_RANGES_TEXT}, e.g. {example}"

    def check(value: str) -> str:
        try:
            network = ipv4_network(value)
        except ValueError:
            raise ValueError(allowed) from None
        inside = any(network.subnet_of(private) for private in PRIVATE_RANGES)
        if not inside or not min_prefix <= network.prefixlen <= max_prefix:
            raise ValueError(allowed)
        return value

    return AfterValidator(check)


def check_host(value: str) -> str:
    """`host[:port]` without a scheme (a registry server, an object store endpoint's host): a DNS
    name, an IPv4 address or a bracketed IPv6 address (as image references and URLs write one), and
    a port a socket can have; ValueError saying which part is wrong."""
    scheme, separator, _ = value.partition("://")
    if separator:
        raise ValueError(f"remove {scheme}://: a host is written without a scheme")
    if value.startswith("["):
        host, port = _bracketed(value)
    else:
        if value.count(":") > 1:
            raise ValueError(IPV6_IN_BRACKETS)
        host, colon, port = value.partition(":")
        port = port if colon else None
        _check_name_or_ipv4(host)
    if port is not None and not (_PORT.fullmatch(port) and int(port) <= MAX_PORT):
        raise ValueError(f"port {port!r} must be a number from 1 to {MAX_PORT}")
    return value


def check_registry_host(value: str) -> str:
    """`check_host`, and a host Docker reads as a registry: an image reference's first component is
    a registry only with a '.' or a ':' in it, or as `localhost`; a lone word (`myregistry/ml/x`)
    is a Docker Hub namespace (docker.io/myregistry/ml/x). An object store endpoint, a URL, may be
    one word (`minio`); an image's registry may not. In brackets, Docker's reference grammar takes
    hex digits and ':' only (`\\[[a-fA-F0-9:]+\\]`): `[::ffff:10.0.0.1]`, a URL's IPv6 address,
    is an "invalid reference format" at the push."""
    check_host(value)
    if value.startswith("["):
        _check_hex_brackets(value[: value.index("]") + 1])
    if not value.startswith("[") and "." not in value and ":" not in value and value != "localhost":
        raise ValueError(
            f"host {value!r} would be read as a Docker Hub namespace (docker.io/{value}/...): a registry host "
            f"has a '.' or a port, or is localhost; write its full name (e.g. {value}.example.com) or add "
            f"its port ({value}:5000)"
        )
    return value


def _bracketed(value: str) -> tuple[str, str | None]:
    """`[IPv6]` or `[IPv6]:port` -> (the bracketed host, the port or None)."""
    end = value.find("]")
    if end < 0:
        raise ValueError(IPV6_IN_BRACKETS)
    host, rest = value[: end + 1], value[end + 1 :]
    if rest and not rest.startswith(":"):
        raise ValueError(f"{value!r}: after ']' only ':' and a port may follow")
    address = host[1:-1]
    if "%" in address:  # Python reads a zone; an image reference cannot hold one
        raise ValueError(
            f"host {host!r} is not an IPv6 address (a zone such as %{address.split('%')[1]} is not allowed)"
        )
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise ValueError(f"host {host!r} is not an IPv6 address") from None
    return host, rest[1:] if rest else None


_HEX_IN_BRACKETS = re.compile(r"\[[a-fA-F0-9:]+\]")


def _check_hex_brackets(host: str) -> None:
    """`host`, a valid bracketed IPv6 address, written as an image reference can hold it."""
    if not _HEX_IN_BRACKETS.fullmatch(host):
        groups = ipaddress.IPv6Address(host[1:-1]).exploded.split(":")
        hex_form = ":".join(group.lstrip("0") or "0" for group in groups)
        raise ValueError(
            f"host {host!r}: an image reference takes only hex digits and ':' in brackets; write it as [{hex_form}]"
        )


def _check_name_or_ipv4(host: str) -> None:
    if _DOTTED_NUMBERS.fullmatch(host):
        # All digits: an address (a DNS name's last label is never numeric), which must be a real one.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"host {host!r} is not an IPv4 address (four numbers from 0 to 255)") from None
    elif not _HOST_NAME.fullmatch(host):
        raise ValueError(f"host {host!r} is not {HOST_ALLOWED}")


Cidr = Annotated[str, AfterValidator(_cidr)]
"""Any IPv4 CIDR block, e.g. a client range; 0.0.0.0/0 included (the backends warn about it)."""
