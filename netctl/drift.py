"""State against kernel: what differs, as a list of findings (spec §12).

Pure: the caller reads the kernel into ``Facts`` (service/check.py) and passes what the state
wants that is not a plain field (the elected default routes); this module only compares, so
every rule can be unit-tested with hand-made facts and the same findings drive ``check``,
``check --repair`` and ``restore``.  Each finding names the repair phase that fixes it; the
phases are listed in the order §12 repairs them.

Ownership is decided here too: a link (or a namespace, through its ``lo``) marked
``netctl:<state id>:<id>`` with this state's identity and an ID that matches no object is
an orphan, the only thing netctl may delete without being asked.  An unmarked one is the
machine's; one marked by another state file (another identity) is that state's; one with
the old ``netctl:<id>`` mark (schema 1, no identity) cannot be told from another state's:
none of them is ever reported or deleted.  Known objects are matched by their ID alone, so a
schema-1 state's own objects stay its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_interface

from .hostsfile import host_mode, rendered
from .kernel.base import Link, Route
from .model import Endpoint, Index, Network, Sandbox, State

BRIDGE, SANDBOX, ENDPOINT, ROUTE, ORPHAN, FILE = "bridge", "sandbox", "endpoint", "route", "orphan", "file"
FIREWALL = "firewall"  # netctl's nftables tables (firewall/sync.py reads them)
PHASES = (BRIDGE, SANDBOX, ENDPOINT, ROUTE, ORPHAN, FIREWALL, FILE)
FILES = ("hosts", "resolv.conf")
LEFT_OVER = "left over (owner not in state)"


@dataclass(frozen=True)
class Finding:
    phase: str  # one of PHASES: which repair step fixes it
    kind: str  # what the subject is: network, sandbox, endpoint, link, netns
    subject: str  # "endpoint web (demo)"
    problem: str  # "host veth vethabc1234 missing"
    target: str = ""  # the object's ID; for an orphan, the link or namespace name
    netns: str | None = None  # where an orphan link lives (None: the host)

    @property
    def line(self) -> str:
        return f"{self.subject}: {self.problem}"

    def to_dict(self) -> dict[str, str | None]:
        return {"phase": self.phase, "kind": self.kind, "subject": self.subject, "problem": self.problem,
                "target": self.target, "netns": self.netns}


@dataclass
class NetnsView:
    links: dict[str, Link]
    routes: list[Route] = field(default_factory=list)


@dataclass
class Facts:
    """What the kernel and /etc/netns held when read."""

    host: dict[str, Link]  # links of the host namespace by name
    netns: dict[str, NetnsView]  # every mounted namespace (routes read for sandboxes only)
    files: dict[str, dict[str, str | None]]  # sandbox name -> file name -> text (None: missing)
    host_resolv: str = ""
    host_bound: set[str] = field(default_factory=set)  # names whose /run/netns path is the host's
    host_hosts: str = ""  # the host's /etc/hosts (what a sandbox in its namespace sees)
    # adopted sandboxes (service/adopt.py) whose path holds the namespace they adopted,
    # and those whose adopted process has exited
    adopted: set[str] = field(default_factory=set)
    exited: set[str] = field(default_factory=set)


def object_ids(state: State) -> set[str]:
    return {o.id for o in (*state.networks, *state.endpoints, *state.sandboxes)}


def is_orphan(link: Link | None, ids: set[str], state_id: str | None) -> bool:
    """Marked by this state (``state_id``), for an object it no longer has."""
    return (link is not None and state_id is not None and link.state_id == state_id
            and link.owner not in ids)


def _same_addr(a: str, b: str) -> bool:
    try:
        return ip_interface(a) == ip_interface(b)
    except ValueError:
        return False


def _missing_addrs(link: Link, wanted: list[str]) -> list[str]:
    return [w for w in wanted if not any(_same_addr(w, have) for have in link.addresses)]


BRIDGE_LINK_LOCAL = "fe80::1/64"  # on every IPv6 bridge (spec §2 step 3)


def _gateway_cidr(net: Network, family: int) -> str | None:
    sub = net.subnet_for(family)
    if sub is None or sub.gateway is None:
        return None
    return f"{sub.gateway}/{sub.subnet.split('/')[1]}"


def bridge_addresses(net: Network) -> list[str]:
    """What the bridge driver puts on the bridge of ``net``: the IPv4 gateway, and with IPv6
    the v6 gateway and ``fe80::1/64`` (spec §2 step 3); ``check`` wants the same list."""
    out = [c for c in (_gateway_cidr(net, 4), _gateway_cidr(net, 6)) if c]
    if net.ipv6 and net.subnet_for(6) is not None:
        out.append(BRIDGE_LINK_LOCAL)
    return out


def _bridge(net: Network, facts: Facts) -> list[Finding]:
    subject = f"network {net.name}"
    link = facts.host.get(net.bridge or "")
    if link is None:
        return [Finding(BRIDGE, "network", subject, f"bridge {net.bridge} missing", net.id)]
    if link.kind != "bridge":
        problem = f"{net.bridge} is a {link.kind or 'plain'} link, not a bridge"
        return [Finding(BRIDGE, "network", subject, problem, net.id)]
    out = []
    if not link.up:
        out.append(Finding(BRIDGE, "network", subject, f"bridge {net.bridge} down", net.id))
    for cidr in _missing_addrs(link, bridge_addresses(net)):
        what = "address" if cidr.startswith("fe80:") else "gateway address"
        problem = f"bridge {net.bridge} lacks {what} {cidr}"
        out.append(Finding(BRIDGE, "network", subject, problem, net.id))
    return out


SUBLINK = ("macvlan", "ipvlan")  # endpoints are links of the network's parent, no bridge


def _parent(net: Network, facts: Facts) -> list[Finding]:
    """A macvlan/ipvlan network's parent: there, and up if netctl made it (only then is
    its state netctl's to keep; a parent of the machine's that is down is its owner's)."""
    parent, subject = net.options.get("parent", ""), f"network {net.name}"
    link = facts.host.get(parent)
    if link is None:
        return [Finding(BRIDGE, "network", subject, f"parent {parent} missing", net.id)]
    if net.parent_created and link.owner is not None and not link.up:  # unmarked: not netctl's
        return [Finding(BRIDGE, "network", subject, f"parent {parent} down", net.id)]
    return []


def usable(sb: Sandbox, facts: Facts) -> bool:
    """The sandbox's namespace is there and is the one netctl made for it (``lo`` marked
    with its ID): only then is anything inside it checked or repaired."""
    view = facts.netns.get(sb.name)
    if sb.adopted is not None:  # no mark: recognised by what adoption recorded
        return view is not None and sb.name in facts.adopted
    return view is not None and _owner(view.links.get("lo")) == sb.id


def _owner(link: Link | None) -> str | None:
    return link.owner if link is not None else None


def _sandbox_finding(sb: Sandbox, problem: str) -> list[Finding]:
    return [Finding(SANDBOX, "sandbox", f"sandbox {sb.name}", problem, sb.id)]


def _adopted(sb: Sandbox, facts: Facts) -> list[Finding]:
    if sb.name in facts.exited:
        problem = f"process {sb.adopted['pid']} of the adopted namespace exited (run 'netctl gc')"
    elif usable(sb, facts):
        return []
    elif sb.name in facts.netns:
        problem = f"namespace /run/netns/{sb.name} is not the one netctl adopted"
    else:
        problem = f"adopted namespace /run/netns/{sb.name} missing"
    return _sandbox_finding(sb, problem)


def _sandbox(state: State, sb: Sandbox, facts: Facts, index: Index) -> list[Finding]:
    if sb.adopted is not None:
        return _adopted(sb, facts)
    if host_mode(state, sb, index):
        if sb.name in facts.host_bound:
            return []
        if usable(sb, facts):
            problem = f"namespace /run/netns/{sb.name} is its own, not the host's (sandbox on a host network)"
            return _sandbox_finding(sb, problem)
    elif usable(sb, facts):
        return []
    if sb.name in facts.netns:
        problem = f"namespace /run/netns/{sb.name} is not netctl's (lo carries no mark for this sandbox)"
    else:
        problem = f"namespace /run/netns/{sb.name} missing"
    return _sandbox_finding(sb, problem)


def _host_end(ep: Endpoint, net: Network, facts: Facts) -> list[str]:
    link = facts.host.get(ep.host_ifname or "")
    if link is None:
        return [f"host veth {ep.host_ifname} missing"]
    if link.owner != ep.id:
        return [f"host veth {ep.host_ifname} is not this endpoint's"]
    out = [] if link.up else [f"host veth {ep.host_ifname} down"]
    if link.master != net.bridge:
        out.append(f"host veth {ep.host_ifname} not a port of {net.bridge}")
    return out


def _inside(ep: Endpoint, sb: Sandbox, facts: Facts) -> list[str]:
    link = facts.netns[sb.name].links.get(ep.ifname or "")
    where = f"{ep.ifname} in sandbox {sb.name}"
    if link is None:
        return [f"{where} missing"]
    if link.owner != ep.id:
        return [f"{where} is not this endpoint's"]
    out = [] if link.up else [f"{where} down"]
    if ep.mac and link.mac.lower() != ep.mac.lower():
        out.append(f"{where} has MAC {link.mac}, not {ep.mac}")
    wanted = [a for a in (ep.ipv4, ep.ipv6, *ep.link_local) if a]
    out += [f"{where} lacks address {a}" for a in _missing_addrs(link, wanted)]
    return out


def _parked(ep: Endpoint, facts: Facts) -> list[str]:
    link = facts.host.get(ep.sandbox_ifname or "")
    if link is None:
        return [f"parked veth {ep.sandbox_ifname} missing from the host namespace"]
    if link.owner != ep.id:
        return [f"parked veth {ep.sandbox_ifname} is not this endpoint's"]
    return []


def _on_parent(ep: Endpoint, net: Network, sb: Sandbox, facts: Facts) -> list[str]:
    """A macvlan/ipvlan link stays on the device it was made on when that is renamed: with
    another interface under the parent's name, the endpoint was on the wrong wire, unseen."""
    link, parent = facts.netns[sb.name].links[ep.ifname], facts.host.get(net.options.get("parent", ""))
    if parent is None or link.lower is None or link.lower == parent.index:
        return []  # a missing parent is the network's finding
    return [f"{ep.ifname} in sandbox {sb.name} is not a link of parent {parent.name}"]


def _endpoint(ep: Endpoint, facts: Facts, index: Index) -> list[Finding]:
    net = index.networks.get(ep.network)
    if net is None or net.driver not in ("bridge", *SUBLINK):
        return []  # null/host endpoints have no interface
    sb = index.sandboxes.get(ep.sandbox) if ep.sandbox else None
    if ep.sandbox and (sb is None or not usable(sb, facts)):
        return []  # the sandbox finding covers it
    problems = _host_end(ep, net, facts) if net.driver == "bridge" else []  # macvlan: no host end
    problems += _inside(ep, sb, facts) if sb and ep.ifname else _parked(ep, facts)
    if net.driver in SUBLINK and sb and ep.ifname and not problems:
        problems = _on_parent(ep, net, sb, facts)
    subject = f"endpoint {ep.name} ({net.name})"
    return [Finding(ENDPOINT, "endpoint", subject, p, ep.id) for p in problems]


def _route_key(route: Route) -> tuple:
    return (route.family, route.gateway, route.dev)


def wants_lo_ipv6(state: State, sb: Sandbox, index: Index | None = None) -> bool:
    """Spec §7.2: ``lo`` has IPv6 exactly while one of the sandbox's interfaces has."""
    eps = index.in_sandbox(sb.id) if index is not None else state.endpoints_in(sb)
    return any(ep.ifname and any(a and ":" in a for a in (ep.ipv6, *ep.link_local)) for ep in eps)


def _loopback(state: State, sb: Sandbox, view: NetnsView, index: Index) -> list[str]:
    """IPv6 on ``lo`` shows as its ``::1`` (the kernel adds it when the switch goes on)."""
    lo = view.links.get("lo")
    has = lo is not None and any(_same_addr(a, "::1/128") for a in lo.addresses)
    if lo is None or has == wants_lo_ipv6(state, sb, index):
        return []
    return [f"lo has IPv6 {'on' if has else 'off'}, expected {'off' if has else 'on'}"]


def _routes(state: State, sb: Sandbox, facts: Facts, wanted: list[Route], index: Index) -> list[Finding]:
    view = facts.netns.get(sb.name)
    if view is None or not usable(sb, facts):
        return []
    have = {_route_key(r) for r in view.routes if r.dst == "default"}
    want = {_route_key(r) for r in wanted}
    problems = [f"default route via {g} dev {d} missing" for _, g, d in sorted(want - have, key=str)]
    problems += [f"unexpected default route via {g} dev {d}" for _, g, d in sorted(have - want, key=str)]
    if sb.adopted is None:  # an adopted namespace's lo is its own
        problems += _loopback(state, sb, view, index)
    return [Finding(ROUTE, "sandbox", f"sandbox {sb.name}", p, sb.id) for p in problems]


def _orphans(state: State, facts: Facts) -> list[Finding]:
    ids, sid = object_ids(state), state.state_id
    sandboxes = {s.name for s in state.sandboxes}
    out = []
    for name, view in sorted(facts.netns.items()):
        if name not in sandboxes and is_orphan(view.links.get("lo"), ids, sid):
            out.append(Finding(ORPHAN, "netns", f"namespace {name}", LEFT_OVER, name, name))
    for name, link in sorted(facts.host.items()):
        if is_orphan(link, ids, sid):
            problem = LEFT_OVER.replace("left over", f"left over {link.kind or 'link'}")
            out.append(Finding(ORPHAN, "link", f"link {name}", problem, name))
    for sb in state.sandboxes:
        if not usable(sb, facts):
            continue  # not the sandbox's namespace: nothing in it is netctl's to delete
        if sb.name in facts.host_bound:
            continue  # the host's links, looked at above
        for name, link in sorted(facts.netns.get(sb.name, NetnsView({})).links.items()):
            if is_orphan(link, ids, sid):
                out.append(Finding(ORPHAN, "link", f"link {name} in sandbox {sb.name}", LEFT_OVER,
                                   name, sb.name))
    return out


def _files(state: State, sb: Sandbox, facts: Facts, index: Index) -> list[Finding]:
    if not usable(sb, facts) and not (sb.name in facts.host_bound and host_mode(state, sb, index)):
        return []
    have = facts.files.get(sb.name, {})
    out = []
    for fname, text in rendered(state, sb, facts.host_resolv, facts.host_hosts, index).items():
        current = have.get(fname)
        if current != text:
            state_word = "missing" if current is None else "out of date"
            problem = f"/etc/netns/{sb.name}/{fname} {state_word}"
            out.append(Finding(FILE, "sandbox", f"sandbox {sb.name}", problem, sb.id))
    return out


def compare(state: State, facts: Facts, wanted_routes: dict[str, list[Route]]) -> list[Finding]:
    """Every difference, in repair order. ``wanted_routes``: sandbox ID -> its elected
    default routes (service/gateway.py), passed in so this module stays free of services."""
    out: list[Finding] = []
    index = Index(state)  # one pass: the loops below look objects up, never scan the lists
    for net in state.networks:
        if net.driver == "bridge":
            out += _bridge(net, facts)
        elif net.driver in SUBLINK:
            out += _parent(net, facts)
    for sb in state.sandboxes:
        out += _sandbox(state, sb, facts, index)
    for ep in state.endpoints:
        out += _endpoint(ep, facts, index)
    for sb in state.sandboxes:
        out += _routes(state, sb, facts, wanted_routes.get(sb.id, []), index)
    out += _orphans(state, facts)
    for sb in state.sandboxes:
        out += _files(state, sb, facts, index)
    return out
