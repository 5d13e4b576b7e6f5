"""What goes into a sandbox's ``/etc/netns/NAME/{hosts,resolv.conf}``, derived from state.

netctl has no DNS server, so names work the legacy libnetwork way: every sandbox's hosts file
lists the other endpoints on the networks it shares.  The files are rendered from the whole
state after every change, never patched line by line, so they cannot drift from it.
"""

from __future__ import annotations

from ipaddress import ip_address

from .model import Sandbox, State

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


def hosts(state: State, sb: Sandbox, host_hosts: str | None = None) -> str:
    """The sandbox's hosts file; ``host_hosts`` (the host's own, for a sandbox in the host's
    namespace) is used as it is unless the sandbox adds hosts (spec §7.4)."""
    if host_hosts is not None and not sb.extra_hosts:
        return host_hosts if host_hosts.endswith("\n") or not host_hosts else host_hosts + "\n"
    lines = [f"{ip}\t{names}" for ip, names in STANDARD_BLOCK]
    for entry in sb.extra_hosts:
        host, _, ip = entry.partition(":")  # "name:ip"; the ip may be IPv6 (colons)
        lines.append(f"{ip}\t{host}")
    own = state.endpoints_in(sb)
    hostname = sb.hostname or sb.name
    short = hostname.split(".")[0]
    own_names = hostname if short == hostname else f"{hostname} {short}"
    for ep in own:
        for ip in filter(None, (_bare(ep.ipv4), _bare(ep.ipv6))):
            lines.append(f"{ip}\t{own_names}")
    shared = {ep.network for ep in own}
    for ep in state.endpoints:
        if ep.network not in shared or not ep.sandbox or ep.sandbox == sb.id:
            continue
        net = state.network_by_id(ep.network)
        peer = state.sandbox_by_id(ep.sandbox)
        names: list[str] = []
        for label in dict.fromkeys([ep.name, *ep.aliases, peer.hostname or peer.name]):
            names += [label, f"{label}.{net.name}"]
        for ip in filter(None, (_bare(ep.ipv4), _bare(ep.ipv6))):
            lines.append(f"{ip}\t{' '.join(names)}")
    return "\n".join(lines) + "\n"


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
