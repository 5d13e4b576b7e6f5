"""The nftables text netctl wants for a state: pure, no I/O.

Two tables are netctl's alone, ``table inet netctl`` and ``table bridge netctl``; inside them
each state file owns the chains named ``<chain>-<state id>`` (several state files on one host
never touch each other's chains).  What they hold, re-rendered whole from the state:

- inet ``forward-S`` (+ ``isolate-S``): ``--internal`` networks cut off both ways, replies
  of allowed connections accepted, new traffic between two netctl networks dropped;
  ``postrouting-S``: masquerade/SNAT.  One ``inet`` table covers IPv4 and IPv6, NAT included.
- bridge ``forward-S``, only while some network has ``icc=false``: traffic between two
  ports of one bridge is *bridged*, never routed, so the inet forward hook does not see it
  without ``br_netfilter``; the bridge family's forward hook does, without any module option.

The chains are written exactly as ``nft list table`` prints them, so drift is a string
compare of this state's chain blocks.
"""

from __future__ import annotations

from ipaddress import ip_network

from ..model import Network, State
from ..validate import option_bool
from . import ports
from .ports import Port

FAMILIES = ("inet", "bridge")
TABLE = "netctl"


def firewalled(net: Network) -> bool:
    """Whether a network has rules at all: bridge networks do, null/host have no traffic, and
    macvlan/ipvlan traffic leaves through the parent, never through a netctl bridge, so
    netctl neither NATs nor isolates it (the network the parent is on does)."""
    return net.driver == "bridge" and bool(net.bridge)


def _quote(name: str) -> str:
    return f'"{name}"'


FILTER = "type filter hook forward priority filter; policy accept;"
NAT = "type nat hook postrouting priority srcnat; policy accept;"
PRE = "type nat hook prerouting priority dstnat; policy accept;"
OUT = "type nat hook output priority -100; policy accept;"
#: each family's chains of one state, in the order they are deleted (a jump's source first)
CHAINS = {"inet": (("forward", FILTER), ("isolate", None), ("prerouting", PRE), ("output", OUT),
                   ("ports", None), ("postrouting", NAT)),
          "bridge": (("forward", FILTER),)}


def _chain(name: str, hook: str | None, rules: list[str]) -> str:
    head = [f"\tchain {name} {{"]
    if hook:
        head.append(f"\t\t{hook}")
    return "\n".join(head + [f"\t\t{r}" for r in rules] + ["\t}"])


def ula(subnet: str) -> bool:
    return ip_network(subnet).subnet_of(ip_network("fc00::/7"))


def nat_rules(net: Network) -> list[str]:
    """Masquerade (or SNAT to ``host_ip``) what leaves the subnet through another interface;
    IPv6 only for ULA subnets (a global subnet is routed unchanged)."""
    if net.internal or not option_bool(net, "masquerade", True):
        return []
    out, br = [], _quote(net.bridge)
    for sub in net.subnets:
        if ":" not in sub.subnet:
            host_ip = net.options.get("host_ip")
            action = f"snat ip to {host_ip}" if host_ip else "masquerade"
            out.append(f"ip saddr {sub.subnet} oifname != {br} {action}")
        elif ula(sub.subnet):
            out.append(f"ip6 saddr {sub.subnet} oifname != {br} masquerade")
    return out


def forward_rules(nets: list[Network], isolate: str) -> tuple[list[str], list[str]]:
    """(forward, isolate): internal networks cut off both ways (replies included), then
    replies of allowed connections and traffic to published ports pass, then new traffic
    from one netctl network towards another is dropped (docker's ISOLATION-STAGE-1/2)."""
    forward, drops = [], []
    for net in nets:
        if net.internal:
            br = _quote(net.bridge)
            forward += [f"iifname {br} oifname != {br} drop", f"oifname {br} iifname != {br} drop"]
    forward += ["ct state established,related accept", "ct status dnat accept"]
    for net in nets:
        if not net.internal:
            br = _quote(net.bridge)
            forward.append(f"iifname {br} oifname != {br} jump {isolate}")
            drops.append(f"oifname {br} drop")
    return forward, drops


def icc_rules(net: Network) -> list[str]:
    """icc=false: drop IP traffic bridged between two ports of the network (the gateway is
    the bridge itself, reached through the input hook, so it stays reachable)."""
    if option_bool(net, "icc", True):
        return []
    out = []
    for sub in net.subnets:
        fam = "ip6" if ":" in sub.subnet else "ip"
        out.append(f"{fam} saddr {sub.subnet} {fam} daddr {sub.subnet} drop")
    return out


def active_ports(state: State) -> list[tuple[Network, str, Port]]:
    """(network, sandbox address, mapping) of every published port of a joined endpoint."""
    out = []
    for ep in state.endpoints:
        if not (ep.sandbox and ep.ports and ep.ipv4):
            continue
        net = state.network_by_id(ep.network)
        if firewalled(net) and not net.internal:
            out += [(net, ep.ipv4.split("/")[0], ports.load(text)) for text in ep.ports]
    return out


def port_rules(state: State) -> tuple[list[str], set[str]]:
    """(DNAT rules, IDs of the networks that publish): traffic to HOST_PORT on the host's
    addresses (or HOST_IP only) goes to PORT in the sandbox."""
    out, nets = [], set()
    for net, addr, p in active_ports(state):
        match = "" if p.host_ip == ports.ANY else f"ip daddr {p.host_ip} "
        out.append(f"{match}{p.proto} dport {p.host_port} dnat ip to {addr}:{p.port}")
        nets.add(net.id)
    return out, nets


def hairpin_rules(net: Network, publishing: bool) -> list[str]:
    """For a network with published ports: the host's 127.0.0.1 (with ``route_localnet`` on
    the bridge) and a sandbox reaching a published port through the host's address both need
    their source rewritten, or the reply would not come back the way the request went."""
    if not publishing:
        return []
    br = _quote(net.bridge)
    out = [f"oifname {br} ip saddr 127.0.0.0/8 masquerade"]
    out += [f"oifname {br} ip saddr {sub.subnet} ct status dnat masquerade"
            for sub in net.subnets if ":" not in sub.subnet]
    return out


def localnet(state: State) -> list[str]:
    """The ``route_localnet`` sysctls of the netctl-made bridges that publish ports."""
    _, nets = port_rules(state)
    return [f"net.ipv4.conf.{n.bridge}.route_localnet" for n in state.networks
            if n.id in nets and not n.bridge_adopted]


def render(state: State, sid: str) -> dict[str, list[str]]:
    """{family: this state's chain blocks} ([] = no chains of this state wanted there)."""
    nets = [n for n in state.networks if firewalled(n)]
    if not nets:
        return {f: [] for f in FAMILIES}
    forward, drops = forward_rules(nets, f"isolate-{sid}")
    dnat, publishing = port_rules(state)
    nat = [r for n in nets for r in nat_rules(n) + hairpin_rules(n, n.id in publishing)]
    local = [f"fib daddr type local jump ports-{sid}"]
    inet = [_chain(f"forward-{sid}", FILTER, forward), _chain(f"isolate-{sid}", None, drops),
            _chain(f"prerouting-{sid}", PRE, local), _chain(f"output-{sid}", OUT, local),
            _chain(f"ports-{sid}", None, dnat), _chain(f"postrouting-{sid}", NAT, nat)]
    icc = [r for n in nets for r in icc_rules(n)]
    return {"inet": inet, "bridge": [_chain(f"forward-{sid}", FILTER, icc)] if icc else []}


def blocks(listing: str) -> list[tuple[str, str]]:
    """(chain name, block text) of every chain in a ``nft list table`` text."""
    out, lines, i = [], listing.splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("\tchain ") and lines[i].endswith(" {"):
            end = lines.index("\t}", i)
            out.append((lines[i].split()[1], "\n".join(lines[i:end + 1])))
            i = end
        i += 1
    return out


def ours(listing: str, sid: str) -> list[str]:
    """This state's chain blocks in a listing, in listing order."""
    return [text for name, text in blocks(listing) if name.endswith(f"-{sid}")]


def alone(listing: str, sid: str) -> bool:
    """Whether the table holds nothing but this state's chains (so it may go with them)."""
    rest = listing
    for text in ours(listing, sid):
        rest = rest.replace(text, "")
    return all(not line.strip() or line.startswith("table ") or line == "}"
               for line in rest.splitlines())


def _replace(family: str, sid: str, new: list[str]) -> str:
    """Each chain of this state declared (so its delete cannot fail), deleted and, for
    ``new``, defined again; the table is created if missing."""
    table = f"{family} {TABLE}"
    lines = [f"add table {table}"]
    for name, hook in CHAINS[family]:
        lines.append(f"add chain {table} {name}-{sid}" + (f" {{ {hook} }}" if hook else ""))
    lines += [f"delete chain {table} {name}-{sid}" for name, _ in CHAINS[family]]
    if new:
        lines += [f"table {table} {{", "\n\n".join(new), "}"]
    return "\n".join(lines) + "\n"


def script(family: str, sid: str, listing: str, new: list[str]) -> str:
    """One ``nft -f`` batch turning the table ``listing`` into one with this state's chains
    ``new``; the table itself goes when nothing else would be left in it."""
    if ours(listing, sid) == new:
        return ""
    if not new and alone(listing, sid):
        return f"delete table {family} {TABLE}\n"
    return _replace(family, sid, new)


def restore_script(family: str, sid: str, listing: str) -> str:
    """The undo of ``script``: back to ``listing`` (no table at all when it was empty)."""
    if not listing:
        return f"delete table {family} {TABLE}\n"
    return _replace(family, sid, ours(listing, sid))


def forwarding(state: State) -> list[str]:
    """The forwarding sysctls the state's networks need on (never turned off by netctl)."""
    want = []
    for net in state.networks:
        if not firewalled(net) or net.internal:
            continue
        if "net.ipv4.ip_forward" not in want:
            want.append("net.ipv4.ip_forward")
        if net.subnet_for(6) and "net.ipv6.conf.all.forwarding" not in want:
            want.append("net.ipv6.conf.all.forwarding")
    return want
