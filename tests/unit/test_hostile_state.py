"""A state file that parses but that netctl could never have written is refused (exit 8) and
left byte-for-byte alone: names that are not names, dangling references, duplicates, unknown
keys, absurd nesting (issue 8 §4).  The store checks it (netctl.consistency) before any command
sees it, so no name from the state is ever used as a path unchecked."""

from __future__ import annotations

import copy
import os

import pytest
import tomli_w
from test_store import _good_document, refused_unchanged

from netctl import consistency
from netctl.store import parse


@pytest.fixture
def path(tmp_path):
    return tmp_path / "state.toml"


def _two_endpoints() -> dict:
    """The full document with a second endpoint in the same network and sandbox."""
    doc = _good_document()
    ep2 = copy.deepcopy(doc["endpoints"][0])
    ep2.update(name="e2", id="d" * 64, mac="02:42:ac:12:00:03", ipv4="172.18.0.3/16",
               ipv6="fd00:1::3/64", ifname="eth1", host_ifname="veth7654321")
    doc["endpoints"].append(ep2)
    return doc


def _set(doc: dict, where: tuple, value) -> dict:
    *parents, last = where
    target = doc
    for key in parents:
        target = target[key]
    target[last] = value
    return doc


HOSTILE = [
    # names that are not names: they become paths under /etc/netns and /run/netns
    (("sandboxes", 0, "name"), "../../somewhere", "invalid name"),
    (("sandboxes", 0, "name"), ".", "invalid name"),
    (("sandboxes", 0, "name"), "a/b", "invalid name"),
    (("sandboxes", 0, "name"), "", "invalid name"),
    (("networks", 0, "name"), "..", "invalid name"),
    (("endpoints", 0, "name"), "x y", "invalid name"),
    (("sandboxes", 0, "hostname"), "box\n6.6.6.6 evil", "invalid hostname"),
    # interface names
    (("networks", 0, "bridge"), "br-waytoolongforlinux", "invalid interface name"),
    (("endpoints", 0, "ifname"), "eth 0", "invalid interface name"),
    (("endpoints", 0, "host_ifname"), "../veth", "invalid interface name"),
    (("endpoints", 0, "sandbox_ifname"), "", "invalid interface name"),
    # dangling references
    (("endpoints", 0, "network"), "f" * 64, "does not exist"),
    (("endpoints", 0, "sandbox"), "f" * 64, "does not exist"),
    # ids
    (("networks", 0, "id"), "", "invalid id"),
    (("sandboxes", 0, "id"), "../x", "invalid id"),
    # addresses that do not parse
    (("endpoints", 0, "ipv4"), "172.18.0.300/16", "invalid ipv4"),
    (("endpoints", 0, "ipv6"), "172.18.0.3/16", "not IPv6"),
    (("endpoints", 0, "mac"), "zz:42:ac:12:00:02", "invalid MAC"),
    (("networks", 0, "subnets", 0, "subnet"), "172.18.0.1/16", "subnet"),
    # rendered into resolv.conf and hosts: a line break would add lines of the editor's choosing
    (("sandboxes", 0, "dns"), ["1.1.1.1\nsearch evil"], "dns"),
    (("sandboxes", 0, "dns_search"), ["a\nnameserver 6.6.6.6"], "dns_search"),
    (("sandboxes", 0, "dns_options"), ["ndots:1\nnameserver 6.6.6.6"], "dns_options"),
    (("sandboxes", 0, "dns_options"), [""], "dns_options"),
    (("sandboxes", 0, "extra_hosts"), ["db:10.0.0.5\n6.6.6.7 evil"], "extra_hosts"),
    (("sandboxes", 0, "extra_hosts"), ["db"], "extra_hosts"),
    (("endpoints", 0, "aliases"), ["api\n6.6.6.6 evil"], "alias"),
    # what reaches the kernel on check --repair
    (("endpoints", 0, "link_local"), ["10.0.0.1/16"], "link_local"),
    (("endpoints", 0, "link_local"), ["zz"], "link_local"),
    (("endpoints", 0, "priority"), 2**80, "priority"),
    (("endpoints", 0, "ipv4"), "172.18.0.1/16", "used twice"),  # the gateway
    (("endpoints", 0, "ipv4"), "172.18.0.9/16", "used twice"),  # an aux address
    (("endpoints", 0, "ipv4"), "10.8.0.2/24", "in none of network"),
    (("endpoints", 0, "ipv6"), "fd00:2::2/64", "in none of network"),
    # read back by the driver and the counters (exit 1 from int('abc') or from the kernel)
    (("networks", 0, "options"), {"mtu": "abc"}, "options"),
    (("networks", 0, "options"), {"iface_prefix": "../x"}, "options"),
    (("networks", 0, "options"), {"icc": "maybe"}, "options"),
    (("networks", 0, "options"), {"nope": "1"}, "options"),
    (("networks", 0, "driver"), "overlay", "driver"),
    (("networks", 0, "driver"), "macvlan", "needs option parent"),  # the driver reads it
    (("sandboxes", 0, "ifindexes"), {"eth": 10**17}, "next interface"),
    (("sandboxes", 0, "ifindexes"), {"eth": -1}, "negative"),
    (("sandboxes", 0, "ifindexes"), {"../x": 0}, "next interface"),
    (("sandboxes", 0, "next_ifindex"), -2, "negative"),
    (("pool_index",), -5, "negative"),
    # published ports become nft rules (a garbled one was exit 1 'unexpected error' or nft's)
    (("endpoints", 0, "ports"), ["junk"], "ports: invalid published port"),
    (("endpoints", 0, "ports"), ["0.0.0.0:x:80/tcp"], "ports: invalid published port"),
    (("endpoints", 0, "ports"), ["0.0.0.0:8080:80"], "ports: invalid published port"),
    (("endpoints", 0, "ports"), ["0.0.0.0:8080:80/icmp"], "ports: invalid published port"),
    (("endpoints", 0, "ports"), ["0.0.0.0:8080:0/tcp"], "ports: invalid published port"),
    (("endpoints", 0, "ports"), ["1.2.3.4.5:8080:80/tcp"], "ports"),
]


@pytest.mark.parametrize(("where", "value", "message"), HOSTILE,
                         ids=[f"{'.'.join(map(str, w))}={v!r}" for w, v, _ in HOSTILE])
def test_inconsistent_values_are_refused(path, where, value, message):
    doc = _set(_good_document(), where, value)
    err = str(refused_unchanged(path, tomli_w.dumps(doc).encode()))
    assert "inconsistent state file" in err and message in err, err


DUPLICATES = [
    ("endpoint id", lambda d: _set(d, ("endpoints", 1, "id"), d["endpoints"][0]["id"])),
    ("name e1 is used twice", lambda d: _set(d, ("endpoints", 1, "name"), "e1")),
    ("address", lambda d: _set(d, ("endpoints", 1, "ipv4"), "172.18.0.2/16")),
    ("address", lambda d: _set(d, ("endpoints", 1, "ipv6"), "fd00:1::2/64")),
    ("mac", lambda d: _set(d, ("endpoints", 1, "mac"), "02:42:AC:12:00:02")),
    ("ifname eth0", lambda d: _set(d, ("endpoints", 1, "ifname"), "eth0")),
    ("network id", lambda d: d["networks"].append({**d["networks"][0], "name": "other"})),
    ("network name", lambda d: d["networks"].append({**d["networks"][0], "id": "e" * 64})),
    ("sandbox id", lambda d: d["sandboxes"].append({**d["sandboxes"][0], "name": "other"})),
    ("sandbox name", lambda d: d["sandboxes"].append({**d["sandboxes"][0], "id": "e" * 64})),
]


@pytest.mark.parametrize(("what", "change"), DUPLICATES, ids=[w for w, _ in DUPLICATES])
def test_duplicates_are_refused(path, what, change):
    doc = _two_endpoints()
    change(doc)
    err = str(refused_unchanged(path, tomli_w.dumps(doc).encode()))
    assert "inconsistent state file" in err and what in err, err


def test_the_two_endpoint_document_is_consistent(path):
    """The duplicate cases above differ from this document in one value only."""
    doc = _two_endpoints()
    state = parse(tomli_w.dumps(doc).encode(), path)
    assert consistency.first_problem(state) is None and len(state.endpoints) == 2


@pytest.mark.parametrize("where", [(), ("networks", 0), ("networks", 0, "subnets", 0),
                                   ("endpoints", 0), ("sandboxes", 0)])
def test_unknown_keys_are_refused_not_dropped(path, where):
    doc = _good_document()
    target = doc
    for key in where:
        target = target[key]
    target["from_the_future"] = "kept?"
    err = str(refused_unchanged(path, tomli_w.dumps(doc).encode()))
    assert "unknown key 'from_the_future'" in err, err


def test_deeply_nested_arrays_are_exit_8_not_a_recursion_error(path):
    data = b"schema = 1\nx = " + b"[" * 100_000 + b"]" * 100_000 + b"\n"
    assert "nested too deeply" in str(refused_unchanged(path, data))


# --- through the CLI: exit 8, one line, and nothing is touched ---------------------------------

def _hostile_state(cli, tmp_path, name: str) -> bytes:
    """A real state (network n1 + sandbox s1 connected), then s1 renamed to NAME by hand."""
    cli.ok("network", "create", "n1")
    cli.ok("sandbox", "create", "s1")
    cli.ok("network", "connect", "n1", "s1")
    data = cli.state.read_bytes().replace(b'name = "s1"', f'name = "{name}"'.encode())
    cli.state.write_bytes(data)
    return data


@pytest.mark.parametrize("name", ["../outside", "."])
def test_a_sandbox_named_like_a_path_is_refused_and_nothing_is_touched(cli, tmp_path, name):
    data = _hostile_state(cli, tmp_path, name)
    victim = (cli.etc / name).resolve()
    victim.mkdir(parents=True, exist_ok=True)
    (victim / "precious").write_text("keep me")
    listing = sorted(os.listdir(victim))
    kernel = cli.kernel_file.read_bytes()
    for argv in (["sandbox", "rm", "-f", name], ["sandbox", "create", "s2"],
                 ["network", "disconnect", "n1", name], ["check", "--repair"], ["gc"],
                 ["sandbox", "ls"], ["network", "create", "n2"]):
        res = cli(*argv)
        assert res.code == 8, (argv, res)
        assert res.err.startswith(f"netctl: {cli.state}: inconsistent state file") and \
            res.err.count("\n") == 1, res.err
    assert cli.state.read_bytes() == data and cli.kernel_file.read_bytes() == kernel
    assert (victim / "precious").read_text() == "keep me"
    assert sorted(os.listdir(victim)) == listing


def test_a_dangling_endpoint_is_exit_8_before_anything_is_saved(cli):
    cli.ok("network", "create", "n1")
    cli.ok("sandbox", "create", "s1")
    cli.ok("network", "connect", "n1", "s1")
    cli.ok("sandbox", "create", "s2")
    data = cli.state.read_bytes()
    state = parse(data, cli.state)
    dangling = data.replace(state.sandboxes[0].id.encode(), b"0" * 64)
    dangling = dangling.replace(f'id = "{"0" * 64}"'.encode(), f'id = "{state.sandboxes[0].id}"'.encode())
    cli.state.write_bytes(dangling)
    res = cli("network", "connect", "n1", "s2")
    assert res.code == 8 and "does not exist" in res.err, res
    assert cli.state.read_bytes() == dangling
