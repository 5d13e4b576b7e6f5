"""Address management: pools, subnet choice, address allocation, MAC and IPv6 derivation.

Pure functions over data; the service hands in what the kernel and the state know.  Nothing
here enumerates a subnet: an allocation sorts the addresses already taken and walks the gaps,
so a /8 or a /64 with thousands of addresses in use costs about what a /24 does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from .errors import Conflict, Exhausted, InvalidInput
from .model import Network, State, Subnet, token_bytes

IPNetwork = IPv4Network | IPv6Network


def _split(base: str, size: int) -> list[IPv4Network]:
    return list(ip_network(base).subnets(new_prefix=size))


# libnetwork's 31 local default pools, in the order they are tried (spec §9.1).
DEFAULT_POOLS: tuple[IPv4Network, ...] = tuple(
    [ip_network(f"172.{n}.0.0/16") for n in (17, 18, 19)]
    + _split("172.20.0.0/14", 16)
    + _split("172.24.0.0/14", 16)
    + _split("172.28.0.0/14", 16)
    + _split("192.168.0.0/16", 20)
)


@dataclass(frozen=True)
class PoolChoice:
    subnet: IPNetwork
    next_index: int


def overlaps(a: IPNetwork, b: IPNetwork) -> bool:
    return a.version == b.version and a.overlaps(b)


def network_subnets(networks: Iterable[Network]) -> list[tuple[Network, IPNetwork]]:
    return [(n, ip_network(s.subnet)) for n in networks for s in n.subnets]


def find_overlap(subnet: IPNetwork, networks: Iterable[Network]) -> Network | None:
    """The existing network whose subnet overlaps ``subnet``, so the error can name it."""
    for net, other in network_subnets(networks):
        if overlaps(subnet, other):
            return net
    return None


def choose_pool(
    pools: tuple[IPv4Network, ...] | list[IPv4Network],
    start: int,
    taken: list[IPNetwork],
    blocked: list[IPNetwork],
) -> PoolChoice:
    """Round-robin from ``start``: the first pool overlapping neither a network nor a host
    route/nameserver.  The next search starts after it, as libnetwork does (but persisted)."""
    count = len(pools)
    for step in range(count):
        i = (start + step) % count
        pool = pools[i]
        if any(overlaps(pool, t) for t in taken) or any(overlaps(pool, b) for b in blocked):
            continue
        return PoolChoice(pool, (i + 1) % count)
    raise Exhausted(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        f"({count} pools tried; taken by networks or host routes)"
    )


def new_ula_prefix() -> str:
    """A random RFC 4193 /48 (fdXX:XXXX:XXXX::/48), chosen once per state file."""
    raw = bytes([0xFD]) + token_bytes(5) + bytes(10)
    return str(IPv6Network((raw, 48)))


def choose_ula_subnet(prefix48: str, taken: list[IPNetwork]) -> IPv6Network:
    """The lowest /64 of the ULA /48 not used by a network (walks the taken ones only)."""
    base = ip_network(prefix48)
    first = int(base.network_address) >> 64
    last = int(base.broadcast_address) >> 64
    # Each overlapping network blocks a run of /64s: a /56 blocks 256, a /40 all of them.
    used = sorted(
        (max(int(t.network_address) >> 64, first), min(int(t.broadcast_address) >> 64, last))
        for t in taken
        if overlaps(t, base)
    )
    candidate = first
    for lo, hi in used:
        if lo > candidate:
            break
        candidate = max(candidate, hi + 1)
    if candidate > last:
        raise Exhausted(f"no free IPv6 /64 left in {prefix48}")
    return IPv6Network((candidate << 64, 64))


def reserved(subnet: IPNetwork) -> set[int]:
    """Ordinals never handed out: the network address, and broadcast for IPv4."""
    first = int(subnet.network_address)
    out = {first}
    if subnet.version == 4:
        out.add(int(subnet.broadcast_address))
    return out


def used_addresses(state: State, network: Network, subnet: Subnet) -> set[int]:
    """Everything taken in ``subnet``, derived from the objects (gateway, aux, endpoints)."""
    net = ip_network(subnet.subnet)
    taken: set[int] = set()
    candidates = [subnet.gateway, *subnet.aux_addresses.values()]
    for ep in state.endpoints_of(network):
        candidates += [ep.ipv4, ep.ipv6]
    for value in candidates:
        if value:
            addr = ip_address(value.split("/")[0])
            if addr.version == net.version and addr in net:
                taken.add(int(addr))
    return taken


def lowest_free(lo: int, hi: int, taken: set[int]) -> int | None:
    """Lowest integer in [lo, hi] not in ``taken``, costing O(k log k) in the taken count."""
    candidate = lo
    for value in sorted(v for v in taken if lo <= v <= hi):
        if value == candidate:
            candidate += 1
        elif value > candidate:
            break
    return candidate if candidate <= hi else None


def allocate(subnet: IPNetwork, taken: set[int], ip_range: IPNetwork | None = None) -> str:
    """The lowest free address (inside ``ip_range`` when given), as a bare IP string."""
    area = ip_range or subnet
    blocked = taken | reserved(subnet)
    value = lowest_free(int(area.network_address), int(area.broadcast_address), blocked)
    if value is None:
        raise Exhausted(f"no available addresses in {area}")
    return str(type(subnet.network_address)(value))  # ip_address(1) would be IPv4 even in ::/64


def claim(subnet: IPNetwork, taken: set[int], wanted: str, what: str = "address") -> str:
    """Reserve a user-chosen address: it must be inside the subnet, usable and free."""
    try:
        addr = ip_address(wanted)
    except ValueError:
        raise InvalidInput(f"invalid {what} {wanted!r}") from None
    if addr.version != subnet.version or addr not in subnet:
        raise InvalidInput(f"{what} {wanted} does not belong to subnet {subnet}")
    if int(addr) in reserved(subnet):
        raise InvalidInput(f"{what} {wanted} is the network or broadcast address of {subnet}")
    if int(addr) in taken:
        raise Conflict(f"{what} {wanted} is already in use in {subnet}")
    return str(addr)


def mac_from_ipv4(ipv4: str | None) -> str:
    """``02:42:`` + the four IPv4 bytes (random bytes without an address), as libnetwork."""
    raw = ip_address(ipv4).packed if ipv4 else token_bytes(4)
    return "02:42:" + ":".join(f"{b:02x}" for b in raw)


def random_mac() -> str:
    return "02:42:" + ":".join(f"{b:02x}" for b in token_bytes(4))


def check_self_generation(subnet: IPv6Network) -> None:
    if subnet.prefixlen > 80:
        raise Conflict(
            f"cannot self-generate an IPv6 address in {subnet}: at least 48 host bits are needed"
        )


def ipv6_from_mac(subnet: IPv6Network, mac: str) -> str:
    """The subnet prefix with its last 6 bytes replaced by the MAC (spec §5's /80 rule)."""
    check_self_generation(subnet)
    raw = bytearray(subnet.network_address.packed)
    raw[10:16] = bytes(int(part, 16) for part in mac.split(":"))
    return str(ipaddress.IPv6Address(bytes(raw)))
