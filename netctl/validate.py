"""Input rules, applied before anything is locked or changed.

Names end up in file paths (``/run/netns/NAME``, ``/etc/netns/NAME``) and interface names,
so the rules are stricter than libnetwork's "not blank": nothing that could escape a
directory, no whitespace or control characters, a bounded length.
"""

from __future__ import annotations

import re
from ipaddress import ip_address, ip_interface, ip_network

from .errors import InvalidInput
from .model import Network

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*$")
MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$")

BUILTIN_DRIVERS = ("bridge", "null", "host")

# Short option keys and the docker names accepted as aliases for them.
OPTION_ALIASES = {
    "com.docker.network.driver.mtu": "mtu",
    "com.docker.network.bridge.name": "bridge",
    "com.docker.network.bridge.enable_icc": "icc",
    "com.docker.network.bridge.enable_ip_masquerade": "masquerade",
    "com.docker.network.bridge.host_binding_ipv4": "host_ip",
    "com.docker.network.container_iface_prefix": "iface_prefix",
}
BOOL_OPTIONS = ("icc", "masquerade", "hairpin", "ipv6_from_mac")
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def name(value: str, what: str = "name") -> str:
    if not NAME_RE.fullmatch(value or "") or value in (".", ".."):
        raise InvalidInput(
            f"invalid {what} {value!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


def ifname(value: str, what: str = "interface name") -> str:
    if not IFNAME_RE.fullmatch(value or "") or value in (".", ".."):
        raise InvalidInput(f"invalid {what} {value!r}: 1-15 letters, digits, '_', '.', '-'")
    return value


def hosts_file(value: str) -> str:
    """An absolute path without ``.``/``..`` components, empty parts, or control characters:
    where ``--hosts-file`` writes, kept to what it says (symlinks are refused when written)."""
    parts = (value or "").split("/")
    if (not value.startswith("/") or value == "/" or any(p in ("", ".", "..") for p in parts[1:])
            or not value.isprintable()):
        raise InvalidInput(f"invalid --hosts-file {value!r}: an absolute path to a file")
    return value


def hostname(value: str) -> str:
    if not HOSTNAME_RE.fullmatch(value or ""):
        raise InvalidInput(f"invalid hostname {value!r}")
    return value


def mtu(value: str | int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"invalid MTU {value!r}: not a number") from None
    if not 68 <= number <= 65535:
        raise InvalidInput(f"invalid MTU {number}: must be between 68 and 65535")
    return number


def mac(value: str) -> str:
    if not MAC_RE.fullmatch(value or ""):
        raise InvalidInput(f"invalid MAC address {value!r}")
    first = int(value[:2], 16)
    if first & 1:
        raise InvalidInput(f"invalid MAC address {value}: multicast bit set")
    if value.replace(":", "").strip("0") == "":
        raise InvalidInput(f"invalid MAC address {value}: all zeros")
    return value.lower()


PRIORITY_RANGE = (-(2**31), 2**31 - 1)  # a 32-bit int, like docker's gw-priority


def priority(value: int) -> int:
    """Bounded so the state holds what any consumer of it (and docker's API) can read back."""
    low, high = PRIORITY_RANGE
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput(f"invalid priority {value}: must be an integer from {low} to {high}")
    return value


def address(value: str, what: str = "address", version: int | None = None) -> str:
    try:
        addr = ip_address(value)
    except ValueError:
        raise InvalidInput(f"invalid {what} {value!r}") from None
    if version and addr.version != version:
        raise InvalidInput(f"invalid {what} {value}: not an IPv{version} address")
    return str(addr)


def cidr(value: str, what: str = "subnet") -> str:
    """A subnet; host bits are refused rather than silently cleared."""
    try:
        net = ip_network(value, strict=False)
    except ValueError:
        raise InvalidInput(f"invalid {what} {value!r}") from None
    if "/" not in value:
        raise InvalidInput(f"invalid {what} {value!r}: give a prefix length (e.g. {net})")
    if str(net) != str(ip_interface(value).network) or ip_interface(value).ip != net.network_address:
        raise InvalidInput(f"invalid {what} {value}: host bits set (did you mean {net}?)")
    return str(net)


# Ranges a container network can never use: packets to them never leave the host the way a
# bridge's do (loopback, link-local), are not unicast (multicast, broadcast), or mean "any"
# (0.0.0.0/8, ::).  RFC 1918, CGNAT 100.64/10, ULA fc00::/7, documentation and public ranges
# stay allowed, as docker allows them.
SPECIAL_RANGES = tuple((ip_network(cidr_text), why) for cidr_text, why in (
    ("0.0.0.0/8", "'this network' (RFC 791)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (240/4 and the broadcast address)"),
    ("::/128", "the unspecified address"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
))


def usable(value: str, what: str = "subnet") -> str:
    """Refuse a subnet, range or address that touches a special-purpose range (exit 2):
    the kernel would either refuse it halfway through a create or route it somewhere else."""
    net = ip_network(value, strict=False)
    if net.prefixlen == 0:
        raise InvalidInput(f"invalid {what} {value}: the whole address space")
    for special, why in SPECIAL_RANGES:
        if special.version == net.version and special.overlaps(net):
            inside = net.subnet_of(special)
            where = "is in" if inside else "overlaps"
            raise InvalidInput(f"invalid {what} {value}: {where} {special}, {why}")
    return value


def link_local(value: str) -> str:
    addr = ip_address(address(value, "link-local address"))
    if not addr.is_link_local:
        raise InvalidInput(f"invalid link-local address {value}: not link-local")
    return f"{addr}/{16 if addr.version == 4 else 64}"


def is_utf8(value: str) -> bool:
    """False for lone surrogates, what a non-UTF-8 argv decodes to: they can be neither saved
    nor printed, so they are refused as input."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def key_values(items: tuple[str, ...] | list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if not is_utf8(item):
            raise InvalidInput(f"invalid {what} {item!r}: not valid UTF-8")
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[key] = val
    return out


def labels(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, _, val = item.partition("=")
        if not LABEL_KEY_RE.fullmatch(key):
            raise InvalidInput(f"invalid label {item!r}: bad key")
        if any(ord(c) < 32 or ord(c) == 127 for c in val):
            raise InvalidInput(f"invalid label {item!r}: control characters in value")
        if not is_utf8(val):
            raise InvalidInput(f"invalid label {item!r}: not valid UTF-8")
        out[key] = val
    return out


def boolean(value: str, what: str) -> str:
    lowered = value.lower()
    if lowered in TRUE:
        return "true"
    if lowered in FALSE:
        return "false"
    raise InvalidInput(f"invalid value {value!r} for option {what}: expected true or false")


def options(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Normalise ``-o`` options to their short keys, checking each value."""
    out: dict[str, str] = {}
    for key, val in key_values(items, "option").items():
        key = OPTION_ALIASES.get(key, key)
        if key == "mtu":
            val = str(mtu(val))
        elif key == "bridge":
            val = ifname(val, "bridge name")
        elif key == "iface_prefix":
            if not re.fullmatch(r"[a-z][a-z0-9]{0,9}", val):
                raise InvalidInput(f"invalid iface_prefix {val!r}: 1-10 lowercase letters/digits")
        elif key == "host_ip":
            val = address(val, "host_ip", version=4)
        elif key in BOOL_OPTIONS:
            val = boolean(val, key)
        else:
            known = ", ".join(sorted({"mtu", "bridge", "iface_prefix", "host_ip", *BOOL_OPTIONS}))
            raise InvalidInput(f"unknown option {key!r} (known: {known})")
        out[key] = val
    return out


def driver(value: str) -> str:
    if value not in BUILTIN_DRIVERS:
        raise InvalidInput(f"unknown driver {value!r} (available: {', '.join(BUILTIN_DRIVERS)})")
    return value


def option_bool(network: Network, key: str, default: bool) -> bool:
    value = network.options.get(key)
    return default if value is None else value == "true"
