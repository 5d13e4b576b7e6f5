"""What goes into a sandbox's ``/etc/netns/NAME/{hosts,resolv.conf}``, derived from state.

netctl has no DNS server, so names work the legacy libnetwork way: every sandbox's hosts file
lists the other endpoints on the networks it shares.  The files are rendered whole from the
state, never patched line by line, so they cannot drift from it; after a change only the
sandboxes it can reach are rendered again (``affected``), so one connect costs the same with
1,000 unrelated sandboxes in the state as with none.
"""

from __future__ import annotations

from ipaddress import ip_address

from .model import Endpoint, Index, Sandbox, State

STANDARD_BLOCK = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)
GOOGLE_DNS = ("8.8.8.8", "8.8.4.4")
GOOGLE_DNS6 = ("2001:4860:4860::8888", "2001:4860:4860::8844")


def _bare(cidr: str | None) -> str | None:
    return cidr.split("/")[0] if cidr else None


def hosts(state: State, sb: Sandbox, host_hosts: str | None = None, index: Index | None = None) -> str:
    """The sandbox's hosts file; ``host_hosts`` (the host's own, for a sandbox in the host's
    namespace) is used as it is unless the sandbox adds hosts (spec §7.4).  ``index``: one
    built for the whole pass when several sandboxes are rendered."""
    if host_hosts is not None and not sb.extra_hosts:
        return host_hosts if host_hosts.endswith("\n") or not host_hosts else host_hosts + "\n"
    index = index or Index(state)
    lines = [f"{ip}\t{names}" for ip, names in STANDARD_BLOCK]
    for entry in sb.extra_hosts:
        host, _, ip = entry.partition(":")  # "name:ip"; the ip may be IPv6 (colons)
        lines.append(f"{ip}\t{host}")
    own = index.in_sandbox(sb.id)
    hostname = sb.hostname or sb.name
    short = hostname.split(".")[0]
    own_names = hostname if short == hostname else f"{hostname} {short}"
    for ep in own:
        for ip in filter(None, (_bare(ep.ipv4), _bare(ep.ipv6))):
            lines.append(f"{ip}\t{own_names}")
    for ep in _peers(index, sb, own):
        net, peer = index.networks[ep.network], index.sandboxes[ep.sandbox]
        names: list[str] = []
        for label in dict.fromkeys([ep.name, *ep.aliases, peer.hostname or peer.name]):
            names += [label, f"{label}.{net.name}"]
        for ip in filter(None, (_bare(ep.ipv4), _bare(ep.ipv6))):
            lines.append(f"{ip}\t{' '.join(names)}")
    return "\n".join(lines) + "\n"


def _peers(index: Index, sb: Sandbox, own: list[Endpoint]) -> list[Endpoint]:
    """The joined endpoints of other sandboxes on the networks ``sb`` is on, in state order."""
    shared = dict.fromkeys(ep.network for ep in own)
    peers = [ep for nid in shared for ep in index.on_network(nid)
             if ep.sandbox and ep.sandbox != sb.id]
    if len(shared) > 1:
        peers.sort(key=lambda ep: index.position[ep.id])
    return peers


# What the rendering reads, per object: a change in any of these can change some files.
def _net_key(n):
    return (n.name, n.ipv6, n.driver)


def _sb_key(s):
    return (s.name, s.hostname, tuple(s.extra_hosts), tuple(s.dns), tuple(s.dns_search),
            tuple(s.dns_options))


def _ep_key(e):
    return (e.network, e.sandbox, e.name, tuple(e.aliases), e.ipv4, e.ipv6)


Inputs = tuple[dict, dict, dict]


def inputs(state: State) -> Inputs:
    """A snapshot of everything the sandboxes' files are rendered from (cheap: tuples)."""
    return ({n.id: _net_key(n) for n in state.networks},
            {s.id: _sb_key(s) for s in state.sandboxes},
            {e.id: _ep_key(e) for e in state.endpoints})


def _changed(before: dict, after: dict) -> list[tuple]:
    """(old, new) key pairs of the objects added, removed or changed (None: absent)."""
    out = [(old, after.get(oid)) for oid, old in before.items() if after.get(oid) != old]
    return out + [(None, new) for oid, new in after.items() if oid not in before]


def affected(before: Inputs, state: State, index: Index | None = None) -> list[Sandbox]:
    """The sandboxes of ``state`` whose files can differ from what ``before`` rendered: those
    whose own inputs changed, and every sandbox on a network where something changed (a
    connect changes the files of the sandbox and of its peers there, not of everyone)."""
    index = index or Index(state)
    nets_b, sbs_b, eps_b = before
    nets_a, sbs_a, eps_a = inputs(state)
    networks = {nid for nid in set(nets_b) | set(nets_a) if nets_b.get(nid) != nets_a.get(nid)}
    sandboxes = set()
    for old, new in _changed(eps_b, eps_a):
        for key in filter(None, (old, new)):
            networks.add(key[0])
            sandboxes.add(key[1])
    for sid in (sid for sid, key in sbs_a.items() if sbs_b.get(sid) != key):
        sandboxes.add(sid)  # its hostname is in its peers' files too
        networks.update(ep.network for ep in index.in_sandbox(sid))
    sandboxes.update(ep.sandbox for nid in networks for ep in index.on_network(nid))
    return [sb for sb in state.sandboxes if sb.id in sandboxes]


def parse_resolv(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search domains, options) from resolv.conf text."""
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split("#")[0].split(";")[0].split()
        if len(words) < 2:
            continue
        if words[0] == "nameserver":
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            options += words[1:]
    return servers, search, options


def _is_localhost(server: str) -> bool:
    try:
        return ip_address(server.split("%")[0]).is_loopback
    except ValueError:
        return False


def resolv_conf(sb: Sandbox, host_text: str, ipv6: bool, host_mode: bool = False) -> str:
    """The host's resolv.conf minus localhost nameservers (spec §7.4), ``--dns…`` overriding;
    in the host's own namespace (``host_mode``) without ``--dns…``, the host's file as it is."""
    if host_mode and not (sb.dns or sb.dns_search or sb.dns_options):
        return host_text
    servers, search, options = parse_resolv(host_text)
    servers = [s for s in servers if not _is_localhost(s)]
    if not ipv6:
        servers = [s for s in servers if ":" not in s]
    if sb.dns:
        servers = list(sb.dns)
    elif not servers:
        servers = list(GOOGLE_DNS) + (list(GOOGLE_DNS6) if ipv6 else [])
    search = list(sb.dns_search) or search
    options = list(sb.dns_options) or options
    lines = []
    if search and search != ["."]:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {s}" for s in servers]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def host_mode(state: State, sb: Sandbox, index: Index | None = None) -> bool:
    """On a ``host`` network: /run/netns/NAME is the host's namespace (service/hostnet.py),
    and its files are the host's own (spec §7.4)."""
    index = index or Index(state)
    return any(index.networks[e.network].driver == "host" for e in index.in_sandbox(sb.id))


def sandbox_ipv6(sb: Sandbox, index: Index) -> bool:
    """Whether the sandbox's resolv.conf keeps IPv6 nameservers: it has an IPv6 network."""
    return any(index.networks[e.network].ipv6 for e in index.in_sandbox(sb.id))


def rendered(state: State, sb: Sandbox, host_resolv: str, host_hosts: str = "",
             index: Index | None = None) -> dict[str, str]:
    """The sandbox's /etc/netns files; one on a host network sees the host's own (§7.4).
    ``index``: one built for the whole pass when several sandboxes are rendered."""
    index = index or Index(state)
    shared = host_mode(state, sb, index)
    return {"hosts": hosts(state, sb, host_hosts if shared else None, index),
            "resolv.conf": resolv_conf(sb, host_resolv, sandbox_ipv6(sb, index), shared)}
