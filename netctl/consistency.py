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
from .firewall import ports
from .model import Endpoint, Network, Sandbox, State


class Inconsistent(Exception):
    """One reason the state cannot be trusted (the store turns it into exit 8)."""


def first_problem(state: State) -> str | None:
    """None for a consistent state, else the first problem found, for the error line."""
    try:
        if state.pool_index < 0:  # an index into the pools: negative picks from the end
            raise Inconsistent(f"pool_index {state.pool_index} is negative")
        _unique_objects("network", state.networks)
        sandboxes = _unique_objects("sandbox", state.sandboxes)
        _unique_objects("endpoint", state.endpoints, names=False)
        for net in state.networks:
            _network(net)
        for sb in state.sandboxes:
            _sandbox(sb)
        _endpoints(state.endpoints, {n.id: n for n in state.networks}, sandboxes)
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
    _rule(validate.driver, net.driver, f"{where}: driver")
    # read back by the driver: int(mtu) crashed (exit 1), a prefix '../x' reached the kernel
    _rule(validate.options, [f"{k}={v}" for k, v in net.options.items()], f"{where}: options")
    if net.bridge is not None:
        _rule(validate.ifname, net.bridge, f"{where}: bridge")
    if net.driver in validate.SUBLINK_DRIVERS and not net.options.get("parent"):
        raise Inconsistent(f"{where}: the {net.driver} driver needs option parent")
    # a macvlan mode on a bridge network gave its endpoints no MAC and one endpoint only
    _rule(lambda opts: validate.driver_options(net.driver, opts), net.options, f"{where}: options")
    for sub in net.subnets:
        _rule(lambda v: ip_network(v, strict=True), sub.subnet, f"{where}: subnet")
        for addr in [sub.gateway, *sub.aux_addresses.values()]:
            if addr is not None:
                _rule(validate.address, addr, f"{where}: address")


def _sandbox(sb: Sandbox) -> None:
    """What is rendered into hosts and resolv.conf, held to the input rules (sandbox create):
    a line break smuggled into any of it would add lines of the editor's choosing there; and
    the interface counters, whose next name must be one the kernel takes."""
    where = f"sandbox {sb.name!r}"
    for prefix, n in [*sb.ifindexes.items(), ("eth", sb.next_ifindex)]:
        if n < 0:
            raise Inconsistent(f"{where}: interface counter {prefix} {n} is negative")
        _rule(validate.ifname, f"{prefix}{n}", f"{where}: next interface")
    if sb.hostname is not None:
        _rule(validate.hostname, sb.hostname, f"{where}: hostname")
    for server in sb.dns:
        _rule(validate.address, server, f"{where}: dns")
    for domain in sb.dns_search:
        if domain != ".":
            _rule(validate.hostname, domain, f"{where}: dns_search")
    for option in sb.dns_options:
        if not option or any(c.isspace() for c in option):
            raise Inconsistent(f"{where}: dns_options: invalid option {option!r}")
    for entry in sb.extra_hosts:
        host, _, addr = entry.partition(":")
        _rule(validate.hostname, host, f"{where}: extra_hosts")
        _rule(validate.address, addr, f"{where}: extra_hosts")
    if sb.adopted is not None:
        _adopted(sb.adopted, where)
    if sb.hosts_file is not None:  # written as root: only for an adopted namespace's container
        if sb.adopted is None:
            raise Inconsistent(f"{where}: hosts_file without an adopted namespace")
        _rule(validate.hosts_file, sb.hosts_file, f"{where}: hosts_file")


ADOPTED_KEYS = {"ino", "cookie", "bound", "pid", "start"}


def _adopted(adopted: dict[str, int], where: str) -> None:
    """An adopted namespace's identity: what nsguard compares, and the process check/gc
    look for.  A wrong "bound" would make ``sandbox rm`` unmount someone else's name."""
    unknown = sorted(set(adopted) - ADOPTED_KEYS)
    if unknown:
        raise Inconsistent(f"{where}: adopted: unknown key {unknown[0]!r}")
    for key in ("ino", "cookie", "bound"):
        if key not in adopted:
            raise Inconsistent(f"{where}: adopted: {key} missing")
    if adopted["bound"] not in (0, 1):
        raise Inconsistent(f"{where}: adopted: bound must be 0 or 1")
    if adopted["ino"] <= 0 or adopted["cookie"] < 0:
        raise Inconsistent(f"{where}: adopted: invalid namespace identity")
    if ("pid" in adopted) != ("start" in adopted):
        raise Inconsistent(f"{where}: adopted: pid and start go together")
    if adopted.get("pid", 1) <= 0 or adopted.get("start", 0) < 0:
        raise Inconsistent(f"{where}: adopted: invalid process")


def _endpoint_fields(ep: Endpoint, where: str) -> None:
    """Aliases go into peers' hosts files, link-local addresses and the priority to the kernel."""
    for alias in ep.aliases:
        _rule(validate.name, alias, f"{where}: alias")
    for addr in ep.link_local:
        _rule(lambda v: validate.link_local(str(ip_interface(v).ip)), addr, f"{where}: link_local")
    _rule(validate.priority, ep.priority, f"{where}: priority")
    for text in ep.ports:  # they become nft rules: a garbled one would fail every command
        _rule(ports.load, text, f"{where}: ports")


def _reserved(networks: dict[str, Network]) -> set[tuple[str, str, str]]:
    """Gateways and aux addresses: no endpoint may carry one (``check --repair`` would program
    the bridge's own address into a sandbox)."""
    return {(net.id, "address", str(ip_address(addr))) for net in networks.values()
            for sub in net.subnets for addr in [sub.gateway, *sub.aux_addresses.values()]
            if addr is not None}


def _in_subnets(ep: Endpoint, net: Network, where: str) -> None:
    for value in (ep.ipv4, ep.ipv6):
        if value is None:
            continue
        ip = ip_interface(value).ip
        if not any(ip in ip_network(sub.subnet) for sub in net.subnets):
            raise Inconsistent(f"{where}: address {value} is in none of network {net.name!r}'s subnets")


def _endpoints(endpoints: list[Endpoint], networks: dict[str, Network], sandboxes: set[str]) -> None:
    """References resolve; per network: names, addresses, MACs unique; per sandbox: ifnames."""
    per_network = _reserved(networks)
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
        _endpoint_fields(ep, where)
        for key, value in _keys(ep):
            if (ep.network, key, value) in per_network:
                raise Inconsistent(f"{where}: {key} {value} is used twice in its network")
            per_network.add((ep.network, key, value))
        _in_subnets(ep, networks[ep.network], where)
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
