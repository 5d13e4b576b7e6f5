"""NetlinkKernel on the real kernel, read back over netlink, /proc/sys and /sys (all isolated)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
import threading

import pytest

from netctl import errors
from netctl.kernel.base import NETNS_ETC_DIR, NETNS_RUN_DIR, Route


def _errno(exc_info) -> int | None:
    return exc_info.value.errno


MARK = "netctl:0123456789abcdef:" + "a" * 64


def test_a_namespace_carries_its_mark_from_the_moment_it_is_mounted(nk, monkeypatch):
    """Another netctl looking at /run/netns/NAME at the first instant it exists already sees
    ``lo`` marked, so a kill right after the mount leaves a recognisable leftover."""
    from netctl.kernel import netns
    from netctl.kernel.netlink import NetlinkKernel

    seen = []

    def observe(name: str, when: str = "before") -> None:
        def look() -> None:
            with NetlinkKernel() as other:
                seen.append(other.link_get("lo", netns="t-early").alias)

        if (name, when) == ("netns-mounted", "before"):
            watcher = threading.Thread(target=look)
            watcher.start()
            watcher.join()

    monkeypatch.setattr(netns, "checkpoint", observe)
    nk.netns_create("t-early", alias=MARK)
    assert seen == [MARK] and nk.link_get("lo", netns="t-early").alias == MARK


def test_a_namespace_whose_create_fails_after_the_mount_is_gone(nk, monkeypatch):
    monkeypatch.setenv("NETCTL_FAULT", "netns-mounted")
    with pytest.raises(errors.InjectedFault):
        nk.netns_create("t-late", alias=MARK)
    assert not nk.netns_exists("t-late") and not os.path.exists(os.path.join(NETNS_RUN_DIR, "t-late"))
    monkeypatch.delenv("NETCTL_FAULT")
    nk.netns_create("t-late", alias=MARK)  # and the name is free again
    assert nk.link_get("lo", netns="t-late").alias == MARK


def test_netns_lifecycle(nk, nstools):
    nk.netns_create("t-ns")
    assert "t-ns" in nk.netns_list() and nk.netns_exists("t-ns")
    (lo,) = nk.links("t-ns")
    assert (lo.name, lo.up) == ("lo", True)
    assert set(lo.addresses) == {"127.0.0.1/8"}  # lo's IPv6 too is off until a v6 join (spec §7.2)
    conf = "/proc/sys/net/ipv6/conf/{}/disable_ipv6"
    assert nstools.read("t-ns", conf.format("all")) == "1"
    assert nstools.read("t-ns", conf.format("default")) == "1"
    assert nstools.read("t-ns", conf.format("lo")) == "1"
    with open(conf.format("all")) as f:
        assert f.read().strip() == "0", "the host's own setting must not change"
    with pytest.raises(errors.KernelError) as exc:
        nk.netns_create("t-ns")
    assert _errno(exc) == errno.EEXIST

    nk.netns_delete("t-ns")
    assert "t-ns" not in nk.netns_list() and not nk.netns_exists("t-ns")
    assert not os.path.exists(os.path.join(NETNS_RUN_DIR, "t-ns"))
    nk.netns_delete("t-ns")  # already gone: fine
    with pytest.raises(errors.KernelError) as exc:
        nk.links("t-ns")
    assert _errno(exc) == errno.ENOENT


def test_a_leftover_plain_file_is_not_a_namespace(nk):
    os.makedirs(NETNS_RUN_DIR, exist_ok=True)
    open(os.path.join(NETNS_RUN_DIR, "t-stale"), "w").close()
    assert not nk.netns_exists("t-stale") and "t-stale" not in nk.netns_list()
    nk.netns_create("t-stale")  # an interrupted create can be redone
    assert nk.netns_exists("t-stale")
    nk.netns_delete("t-stale")


def test_a_recreated_namespace_is_not_served_by_the_old_socket(nk):
    nk.netns_create("t-re")
    nk.veth_create("veth-re", "eth0", alias="netctl:re", peer_netns="t-re")
    nk.netns_delete("t-re")
    nk.netns_create("t-re")
    assert [x.name for x in nk.links("t-re")] == ["lo"]


def test_bridge_reads_back(nk):
    nk.bridge_create("br-t1", mac="02:42:0a:5b:00:01", alias="netctl:abc", mtu=1450)
    br = nk.link_get("br-t1")
    assert (br.kind, br.mac, br.mtu, br.up, br.owner) == ("bridge", "02:42:0a:5b:00:01", 1450, False, "abc")
    nk.addr_add("br-t1", "10.91.0.1/24")
    nk.link_set_up("br-t1")
    br = nk.link_get("br-t1")
    assert br.up and "10.91.0.1/24" in br.addresses
    with open("/proc/sys/net/ipv6/conf/br-t1/accept_ra") as f:
        assert f.read().strip() == "0"
    assert Route("10.91.0.0/24", None, "br-t1", "link", 4) in nk.routes()
    with pytest.raises(errors.KernelError) as exc:
        nk.bridge_create("br-t1", mac="02:42:0a:5b:00:09", alias="netctl:abc")
    assert _errno(exc) == errno.EEXIST


def test_veth_peer_is_born_in_the_namespace(nk, nstools):
    nk.netns_create("t-a")
    nk.bridge_create("br-t2", mac="02:42:0a:5c:00:01", alias="netctl:net")
    nk.veth_create(
        "veth-t2",
        "eth0",
        alias="netctl:ep",
        mtu=1400,
        master="br-t2",
        peer_netns="t-a",
        peer_mac="02:42:0a:5c:00:02",
    )
    host = nk.link_get("veth-t2")
    assert (host.kind, host.master, host.up, host.mtu, host.owner) == ("veth", "br-t2", True, 1400, "ep")
    assert nk.link_get("eth0") is None
    peer = nk.link_get("eth0", "t-a")
    assert (peer.kind, peer.mac, peer.mtu, peer.up, peer.owner) == (
        "veth",
        "02:42:0a:5c:00:02",
        1400,
        False,
        "ep",
    )
    assert nstools.read("t-a", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6") == "1"


def test_failed_veth_creates_leave_nothing(nk):
    nk.netns_create("t-b")
    nk.veth_create("veth-t3", "eth0", alias="netctl:x", peer_netns="t-b")
    cases = [
        ({"peer_netns": "t-missing"}, errno.ENOENT),
        ({"master": "br-missing"}, errno.ENODEV),
        ({"peer_netns": "t-b"}, errno.EEXIST),  # eth0 is taken in t-b
    ]
    for kwargs, code in cases:
        with pytest.raises(errors.KernelError) as exc:
            nk.veth_create("veth-t4", "eth0", alias="netctl:y", **kwargs)
        assert _errno(exc) == code, kwargs
        assert nk.link_get("veth-t4") is None


def test_link_move_both_ways_with_rename(nk):
    nk.netns_create("t-m")
    nk.veth_create("veth-m1", "vpeer-m1", alias="netctl:mv")
    mac = nk.link_get("vpeer-m1").mac
    nk.link_move("vpeer-m1", src=None, dst="t-m", new_name="eth1")
    assert nk.link_get("vpeer-m1") is None
    moved = nk.link_get("eth1", "t-m")
    assert (moved.mac, moved.owner, moved.up) == (mac, "mv", False)
    nk.link_move("eth1", src="t-m", dst=None, new_name="back-m1")
    assert nk.link_get("eth1", "t-m") is None
    assert nk.link_get("back-m1").mac == mac
    nk.link_delete("veth-m1")
    assert nk.link_get("back-m1") is None, "deleting one veth end deletes its peer"


def test_addresses_and_routes(nk, nstools):
    nk.netns_create("t-r")
    nk.veth_create("veth-r", "eth0", alias="netctl:r", peer_netns="t-r")
    nk.addr_add("veth-r", "10.92.0.1/24")
    nk.ipv6_enable("veth-r")
    nk.addr_add("veth-r", "fd92::1/64", nodad=True)
    nk.link_set_up("veth-r")
    nk.addr_add("eth0", "10.92.0.2/24", netns="t-r")
    nk.link_set_up("eth0", netns="t-r")
    nk.route_add("default", gateway="10.92.0.1", netns="t-r")
    nk.route_add("10.93.0.0/24", dev="eth0", netns="t-r")
    routes = nk.routes("t-r")
    assert Route("default", "10.92.0.1", "eth0", "universe", 4) in routes
    assert Route("10.92.0.0/24", None, "eth0", "link", 4) in routes
    assert Route("10.93.0.0/24", None, "eth0", "link", 4) in routes

    with pytest.raises(errors.KernelError) as exc:  # IPv6 is off in netctl's namespaces
        nk.addr_add("eth0", "fd92::2/64", netns="t-r")
    assert _errno(exc) == errno.EACCES and not isinstance(exc.value, errors.PermissionDenied)
    nk.ipv6_enable("eth0", "t-r")
    nk.addr_add("eth0", "fd92::2/64", netns="t-r", nodad=True)
    nk.route_add("default", gateway="fd92::1", netns="t-r")
    assert "fd92::2/64" in nk.link_get("eth0", "t-r").addresses
    shown = subprocess.run(
        ["ip", "netns", "exec", "t-r", "ip", "-6", "-o", "addr", "show", "dev", "eth0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (line,) = [x for x in shown.splitlines() if "fd92::2/64" in x]
    assert "nodad" in line and "tentative" not in line, "nodad: usable at once, no DAD wait"
    assert Route("default", "fd92::1", "eth0", "universe", 6) in nk.routes("t-r")

    with pytest.raises(errors.KernelError) as exc:
        nk.route_add("10.99.0.0/16", gateway="10.55.0.1", netns="t-r")
    assert _errno(exc) == errno.ENETUNREACH
    with pytest.raises(errors.KernelError) as exc:
        nk.route_add("default", gateway="10.92.0.1", netns="t-r")
    assert _errno(exc) == errno.EEXIST

    for dst, gw in (("default", "10.92.0.1"), ("default", "fd92::1"), ("10.93.0.0/24", None)):
        nk.route_del(dst, gateway=gw, netns="t-r")
        nk.route_del(dst, gateway=gw, netns="t-r")  # already gone: fine
    left = {(r.dst, r.family) for r in nk.routes("t-r")}
    assert not left & {("default", 4), ("default", 6), ("10.93.0.0/24", 4)}, "scope-link routes too"
    nk.addr_del("eth0", "10.92.0.2/24", netns="t-r")
    nk.addr_del("eth0", "10.92.0.2/24", netns="t-r")
    assert "10.92.0.2/24" not in nk.link_get("eth0", "t-r").addresses


def test_bridge_port_settings(nk):
    nk.bridge_create("br-t5", mac="02:42:0a:5d:00:01", alias="netctl:n5")
    nk.veth_create("veth-t5", "vp-t5", alias="netctl:e5", master="br-t5")
    nk.link_set_hairpin("veth-t5", True)
    with open("/sys/class/net/veth-t5/brport/hairpin_mode") as f:
        assert f.read().strip() == "1"
    nk.link_set_hairpin("veth-t5", False)
    with open("/sys/class/net/veth-t5/brport/hairpin_mode") as f:
        assert f.read().strip() == "0"
    nk.link_set_master("veth-t5", None)
    assert nk.link_get("veth-t5").master is None
    nk.link_set_master("veth-t5", "br-t5")
    assert nk.link_get("veth-t5").master == "br-t5"
    nk.link_set_mac("vp-t5", "02:42:0a:5d:00:05")
    assert nk.link_get("vp-t5").mac == "02:42:0a:5d:00:05"
    with pytest.raises(errors.KernelError) as exc:
        nk.link_set_master("veth-t5", "vp-t5")
    assert _errno(exc) == errno.EOPNOTSUPP
    nk.link_set_up("br-t5", False)
    assert not nk.link_get("br-t5").up


def test_missing_things(nk):
    with pytest.raises(errors.KernelError) as exc:
        nk.link_set_up("nope0")
    assert _errno(exc) == errno.ENODEV
    with pytest.raises(errors.KernelError) as exc:
        nk.addr_add("nope0", "10.1.1.1/24", netns="t-none")
    assert _errno(exc) == errno.ENOENT
    assert nk.link_get("nope0") is None
    nk.link_delete("nope0")
    nk.link_delete("nope0", netns="t-none")
    nk.addr_del("nope0", "10.1.1.1/24")
    nk.route_del("10.123.0.0/24")
    nk.route_del("default", netns="t-none")
    nk.netns_delete("t-none")


def test_lack_of_privilege_is_permission_denied():
    code = textwrap.dedent("""
        import os
        from netctl import errors
        from netctl.kernel.netlink import NetlinkKernel
        k = NetlinkKernel()
        os.setgid(65534); os.setuid(65534)
        try:
            k.bridge_create("br-nope", mac="02:00:00:00:00:01", alias="netctl:x")
        except errors.PermissionDenied as exc:
            print(exc.exit_code, exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("6 ") and "needs root (CAP_NET_ADMIN)" in out


def test_tcp_between_two_namespaces_on_one_bridge(nk, nstools):
    nk.bridge_create("br-t6", mac="02:42:0a:5e:00:01", alias="netctl:n6")
    nk.addr_add("br-t6", "10.94.0.1/24")
    nk.link_set_up("br-t6")
    for i, sb in enumerate(("t-s1", "t-s2"), start=2):
        nk.netns_create(sb)
        nk.veth_create(f"veth-{sb}", "eth0", alias="netctl:e", master="br-t6", peer_netns=sb)
        nk.addr_add("eth0", f"10.94.0.{i}/24", netns=sb)
        nk.link_set_up("eth0", netns=sb)
        nk.route_add("default", gateway="10.94.0.1", netns=sb)
    server = nstools.spawn(
        "t-s1",
        textwrap.dedent("""
        import socket
        s = socket.create_server(("10.94.0.2", 7777))
        print("ready", flush=True)
        c, peer = s.accept()
        c.sendall(b"pong " + c.recv(64) + b" from " + peer[0].encode())
        c.close()
    """),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout.readline().strip() == "ready"
        client = nstools.spawn(
            "t-s2",
            textwrap.dedent("""
            import socket
            with socket.create_connection(("10.94.0.2", 7777), timeout=5) as c:
                c.sendall(b"ping")
                print(c.recv(64).decode())
        """),
            stdout=subprocess.PIPE,
            text=True,
        )
        out, _ = client.communicate(timeout=10)
        assert out.strip() == "pong ping from 10.94.0.3"
    finally:
        server.kill()
        server.wait()


def test_exec_in_netns_sees_its_namespace_and_etc_files(nk, nstools):
    nk.netns_create("t-x")
    nk.veth_create("veth-x", "eth0", alias="netctl:x", peer_netns="t-x")
    etc = os.path.join(NETNS_ETC_DIR, "t-x")
    os.makedirs(etc)
    try:
        with open(os.path.join(etc, "hosts"), "w") as f:
            f.write("10.95.0.2\tt-x\n")
        show = (
            "import os, subprocess; print(open('/etc/hosts').read(), end=''); "
            "print(sorted(os.listdir('/sys/class/net')), flush=True); "  # before ip's own output
            "subprocess.run(['ip', '-o', 'link'])"
        )
        out = nstools.spawn("t-x", show, stdout=subprocess.PIPE, text=True).communicate(timeout=10)[0]
        lines = out.splitlines()
        assert lines[0] == "10.95.0.2\tt-x"
        assert lines[1] == "['eth0', 'lo']"
        assert sorted(line.split(":")[1].strip().split("@")[0] for line in lines[2:]) == ["eth0", "lo"]
    finally:
        shutil.rmtree(etc)


def test_exec_in_netns_failures(nk):
    nk.netns_create("t-y")
    launcher = (
        "import sys; from netctl.kernel.nsexec import exec_in_netns; exec_in_netns(sys.argv[1], sys.argv[2:])"
    )
    missing_cmd = subprocess.run(
        [sys.executable, "-c", launcher, "t-y", "no-such-command-xyz"], capture_output=True, text=True
    )
    assert missing_cmd.returncode == 127
    assert missing_cmd.stderr == "netctl: no-such-command-xyz: command not found\n"
    catch = (
        "import sys\nfrom netctl import errors\nfrom netctl.kernel.nsexec import exec_in_netns\n"
        "try:\n    exec_in_netns('t-none', ['true'])\n"
        "except errors.NotFound as exc:\n    print(exc.exit_code, exc)"
    )
    out = subprocess.run([sys.executable, "-c", catch], capture_output=True, text=True).stdout
    assert out.strip() == "3 network namespace t-none not found"


def test_per_namespace_sockets_are_bounded_and_reopened_on_demand(nk):
    """An apply of ~1,000 sandboxes touches ~1,000 namespaces in one process: keeping every
    namespace's socket ran pyroute2's select() past FD_SETSIZE. Only the most recent ones stay
    open, and a namespace whose socket was closed is simply reopened when used again."""
    from netctl.kernel.netlink import MAX_NETNS_SOCKETS

    names = [f"t-fd{i}" for i in range(MAX_NETNS_SOCKETS + 20)]
    fds_before = len(os.listdir("/proc/self/fd"))
    for name in names:
        nk.netns_create(name, alias=f"netctl:{name}")
        assert [x.name for x in nk.links(netns=name)] == ["lo"]
    open_ns = [n for n in nk._socks if n is not None]
    assert len(open_ns) == MAX_NETNS_SOCKETS and open_ns == names[-MAX_NETNS_SOCKETS:]
    grown = len(os.listdir("/proc/self/fd")) - fds_before
    assert grown <= 8 * MAX_NETNS_SOCKETS, grown  # bounded, not one set per namespace made
    first = names[0]  # closed long ago: used again, it is reopened and works
    nk.veth_create("veth-fd", "eth0", alias="netctl:x", peer_netns=first)
    assert sorted(x.name for x in nk.links(netns=first)) == ["eth0", "lo"]
    assert first in nk._socks and len([n for n in nk._socks if n is not None]) == MAX_NETNS_SOCKETS
