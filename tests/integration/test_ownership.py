"""netctl never deletes or changes what it did not make, and refuses non-root callers early.

Foreign objects are made with ``ip`` (no ``netctl:`` alias): a bridge with an address, a veth
pair with one end on that bridge and the other in a foreign namespace, plus a bridge and a veth
whose *names* look like netctl's.  They must come through every netctl command that deletes
or repairs things untouched (all their attributes, MAC and MTU included).  A bridge adopted
with ``-o bridge=`` is addressed by netctl, and its MAC/MTU follow netctl's ports, so it only
has to survive ``network rm``.
"""

from __future__ import annotations

import json
import os
import pkgutil
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from netctl_runner import Forked, diff, kernel_snapshot
from reconcile_lab import Lab
from support import forkrun

import netctl

FOREIGN_LINKS = ("fbr0", "vethfor0", "br-0123456789ab", "veth1234567", "veth7654321")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _make_foreign() -> None:
    # fixed MACs: a bridge without one follows its ports' MACs, which would blur the comparison
    ip("link", "add", "fbr0", "address", "02:00:00:00:fb:00", "type", "bridge")
    ip("addr", "add", "192.168.250.1/24", "dev", "fbr0")
    ip("link", "set", "fbr0", "up")
    ip("netns", "add", "foreign")
    ip("link", "add", "vethfor0", "type", "veth", "peer", "name", "vethfor1")
    ip("link", "set", "vethfor0", "master", "fbr0", "up")
    ip("link", "set", "vethfor1", "netns", "foreign")
    ip("link", "add", "br-0123456789ab", "address", "02:00:00:00:fb:01", "type", "bridge")  # not ours
    ip("link", "add", "veth1234567", "type", "veth", "peer", "name", "veth7654321")
    ip("link", "set", "veth1234567", "alias", "someone else's")


def _foreign(nk) -> dict:
    snap = kernel_snapshot(nk)
    return {"host": {n: snap["host"]["links"].get(n) for n in FOREIGN_LINKS},
            "foreign": snap.get("ns:foreign"), "in list": "foreign" in snap["netns"]}


def test_foreign_objects_survive_repair_gc_rm_and_restore(lab):
    _make_foreign()
    before = _foreign(lab.nk)
    assert all(before["host"].values()) and before["in list"]
    lab.two_sandboxes()
    ip("link", "add", "fbr1", "type", "bridge")  # adopted: netctl addresses it, never deletes it
    lab.cli.ok("network", "create", "adopted", "-o", "bridge=fbr1", "--subnet", "192.168.251.0/24")
    lab.cli.ok("network", "connect", "adopted", "web")
    lab.nk.link_delete(lab.endpoint("db")["host_ifname"])
    lab.cli("network", "create", "killed", env={"NETCTL_FAULT": "save:kill"})
    lab.cli("sandbox", "create", "half", env={"NETCTL_FAULT": "save:kill"})
    found = lab.cli("check")
    assert found.code == 9 and "drift: namespace half: left over" in found.out
    assert "left over bridge" in found.out and "endpoint db (demo)" in found.out
    for args in (("check", "--repair"), ("gc",), ("restore",)):
        lab.cli.ok(*args)
        assert diff(before, _foreign(lab.nk)) == [], args
    lab.nk.netns_delete("db")
    lab.cli.ok("gc")
    lab.cli.ok("network", "disconnect", "adopted", "web")
    lab.cli.ok("network", "rm", "adopted")
    assert lab.nk.link_get("fbr1").kind == "bridge"
    lab.cli.ok("sandbox", "rm", "web")
    lab.cli.ok("network", "rm", "demo")
    lab.cli.ok("check", "--repair")
    assert diff(before, _foreign(lab.nk)) == []
    assert lab.cli.ok("network", "ls", "-q") == "" and lab.cli.ok("sandbox", "ls", "-q") == ""
    assert sorted(lab.nk.netns_list()) == ["foreign"]


def test_sandbox_create_refuses_a_foreign_namespace_name(lab):
    ip("netns", "add", "foreign")
    res = lab.cli("sandbox", "create", "foreign")
    assert res.code == 4 and "not netctl's" in res.err
    assert lab.nk.netns_list() == ["foreign"]
    assert lab.nk.link_get("lo", netns="foreign").alias is None
    assert not os.path.exists("/etc/netns/foreign")


def test_a_namespace_that_replaced_a_sandboxes_is_reported_but_never_touched(lab):
    lab.two_sandboxes()
    lab.nk.netns_delete("db")
    ip("netns", "add", "db")  # someone else's namespace now has the sandbox's name
    ip("-n", "db", "link", "add", "theirs0", "type", "veth", "peer", "name", "theirs1")
    before = kernel_snapshot(lab.nk)["ns:db"]
    res = lab.cli("check")
    assert res.code == 9
    assert "drift: sandbox db: namespace /run/netns/db is not netctl's" in res.out
    for args in (("check", "--repair"), ("restore",)):
        res = lab.cli(*args)
        assert res.code == 9 and "not netctl's" in res.err, args
    assert lab.cli.ok("gc") == ""
    res = lab.cli("sandbox", "rm", "db")
    assert res.code == 4 and "not the one netctl made" in res.err
    lab.cli.ok("sandbox", "rm", "-f", "db")  # forgets it, leaves the namespace alone
    assert kernel_snapshot(lab.nk)["ns:db"] == before
    assert lab.cli("check").code == 0


# --- several state files on one host ---

def test_two_state_files_never_touch_each_others_objects(lab, tmp_path):
    """B's leftover cleanup, check --repair, gc and restore leave A's bridge, namespaces and
    veths alone, and so do they links marked with an ID no state knows (old mark or not)."""
    lab.two_sandboxes()
    ip("link", "add", "vethunk0", "type", "veth", "peer", "name", "vethunk1")
    ip("link", "set", "vethunk0", "alias", "netctl:" + "f" * 64)  # the old mark, no state named
    ip("link", "add", "br-unknown", "type", "bridge")
    ip("link", "set", "br-unknown", "alias", f"netctl:0123456789abcdef:{'e' * 64}")
    ip("netns", "add", "unknown")
    ip("-n", "unknown", "link", "set", "lo", "alias", f"netctl:0123456789abcdef:{'d' * 64}")
    before = kernel_snapshot(lab.nk)
    assert lab.cli("check").code == 0
    b = Forked(tmp_path / "b.toml")
    b.ok("network", "create", "bnet")  # removes its own leftover bridges: none of these
    b.ok("sandbox", "create", "bsb")
    b.ok("network", "connect", "bnet", "bsb")
    for args in (("check", "--repair"), ("gc",), ("restore",)):
        assert b(*args).code == 0, args
    assert b("check").code == 0
    for args in (("check", "--repair"), ("gc",), ("restore",)):  # and A leaves B's alone
        assert lab.cli(*args).code == 0, args
    assert b("check").code == 0 and lab.cli("check").code == 0
    b.ok("sandbox", "rm", "bsb")
    b.ok("network", "rm", "bnet")
    assert diff(before, kernel_snapshot(lab.nk)) == []
    assert lab.tcp("web", "db").startswith("pong ping")


def test_another_states_namespace_name_is_refused_as_such(lab, tmp_path):
    b = Forked(tmp_path / "b.toml")
    b.ok("sandbox", "create", "shared")
    res = lab.cli("sandbox", "create", "shared")
    assert res.code == 4 and "another netctl state file's" in res.err
    assert b("check").code == 0
    b.ok("sandbox", "rm", "shared")


def test_another_states_bridge_is_not_adopted(lab, tmp_path):
    """``-o bridge=`` named A's bridge: B put its gateway on it (two states on one L2 segment,
    and A's ``network rm`` then pulled the bridge from under B's network)."""
    lab.two_sandboxes()
    bridge = lab.bridge("demo")
    before = kernel_snapshot(lab.nk)
    b = Forked(tmp_path / "b.toml")
    res = b("network", "create", "bnet", "--subnet", "10.78.0.0/24", "-o", f"bridge={bridge}")
    assert res.code == 4 and "belongs to another netctl network" in res.err, res
    assert b.ok("network", "ls", "-q") == ""
    assert diff(before, kernel_snapshot(lab.nk)) == []
    assert lab.cli("check").code == 0


def test_repair_never_takes_over_a_foreign_bridge_under_a_networks_bridge_name(lab):
    """The network's own bridge gone and someone else's made under its name: repair and
    restore adopted it silently (gateway added, set up), and ``network rm`` then set it down."""
    lab.two_sandboxes()
    bridge = lab.bridge("demo")
    lab.nk.link_delete(bridge)
    ip("link", "add", bridge, "address", "02:00:00:00:fb:02", "type", "bridge")
    before = kernel_snapshot(lab.nk)["host"]["links"][bridge]
    for args in (("check", "--repair"), ("restore",)):
        res = lab.cli(*args)
        assert res.code == 9 and "not the bridge netctl made" in res.err, (args, res)
        assert kernel_snapshot(lab.nk)["host"]["links"][bridge] == before
    lab.cli.ok("sandbox", "rm", "web", "db")
    lab.cli.ok("network", "rm", "demo")
    assert kernel_snapshot(lab.nk)["host"]["links"][bridge] == before
    ip("link", "del", bridge)


# --- privilege ---

MUTATING = [
    ("network", "create", "n2"),
    ("network", "rm", "demo"),
    ("network", "prune", "-f"),
    ("network", "connect", "demo", "db"),
    ("network", "disconnect", "demo", "web"),
    ("endpoint", "create", "demo", "e2"),
    ("endpoint", "rm", "-f", "web"),
    ("endpoint", "leave", "web", "web"),
    ("sandbox", "create", "s2"),
    ("sandbox", "rm", "web"),
    ("check",),
    ("check", "--repair"),
    ("gc",),
    ("restore",),
]
READING = [
    ("network", "ls"),
    ("network", "ls", "--format", "json"),
    ("network", "inspect", "demo"),
    ("endpoint", "ls"),
    ("endpoint", "inspect", "web"),
    ("sandbox", "ls"),
    ("sandbox", "inspect", "web"),
]


def _preload() -> None:
    """The unprivileged child cannot read this interpreter's tree (under /root), so every
    module a command imports lazily is imported before the fork."""
    import tomllib  # noqa: F401

    import tomli_w  # noqa: F401

    for mod in pkgutil.walk_packages(netctl.__path__, "netctl."):
        if mod.name != "netctl.__main__":  # that one runs the CLI
            __import__(mod.name)


def as_nobody(state: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI entry point in a child that dropped to uid/gid 65534 with no groups."""
    _preload()
    return forkrun.run(list(args), forkrun.clean_env(NETCTL_STATE=str(state)), forkrun.become_nobody,
                       timeout=30.0)


@pytest.fixture
def shared_state(nk, nstools):
    """A state file (and directory) that others may read, as /var/lib/netctl is."""
    directory = Path(tempfile.mkdtemp(dir="/var/lib/netctl"))
    directory.chmod(0o755)
    try:
        with Lab(directory / "state.toml", nk, nstools) as lab:
            yield lab
    finally:
        shutil.rmtree(directory)


def test_non_root_mutations_exit_6_with_a_hint_and_change_nothing(shared_state):
    lab = shared_state
    lab.two_sandboxes()
    lab.nk.link_delete(lab.endpoint("db")["host_ifname"])  # drift, so repair would act
    state = lab.cli.state.read_bytes()
    kernel = kernel_snapshot(lab.nk)
    for args in MUTATING:
        code, out, err = as_nobody(lab.cli.state, *args)
        assert code == 6, (args, code, err)
        assert out == "" and len(err.splitlines()) == 1 and "root" in err, (args, err)
        assert lab.cli.state.read_bytes() == state, args
    assert diff(kernel, kernel_snapshot(lab.nk)) == []


def test_non_root_can_read_a_readable_state(shared_state):
    lab = shared_state
    lab.two_sandboxes()
    for args in READING:
        code, out, err = as_nobody(lab.cli.state, *args)
        assert (code, err) == (0, ""), args
        assert out == lab.cli.ok(*args), args
    assert json.loads(as_nobody(lab.cli.state, "network", "inspect", "demo")[1])[0]["endpoint_count"] == 2
