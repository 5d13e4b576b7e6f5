"""The nftables text netctl wants for a state: pure, no I/O.

Two tables, both netctl's alone, re-rendered whole from the state:

- ``table inet netctl``: isolation between netctl networks and ``--internal`` in the forward
  hook, masquerade/SNAT in postrouting.  One ``inet`` table covers IPv4 and IPv6, NAT included.
- ``table bridge netctl``, only while some network has ``icc=false``: traffic between two
  ports of one bridge is *bridged*, never routed, so the inet forward hook does not see it
  without ``br_netfilter``; the bridge family's forward hook does, without any module option.

The text is written exactly as ``nft list table`` prints it, so drift is a string compare.
An empty string means "this table should not exist".
"""

from __future__ import annotations

from ipaddress import ip_network

from ..model import Network, State
from ..validate import option_bool

FAMILIES = ("inet", "bridge")
TABLE = "netctl"


def firewalled(net: Network) -> bool:
    """Whether a network has rules at all: bridge networks do, null/host have no traffic."""
    return net.driver == "bridge" and bool(net.bridge)


def _quote(name: str) -> str:
    return f'"{name}"'


def _chain(name: str, hook: str | None, rules: list[str]) -> list[str]:
    head = [f"\tchain {name} {{"]
    if hook:
        head.append(f"\t\t{hook}")
    return head + [f"\t\t{r}" for r in rules] + ["\t}"]


def _table(family: str, chains: list[list[str]]) -> str:
    body: list[str] = []
    for i, chain in enumerate(chains):
        if i:
            body.append("")
        body += chain
    return "\n".join([f"table {family} {TABLE} {{", *body, "}"]) + "\n"


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


def forward_rules(nets: list[Network]) -> tuple[list[str], list[str]]:
    """(forward, isolate): internal networks cut off both ways (replies included), then
    replies of allowed connections pass, then new traffic from one netctl network towards
    another is dropped (docker's ISOLATION-STAGE-1/2)."""
    forward, isolate = [], []
    for net in nets:
        if net.internal:
            br = _quote(net.bridge)
            forward += [f"iifname {br} oifname != {br} drop", f"oifname {br} iifname != {br} drop"]
    forward.append("ct state established,related accept")
    for net in nets:
        if not net.internal:
            br = _quote(net.bridge)
            forward.append(f"iifname {br} oifname != {br} jump isolate")
            isolate.append(f"oifname {br} drop")
    return forward, isolate


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


def render(state: State) -> dict[str, str]:
    """{family: table text} for every family netctl manages ('' = no table wanted)."""
    nets = [n for n in state.networks if firewalled(n)]
    if not nets:
        return {f: "" for f in FAMILIES}
    forward, isolate = forward_rules(nets)
    nat = [r for n in nets for r in nat_rules(n)]
    inet = _table("inet", [
        _chain("forward", "type filter hook forward priority filter; policy accept;", forward),
        _chain("isolate", None, isolate),
        _chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;", nat),
    ])
    icc = [r for n in nets for r in icc_rules(n)]
    bridge = _table("bridge", [
        _chain("forward", "type filter hook forward priority filter; policy accept;", icc),
    ]) if icc else ""
    return {"inet": inet, "bridge": bridge}


def script(old: dict[str, str], new: dict[str, str]) -> str:
    """One ``nft -f`` batch that turns the tables ``old`` into ``new`` atomically: each table
    that changes is added (so the delete cannot fail), deleted and defined again."""
    lines = []
    for family in FAMILIES:
        if old.get(family, "") == new.get(family, ""):
            continue
        lines += [f"table {family} {TABLE}", f"delete table {family} {TABLE}"]
        if new.get(family):
            lines.append(new[family].rstrip("\n"))
    return "\n".join(lines) + ("\n" if lines else "")


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
