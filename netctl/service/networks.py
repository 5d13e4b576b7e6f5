"""Network operations: create, remove, prune, and the reads behind ls/inspect."""

from __future__ import annotations

from ipaddress import ip_address, ip_interface, ip_network

from .. import etcfiles, hostsfile, ipam, ipam_request, lookup, validate
from ..config import Config
from ..drivers.base import get_driver
from ..errors import Conflict, InvalidInput, NetctlError
from ..firewall import sync as firewall
from ..model import Network, State, Subnet, now
from ..requests import NetworkRequest
from ..txn import Transaction
from . import batch, leftovers
from .context import Context


def _host_blockers(ctx: Context, adopt: str | None) -> list[tuple[object, str]]:
    """Host connected routes and nameservers, each with a description for errors."""
    out: list[tuple[object, str]] = []
    for route in ctx.kernel.routes():
        if route.scope == "link" and route.dst != "default" and route.dev != adopt:
            out.append((ip_network(route.dst, strict=False), f"host route {route.dst} dev {route.dev}"))
    servers, _, _ = hostsfile.parse_resolv(etcfiles.host_resolv_text())
    for server in servers:
        try:
            out.append((ip_network(server.split("%")[0]), f"host nameserver {server}"))
        except ValueError:
            continue
    return out


def _check_overlap(state: State, net) -> None:
    other = ipam.find_overlap(net, state.networks)
    if other is not None:
        theirs = other.subnet_for(net.version).subnet
        raise Conflict(f"subnet {net} overlaps network {other.name!r} ({theirs})")


def _plan_subnet(req: ipam_request.SubnetRequest) -> Subnet:
    """The subnet with its gateway; overlaps were ruled out when the subnet was chosen."""
    net = ip_network(req.subnet)
    taken = {int(ip_address(a)) for a in req.aux_addresses.values()}
    sub = Subnet(str(net), ip_range=req.ip_range, aux_addresses=dict(req.aux_addresses))
    if req.gateway:
        sub.gateway = ipam.claim(net, taken, req.gateway, "gateway")
    else:
        sub.gateway = ipam.allocate(net, taken)
    return sub


def _plan_ipam(ctx: Context, state: State, net: Network, req: NetworkRequest, cfg: Config) -> None:
    requests = ipam_request.build(req.subnets, req.gateways, req.ip_ranges, req.aux_addresses)
    if any(ip_network(r.subnet).version == 6 for r in requests):
        net.ipv6 = True
    if not any(ip_network(r.subnet).version == 4 for r in requests):
        requests.insert(0, ipam_request.SubnetRequest(subnet=""))
    uplink = net.bridge or net.options.get("parent")  # its own connected route blocks nothing
    blockers = _host_blockers(ctx, uplink) + [(x, f"excluded range {x} ({cfg.path})") for x in cfg.exclude]
    for r in requests:
        if not r.subnet:
            taken = [s for _, s in ipam.network_subnets(state.networks)]
            choice = ipam.choose_pool(cfg.pools or ipam.DEFAULT_POOLS, state.pool_index, taken,
                                      [b for b, _ in blockers])
            state.pool_index = choice.next_index
            r.subnet = str(choice.subnet)
        else:
            _check_overlap(state, ip_network(r.subnet))
            for blocked, what in blockers:
                if ipam.overlaps(ip_network(r.subnet), blocked):
                    raise Conflict(f"subnet {r.subnet} overlaps {what}")
        net.subnets.append(_plan_subnet(r))
    if net.ipv6 and net.subnet_for(6) is None:
        state.ula_prefix = state.ula_prefix or ipam.new_ula_prefix()
        taken = [s for _, s in ipam.network_subnets(state.networks)] + list(cfg.exclude)
        ula = ipam.choose_ula_subnet(state.ula_prefix, taken)
        net.subnets.append(_plan_subnet(ipam_request.SubnetRequest(str(ula))))
    v6 = net.subnet_for(6)
    if validate.option_bool(net, "ipv6_from_mac", False) and v6:
        ipam.check_self_generation(ip_network(v6.subnet))


def _check_bridge(state: State, net: Network) -> None:
    for other in state.networks:
        if other.bridge and other.bridge == net.bridge:
            raise Conflict(f"bridge {net.bridge} is already used by network {other.name!r}")


def _refuse_sublink(driver_name: str, req: NetworkRequest, options: dict[str, str]) -> None:
    """macvlan/ipvlan: the sandboxes sit on the parent's own network, whose subnet no default
    pool can guess, so ``--subnet`` is required (one IPv4; with ``--ipv6`` one IPv6 too).
    ipvlan l3/l3s has no gateway: the host routes, the default route goes through the device."""
    if not options.get("parent"):
        raise InvalidInput(f"the {driver_name} driver needs -o parent=IFACE (the interface whose "
                           "network the sandboxes join); for sandboxes that only talk to each "
                           "other, use a bridge network with --internal")
    given = [ip_network(s, strict=False).version for s in req.subnets if _is_cidr(s)]
    if 4 not in given or (req.ipv6 and 6 not in given):
        want = "an IPv4 --subnet" + (" and an IPv6 one" if req.ipv6 else "")
        raise InvalidInput(f"the {driver_name} driver needs {want}: the parent's network, which "
                           "netctl cannot pick from a pool")
    if req.internal:
        raise InvalidInput(f"the {driver_name} driver has no --internal: its sandboxes are on the "
                           "parent's network; use a bridge network with --internal")
    if driver_name == "ipvlan" and options.get("ipvlan_mode") in ("l3", "l3s") and req.gateways:
        raise InvalidInput("ipvlan l3/l3s networks have no gateway: drop --gateway "
                           "(the default route goes through the device)")


def _plan_sublink(ctx: Context, state: State, net: Network, req: NetworkRequest, cfg: Config) -> None:
    """The parent's sharing rules and the addresses; the parent's connected route is the
    network's own subnet, so it does not block it (``_plan_ipam``)."""
    l3 = net.driver == "ipvlan" and net.options.get("ipvlan_mode") in ("l3", "l3s")
    _check_parent(state, net)
    link = _check_parent_link(ctx, state, net)
    net.parent_created = any(o.parent_created for o in _sharing(state, net))
    _plan_ipam(ctx, state, net, req, cfg)
    if link is not None:
        _reserve_parent_addresses(net, link)
    if l3:
        for sub in net.subnets:
            sub.gateway = None


def _is_cidr(text: str) -> bool:
    try:
        ip_network(text, strict=False)
    except ValueError:
        return False  # ipam_request says what is wrong with it
    return True


def _sharing(state: State, net: Network) -> list[Network]:
    parent = net.options.get("parent")
    return [o for o in state.networks if o is not net and o.driver in validate.SUBLINK_DRIVERS
            and o.options.get("parent") == parent]


def _clash(net: Network, other: Network) -> str | None:
    """Why two networks cannot share a parent: the kernel gives a parent either macvlan or
    ipvlan ports, a passthru macvlan takes the parent alone, and the ipvlan mode and flag
    are the parent's (one for all its ipvlan links: a second mode would switch the first)."""
    if net.driver != other.driver:
        return f"a {other.driver} network; a parent takes macvlan or ipvlan links, not both"
    if net.driver == "macvlan":
        modes = {o.options.get("macvlan_mode", "bridge") for o in (net, other)}
        return "macvlan passthru takes the parent for one network alone" if "passthru" in modes else None
    mine, theirs = (
        (o.options.get("ipvlan_mode", "l2"), o.options.get("ipvlan_flag", "bridge")) for o in (net, other))
    return None if mine == theirs else f"ipvlan {'/'.join(theirs)}; the ipvlan mode and flag are per parent"


def _check_parent(state: State, net: Network) -> None:
    for other in _sharing(state, net):
        why = _clash(net, other)
        if why:
            raise Conflict(f"parent {net.options['parent']} is used by network {other.name!r} in "
                           f"an incompatible mode: {why}")


def _reserve_parent_addresses(net: Network, link) -> None:
    """The host's own addresses on the parent, in the network's subnet, are the host's on that
    wire: reserved as aux addresses named after the parent, or the first sandbox got the
    host's address (a duplicate on the LAN).  The gateway may be the host (it routes)."""
    for sub in net.subnets:
        subnet, n = ip_network(sub.subnet), 0
        for cidr in link.addresses:
            addr = str(ip_interface(cidr).ip)
            if ip_address(addr) in subnet and addr not in (sub.gateway, *sub.aux_addresses.values()):
                n += 1
                key = link.name if n == 1 else f"{link.name}-{n}"
                sub.aux_addresses.setdefault(key, addr)


def _check_parent_link(ctx: Context, state: State, net: Network):
    """A parent netctl made for something else (a network's bridge, an endpoint's veth, a VLAN
    parent of another state file) dies with that object and takes the kernel's macvlan/ipvlan
    links with it, silently; a bridge (or bond) port has its receive hook taken, so every
    connect would fail (EBUSY).  Only this state's own VLAN parent, shared, is a parent."""
    parent = net.options["parent"]
    link = ctx.kernel.link_get(parent)
    if link is None:  # missing (exit 3) or an 802.1q parent to make on its base: the driver
        vlan = validate.VLAN_PARENT_RE.fullmatch(parent)
        base = ctx.kernel.link_get(vlan["base"]) if vlan else None
        if base is not None and base.owner is not None:
            raise Conflict(f"parent {parent}: its base {base.name} is an interface netctl made "
                           f"for another object (mark {base.alias}); it would take the network's "
                           "links with it")
        if base is not None:
            _check_mtu(net, base)  # an 802.1q link has its base's MTU
        return None
    _check_mtu(net, link)
    ours = {o.id for o in _sharing(state, net) if o.parent_created}
    if link.owner is not None and not (link.owner in ours and link.state_id == state.state_id):
        raise Conflict(f"parent {parent} is an interface netctl made for another object "
                       f"(mark {link.alias}; 'netctl check' tells a leftover); it would take "
                       "the network's links with it")
    if link.master:
        raise Conflict(f"parent {parent} is a port of {link.master}; the kernel gives a bridge "
                       "or bond port no macvlan/ipvlan links")
    return link


def _check_mtu(net: Network, parent) -> None:
    """A macvlan/ipvlan link's MTU is at most its parent's (EINVAL): a network above it was
    made, and every connect to it failed with exit 1."""
    if "mtu" in net.options and int(net.options["mtu"]) > parent.mtu:
        raise InvalidInput(f"-o mtu={net.options['mtu']} is above the MTU of parent "
                           f"{parent.name} ({parent.mtu}): the kernel allows its macvlan and "
                           "ipvlan links at most that")


def _refuse_ipam(driver_name: str, req: NetworkRequest, options: dict[str, str]) -> None:
    """null and host networks have no addresses and no kernel object to configure."""
    if req.subnets or req.gateways or req.ip_ranges or req.aux_addresses or req.ipv6:
        raise InvalidInput(
            f"the {driver_name} driver has no IPAM: drop --subnet/--gateway/--ip-range/--aux-address/--ipv6"
        )
    if options:
        raise InvalidInput(f"the {driver_name} driver takes no options")


def create(ctx: Context, req: NetworkRequest, ignore: bool = False,
           config: Config | None = None) -> Network:
    """``config`` (the parsed netctl.toml) supplies the driver, MTU, pools and excluded ranges."""
    cfg = config or Config()
    name = validate.name(req.name, "network name")
    driver_name = validate.driver(cfg.default_driver if req.driver is None else req.driver)  # '' is no driver
    labels = validate.labels(req.labels)
    options = validate.options(req.options)
    if driver_name not in ("bridge", *validate.SUBLINK_DRIVERS):
        _refuse_ipam(driver_name, req, options)
    else:
        validate.driver_options(driver_name, options)
    if driver_name in validate.SUBLINK_DRIVERS:
        _refuse_sublink(driver_name, req, options)
    with ctx.mutation() as (state, tx):
        existing = next((n for n in state.networks if n.name == name), None)
        if existing is not None:
            if ignore:
                return existing
            raise Conflict(f"network with name {name!r} already exists")
        if driver_name in ("null", "host") and any(n.driver == driver_name for n in state.networks):
            raise Conflict(f'only one instance of "{driver_name}" network is allowed')
        lookup.check_new_name(state.networks, name, "network")
        net = Network(name=name, id=lookup.fresh_id(state.networks), driver=driver_name,
                      created=now(), ipv6=req.ipv6, internal=req.internal, labels=labels,
                      options=options)
        if driver_name == "bridge":
            net.bridge = options.get("bridge") or f"br-{net.id[:12]}"
            _check_bridge(state, net)
            leftovers.clear_bridges(ctx, state)  # a killed create's bridge would block its subnet
            if cfg.default_mtu and "mtu" not in net.options:
                net.options["mtu"] = str(cfg.default_mtu)  # recorded: later config edits keep it
            _plan_ipam(ctx, state, net, req, cfg)
            firewall.require(ctx, net)
        elif driver_name in validate.SUBLINK_DRIVERS:  # no bridge, so no firewall rules
            _plan_sublink(ctx, state, net, req, cfg)
        get_driver(driver_name, ctx).create_network(net, tx)
        state.networks.append(net)
        if driver_name == "bridge":
            firewall.sync(ctx, state, tx)  # NAT and isolation (firewall/rules.py)
    return net


def _remove_one(ctx: Context, state: State, net: Network, tx: Transaction,
                sync: bool = True) -> None:
    eps = state.endpoints_of(net)
    if eps:
        names = ", ".join(e.name for e in eps)
        raise Conflict(f"network {net.name!r} has {len(eps)} active endpoint(s) ({names})")
    driver = get_driver(net.driver, ctx)
    heir = next((o for o in _sharing(state, net) if o.parent_created), None) if net.parent_created else None
    if heir is not None:  # the 802.1q parent netctl made stays for the networks still on it
        tx.on_commit("parent-hand-over", lambda: driver.hand_over(net, heir))
    else:
        tx.on_commit("bridge-delete", lambda: driver.delete_network(net))  # cannot be undone
    state.networks.remove(net)
    if sync and net.driver == "bridge":
        firewall.sync(ctx, state, tx)  # its rules go before the save, undoably


def remove(ctx: Context, refs: list[str], force: bool = False) -> tuple[list[str], list[NetctlError]]:
    """Remove each network (refused while it has endpoints); ``force``: missing is fine."""
    return batch.remove_each(ctx, refs, force, lookup.network,
                             lambda state, net, tx: _remove_one(ctx, state, net, tx))


def prune_candidates(state: State) -> list[Network]:
    return [n for n in state.networks if not state.endpoints_of(n)]


def prune(ctx: Context, only: set[str] | None = None) -> list[str]:
    """Remove the networks without endpoints; ``only``: just these IDs (what the user was
    asked about), should another command have created a network meanwhile."""
    with ctx.mutation() as (state, tx):
        names = []
        for net in prune_candidates(state):
            if only is not None and net.id not in only:
                continue
            _remove_one(ctx, state, net, tx, sync=False)
            names.append(net.name)
        if names:
            firewall.sync(ctx, state, tx)
    return names
