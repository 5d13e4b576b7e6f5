"""A sandbox on a ``host`` network uses the host's namespace (docker's ``--network host``),
on the real kernel; the "host" here is the suite's own isolated namespace.  Nothing in it
may change: no lo mark, no route, no link."""

from __future__ import annotations

import os
from pathlib import Path

from netctl_runner import netns_view

from netctl.etcfiles import host_resolv_text
from netctl.kernel import netns as ns


def _ns_inode(lab, sandbox: str) -> int:
    return os.stat(f"/run/netns/{sandbox}").st_ino


def _exec_netns(lab, sandbox: str) -> str:
    res = lab.cli("sandbox", "exec", sandbox, "--", "readlink", "/proc/self/ns/net")
    assert res.code == 0, res.err
    return res.out.strip()


def test_a_sandbox_on_a_host_network_runs_in_the_host_namespace_and_changes_nothing_there(lab):
    lab.cli.ok("network", "create", "h", "-d", "host")
    lab.cli.ok("network", "create", "b", "--subnet", "10.91.0.0/24")
    lab.cli.ok("sandbox", "create", "s")
    host = os.readlink("/proc/self/ns/net")
    before = netns_view(lab.nk, None)
    assert _exec_netns(lab, "s") != host
    lab.cli.ok("network", "connect", "h", "s")
    assert _exec_netns(lab, "s") == host
    assert _ns_inode(lab, "s") == os.stat(ns.THREAD_NS).st_ino  # ip netns exec s … too
    assert lab.cli("check").code == 0
    for name, host_text in (("hosts", Path("/etc/hosts").read_text()), ("resolv.conf", host_resolv_text())):
        assert lab.cli.ok("sandbox", "exec", "s", "--", "cat", f"/etc/{name}") == host_text  # §7.4
    res = lab.cli("network", "connect", "b", "s")
    assert res.code == 4 and "cannot join other networks" in res.err
    assert lab.cli("check", "--repair").code == 0
    assert netns_view(lab.nk, None) == before  # lo unmarked, no route, no link changed
    lab.cli.ok("network", "disconnect", "h", "s")
    assert _exec_netns(lab, "s") != host
    assert lab.nk.link_get("lo", "s").owner is not None and lab.cli("check").code == 0
    lab.cli.ok("network", "connect", "b", "s")  # its own namespace again: any network goes
    assert netns_view(lab.nk, None)["routes"] == before["routes"]


def test_restore_binds_a_host_mode_sandbox_again_and_rm_only_unbinds(lab):
    lab.cli.ok("network", "create", "h", "-d", "host")
    lab.cli.ok("sandbox", "create", "s")
    lab.cli.ok("network", "connect", "h", "s")
    before = netns_view(lab.nk, None)
    lab.reboot()
    assert lab.cli("check").code == 9
    assert lab.cli("restore").code == 0
    assert _ns_inode(lab, "s") == os.stat(ns.THREAD_NS).st_ino and lab.cli("check").code == 0
    lab.cli.ok("sandbox", "rm", "s")
    assert not os.path.exists("/run/netns/s")
    assert netns_view(lab.nk, None) == before


def test_a_sandbox_on_other_networks_cannot_join_host_or_null(lab):
    lab.cli.ok("network", "create", "h", "-d", "host")
    lab.cli.ok("network", "create", "none", "-d", "null")
    lab.cli.ok("network", "create", "b", "--subnet", "10.92.0.0/24")
    lab.cli.ok("sandbox", "create", "s")
    lab.cli.ok("network", "connect", "b", "s")
    inode = _ns_inode(lab, "s")
    for net in ("h", "none"):
        res = lab.cli("network", "connect", net, "s")
        assert res.code == 4 and "cannot also join" in res.err
    assert _ns_inode(lab, "s") == inode and lab.cli("check").code == 0
