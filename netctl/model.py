"""The objects netctl keeps: networks, endpoints, sandboxes and the state that holds them.

Plain dataclasses with TOML-friendly ``to_dict``/``from_dict`` (TOML has no null, so ``None``
fields are left out).  Nothing here does I/O or imports the rest of netctl.  IPAM allocations
are *not* stored: they are derived from gateways, aux addresses and endpoint addresses, so the
two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

SCHEMA = 2  # 2: state_id, and marks "netctl:<state id>:<object id>" (1 is read and upgraded)
READABLE_SCHEMAS = (1, 2)


def new_id() -> str:
    """A 64-hex ID whose 12-char short form never looks like a number (libnetwork's rule)."""
    import secrets  # only changing commands make IDs; keep it off the read path

    while True:
        value = secrets.token_hex(32)
        if not value[:12].isdigit():
            return value


def new_state_id() -> str:
    """The random identity a state file puts into every mark (16 hex: 64 bits)."""
    import secrets

    return secrets.token_hex(8)


def is_state_id(value: str) -> bool:
    return len(value) == 16 and all(c in "0123456789abcdef" for c in value)


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


_NAMES: dict[type, list[str]] = {}


def _names(cls: type) -> list[str]:
    if cls not in _NAMES:
        _NAMES[cls] = [f.name for f in fields(cls)]
    return _NAMES[cls]


def _table(obj: Any) -> dict[str, Any]:
    """``obj`` as a TOML table, ``None`` left out (TOML has no null): ``asdict`` without its
    deep copy of every value (10x faster at 1,000 endpoints)."""
    out: dict[str, Any] = {}
    for name in _names(type(obj)):
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, list):
            value = [_table(v) if hasattr(v, "__dataclass_fields__") else v for v in value]
        elif isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None}
        out[name] = value
    return out


# Field annotations (strings, see the __future__ import) and the TOML values they accept.
_CHECKS: dict[str, Any] = {
    "str": lambda v: isinstance(v, str),
    "str | None": lambda v: v is None or isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "dict[str, str]": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    "dict[str, int]": lambda v: isinstance(v, dict)
    and all(isinstance(x, int) and not isinstance(x, bool) for x in v.values()),
}
_CHECKS["dict[str, int] | None"] = lambda v: v is None or _CHECKS["dict[str, int]"](v)


_SCHEMAS: dict[type, dict[str, tuple[str, Any, type | None]]] = {}
_QUICK = {"str": str, "str | None": str}  # a value of exactly this type passes at once


def _schema(cls) -> dict[str, tuple[str, Any, type | None]]:
    """Per class: field -> (annotation, check, the type that needs no check)."""
    if cls not in _SCHEMAS:
        _SCHEMAS[cls] = {f.name: (f.type, _CHECKS.get(f.type), _QUICK.get(f.type)) for f in fields(cls)}
    return _SCHEMAS[cls]


def _build(cls, data: dict[str, Any]):
    """``cls`` from a table; a value of the wrong type is a TypeError, and so is an unknown key
    (it would be dropped silently at the next save: a typo or a newer netctl's field)."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: expected a table, got {data!r}")
    schema = _schema(cls)
    for key, value in data.items():
        if key not in schema:
            raise TypeError(f"{cls.__name__}: unknown key {key!r}")
        kind, check, quick = schema[key]
        if type(value) is not quick and check is not None and not check(value):
            raise TypeError(f"{cls.__name__}.{key}: expected {kind}, got {value!r}")
    return cls(**data)


def _list(data: dict[str, Any], key: str, build) -> list:
    items = data.get(key, [])
    if not isinstance(items, list):
        raise TypeError(f"{key}: expected an array, got {items!r}")
    return [build(item) for item in items]


@dataclass
class Subnet:
    """One IPAM pool of a network: the subnet and what is reserved in it."""

    subnet: str
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: dict[str, str] = field(default_factory=dict)


@dataclass
class Network:
    name: str
    id: str
    driver: str
    created: str
    subnets: list[Subnet] = field(default_factory=list)
    ipv6: bool = False
    internal: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    bridge: str | None = None  # the Linux bridge (bridge driver)
    bridge_adopted: bool = False  # existed before netctl: never deleted
    # adopted bridge: what netctl changed on it ("address CIDR", "ipv6", "up"), undone at rm
    bridge_changes: list[str] = field(default_factory=list)

    def subnet_for(self, family: int) -> Subnet | None:
        for sub in self.subnets:
            if (":" in sub.subnet) == (family == 6):
                return sub
        return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Network:
        data = dict(data)
        data["subnets"] = _list(data, "subnets", lambda s: _build(Subnet, s))
        return _build(cls, data)


@dataclass
class Endpoint:
    name: str
    id: str
    network: str  # network ID
    created: str
    mac: str | None = None
    ipv4: str | None = None  # "172.18.0.2/16": address with the pool prefix
    ipv6: str | None = None
    link_local: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    host_ifname: str | None = None  # host side of the veth pair, on the bridge
    sandbox_ifname: str | None = None  # the other end's name while it is in the host netns
    sandbox: str | None = None  # sandbox ID when joined
    ifname: str | None = None  # name inside the sandbox while joined ("eth0")
    priority: int = 0
    # published ports "HOST_IP:HOST_PORT:PORT/PROTO" (firewall/ports.py), active while joined
    ports: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Endpoint:
        return _build(cls, data)


@dataclass
class Sandbox:
    name: str
    id: str
    created: str
    hostname: str | None = None
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)  # "name:ip"
    labels: dict[str, str] = field(default_factory=dict)  # apply's netctl.project
    # <prefix><n> counters, one per prefix (spec §7.2: eth0, then net0), only ever going up.
    # ``next_ifindex`` is the single counter of state files written before: it stays the
    # start of every prefix not counted yet, so no name they handed out comes back.
    ifindexes: dict[str, int] = field(default_factory=dict)
    next_ifindex: int = 0
    # A namespace netctl adopted (sandbox create --netns/--pid) instead of making: how it is
    # recognised ("ino", "cookie"), whether netctl bind-mounted it at /run/netns/NAME
    # ("bound" 1, else it was adopted where it was), and for a process's namespace the
    # process ("pid", "start": its start time).  None (left out of the file) for netctl's own.
    adopted: dict[str, int] | None = None
    # a hosts file outside /etc/netns that netctl also writes (sandbox create --hosts-file)
    hosts_file: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sandbox:
        return _build(cls, data)


@dataclass
class State:
    schema: int = SCHEMA
    # Which state file owns a kernel object (kernel/base.py owner_mark); set when the first
    # object is marked.  None in a schema-1 file, whose objects carry "netctl:<object id>".
    state_id: str | None = None
    pool_index: int = 0  # round-robin start into the default pools (libnetwork keeps it in memory)
    ula_prefix: str | None = None  # random fdxx::/48 that --ipv6 carves /64s from
    # forwarding sysctls netctl turned on ("net.ipv4.ip_forward"); it never turns them off
    sysctls: list[str] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    sandboxes: list[Sandbox] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _table(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        data = dict(data)
        data["networks"] = _list(data, "networks", Network.from_dict)
        data["endpoints"] = _list(data, "endpoints", Endpoint.from_dict)
        data["sandboxes"] = _list(data, "sandboxes", Sandbox.from_dict)
        state = _build(cls, data)
        if state.state_id is not None and not is_state_id(state.state_id):
            raise ValueError(f"state_id: expected 16 hex digits, got {state.state_id!r}")
        return state

    def endpoints_of(self, network: Network) -> list[Endpoint]:
        return [e for e in self.endpoints if e.network == network.id]

    def endpoints_in(self, sandbox: Sandbox) -> list[Endpoint]:
        return [e for e in self.endpoints if e.sandbox == sandbox.id]

    def network_by_id(self, nid: str) -> Network:
        return next(n for n in self.networks if n.id == nid)

    def sandbox_by_id(self, sid: str) -> Sandbox:
        return next(s for s in self.sandboxes if s.id == sid)


class Index:
    """One pass over a state's lists: objects by ID and endpoints per network and per
    sandbox, each list in state order.  The state's own ``*_by_id``/``endpoints_*`` scan
    the lists, which is right for one lookup but quadratic inside a loop over objects;
    a loop builds one of these instead.  A snapshot: build it after the last change."""

    def __init__(self, state: State):
        self.networks = {n.id: n for n in state.networks}
        self.sandboxes = {s.id: s for s in state.sandboxes}
        self.position = {}
        self._on_network: dict[str, list[Endpoint]] = {}
        self._in_sandbox: dict[str, list[Endpoint]] = {}
        for i, ep in enumerate(state.endpoints):
            self.position[ep.id] = i
            self._on_network.setdefault(ep.network, []).append(ep)
            if ep.sandbox is not None:
                self._in_sandbox.setdefault(ep.sandbox, []).append(ep)

    def on_network(self, network_id: str) -> list[Endpoint]:
        return self._on_network.get(network_id, [])

    def in_sandbox(self, sandbox_id: str) -> list[Endpoint]:
        return self._in_sandbox.get(sandbox_id, [])
