"""The objects netctl keeps: networks, endpoints, sandboxes and the state that holds them.

Plain dataclasses with TOML-friendly ``to_dict``/``from_dict`` (TOML has no null, so ``None``
fields are left out).  Nothing here does I/O or imports the rest of netctl.  IPAM allocations
are *not* stored: they are derived from gateways, aux addresses and endpoint addresses, so the
two can never drift apart.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

SCHEMA = 1


def new_id() -> str:
    """A 64-hex ID whose 12-char short form never looks like a number (libnetwork's rule)."""
    while True:
        value = secrets.token_hex(32)
        if not value[:12].isdigit():
            return value


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _build(cls, data: dict[str, Any]):
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


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

    def subnet_for(self, family: int) -> Subnet | None:
        for sub in self.subnets:
            if (":" in sub.subnet) == (family == 6):
                return sub
        return None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Network:
        data = dict(data)
        data["subnets"] = [_build(Subnet, s) for s in data.get("subnets", [])]
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
    next_ifindex: int = 0  # eth<n> counter: only ever goes up

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sandbox:
        return _build(cls, data)


@dataclass
class State:
    schema: int = SCHEMA
    pool_index: int = 0  # round-robin start into the default pools (libnetwork keeps it in memory)
    ula_prefix: str | None = None  # random fdxx::/48 that --ipv6 carves /64s from
    networks: list[Network] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    sandboxes: list[Sandbox] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        return cls(
            schema=data.get("schema", SCHEMA),
            pool_index=data.get("pool_index", 0),
            ula_prefix=data.get("ula_prefix"),
            networks=[Network.from_dict(n) for n in data.get("networks", [])],
            endpoints=[Endpoint.from_dict(e) for e in data.get("endpoints", [])],
            sandboxes=[Sandbox.from_dict(s) for s in data.get("sandboxes", [])],
        )

    def endpoints_of(self, network: Network) -> list[Endpoint]:
        return [e for e in self.endpoints if e.network == network.id]

    def endpoints_in(self, sandbox: Sandbox) -> list[Endpoint]:
        return [e for e in self.endpoints if e.sandbox == sandbox.id]

    def network_by_id(self, nid: str) -> Network:
        return next(n for n in self.networks if n.id == nid)

    def sandbox_by_id(self, sid: str) -> Sandbox:
        return next(s for s in self.sandboxes if s.id == sid)
