"""Turn ``--subnet/--gateway/--ip-range/--aux-address`` into per-subnet requests.

Follows docker/cli's pairing rules (spec §2): every gateway, range and aux address must fall
in exactly one given subnet, at most one gateway and one range per subnet, subnets must not
overlap each other, and there are never more ranges or gateways than subnets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network

from . import validate
from .errors import InvalidInput


@dataclass
class SubnetRequest:
    subnet: str
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: dict[str, str] = field(default_factory=dict)


def _owner(requests: list[SubnetRequest], addr, what: str, shown: str) -> SubnetRequest:
    matches = [r for r in requests if addr.version == ip_network(r.subnet).version
               and _contains(ip_network(r.subnet), addr)]
    if not matches:
        raise InvalidInput(f"no matching subnet for {what} {shown}")
    return matches[0]


def _contains(net, item) -> bool:
    if hasattr(item, "network_address"):
        return item.subnet_of(net)
    return item in net


def build(
    subnets: list[str], gateways: list[str], ip_ranges: list[str], aux: list[str]
) -> list[SubnetRequest]:
    if len(ip_ranges) > len(subnets) or len(gateways) > len(subnets):
        raise InvalidInput("every ip-range or gateway must have a corresponding subnet")
    requests = [SubnetRequest(validate.usable(validate.cidr(s))) for s in subnets]
    nets = [ip_network(r.subnet) for r in requests]
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            if a.version == b.version and a.overlaps(b):
                raise InvalidInput(f"subnets {a} and {b} overlap")
    for family in (4, 6):
        if sum(1 for n in nets if n.version == family) > 1:
            raise InvalidInput(f"more than one IPv{family} subnet: the bridge driver takes one")
    for text in ip_ranges:
        rng = ip_network(validate.usable(validate.cidr(text, "ip-range"), "ip-range"))
        req = _owner(requests, rng, "ip-range", text)
        if req.ip_range:
            raise InvalidInput(
                f"cannot configure multiple ranges ({req.ip_range}, {rng}) on subnet {req.subnet}"
            )
        req.ip_range = str(rng)
    for text in gateways:
        gw = ip_address(validate.usable(validate.address(text, "gateway"), "gateway"))
        req = _owner(requests, gw, "gateway", text)
        if req.gateway:
            raise InvalidInput(
                f"cannot configure multiple gateways ({req.gateway}, {gw}) for subnet {req.subnet}"
            )
        req.gateway = str(gw)
    for key, text in validate.key_values(aux, "aux-address").items():
        addr = ip_address(validate.usable(validate.address(text, "aux-address"), "aux-address"))
        _owner(requests, addr, "aux-address", f"{key}={text}").aux_addresses[key] = str(addr)
    return requests
