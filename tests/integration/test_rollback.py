"""A failed command changes nothing: fault injection at every step, and a real failure.

For each command, a first run with ``NETCTL_TRACE`` and ``NETCTL_FAULT=save`` learns its steps
and must already leave everything as it was; then the command fails at every step, before and
after it, and each time the exit code is non-zero, stderr is one line, the state file keeps
its bytes and the kernel snapshot (host and every namespace: links, addresses, routes; the
namespaces and /etc/netns files) is the same. Finally the command runs for real, and must
change what the snapshot sees, so the comparison is known to be able to fail. These runs are
the CLI entry point in a forked child (a fresh process and environment, ~0.4 s less start-up
than ``python -m netctl``, which the real-failure test at the end uses).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from netctl_runner import Netctl, diff, kernel_snapshot


@pytest.fixture
def cli(tmp_path, kern):
    runner = Netctl(tmp_path / "state.toml", forked=True)  # setup and the matrix: fork
    yield runner
    runner.teardown()


def _state(cli: Netctl) -> bytes | None:
    return cli.state.read_bytes() if cli.state.exists() else None


def _assert_unchanged(cli: Netctl, kern, res, label: str, state: bytes | None, snap: dict,
                      fault: str | None = None) -> None:
    code, _out, err = res
    assert code != 0, f"{label}: succeeded"
    assert len(err.splitlines()) == 1, f"{label}: stderr is not one line:\n{err}"
    if fault:
        assert "injected fault" in err and repr(fault.split(":")[0]) in err, f"{label}: {err}"
    assert _state(cli) == state, f"{label}: the state file changed"
    changed = diff(snap, kernel_snapshot(kern))
    assert not changed, f"{label}: the kernel changed:\n" + "\n".join(changed)


def prove_rollback(cli: Netctl, kern, *args: str) -> list[str]:
    """Fail ``netctl ARGS`` at every step; return the step names (ending with "save")."""
    label = "netctl " + " ".join(args)
    state, snap = _state(cli), kernel_snapshot(kern)
    trace = cli.state.parent / "trace"
    trace.unlink(missing_ok=True)
    res = cli.fork(*args, env={"NETCTL_TRACE": str(trace), "NETCTL_FAULT": "save"})
    _assert_unchanged(cli, kern, res, f"{label} [save]", state, snap, "save")
    steps = trace.read_text().split()
    assert "save" in steps, steps
    steps = steps[: steps.index("save") + 1]  # what the rollback after it ran is traced too
    for step in dict.fromkeys(steps[:-1]):  # a repeated name fails at its first occurrence
        for fault in (step, f"{step}:after"):
            res = cli.fork(*args, env={"NETCTL_FAULT": fault})
            _assert_unchanged(cli, kern, res, f"{label} [{fault}]", state, snap, fault)
    cli.ok(*args)
    assert _state(cli) != state and diff(snap, kernel_snapshot(kern)), f"{label}: changed nothing"
    return steps


def test_network_create(cli, kern):
    cli.ok("network", "create", "base", "--subnet", "10.76.0.0/24")
    steps = prove_rollback(cli, kern, "network", "create", "rb", "--ipv6", "--subnet", "10.77.0.0/24",
                           "-o", "mtu=1400")
    # "forwarding" only while the suite's namespace still has it off (netctl never turns it off)
    assert [s for s in steps if s != "forwarding"] == [
        "bridge-create", "bridge-mark", "bridge-addr4", "bridge-ipv6", "bridge-addr6",
        "bridge-addr-ll", "bridge-up", "firewall", "save"]


def test_network_create_adopting_a_bridge(cli, kern):
    kern.bridge_create("brx", mac="02:00:00:00:77:01", alias="not netctl's")
    try:
        with open("/proc/sys/net/ipv6/conf/brx/disable_ipv6", "w") as f:
            f.write("1")  # the owner's choice, which a failed create must not undo
        steps = prove_rollback(cli, kern, "network", "create", "adopt", "--ipv6",
                               "--subnet", "10.78.0.0/24", "-o", "bridge=brx")
        assert "bridge-create" not in steps and "bridge-addr4" in steps
        cli.ok("network", "rm", "adopt")
        assert kern.link_get("brx") is not None  # adopted: never deleted
    finally:
        kern.link_delete("brx")


def test_sandbox_create(cli, kern):
    cli.ok("sandbox", "create", "keep")
    steps = prove_rollback(cli, kern, "sandbox", "create", "sx", "--hostname", "web", "--dns", "9.9.9.9",
                           "--add-host", "db:10.1.2.3")
    assert steps == ["netns-create", "netns-mounted", "netns-files", "save"]


def test_sandbox_create_keeps_foreign_etc_netns_files(cli, kern):
    """/etc/netns/NAME that someone else made survives a failed create."""
    mine = "/etc/netns/foreign"
    try:
        os.makedirs(mine)
        with open(f"{mine}/hosts", "w") as f:
            f.write("10.9.9.9 theirs\n")
        prove_rollback(cli, kern, "sandbox", "create", "foreign")
        cli.ok("sandbox", "rm", "foreign")
    finally:
        shutil.rmtree(mine, ignore_errors=True)


def test_endpoint_create(cli, kern):
    cli.ok("network", "create", "n", "--ipv6", "-o", "hairpin=true", "-o", "mtu=1400")
    cli.ok("endpoint", "create", "n", "first")
    steps = prove_rollback(cli, kern, "endpoint", "create", "n", "ep", "--alias", "web")
    assert steps == ["veth-create", "veth-mark", "veth-hairpin", "save"]


def _two_networks(cli: Netctl) -> None:
    cli.ok("network", "create", "n4", "--subnet", "10.80.0.0/24")
    cli.ok("network", "create", "n6", "--ipv6", "--subnet", "10.81.0.0/24")
    cli.ok("sandbox", "create", "a")
    cli.ok("network", "connect", "n4", "a")


def test_join_then_leave(cli, kern):
    _two_networks(cli)
    cli.ok("endpoint", "create", "n6", "e6")
    steps = prove_rollback(cli, kern, "endpoint", "join", "e6", "a", "--priority", "5")
    for step in ("join-move", "addr4", "ipv6-enable", "addr-extra", "link-up", "route-del", "route-add"):
        assert step in steps
    steps = prove_rollback(cli, kern, "endpoint", "leave", "e6", "a")
    assert {"leave-down", "leave-move", "route-del", "route-add"} <= set(steps)


def test_connect_then_disconnect(cli, kern):
    _two_networks(cli)
    steps = prove_rollback(cli, kern, "network", "connect", "n6", "a", "--priority", "5", "--alias", "web")
    for step in ("veth-create", "addr4", "ipv6-enable", "addr-extra", "link-up", "route-del", "route-add"):
        assert step in steps
    steps = prove_rollback(cli, kern, "network", "disconnect", "n6", "a")
    assert {"route-del", "route-add"} <= set(steps)


def test_connect_and_disconnect_with_published_ports(cli, kern):
    """The DNAT rules, the bridge's route_localnet and the veth's hairpin mode are steps too."""
    _two_networks(cli)
    cli.ok("sandbox", "create", "b")
    steps = prove_rollback(cli, kern, "network", "connect", "n4", "b", "-p", "18080:80",
                           "-p", "127.0.0.1:18081:81/udp")
    assert {"veth-hairpin", "firewall", "route-localnet"} <= set(steps)
    steps = prove_rollback(cli, kern, "network", "disconnect", "n4", "b")
    assert "firewall" in steps


def test_connect_to_and_disconnect_from_a_host_network(cli, kern):
    """The swap of the sandbox's own namespace for the host's, and back, undone at every step."""
    cli.ok("network", "create", "h", "-d", "host")
    cli.ok("sandbox", "create", "a")
    steps = prove_rollback(cli, kern, "network", "connect", "h", "a")
    assert {"netns-own-delete", "netns-host-bind"} <= set(steps)
    steps = prove_rollback(cli, kern, "network", "disconnect", "h", "a")
    assert {"netns-host-unbind", "netns-create"} <= set(steps)


def test_removals(cli, kern):
    """Deleting a link or a namespace cannot be undone, so it happens only once the state is
    saved: a failure before that leaves everything in place."""
    _two_networks(cli)
    cli.ok("network", "connect", "n6", "a", "--priority", "5")
    cli.ok("endpoint", "create", "n4", "parked")
    prove_rollback(cli, kern, "endpoint", "rm", "parked")
    prove_rollback(cli, kern, "endpoint", "rm", "-f", "n6/a")
    prove_rollback(cli, kern, "sandbox", "rm", "a")
    prove_rollback(cli, kern, "network", "rm", "n6")


def _netns_del(kern, name: str) -> None:
    """Remove the namespace behind netctl's back, as an admin would."""
    subprocess.run(["ip", "netns", "del", name], check=True, timeout=10)
    deadline = time.monotonic() + 3
    while any(x.kind == "veth" and x.master for x in kern.links()) and time.monotonic() < deadline:
        time.sleep(0.02)  # the kernel frees the dead namespace's veth pairs asynchronously


@pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2")
def test_namespace_removed_behind_our_back(cli, kern):
    cli.ok("network", "create", "n", "--subnet", "10.82.0.0/24")
    cli.ok("network", "create", "m", "--subnet", "10.83.0.0/24")
    cli.ok("sandbox", "create", "x")
    cli.ok("network", "connect", "n", "x")
    cli.ok("endpoint", "create", "m", "parked")
    _netns_del(kern, "x")
    state, snap = _state(cli), kernel_snapshot(kern)
    assert "x" not in snap["netns"] and snap["host"]["links"].keys() >= {"lo"}
    for args in (("network", "connect", "m", "x"), ("endpoint", "join", "parked", "x")):
        res = cli.run(*args)
        assert res.code == 3 and "namespace of sandbox 'x' is gone" in res.err, res
        _assert_unchanged(cli, kern, res, " ".join(args), state, snap)
    assert cli.ok("sandbox", "rm", "x").split() == ["x"]
    assert cli.names("sandbox") == [] and cli.names("endpoint") == ["parked"]
    assert kernel_snapshot(kern)["etc"] == {"/etc/netns": ""}
