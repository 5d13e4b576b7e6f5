"""The topology file of ``netctl apply``/``destroy``: TOML written by hand, checked up front.

Pure: text in, a ``Topology`` out, or ``InvalidInput`` (exit 2) naming the key path
(``sandboxes.web.connect[1].ip``) before anything is locked or changed.  The format::

    project = "lab"                 # optional; default: the file's stem
    [networks.front]                # every `network create` option
    subnet = "10.10.0.0/24"         # or a list: ["10.10.0.0/24", "fd00:10::/64"]
    internal = true
    [sandboxes.web]
    hostname = "www"
    connect = ["front", { network = "back", ip = "10.20.0.5", aliases = ["pg"] }]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from . import validate
from .errors import InvalidInput
from .requests import NetworkRequest, SandboxRequest

PROJECT_LABEL = "netctl.project"


@dataclass
class NetSpec(NetworkRequest):
    """A ``[networks.NAME]`` table: the request ``network create`` takes (aux_addresses
    name=ip, labels and options k=v), plus the file key it came from."""

    @property
    def key(self) -> str:
        return f"networks.{self.name}"


@dataclass
class ConnSpec:
    network: str
    key: str
    ip: str | None = None
    ip6: str | None = None
    mac: str | None = None
    aliases: list[str] = field(default_factory=list)
    priority: int = 0
    publish: list[str] = field(default_factory=list)  # -p values (firewall/ports.py)


@dataclass
class SandboxSpec(SandboxRequest):
    """A ``[sandboxes.NAME]`` table: the request ``sandbox create`` takes (the file's
    ``extra_hosts`` are its ``add_hosts``, name:ip), plus the connections and the file key."""

    connect: list[ConnSpec] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"sandboxes.{self.name}"


@dataclass
class Topology:
    project: str
    networks: dict[str, NetSpec] = field(default_factory=dict)
    sandboxes: dict[str, SandboxSpec] = field(default_factory=dict)


def _fail(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}")


def _type(path: str, value: Any, want: str) -> Any:
    ok = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "table": isinstance(value, dict),
        "array of strings": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[want]
    if not ok:
        raise _fail(path, f"expected {want}, got {type(value).__name__} {value!r}")
    return value


def _strings(path: str, value: Any) -> list[str]:
    """A string or an array of strings (short form for the one-element case)."""
    return [value] if isinstance(value, str) else list(_type(path, value, "array of strings"))


def _pairs(path: str, value: Any, sep: str = "=") -> list[str]:
    """A table of scalars as ``k=v`` strings (what the CLI options take)."""
    out = []
    for k, v in _type(path, value, "table").items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        if not isinstance(v, (str, int)):
            raise _fail(f"{path}.{k}", f"expected a string, number or boolean, got {v!r}")
        out.append(f"{k}{sep}{v}")
    return out


def _checked(path: str, check, *args) -> Any:
    """Run a validate.* rule; its error gets the key path in front."""
    try:
        return check(*args)
    except InvalidInput as exc:
        raise _fail(path, str(exc)) from None


def _keys(path: str, table: dict[str, Any], known: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            where = f"{path}.{key}" if path else key
            raise _fail(where, f"unknown key (known: {', '.join(known)})")


NET_KEYS = ("driver", "subnet", "gateway", "ip_range", "aux_addresses", "ipv6", "internal",
            "labels", "options")


def _network(name: str, table: Any) -> NetSpec:
    path = f"networks.{name}"
    _checked(path, validate.name, name, "network name")
    _keys(path, _type(path, table, "table"), NET_KEYS)
    spec = NetSpec(name=name)
    if "driver" in table:
        value = _type(f"{path}.driver", table["driver"], "string")
        spec.driver = _checked(f"{path}.driver", validate.driver, value)
    for key, attr in (("subnet", "subnets"), ("gateway", "gateways"), ("ip_range", "ip_ranges")):
        if key in table:
            values = _strings(f"{path}.{key}", table[key])
            rule = validate.address if key == "gateway" else validate.cidr
            for i, v in enumerate(values):
                _checked(f"{path}.{key}" + (f"[{i}]" if isinstance(table[key], list) else ""), rule, v)
            setattr(spec, attr, values)
    if "aux_addresses" in table:
        spec.aux_addresses = _pairs(f"{path}.aux_addresses", table["aux_addresses"])
    for key in ("ipv6", "internal"):
        if key in table:
            setattr(spec, key, _type(f"{path}.{key}", table[key], "boolean"))
    if "labels" in table:
        spec.labels = _pairs(f"{path}.labels", table["labels"])
        _checked(f"{path}.labels", validate.labels, spec.labels)
        if PROJECT_LABEL in table["labels"]:  # apply's mark of ownership, from `project`
            raise _fail(f"{path}.labels.{PROJECT_LABEL}", "reserved: apply sets it from 'project'")
    if "options" in table:
        spec.options = _pairs(f"{path}.options", table["options"])
        _checked(f"{path}.options", validate.options, spec.options)
    return spec


CONN_KEYS = ("network", "ip", "ip6", "mac", "aliases", "priority", "publish")
PORT_KEYS = ("port", "host_port", "host_ip", "protocol")


def _port_number(path: str, value: Any) -> str:
    """A port or a range: ``80``, ``"8080-8081"`` (what -p takes between the colons)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _type(path, value, "string")


def _mapping(path: str, item: Any) -> str:
    """One published port: a ``-p`` string, or a table of its parts (``port`` required;
    ``host_port``, ``host_ip``, ``protocol`` as -p's HOST_PORT, HOST_IP, /PROTO), as the
    ``-p`` string it means, checked by the same parser ``network connect -p`` uses."""
    if isinstance(item, dict):
        _keys(path, item, PORT_KEYS)
        if "port" not in item:
            raise _fail(f"{path}.port", "missing (the sandbox's port)")
        port = _port_number(f"{path}.port", item["port"])
        host = _port_number(f"{path}.host_port", item["host_port"]) if "host_port" in item else ""
        host_ip = _type(f"{path}.host_ip", item["host_ip"], "string") if "host_ip" in item else ""
        proto = _type(f"{path}.protocol", item.get("protocol", "tcp"), "string")
        item = f"{host_ip}:{host}:{port}/{proto}" if host_ip else f"{host}:{port}/{proto}".lstrip(":")
    elif not isinstance(item, str):
        raise _fail(path, f"expected a -p string (\"8080:80/tcp\") or a table, got {item!r}")
    from .firewall import ports  # pure: docker's -p syntax

    _checked(path, ports.parse, item)
    return item


def _publish(path: str, value: Any) -> list[str]:
    """``publish = "8080:80"``, or an array of such strings and port tables."""
    items = value if isinstance(value, list) else [value]
    return [_mapping(f"{path}[{i}]" if isinstance(value, list) else path, item)
            for i, item in enumerate(items)]


def _connection(path: str, item: Any) -> ConnSpec:
    if isinstance(item, str):
        return ConnSpec(network=item, key=path)
    if not isinstance(item, dict):
        raise _fail(path, f"expected a network name or a table, got {item!r}")
    _keys(path, item, CONN_KEYS)
    if "network" not in item:
        raise _fail(f"{path}.network", "missing (the network to connect to)")
    conn = ConnSpec(network=_type(f"{path}.network", item["network"], "string"), key=path)
    for key, version in (("ip", 4), ("ip6", 6)):
        if key in item:
            value = _type(f"{path}.{key}", item[key], "string")
            setattr(conn, key, _checked(f"{path}.{key}", validate.address, value, key, version))
    if "mac" in item:
        conn.mac = _checked(f"{path}.mac", validate.mac, _type(f"{path}.mac", item["mac"], "string"))
    if "aliases" in item:
        conn.aliases = [_checked(f"{path}.aliases", validate.name, a, "alias")
                        for a in _type(f"{path}.aliases", item["aliases"], "array of strings")]
    if "priority" in item:
        value = _type(f"{path}.priority", item["priority"], "integer")
        conn.priority = _checked(f"{path}.priority", validate.priority, value)
    if "publish" in item:
        conn.publish = _publish(f"{path}.publish", item["publish"])
    return conn


SANDBOX_KEYS = ("hostname", "dns", "dns_search", "dns_options", "extra_hosts", "connect")


def _sandbox(name: str, table: Any) -> SandboxSpec:
    path = f"sandboxes.{name}"
    _checked(path, validate.name, name, "sandbox name")
    _keys(path, _type(path, table, "table"), SANDBOX_KEYS)
    spec = SandboxSpec(name=name)
    if "hostname" in table:
        value = _type(f"{path}.hostname", table["hostname"], "string")
        spec.hostname = _checked(f"{path}.hostname", validate.hostname, value)
    for key, attr in (("dns", "dns"), ("dns_search", "dns_search"), ("dns_options", "dns_options"),
                      ("extra_hosts", "add_hosts")):
        if key in table:
            setattr(spec, attr, _strings(f"{path}.{key}", table[key]))
    for i, addr in enumerate(spec.dns):
        _checked(f"{path}.dns[{i}]", validate.address, addr, "dns address")
    items = table.get("connect", [])
    if not isinstance(items, list):
        items = [items]  # connect = "front"
    spec.connect = [_connection(f"{path}.connect[{i}]", item) for i, item in enumerate(items)]
    seen: dict[str, str] = {}
    for conn in spec.connect:
        if conn.network in seen:
            raise _fail(conn.key, f"network {conn.network!r} is already connected at {seen[conn.network]}")
        seen[conn.network] = conn.key
    return spec


def parse(text: str, default_project: str) -> Topology:
    """The topology in ``text``; every error is exit 2 and names the key path."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"not valid TOML: {exc}") from None
    _keys("", data, ("project", "networks", "sandboxes"))
    project = _type("project", data.get("project", default_project), "string")
    try:
        validate.name(project, "project name")
    except InvalidInput as exc:  # a file name with a space: say where the name came from
        hint = "" if "project" in data else "; it comes from the file's name: set project = \"...\""
        raise _fail("project", f"{exc}{hint}") from None
    top = Topology(project=project)
    for name, table in _type("networks", data.get("networks", {}), "table").items():
        top.networks[name] = _network(name, table)
    for name, table in _type("sandboxes", data.get("sandboxes", {}), "table").items():
        top.sandboxes[name] = _sandbox(name, table)
    return top


def check_references(top: Topology, known_networks: set[str]) -> None:
    """Every connection names a network the file or the state has (exit 2 otherwise)."""
    for sb in top.sandboxes.values():
        for conn in sb.connect:
            if conn.network not in top.networks and conn.network not in known_networks:
                raise _fail(conn.key, f"network {conn.network!r} is neither in the file nor in the state")
