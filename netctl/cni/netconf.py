"""The network configuration on stdin, and what it asks of netctl.

Pure: bytes in, a ``NetConf`` out.  The config's keys map onto ``network create`` options
(``network_request``), the attachment's ``runtimeConfig``/``args``/``CNI_ARGS`` onto
``network connect`` options (``endpoint_options``); the table is in docs/cni.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..requests import NetworkRequest
from .spec import DECODE_FAILURE, INVALID_CONFIG, UNSUPPORTED_FIELD, CniError, check_version

#: keys the spec (or a runtime) puts into any plugin's configuration
STANDARD = {"cniVersion", "cniVersions", "name", "type", "args", "ipMasq", "ipam", "dns",
            "capabilities", "runtimeConfig", "prevResult", "disableCheck", "disableGC",
            "cni.dev/valid-attachments", "cni.dev/attachments"}
#: netctl's own keys: key -> (type, the `network create` flag it stands for)
NETCTL = {"driver": (str, "--driver"), "subnet": ((str, list), "--subnet"),
          "gateway": ((str, list), "--gateway"), "ipRange": ((str, list), "--ip-range"),
          "auxAddress": (dict, "--aux-address"), "ipv6": (bool, "--ipv6"),
          "internal": (bool, "--internal"), "mtu": (int, "-o mtu"), "bridge": (str, "-o bridge"),
          "labels": (dict, "--label"), "options": (dict, "-o"), "state": (str, "--state")}


@dataclass
class NetConf:
    version: str
    name: str
    raw: dict[str, Any]
    prev_result: dict[str, Any] | None = None
    runtime: dict[str, Any] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)


def load(data: bytes, command: str) -> NetConf:
    """Parse and check stdin's configuration (error 6 undecodable, 1 version, 2 unknown
    key, 7 invalid)."""
    try:
        raw = json.loads(data.decode("utf-8"), parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: deep nesting
        raise CniError(DECODE_FAILURE, "cannot decode the network configuration", str(exc)) from None
    if not isinstance(raw, dict):
        raise CniError(DECODE_FAILURE, "the network configuration is not a JSON object")
    version = check_version(raw.get("cniVersion"))
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise CniError(INVALID_CONFIG, "name (the netctl network) is required")
    for key, value in raw.items():
        _check_key(key, value)
    if not str(raw.get("state", "/")).startswith("/"):  # relative to the runtime's cwd: anywhere
        raise CniError(INVALID_CONFIG, f"state {raw['state']!r} must be an absolute path")
    if command in ("ADD", "CHECK"):  # what goes into a Result; DEL must not fail on it
        _check_result(raw.get("prevResult"))
        if not isinstance(raw.get("dns", {}), dict):
            raise CniError(INVALID_CONFIG, "dns must be an object")
    conf = NetConf(version, name, raw, raw.get("prevResult"),
                   _object(raw, "runtimeConfig"), _object(raw, "args"))
    if command == "CHECK" and not isinstance(conf.prev_result, dict):
        raise CniError(INVALID_CONFIG, "CHECK needs prevResult")
    return conf


def _not_json(word: str) -> None:
    """NaN and Infinity are no JSON: Python reads them, and would echo them into a Result
    (``dns``, ``prevResult``) that the runtime's parser then cannot read."""
    raise ValueError(f"{word} is not JSON")


def _check_key(key: str, value: Any) -> None:
    if key in STANDARD:
        if key == "ipam" and value not in (None, {}):
            raise CniError(UNSUPPORTED_FIELD, "ipam: netctl is its own IPAM",
                           "use subnet, gateway, ipRange (docs/cni.md)")
        return
    if key not in NETCTL:
        raise CniError(UNSUPPORTED_FIELD, f"unsupported field {key!r} in the network configuration",
                       "netctl's keys: " + ", ".join(sorted(NETCTL)))
    kind, _ = NETCTL[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CniError(INVALID_CONFIG, f"{key}: wrong type {type(value).__name__}")


def _check_result(prev: Any) -> None:
    """A ``prevResult`` (netctl not first in a chain) must have the Result's shape: netctl
    keeps its entries in its own Result, which a string spread into letters would break."""
    if prev is None:
        return
    if not isinstance(prev, dict):
        raise CniError(INVALID_CONFIG, "prevResult must be an object")
    for key in ("interfaces", "ips", "routes"):
        items = prev.get(key)
        if items is not None and not (isinstance(items, list) and all(isinstance(x, dict) for x in items)):
            raise CniError(INVALID_CONFIG, f"prevResult.{key} must be a list of objects")
    if not isinstance(prev.get("dns") or {}, dict):
        raise CniError(INVALID_CONFIG, "prevResult.dns must be an object")


def _object(raw: dict, key: str) -> dict:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CniError(INVALID_CONFIG, f"{key} must be an object")
    return value


def _strings(value: Any, key: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not all(isinstance(x, str) for x in items):
        raise CniError(INVALID_CONFIG, f"{key}: expected strings")
    return list(items)


def _pairs(mapping: dict, key: str) -> list[str]:
    if not all(isinstance(v, (str, int, bool)) for v in mapping.values()):
        raise CniError(INVALID_CONFIG, f"{key}: values must be strings")
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in mapping.items()]


def network_request(conf: NetConf) -> NetworkRequest:
    """The ``network create`` request the config stands for (see ``NETCTL``)."""
    raw = conf.raw
    options = _pairs(raw.get("options", {}), "options")
    if "mtu" in raw:
        options.append(f"mtu={raw['mtu']}")
    if "bridge" in raw:
        options.append(f"bridge={raw['bridge']}")
    if isinstance(raw.get("ipMasq"), bool):
        options.append(f"masquerade={str(raw['ipMasq']).lower()}")
    return NetworkRequest(
        name=conf.name, driver=raw.get("driver"),
        subnets=_strings(raw.get("subnet", []), "subnet"),
        gateways=_strings(raw.get("gateway", []), "gateway"),
        ip_ranges=_strings(raw.get("ipRange", []), "ipRange"),
        aux_addresses=_pairs(raw.get("auxAddress", {}), "auxAddress"),
        ipv6=bool(raw.get("ipv6", False)), internal=bool(raw.get("internal", False)),
        labels=_pairs(raw.get("labels", {}), "labels"), options=options)


@dataclass
class Attachment:
    """``network connect`` options for one ADD: ``--ip``, ``--ip6``, ``--mac``, ``--alias``, ``-p``."""

    ip: str | None = None
    ip6: str | None = None
    mac: str | None = None
    aliases: list[str] = field(default_factory=list)
    publish: list[str] = field(default_factory=list)
    cidrs: list[str] = field(default_factory=list)  # the ips as asked, prefix included


def endpoint_options(conf: NetConf, cni_args: dict[str, str]) -> Attachment:
    """runtimeConfig (capabilities ips, mac, portMappings, aliases) first, then
    ``args.cni`` (CONVENTIONS.md), then CNI_ARGS ``IP``/``MAC``; unknown CNI_ARGS are
    ignored, as ``IgnoreUnknown`` asks of every plugin."""
    rc, cargs = conf.runtime, conf.args.get("cni") or {}
    if not isinstance(cargs, dict):
        raise CniError(INVALID_CONFIG, "args.cni must be an object")
    ips = rc.get("ips") or cargs.get("ips") or [a for a in cni_args.get("IP", "").split(",") if a]
    out = Attachment(mac=rc.get("mac") or cargs.get("mac") or cni_args.get("MAC") or None)
    out.cidrs = _strings(ips, "ips")
    for cidr in out.cidrs:
        addr = cidr.split("/")[0]
        if not addr:  # "" asked nothing, and got an address of netctl's choosing
            raise CniError(INVALID_CONFIG, f"ips: invalid address {cidr!r}")
        if ":" in addr:
            out.ip6 = _once(out.ip6, addr, "IPv6")
        else:
            out.ip = _once(out.ip, addr, "IPv4")
    if out.mac is not None and not isinstance(out.mac, str):
        raise CniError(INVALID_CONFIG, "mac: expected a string")
    aliases = rc.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise CniError(INVALID_CONFIG, "runtimeConfig.aliases must map network names to lists")
    out.aliases = _strings(aliases.get(conf.name, []), "aliases")
    out.publish = [_port(m) for m in rc.get("portMappings") or []]
    return out


def ips_outside(net, cidrs: list[str]) -> list[str]:
    """The asked ``ips`` whose prefix is not a subnet of ``net``: 10.88.0.5/16 on a /24 got
    the /24 without a word.  (An address without a prefix takes the subnet's.)"""
    from ipaddress import ip_interface, ip_network

    subnets = {ip_network(s.subnet) for s in net.subnets}
    try:
        return [c for c in cidrs if "/" in c and ip_interface(c).network not in subnets]
    except ValueError as exc:
        raise CniError(INVALID_CONFIG, f"ips: {exc}") from None


def _once(have: str | None, addr: str, family: str) -> str:
    if have is not None:
        raise CniError(INVALID_CONFIG, f"more than one {family} address asked (netctl gives one per family)")
    return addr


def _port(mapping: Any) -> str:
    """One ``portMappings`` entry as a ``-p`` value: ``[HOST_IP:]HOST_PORT:PORT/PROTO``."""
    if not isinstance(mapping, dict):
        raise CniError(INVALID_CONFIG, "portMappings: expected objects")
    host, inside = mapping.get("hostPort"), mapping.get("containerPort")
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in (host, inside)):
        # int() made true port 1 and 80.9 port 80: a wrong type must not publish a port
        raise CniError(INVALID_CONFIG, f"portMappings: bad entry {mapping!r}",
                       "hostPort and containerPort are required integers")
    proto, host_ip = mapping.get("protocol") or "tcp", mapping.get("hostIP") or ""
    if not isinstance(proto, str) or not isinstance(host_ip, str):
        raise CniError(INVALID_CONFIG, f"portMappings: bad entry {mapping!r}")
    return f"{host_ip + ':' if host_ip else ''}{host}:{inside}/{proto.lower()}"


def valid_attachments(conf: NetConf) -> set[tuple[str, str]]:
    """GC's ``cni.dev/valid-attachments``: (container ID, ifname) pairs to keep."""
    items = conf.raw.get("cni.dev/valid-attachments")
    if not isinstance(items, list):
        raise CniError(INVALID_CONFIG, "GC needs cni.dev/valid-attachments (a list)")
    out = set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("containerID"), str) \
                or not isinstance(item.get("ifname"), str):
            raise CniError(INVALID_CONFIG, f"cni.dev/valid-attachments: bad entry {item!r}")
        out.add((item["containerID"], item["ifname"]))
    return out


def network_mismatch(conf: NetConf, req, net) -> list[str]:
    """What the config asks that the existing network ``net`` does not have (only keys the
    config gives are compared): a netctl network is never changed by a plugin exec."""
    from ipaddress import ip_address, ip_network

    from .. import validate

    raw, out = conf.raw, []
    if req.driver and req.driver != net.driver:
        out.append(f"driver {req.driver} (network has {net.driver})")
    have_subnets = {ip_network(s.subnet) for s in net.subnets}
    have_gateways = {ip_address(s.gateway) for s in net.subnets if s.gateway}
    have_ranges = {ip_network(s.ip_range) for s in net.subnets if s.ip_range}
    for key, wanted, have, parse in (("subnet", req.subnets, have_subnets, ip_network),
                                     ("gateway", req.gateways, have_gateways, ip_address),
                                     ("ipRange", req.ip_ranges, have_ranges, ip_network)):
        for value in wanted:
            try:
                if parse(value) not in have:
                    out.append(f"{key} {value}")
            except ValueError:
                raise CniError(INVALID_CONFIG, f"invalid {key} {value!r}") from None
    for key in ("internal", "ipv6"):
        if key in raw and raw[key] != getattr(net, key):
            out.append(f"{key} {str(raw[key]).lower()}")
    try:
        options, labels = validate.options(req.options), validate.labels(req.labels)
    except validate.InvalidInput as exc:
        raise CniError(INVALID_CONFIG, str(exc)) from None
    out += [f"option {k}={v}" for k, v in options.items() if net.options.get(k) != v]
    out += [f"label {k}={v}" for k, v in labels.items() if net.labels.get(k) != v]
    return out


def conflist(net, state_path: str | None, version: str = "1.0.0") -> dict:
    """A network configuration list for an existing netctl network ``net``: what a runtime
    needs to attach containers to it (``netctl cni NETWORK``)."""
    plugin: dict[str, Any] = {"type": "netctl"}
    subnets = [s.subnet for s in net.subnets]
    if subnets:
        plugin["subnet"] = subnets[0] if len(subnets) == 1 else subnets
    if state_path:
        plugin["state"] = state_path
    plugin["capabilities"] = {"ips": True, "mac": True, "portMappings": True, "aliases": True}
    return {"cniVersion": version, "name": net.name, "plugins": [plugin]}
