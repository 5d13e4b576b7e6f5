"""A sandbox's namespace and /etc/netns files are changed only while they are netctl's.

The namespace at ``/run/netns/NAME`` may be replaced by someone else's, or the path made a
symlink to another namespace (or to the one netctl itself runs in); ``/etc/netns/NAME`` or a
file in it may be a symlink.  Every command that would change something there refuses with
exit 4 and changes nothing (kernel, /etc/netns, state); ``sandbox rm -f`` forgets such a
sandbox and leaves the namespace and its files alone.  Also here: an adopted bridge is given
back as it was found, and a killed file write leaves nothing ``ip netns exec`` trips over.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from netctl_runner import diff, kernel_snapshot, netns_view, wait_until

THEIRS = "127.0.0.1 localhost theirs\n"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _foreign_db(lab, how: str) -> None:
    """Sandbox db's namespace is replaced by one that is not netctl's, with a default route
    and its own /etc/netns/db/hosts."""
    host_end = lab.endpoint("db")["host_ifname"]
    lab.nk.netns_delete("db")
    assert lab.ns.wait_gone(lab.nk, host_end)  # the kernel frees the old pair asynchronously
    target = "db" if how == "replaced" else "other"
    ip("netns", "add", target)
    ip("-n", target, "link", "add", "theirs0", "type", "veth", "peer", "name", "theirs1")
    ip("-n", target, "addr", "add", "10.99.0.2/24", "dev", "theirs0")
    ip("-n", target, "link", "set", "theirs1", "up")
    ip("-n", target, "link", "set", "theirs0", "up")
    ip("-n", target, "route", "add", "default", "via", "10.99.0.1")
    if how == "symlink":
        os.symlink("/run/netns/other", "/run/netns/db")
    Path("/etc/netns/db/hosts").write_text(THEIRS)


def _db_files(snapshot: dict) -> dict:
    return {k: v for k, v in snapshot["etc"].items() if k.startswith("/etc/netns/db")}


CHANGING = [
    ("network", "disconnect", "demo", "db"),
    ("network", "connect", "other", "db"),
    ("endpoint", "leave", "db", "db"),
    ("endpoint", "rm", "-f", "db"),
    ("endpoint", "join", "spare", "db"),
    ("sandbox", "rm", "db"),
]


@pytest.mark.parametrize("args", CHANGING, ids=lambda a: " ".join(a[:2]))
def test_a_replaced_namespace_is_refused_and_nothing_changes(lab, args):
    lab.two_sandboxes()
    lab.cli.ok("network", "create", "other", "--subnet", "10.78.0.0/24")
    lab.cli.ok("endpoint", "create", "other", "spare")
    _foreign_db(lab, "replaced")
    state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
    res = lab.cli(*args)
    assert res.code == 4 and "not the one netctl made for sandbox 'db'" in res.err, res
    assert lab.cli.state.read_bytes() == state
    assert diff(kernel, kernel_snapshot(lab.nk)) == []


@pytest.mark.parametrize("how", ["replaced", "symlink"])
def test_repair_and_restore_leave_a_foreign_namespace_and_its_files_alone(lab, how):
    lab.two_sandboxes()
    _foreign_db(lab, how)
    state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
    assert "namespace /run/netns/db is not netctl's" in lab.cli("check").out
    for args in (("check", "--repair"), ("restore",), ("endpoint", "create", "demo", "spare")):
        res = lab.cli(*args)
        after = kernel_snapshot(lab.nk)
        assert after["ns:db"] == kernel["ns:db"] and after["etc"] == kernel["etc"], args
        if args[0] != "endpoint":
            assert res.code == 9 and "not netctl's" in res.err, res
            assert lab.cli.state.read_bytes() == state
        else:  # a change on db's network re-renders db's files: not the foreign namespace's
            assert "/etc/netns/db not updated" in res.err, res
    assert Path("/etc/netns/db/hosts").read_text() == THEIRS


@pytest.mark.parametrize("how", ["replaced", "symlink"])
def test_sandbox_rm_force_forgets_the_sandbox_and_leaves_the_namespace(lab, how):
    lab.two_sandboxes()
    _foreign_db(lab, how)
    before = kernel_snapshot(lab.nk)
    lab.cli.ok("sandbox", "rm", "-f", "db")
    after = kernel_snapshot(lab.nk)
    assert after["ns:db"] == before["ns:db"] and _db_files(after) == _db_files(before)
    assert os.path.lexists("/run/netns/db") and Path("/etc/netns/db/hosts").read_text() == THEIRS
    assert lab.cli.ok("sandbox", "ls", "-q").split() == ["web"]
    assert [e["name"] for e in json.loads(lab.cli.ok("endpoint", "ls", "--format", "json"))] == ["web"]


def test_the_namespace_netctl_runs_in_is_never_a_sandbox(lab):
    """Even carrying the sandbox's mark (as it does when netctl runs inside the sandbox),
    the caller's own namespace under the sandbox's path is not the sandbox's."""
    lab.two_sandboxes()
    lab.cli.ok("network", "create", "other", "--subnet", "10.78.0.0/24")
    db = json.loads(lab.cli.ok("sandbox", "inspect", "db"))[0]["id"]
    veth = lab.endpoint("demo/db")["host_ifname"]
    lab.nk.netns_delete("db")
    # the kernel frees the dead namespace's veth pair asynchronously: wait, or the snapshot
    # below may still hold its host end (seen under load)
    assert wait_until(lambda: lab.nk.link_get(veth) is None)
    os.symlink(f"/proc/{os.getpid()}/ns/net", "/run/netns/db")
    ip("link", "set", "lo", "alias", f"netctl:{db}")
    try:
        state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
        for args in CHANGING[:2]:
            res = lab.cli(*args)
            assert res.code == 4 and "not the one netctl made" in res.err, (args, res)
        assert "namespace /run/netns/db is not netctl's" in lab.cli("check").out
        assert lab.cli.state.read_bytes() == state
        assert diff(kernel, kernel_snapshot(lab.nk)) == []
        lab.cli.ok("sandbox", "rm", "-f", "db")
        assert os.path.lexists("/run/netns/db")
    finally:
        os.unlink("/run/netns/db")
        ip("link", "set", "lo", "alias", "")


# --- an adopted bridge ---

def _bridge(name: str, mac: str, *addrs: str, up: bool = False, ipv6: bool = True) -> None:
    ip("link", "add", name, "address", mac, "type", "bridge")  # fixed MAC: see test_ownership
    for cidr in addrs:
        ip("addr", "add", cidr, "dev", name)
    Path(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6").write_text("0" if ipv6 else "1")
    if up:
        ip("link", "set", name, "up")


def test_an_adopted_bridge_is_given_back_as_it_was_found(lab):
    _bridge("fbr1", "02:00:00:00:fb:11", "192.168.252.1/24", ipv6=False)  # down, IPv6 off
    _bridge("fbr2", "02:00:00:00:fb:12", "10.67.0.1/24", up=True)  # already as netctl wants it
    before = netns_view(lab.nk, None)
    lab.cli.ok("network", "create", "a1", "-o", "bridge=fbr1", "-o", "mtu=1400", "--subnet", "10.66.0.0/24",
               "--ipv6")
    lab.cli.ok("network", "create", "a2", "-o", "bridge=fbr2", "--subnet", "10.67.0.0/24")
    fbr1 = lab.nk.link_get("fbr1")
    assert fbr1.up and "10.66.0.1/24" in fbr1.addresses
    lab.cli.ok("sandbox", "create", "s1")
    for net in ("a1", "a2"):
        lab.cli.ok("network", "connect", net, "s1")
    assert lab.nk.link_get("fbr1").mtu == 1400  # the kernel follows the ports' MTU...
    lab.cli.ok("sandbox", "rm", "s1")  # ...and goes back when they leave
    lab.cli.ok("network", "rm", "a1", "a2")
    assert diff(before, netns_view(lab.nk, None)) == []
    lab.cli.ok("network", "create", "again", "--subnet", "10.66.0.0/24")  # no host route blocks it
    lab.cli.ok("network", "rm", "again")


def test_a_rolled_back_adoption_and_a_repaired_one_are_given_back_too(lab):
    _bridge("fbr3", "02:00:00:00:fb:13")
    before = netns_view(lab.nk, None)
    res = lab.cli("network", "create", "a3", "-o", "bridge=fbr3", "--subnet", "10.68.0.0/24",
                  env={"NETCTL_FAULT": "bridge-up:after"})
    assert res.code == 1 and diff(before, netns_view(lab.nk, None)) == []
    lab.cli.ok("network", "create", "a3", "-o", "bridge=fbr3", "--subnet", "10.68.0.0/24")
    lab.nk.link_set_up("fbr3", False)
    lab.nk.addr_del("fbr3", "10.68.0.1/24")
    lab.cli.ok("check", "--repair")
    assert lab.nk.link_get("fbr3").up
    lab.cli.ok("network", "rm", "a3")
    assert diff(before, netns_view(lab.nk, None)) == []


# --- /etc/netns/NAME: never through a symlink, no stray temps ---

def test_a_symlinked_sandbox_directory_is_never_written_through(lab, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, "/etc/netns/s2")
    res = lab.cli("sandbox", "create", "s2")
    assert res.code == 4 and "/etc/netns/s2 is a symbolic link" in res.err, res
    assert lab.nk.netns_list() == [] and lab.cli.ok("sandbox", "ls", "-q") == ""
    lab.two_sandboxes()
    for entry in os.listdir("/etc/netns/db"):
        os.unlink(f"/etc/netns/db/{entry}")
    os.rmdir("/etc/netns/db")
    os.symlink(elsewhere, "/etc/netns/db")
    lab.cli.ok("sandbox", "create", "s3")
    res = lab.cli("network", "connect", "demo", "s3")  # db's hosts would gain s3
    assert res.code == 0 and "warning: /etc/netns/db is a symbolic link" in res.err, res
    assert "/etc/netns/db/hosts missing" in lab.cli("check").out
    res = lab.cli("sandbox", "rm", "db")
    assert res.code == 0 and "/etc/netns/db is a symbolic link" in res.err, res
    assert os.path.islink("/etc/netns/db") and os.listdir(elsewhere) == []


@pytest.mark.parametrize("fname", ["hosts", "resolv.conf"])
def test_a_symlinked_file_is_replaced_never_followed(lab, tmp_path, fname):
    lab.two_sandboxes()
    path = Path("/etc/netns/db") / fname
    victim = tmp_path / "victim"
    text = path.read_text()
    victim.write_text(text)  # even what netctl would write is no reason to keep the link
    path.unlink()
    path.symlink_to(victim)
    res = lab.cli("check")
    assert res.code == 9 and f"/etc/netns/db/{fname} missing" in res.out, res
    lab.cli.ok("check", "--repair")
    assert not path.is_symlink() and path.read_text() == text
    path.unlink()
    path.symlink_to(victim)
    lab.cli.ok("sandbox", "create", "s3", "--dns", "10.9.9.9")
    lab.cli.ok("network", "connect", "demo", "s3")  # db's hosts changes: written, not followed
    assert not path.is_symlink() and victim.read_text() == text


@pytest.mark.parametrize("fname", ["hosts", "resolv.conf"])
def test_a_fifo_in_place_of_a_file_is_replaced_never_waited_on(lab, fname):
    """Opening a FIFO blocks until a writer comes: ``network connect`` hung for ever after
    its save (where signals wait), and SIGTERM could not stop it."""
    lab.two_sandboxes()
    path = Path("/etc/netns/db") / fname
    path.unlink()
    os.mkfifo(path)
    lab.cli.timeout = 15
    res = lab.cli("check")
    assert res.code == 9 and f"/etc/netns/db/{fname} missing" in res.out, res
    lab.cli.ok("sandbox", "create", "s3")
    lab.cli.ok("network", "connect", "demo", "s3")  # db's files are re-rendered
    assert path.is_file() and not path.is_fifo()
    assert lab.cli("check").code == 0


def _exec_err(sandbox: str) -> str:
    res = subprocess.run(["ip", "netns", "exec", sandbox, "true"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stderr


def _strays() -> list[str]:
    return sorted(os.path.join(root, f) for root, _, files in os.walk("/etc/netns")
                  for f in files if f.startswith("."))


def test_a_killed_file_write_leaves_nothing_ip_netns_exec_trips_on(lab):
    lab.two_sandboxes()
    lab.cli.ok("sandbox", "create", "s3")
    res = lab.cli("network", "connect", "demo", "s3", env={"NETCTL_FAULT": "files-write:kill"})
    assert res.code == -9, res
    assert _strays() != [] and all(os.path.dirname(p) == "/etc/netns" for p in _strays())
    assert _exec_err("web") == "" and _exec_err("s3") == ""
    lab.cli.ok("network", "connect", "demo", "s3")  # the next write takes its place
    assert _strays() == [] and "s3" in Path("/etc/netns/web/hosts").read_text()


CLEANERS = [("check", "--repair"), ("network", "connect", "demo", "s3"), ("sandbox", "rm", "web")]


@pytest.mark.parametrize("cleaner", CLEANERS, ids=lambda a: " ".join(a[:2]))
def test_temps_a_killed_older_netctl_left_are_removed(lab, cleaner):
    lab.two_sandboxes()
    lab.cli.ok("sandbox", "create", "s3")
    Path("/etc/netns/web/.hosts.k1ll3d00").write_text("half")  # what mkstemp left inside
    Path("/etc/netns/.web.resolv.conf.tmp").write_text("half")
    assert ".hosts.k1ll3d00" in _exec_err("web")  # the bind error the issue reports
    lab.cli.ok(*cleaner)
    assert _strays() == []
    if cleaner[0] != "sandbox":
        assert _exec_err("web") == ""


def test_a_symlink_to_the_sandboxes_own_namespace_is_not_taken_either(lab):
    """netctl mounts a namespace onto a plain file: a symlink at the path is someone's
    arrangement, even when it leads to the namespace netctl made (moved by hand)."""
    lab.two_sandboxes()
    Path("/run/netns/moved").touch()
    subprocess.run(["mount", "--bind", "/run/netns/db", "/run/netns/moved"], check=True)
    subprocess.run(["umount", "/run/netns/db"], check=True)
    os.unlink("/run/netns/db")
    os.symlink("/run/netns/moved", "/run/netns/db")
    kernel = kernel_snapshot(lab.nk)
    res = lab.cli("network", "disconnect", "demo", "db")
    assert res.code == 4 and "not the one netctl made" in res.err, res
    assert diff(kernel, kernel_snapshot(lab.nk)) == []
    lab.cli.ok("sandbox", "rm", "-f", "db")
    assert os.path.islink("/run/netns/db") and "moved" in lab.nk.netns_list()


def test_deleting_a_symlinked_name_unlinks_it_and_keeps_the_mount(nk):
    nk.netns_create("real", alias="netctl:x")
    os.symlink("/run/netns/real", "/run/netns/alias")
    nk.netns_delete("alias")
    assert not os.path.lexists("/run/netns/alias") and nk.netns_list() == ["real"]
    assert nk.netns_mark("real") == "netctl:x"


def test_sandbox_rm_refuses_to_destroy_interfaces_someone_moved_in(lab):
    """Deleting the namespace would destroy the user's veth pair: rm is exit 4 naming it and
    changes nothing; rm -f takes the namespace down as asked."""
    lab.two_sandboxes()
    ip("link", "add", "mine0", "type", "veth", "peer", "name", "mine1")
    ip("link", "set", "mine1", "netns", "db")
    state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
    res = lab.cli("sandbox", "rm", "db")
    assert res.code == 4 and "mine1" in res.err and len(res.err.splitlines()) == 1
    assert lab.cli.state.read_bytes() == state
    assert diff(kernel, kernel_snapshot(lab.nk)) == []
    lab.cli.ok("sandbox", "rm", "-f", "db")
    assert not lab.nk.netns_exists("db")
    assert wait_until(lambda: lab.nk.link_get("mine0") is None)
