"""Sandboxes that adopt a namespace someone else made (``sandbox create --netns/--pid``).

On the real kernel: a namespace made with ``ip netns add`` and one held by a ``sleep``
process of its own (``unshare --net``) are adopted, connected to a bridge network, talk TCP
by name with a sandbox of netctl's, and keep their own interfaces and routes (compared
before and after) when ``sandbox rm`` takes netctl's endpoints and bind mount away.  An
adopted process that exits is reported by ``check`` and dropped by ``gc``; every refusal
changes nothing (kernel, /etc/netns, state file).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from netctl_runner import Forked, diff, kernel_snapshot, wait_until


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def own_view(nspath: str) -> dict:
    """A namespace's interfaces (name, kind, flags, MTU, MAC, addresses but link-local)
    and routes, read with ``ip -j`` from inside it: what adoption must leave alone."""
    def run(*args: str) -> list:
        out = subprocess.run(["nsenter", f"--net={nspath}", "ip", "-j", *args],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out or "[]")

    links = {x["ifname"]: (x.get("link_type"), sorted(x.get("flags", [])), x.get("mtu"), x.get("address"),
                           sorted(f"{a['local']}/{a['prefixlen']}" for a in x.get("addr_info", [])
                                  if not a["local"].startswith("fe80:")))
             for x in run("addr", "show")}
    routes = sorted(json.dumps(r, sort_keys=True) for r in run("route", "show", "table", "all")
                    if not r.get("dst", "").startswith("fe80") and r.get("type") != "multicast")
    return {"links": links, "routes": routes}


def furnish(nspath: str, addr: str, ifname: str = "own0") -> None:
    """Give a namespace interfaces and routes of its own (a veth pair, an address, a
    default route): what a container brings."""
    def run(*args: str) -> None:
        subprocess.run(["nsenter", f"--net={nspath}", "ip", *args], check=True, capture_output=True)

    run("link", "set", "lo", "up")
    run("link", "add", ifname, "type", "veth", "peer", "name", "own1")
    run("addr", "add", f"{addr}/24", "dev", ifname)
    run("link", "set", ifname, "up")
    run("link", "set", "own1", "up")
    run("route", "add", "default", "via", addr.rsplit(".", 1)[0] + ".1")


class Sleeper:
    """A process in a network namespace of its own (``unshare --net sleep``), as a
    container's; killed by its PID when the test ends."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["unshare", "--net", "sleep", "300"])
        home = os.readlink("/proc/self/ns/net")
        assert wait_until(lambda: os.readlink(f"/proc/{self.proc.pid}/ns/net") != home, 5.0)
        self.pid = self.proc.pid
        self.path = f"/proc/{self.pid}/ns/net"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def sleeper():
    s = Sleeper()
    yield s
    s.stop()


def names(lab, noun: str = "sandbox") -> list[str]:
    return lab.cli.names(noun)


def test_adopted_namespaces_talk_tcp_and_are_left_intact_by_rm(lab, sleeper):
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    lab.cli.ok("sandbox", "create", "web")
    lab.cli.ok("network", "connect", "demo", "web")
    ip("netns", "add", "theirs")
    furnish("/run/netns/theirs", "10.98.0.2")
    furnish(sleeper.path, "10.97.0.2", ifname="eth0")  # as a podman container's
    before = {p: own_view(p) for p in ("/run/netns/theirs", sleeper.path)}

    lab.cli.ok("sandbox", "create", "ipns", "--netns", "/run/netns/theirs")
    lab.cli.ok("sandbox", "create", "box", "--pid", str(sleeper.pid))
    for sb in ("ipns", "box"):
        lab.cli.ok("network", "connect", "demo", sb)
    assert lab.tcp("ipns", "web").startswith("pong ping from 10.77.0.")
    assert lab.tcp("web", "box").startswith("pong ping from 10.77.0.2")
    assert lab.tcp("box", "ipns").startswith("pong ping from 10.77.0.")
    assert lab.cli("check").code == 0  # their own default routes and lo are no drift
    assert lab.endpoint("box")["ifname"] == "eth1"  # the container has an eth0 of its own
    # their default routes stay theirs: netctl adds none beside them
    assert [(r.gateway, r.dev) for r in lab.nk.routes(netns="box") if r.dst == "default"] == [
        ("10.97.0.1", "eth0")]

    lab.cli.ok("sandbox", "rm", "ipns", "box")
    assert names(lab) == ["web"] and names(lab, "endpoint") == ["web"]
    assert {p: own_view(p) for p in before} == before
    assert sorted(lab.nk.netns_list()) == ["theirs", "web"]  # only netctl's bind mounts went
    assert not Path("/etc/netns/ipns").exists() and not Path("/etc/netns/box").exists()
    assert sleeper.proc.poll() is None
    assert [x.name for x in lab.nk.links() if x.kind == "veth"] == [lab.endpoint("web")["host_ifname"]]


def test_a_netns_adopted_where_it_is_keeps_its_name_after_rm(lab):
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    ip("netns", "add", "ctr")
    furnish("/run/netns/ctr", "10.98.0.2")
    before = own_view("/run/netns/ctr")
    lab.cli.ok("sandbox", "create", "ctr", "--netns", "/run/netns/ctr")
    lab.cli.ok("network", "connect", "demo", "ctr")
    assert lab.nk.link_get("eth0", netns="ctr") is not None
    lab.cli.ok("network", "disconnect", "demo", "ctr")
    assert own_view("/run/netns/ctr") == before
    lab.cli.ok("network", "connect", "demo", "ctr")
    lab.cli.ok("sandbox", "rm", "ctr")
    assert lab.nk.netns_list() == ["ctr"] and own_view("/run/netns/ctr") == before


def test_check_reports_and_gc_drops_an_adopted_process_that_exited(lab):
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    box = Sleeper()
    try:
        lab.cli.ok("sandbox", "create", "box", "--pid", str(box.pid))
        lab.cli.ok("network", "connect", "demo", "box")
        host_end = lab.endpoint("box")["host_ifname"]
        # a namespace without a default route of its own gets netctl's, as a sandbox does
        assert [(r.gateway, r.dev) for r in lab.nk.routes(netns="box") if r.dst == "default"] == [
            ("10.77.0.1", "eth0")]
    finally:
        box.stop()
    res = lab.cli("check")
    assert res.code == 9 and f"process {box.pid} of the adopted namespace exited" in res.out, res
    assert lab.cli.ok("gc", "--dry-run").split() == ["box"]
    assert lab.cli.ok("gc").split() == ["box"]
    assert names(lab) == [] and names(lab, "endpoint") == []
    assert lab.nk.netns_list() == [] and lab.nk.link_get(host_end) is None
    assert lab.cli("check").code == 0


def test_restore_never_recreates_an_adopted_namespace(lab):
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    ip("netns", "add", "theirs")
    lab.cli.ok("sandbox", "create", "ipns", "--netns", "/run/netns/theirs")
    lab.cli.ok("network", "connect", "demo", "ipns")
    lab.reboot()
    lab.cli.ok("restore")
    assert names(lab) == [] and names(lab, "endpoint") == []
    assert lab.nk.netns_list() == []


def test_rm_f_of_an_adopted_namespace_that_changed_only_forgets_it(lab):
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    lab.cli.ok("network", "create", "net2", "--subnet", "10.78.0.0/24")
    ip("netns", "add", "theirs")
    ip("netns", "add", "other")
    furnish("/run/netns/other", "10.96.0.2")
    lab.cli.ok("sandbox", "create", "ipns", "--netns", "/run/netns/theirs")
    lab.cli.ok("network", "connect", "demo", "ipns")
    subprocess.run(["umount", "/run/netns/ipns"], check=True)
    subprocess.run(["mount", "--bind", "/run/netns/other", "/run/netns/ipns"], check=True)
    state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
    for args in (("sandbox", "rm", "ipns"), ("network", "disconnect", "demo", "ipns"),
                 ("network", "connect", "net2", "ipns")):
        res = lab.cli(*args)
        assert res.code == 4 and "not the one netctl adopted for sandbox 'ipns'" in res.err, res
    assert lab.cli.state.read_bytes() == state and diff(kernel, kernel_snapshot(lab.nk)) == []
    before = own_view("/run/netns/ipns")
    lab.cli.ok("sandbox", "rm", "-f", "ipns")
    assert names(lab) == [] and own_view("/run/netns/ipns") == before
    assert sorted(lab.nk.netns_list()) == ["ipns", "other", "theirs"]


@pytest.fixture
def refusal_lab(lab, sleeper, tmp_path):
    """web (netctl's), box (an adopted process), a free ``ip netns add`` namespace spare,
    and a sandbox of another state file."""
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    lab.cli.ok("network", "create", "hostnet", "-d", "host")
    lab.cli.ok("sandbox", "create", "web")
    lab.cli.ok("sandbox", "create", "box", "--pid", str(sleeper.pid))
    ip("netns", "add", "spare")
    other = Forked(tmp_path / "other.toml")
    other.ok("sandbox", "create", "elsewhere")
    os.symlink("/run/netns/spare", tmp_path / "link")
    lab.sleeper, lab.tmp = sleeper, tmp_path
    yield lab
    other.teardown()


REFUSALS = [
    (["--pid", "1"], 4, "init's network namespace"),
    (["--netns", "/proc/1/ns/net"], 4, "init's network namespace"),
    (["--pid", "{self}"], 4, "host's network namespace"),
    (["--netns", "/proc/{self}/ns/net"], 4, "host's network namespace"),
    (["--netns", "/run/netns/web"], 4, "namespace of sandbox 'web'"),
    (["--pid", "{box}"], 4, "already adopted as sandbox 'box'"),
    (["--netns", "/run/netns/box"], 4, "already adopted as sandbox 'box'"),
    (["--netns", "/run/netns/elsewhere"], 4, "a sandbox of another netctl state file"),
    (["--netns", "/proc/self/ns/net"], 4, "host's network namespace"),
    (["--netns", "/etc/hostname"], 2, "is not a network namespace"),
    (["--netns", "/proc/{box}/ns/uts"], 2, "is not a network namespace"),
    (["--netns", "/dev/null"], 2, "is not a network namespace"),
    (["--netns", "/run/netns"], 2, "is not a network namespace"),
    (["--netns", "{tmp}/link"], 2, "is a symbolic link"),
    (["--netns", "/run/netns/nosuch"], 3, "no such file"),
    (["--pid", "99999999"], 3, "no process 99999999"),
    (["--pid", "0"], 2, "invalid --pid 0"),
    (["--netns", "/run/netns/spare", "--pid", "{box}"], 2, "exactly one of"),
    (["--hosts-file", "/etc/hosts"], 2, "--hosts-file needs --netns or --pid"),
]


@pytest.mark.parametrize(("args", "code", "message"), REFUSALS, ids=lambda v: str(v))
def test_adoption_refusals_change_nothing(refusal_lab, args, code, message):
    lab = refusal_lab
    args = [a.format(self=os.getpid(), box=lab.sleeper.pid, tmp=lab.tmp) for a in args]
    state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
    res = lab.cli("sandbox", "create", "new", *args)
    assert res.code == code and message in res.err and len(res.err.splitlines()) == 1, res
    assert lab.cli.state.read_bytes() == state
    assert diff(kernel, kernel_snapshot(lab.nk)) == []


@pytest.mark.parametrize(("name", "message"), [("box", "sandbox 'box' already exists"),
                                                ("spare2", "/run/netns/spare2 exists")])
def test_a_taken_name_is_refused(refusal_lab, name, message):
    lab = refusal_lab
    ip("netns", "add", "spare2")
    state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
    res = lab.cli("sandbox", "create", name, "--netns", "/run/netns/spare")
    assert res.code == 4 and message in res.err, res
    assert lab.cli.state.read_bytes() == state and diff(kernel, kernel_snapshot(lab.nk)) == []


def test_an_adopted_sandbox_cannot_join_a_host_network(refusal_lab):
    lab = refusal_lab
    state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
    res = lab.cli("network", "connect", "hostnet", "box")
    assert res.code == 4 and "cannot join a host network" in res.err, res
    assert lab.cli.state.read_bytes() == state and diff(kernel, kernel_snapshot(lab.nk)) == []


def test_hosts_file_is_written_in_place_for_the_container(lab, sleeper, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.97.0.2 box-own-entry\n")
    inode = hosts.stat().st_ino
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    lab.cli.ok("sandbox", "create", "box", "--pid", str(sleeper.pid), "--hosts-file", str(hosts))
    lab.cli.ok("network", "connect", "demo", "box")
    lab.cli.ok("sandbox", "create", "web")
    lab.cli.ok("network", "connect", "demo", "web")  # a peer joining later reaches the copy too
    text = hosts.read_text()
    assert text == Path("/etc/netns/box/hosts").read_text() and "web" in text and "box" in text
    assert hosts.stat().st_ino == inode  # in place: a container's bind mount keeps seeing it
    assert json.loads(lab.cli.ok("sandbox", "inspect", "box"))[0]["hosts_file"] == str(hosts)
    lab.cli.ok("sandbox", "rm", "box")
    assert hosts.read_text() == text  # the container's file: left as it is


@pytest.mark.parametrize(("kind", "code", "message"), [
    ("symlink", 2, "is a symbolic link"), ("missing", 3, "no such file"),
    ("directory", 2, "is not a regular file"), ("relative", 2, "an absolute path")])
def test_a_hosts_file_netctl_would_not_write_is_refused(refusal_lab, kind, code, message):
    lab, target = refusal_lab, refusal_lab.tmp / "hosts"
    target.write_text("theirs\n")
    paths = {"symlink": lab.tmp / "hosts-link", "missing": lab.tmp / "nosuch",
             "directory": lab.tmp, "relative": Path("hosts")}
    if kind == "symlink":
        os.symlink(target, paths["symlink"])
    state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
    res = lab.cli("sandbox", "create", "new", "--netns", "/run/netns/spare", "--hosts-file", str(paths[kind]))
    assert res.code == code and message in res.err, res
    assert lab.cli.state.read_bytes() == state and diff(kernel, kernel_snapshot(lab.nk)) == []
    assert target.read_text() == "theirs\n"


def test_a_failed_adoption_or_connect_changes_nothing(lab, sleeper):
    """Fault injection at every step of adopting and of connecting an adopted namespace."""
    from test_rollback import prove_rollback

    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    furnish(sleeper.path, "10.97.0.2")
    steps = prove_rollback(lab.cli, lab.nk, "sandbox", "create", "box", "--pid", str(sleeper.pid))
    assert steps == ["netns-adopt", "netns-files", "save"]
    before = own_view(sleeper.path)
    steps = prove_rollback(lab.cli, lab.nk, "network", "connect", "demo", "box")
    assert "veth-create" in steps
    steps = prove_rollback(lab.cli, lab.nk, "sandbox", "rm", "box")
    assert own_view(sleeper.path) == before


def test_adoption_runs_inside_a_plan_session_as_a_batch_line(lab, sleeper, tmp_path):
    """service.adopt is an ordinary operation of a plan (batch, and the CNI entry): one
    lock and save for the lines, a failing line undone on its own."""
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    ip("netns", "add", "theirs")
    script = tmp_path / "lines"
    script.write_text(f"sandbox create box --pid {sleeper.pid}\nnetwork connect demo box\n"
                      "sandbox create ipns --netns /run/netns/theirs\nnetwork connect nosuch ipns\n")
    res = lab.cli("batch", "-f", str(script))
    assert res.code == 3, res
    assert names(lab) == ["box", "ipns"] and lab.nk.link_get("eth0", netns="box") is not None
    assert lab.cli("check").code == 0


def test_a_namespace_another_state_adopted_and_connected_is_refused(lab, tmp_path):
    """Another state file's adopted namespace has no mark on lo, but its endpoint's
    interface carries that state's mark: seen, and refused."""
    ip("netns", "add", "shared")
    other = Forked(tmp_path / "other.toml")
    other.ok("network", "create", "onet", "--subnet", "10.79.0.0/24")
    other.ok("sandbox", "create", "theirs", "--netns", "/run/netns/shared")
    other.ok("network", "connect", "onet", "theirs")
    try:
        lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
        state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
        res = lab.cli("sandbox", "create", "mine", "--netns", "/run/netns/shared")
        assert res.code == 4 and "an interface of a netctl endpoint of another state file" in res.err, res
        assert lab.cli.state.read_bytes() == state and diff(kernel, kernel_snapshot(lab.nk)) == []
    finally:
        other.teardown()
    assert lab.nk.netns_list() == ["shared"]  # the other state's rm left the namespace too


def test_endpoint_leave_never_moves_a_namespace_s_own_interface_out(lab):
    """The container deleted netctl's eth0 (which takes the veth pair) and made an eth0 of
    its own: ``endpoint leave`` finds that name but not the endpoint's mark, so it leaves
    the interface where it is instead of taking it down and out to the host, renamed."""
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    ip("netns", "add", "theirs")
    lab.cli.ok("sandbox", "create", "ipns", "--netns", "/run/netns/theirs")
    lab.cli.ok("network", "connect", "demo", "ipns")
    ep = lab.endpoint("ipns")
    ip("-n", "theirs", "link", "del", "eth0")
    furnish("/run/netns/theirs", "10.98.0.2", ifname="eth0")
    before = own_view("/run/netns/theirs")
    lab.cli.ok("endpoint", "leave", ep["name"], "ipns")
    assert own_view("/run/netns/theirs") == before
    assert lab.nk.link_get(ep["sandbox_ifname"]) is None  # nothing of theirs parked on the host


def test_a_fifo_as_hosts_file_is_refused_without_opening_it(refusal_lab):
    """Opening a FIFO releases a writer blocked on it (which then dies of SIGPIPE), and
    opening a device can act: the type is judged before the file is opened for data."""
    lab, fifo = refusal_lab, refusal_lab.tmp / "fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"exec 3>{fifo}"])
    try:
        assert wait_until(lambda: Path(f"/proc/{writer.pid}/wchan").read_text() == "wait_for_partner", 5.0)
        res = lab.cli("sandbox", "create", "new", "--netns", "/run/netns/spare", "--hosts-file", str(fifo))
        assert res.code == 2 and "is not a regular file" in res.err, res
        assert writer.poll() is None  # still blocked: netctl never opened the FIFO
    finally:
        writer.kill()
        writer.wait()


def test_a_directory_at_run_netns_name_is_a_taken_name(refusal_lab):
    """Exit 4 (a name taken under /run/netns), not a kernel failure (1); left as it was."""
    lab = refusal_lab
    os.mkdir("/run/netns/dirname")
    try:
        state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
        res = lab.cli("sandbox", "create", "dirname", "--netns", "/run/netns/spare")
        assert res.code == 4 and "/run/netns/dirname exists" in res.err, res
        assert lab.cli.state.read_bytes() == state and diff(kernel, kernel_snapshot(lab.nk)) == []
        assert os.path.isdir("/run/netns/dirname")
    finally:
        os.rmdir("/run/netns/dirname")


def test_a_bind_a_killed_adopt_left_is_never_recorded_as_someone_elses(refusal_lab):
    """Killed after its bind mount and before the save, an adopt leaves /run/netns/NAME
    holding the very namespace it adopts.  Adopting again must not take that mount for one
    someone else made (``bound`` 0: rm would leave netctl's own mount, pinning the namespace,
    forever): only PATH /run/netns/NAME itself is adopted where it is; this is a taken name."""
    lab = refusal_lab
    res = lab.cli.run("sandbox", "create", "new", "--netns", "/run/netns/spare",
                      env={"NETCTL_FAULT": "netns-files:kill"})
    assert res.code == -9 and "new" in lab.nk.netns_list(), res
    state = lab.cli.state.read_bytes()
    res = lab.cli("sandbox", "create", "new", "--netns", "/run/netns/spare")
    assert res.code == 4 and "/run/netns/new exists" in res.err, res
    assert lab.cli.state.read_bytes() == state
    subprocess.run(["umount", "/run/netns/new"], check=True)
    os.unlink("/run/netns/new")
    ip("netns", "add", "new")  # the documented way: PATH /run/netns/NAME itself (/var/run too)
    lab.cli.ok("sandbox", "create", "new", "--netns", "/var/run/netns/new")
    lab.cli.ok("sandbox", "rm", "new")
    assert "new" in lab.nk.netns_list()  # adopted where it was: rm leaves that name


def test_a_hosts_file_that_is_no_hosts_file_or_the_host_s_own_is_refused(refusal_lab):
    """--hosts-file replaces the file's content: a passwd-like file (a slip of the finger),
    another sandbox's /etc/netns/NAME/hosts (netctl's, maybe of another state file) and the
    host's own /etc/hosts (the path a container reads, but on the host) are refused with
    nothing written.  The host's file is a copy bind-mounted over /etc/hosts in the
    suite's private mount namespace, so the machine's is never at risk."""
    lab = refusal_lab
    passwd = lab.tmp / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    fake_etc_hosts = lab.tmp / "etc-hosts"
    fake_etc_hosts.write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
    subprocess.run(["mount", "--bind", str(fake_etc_hosts), "/etc/hosts"], check=True)
    try:
        assert os.stat("/etc/hosts").st_ino == fake_etc_hosts.stat().st_ino
        lab.cli.ok("sandbox", "create", "peer")
        peer = Path("/etc/netns/peer/hosts")
        peer_text = peer.read_text()
        state, kernel = lab.cli.state.read_bytes(), kernel_snapshot(lab.nk)
        for path, message in ((passwd, "is not a hosts file"), (peer, "a sandbox's own files"),
                              ("/proc/self/mem", "cannot be read"),  # a regular file, EIO on read
                              ("/etc/hosts", "is the host's own /etc/hosts")):
            res = lab.cli("sandbox", "create", "new", "--netns", "/run/netns/spare",
                          "--hosts-file", str(path))
            assert res.code == 2 and message in res.err and len(res.err.splitlines()) == 1, res
        assert lab.cli.state.read_bytes() == state and diff(kernel, kernel_snapshot(lab.nk)) == []
        assert fake_etc_hosts.read_text() == "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
        assert passwd.read_text().startswith("root:x:0:0:") and peer.read_text() == peer_text
    finally:
        subprocess.run(["umount", "/etc/hosts"], check=True)


def test_disconnect_deletes_netctl_s_default_route_not_theirs_via_the_same_gateway(lab):
    """After netctl's IPv6 default via the gateway, the container adds its own default via
    the same address on its own interface, with a lower metric.  Deleting by gateway alone
    hit the kernel's first match, theirs: netctl deletes its route by device too."""
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24", "--ipv6", "--subnet", "fd00:77::/64")
    ip("netns", "add", "theirs")
    lab.cli.ok("sandbox", "create", "ipns", "--netns", "/run/netns/theirs")
    lab.cli.ok("network", "connect", "demo", "ipns")
    for args in (("link", "add", "own0", "type", "veth", "peer", "name", "own1"),
                 ("link", "set", "own0", "up"), ("link", "set", "own1", "up"),
                 ("addr", "add", "fd00:77::9/64", "dev", "own0", "nodad"),
                 ("-6", "route", "add", "default", "via", "fd00:77::1", "dev", "own0", "metric", "100")):
        ip("-n", "theirs", *args)
    before = own_view("/run/netns/theirs")
    assert any('"dev": "own0"' in r and '"dst": "default"' in r for r in before["routes"])
    lab.cli.ok("network", "disconnect", "demo", "ipns")
    assert own_view("/run/netns/theirs")["routes"] == [
        r for r in before["routes"] if '"dev": "eth0"' not in r]


def test_a_thread_s_namespace_path_is_tracked_like_its_process(lab):
    """/proc/PID/task/TID/ns/net names a thread (the kernel's own link, followed): its exit
    is reported by check and cleaned by gc as for /proc/PID/ns/net, not kept bound forever."""
    box = Sleeper()
    try:
        lab.cli.ok("sandbox", "create", "box", "--netns", f"/proc/{box.pid}/task/{box.pid}/ns/net")
        assert json.loads(lab.cli.ok("sandbox", "inspect", "box"))[0]["pid"] == box.pid
    finally:
        box.stop()
    res = lab.cli("check")
    assert res.code == 9 and f"process {box.pid} of the adopted namespace exited" in res.out, res
    assert lab.cli.ok("gc").split() == ["box"] and lab.nk.netns_list() == []


def test_repair_rebinds_a_running_container_s_namespace_instead_of_tearing_it_down(lab, sleeper):
    """Someone removed /run/netns/NAME while the adopted process runs on in the very
    namespace adopted: the namespace is not gone, only netctl's bind.  gc keeps the sandbox
    and check --repair binds it again (as it re-creates a namespace netctl made), instead
    of dropping it and deleting netctl's interfaces from the running container."""
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    lab.cli.ok("sandbox", "create", "box", "--pid", str(sleeper.pid))
    lab.cli.ok("network", "connect", "demo", "box")
    subprocess.run(["umount", "/run/netns/box"], check=True)
    os.unlink("/run/netns/box")
    assert lab.cli("check").code == 9
    assert lab.cli.ok("gc", "--dry-run").split() == []
    lab.cli.ok("check", "--repair")
    assert names(lab) == ["box"] and lab.cli("check").code == 0
    assert "eth0" in own_view(sleeper.path)["links"]
    lab.cli.ok("sandbox", "rm", "box")
    assert lab.nk.netns_list() == [] and sleeper.proc.poll() is None
