"""Is a parsed state file one netctl could have written?

The schema check only proves the types.  A file edited by hand (or by an attacker) can still
name a sandbox ``../../somewhere`` (every name becomes a path under ``/etc/netns`` and
``/run/netns``), point an endpoint at a network that does not exist, or give two endpoints
the same address; acting on such a file writes outside netctl's directories, crashes after
the save, or programs one address twice.  So the store refuses it (exit 8) before any command
sees it, with the same rules input is held to (``validate``).  Pure and O(n): one pass per
list, sets for the uniqueness checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import ip_address, ip_interface, ip_network

from . import validate
from .errors import InvalidInput
from .model import Endpoint, State


class Inconsistent(Exception):
    """One reason the state cannot be trusted (the store turns it into exit 8)."""


def first_problem(state: State) -> str | None:
    """None for a consistent state, else the first problem found, for the error line."""
    try:
        networks = _unique_objects("network", state.networks)
        sandboxes = _unique_objects("sandbox", state.sandboxes)
        _unique_objects("endpoint", state.endpoints, names=False)
        for net in state.networks:
            _network(net)
        for sb in state.sandboxes:
            if sb.hostname is not None:  # rendered into hosts files: no line breaks smuggled in
                _rule(validate.hostname, sb.hostname, f"sandbox {sb.name!r}: hostname")
        _endpoints(state.endpoints, networks, sandboxes)
    except Inconsistent as exc:
        return str(exc)
    return None


def _rule(check, value, where) -> None:
    """Run a ``validate`` rule and report its message under WHERE (a string, or a function
    making it: the message is built only for the error, not for each of 1,000 objects)."""
    try:
        check(value)
    except (InvalidInput, ValueError) as exc:  # ValueError: ipaddress parsers
        raise Inconsistent(f"{where() if callable(where) else where}: {exc}") from None


def _unique(kind: str, values: Iterable[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise Inconsistent(f"duplicate {kind} {value!r}")
        seen.add(value)


def _unique_objects(kind: str, objects: list, names: bool = True) -> set[str]:
    """Valid, unique IDs (and names): the set of IDs, for the references to check against."""
    for obj in objects:
        if not obj.id or obj.id.strip("0123456789abcdef"):  # something else than hex digits
            raise Inconsistent(f"{kind} {obj.name!r}: invalid id {obj.id!r}")
        if names:
            _rule(validate.name, obj.name, lambda o=obj: f"{kind} {o.id[:12]}")
    _unique(f"{kind} id", (o.id for o in objects))
    if names:
        _unique(f"{kind} name", (o.name for o in objects))
    return {o.id for o in objects}


def _network(net) -> None:
    where = f"network {net.name!r}"
    if net.bridge is not None:
        _rule(validate.ifname, net.bridge, f"{where}: bridge")
    for sub in net.subnets:
        _rule(lambda v: ip_network(v, strict=True), sub.subnet, f"{where}: subnet")
        for addr in [sub.gateway, *sub.aux_addresses.values()]:
            if addr is not None:
                _rule(validate.address, addr, f"{where}: address")


def _endpoints(endpoints: list[Endpoint], networks: set[str], sandboxes: set[str]) -> None:
    """References resolve; per network: names, addresses, MACs unique; per sandbox: ifnames."""
    per_network: set[tuple[str, str, str]] = set()
    per_sandbox: set[tuple[str, str]] = set()
    for ep in endpoints:
        where = f"endpoint {ep.name!r}"
        _rule(validate.name, ep.name, lambda e=ep: f"endpoint {e.id[:12]}")
        if ep.network not in networks:
            raise Inconsistent(f"{where}: network {ep.network!r} does not exist")
        if ep.sandbox is not None and ep.sandbox not in sandboxes:
            raise Inconsistent(f"{where}: sandbox {ep.sandbox!r} does not exist")
        for field in ("host_ifname", "sandbox_ifname", "ifname"):
            value = getattr(ep, field)
            if value is not None:
                _rule(validate.ifname, value, lambda w=where, f=field: f"{w}: {f}")
        if ep.mac is not None:
            _rule(validate.mac, ep.mac, lambda w=where: f"{w}: mac")
        for key, value in _keys(ep):
            if (ep.network, key, value) in per_network:
                raise Inconsistent(f"{where}: {key} {value} is used twice in its network")
            per_network.add((ep.network, key, value))
        if ep.sandbox is not None and ep.ifname is not None:
            if (ep.sandbox, ep.ifname) in per_sandbox:
                raise Inconsistent(f"{where}: ifname {ep.ifname} is used twice in its sandbox")
            per_sandbox.add((ep.sandbox, ep.ifname))


def _keys(ep: Endpoint) -> list[tuple[str, str]]:
    """What must be unique within a network: the name, the addresses, the MAC."""
    out = [("name", ep.name)]
    for key, value, version in (("ipv4", ep.ipv4, 4), ("ipv6", ep.ipv6, 6)):
        if value is not None:
            try:
                ip = _interface_ip(value)
            except ValueError:
                raise Inconsistent(f"endpoint {ep.name!r}: invalid {key} {value!r}") from None
            if ip.version != version:
                raise Inconsistent(f"endpoint {ep.name!r}: {key} {value!r} is not IPv{version}")
            out.append(("address", str(ip)))
    if ep.mac is not None:
        out.append(("mac", ep.mac.lower()))
    return out


def _interface_ip(value: str):
    """``ip_interface(value).ip`` (the same values accepted), 4x faster for the usual
    ``ADDRESS/PREFIX``: only the address is parsed and the prefix length range-checked."""
    addr, slash, prefix = value.partition("/")
    if slash and prefix.isascii() and prefix.isdigit() and "%" not in addr:  # scoped: below
        ip = ip_address(addr)
        if int(prefix) <= ip.max_prefixlen:
            return ip
    return ip_interface(value).ip
