"""``netctl apply``/``destroy``/``batch`` on the real kernel (inside the suite's namespaces):
the small lab from examples/ built, checked over TCP by name, applied again (no change),
changed (one connection added, one removed: only those change), a fault in the middle of an
apply (kernel, state and /etc/netns exactly as before), destroyed (nothing left); and a
batch whose failing line in the middle stops it there."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path

import pytest
from netctl_runner import Netctl, diff, kernel_snapshot, left_behind

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PORT = 5302
SERVER = f"PORT = {PORT}\n" + r"""
import socket
srv = socket.socket()
srv.bind(("0.0.0.0", PORT))
srv.listen()
srv.settimeout(20)
print("listening", flush=True)
for _ in range(2):
    conn, peer = srv.accept()
    with conn:
        conn.sendall(b"hi " + peer[0].encode())
"""
CLIENT = f"PORT = {PORT}\n" + r"""
import json, socket, sys
out = {}
for host in sys.argv[1:]:
    with socket.create_connection((host, PORT), timeout=10) as s:
        out[host] = s.recv(1024).decode()
print(json.dumps(out))
"""


@pytest.fixture
def cli(tmp_path, kern):
    before = kernel_snapshot(kern)
    runner = Netctl(tmp_path / "state.toml")
    runner.env["NETCTL_CONFIG"] = "/dev/null"
    yield runner
    runner.teardown()
    left = left_behind(before, kernel_snapshot(kern))
    assert not left, "netctl left this behind:\n" + "\n".join(left)


@pytest.fixture
def lab_file(tmp_path) -> Path:
    path = tmp_path / "small-lab.toml"
    path.write_text((EXAMPLES / "small-lab.toml").read_text())
    return path


def addresses(cli) -> dict[str, str]:
    rows = json.loads(cli.ok("endpoint", "ls", "--format", "json"))
    return {f"{r['sandbox']}@{r['network']}": r["ipv4"] for r in rows}


def bridge_id(cli, network: str) -> str:
    return json.loads(cli.ok("network", "inspect", network))[0]["id"]


def inside(kern, sandbox: str) -> dict[str, tuple[str, ...]]:
    return {x.name: tuple(a for a in x.addresses if not a.startswith("fe80:"))
            for x in kern.links(sandbox) if x.name != "lo"}


def tcp(cli, client: str, server: str, *hosts: str) -> dict[str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "netctl", "sandbox", "exec", server, "--",
                             sys.executable, "-c", SERVER], env=cli.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready and proc.stdout.readline().strip() == "listening", proc.stderr.read()
        code, out, err = cli("sandbox", "exec", client, "--", sys.executable, "-c", CLIENT, *hosts)
        assert code == 0, err
        proc.wait(timeout=20)
        return json.loads(out)
    finally:
        if proc.poll() is None:
            proc.kill()  # our own child, by PID
        proc.wait(timeout=10)


def test_small_lab_built_checked_reapplied_changed_destroyed(cli, kern, lab_file, tmp_path):
    before = kernel_snapshot(kern)
    cli.ok("apply", "-f", str(lab_file))
    assert addresses(cli) == {"web@front": "10.10.0.2/24", "web@back": "10.20.0.2/24",
                              "db@back": "10.20.0.5/24"}
    assert inside(kern, "web") == {"eth0": ("10.10.0.2/24",), "eth1": ("10.20.0.2/24",)}
    assert inside(kern, "db") == {"eth0": ("10.20.0.5/24",)}
    # TCP by name: db's hostname and its alias on "back", from web's hosts file
    assert tcp(cli, "web", "db", "database", "pg") == {"database": "hi 10.20.0.2",
                                                         "pg": "hi 10.20.0.2"}

    built, state = kernel_snapshot(kern), cli.state.read_bytes()
    trace = tmp_path / "trace"
    code, out, err = cli("apply", "-f", str(lab_file), env={"NETCTL_TRACE": str(trace)})
    assert (code, out) == (0, "") and "nothing to do" in err
    assert not trace.exists()  # not one changing step
    assert diff(built, kernel_snapshot(kern)) == [] and cli.state.read_bytes() == state

    text = lab_file.read_text()
    lab_file.write_text(text.replace('connect = ["front", "back"]', 'connect = ["front"]')
                        .replace('aliases = ["pg"] }]', 'aliases = ["pg"] }, "front"]'))
    cli.ok("apply", "-f", str(lab_file))
    assert addresses(cli) == {"web@front": "10.10.0.2/24", "db@back": "10.20.0.5/24",
                              "db@front": "10.10.0.3/24"}
    assert inside(kern, "web") == {"eth0": ("10.10.0.2/24",)}
    assert inside(kern, "db") == {"eth0": ("10.20.0.5/24",), "eth1": ("10.10.0.3/24",)}
    after = kernel_snapshot(kern)
    for ns in ("ns:web", "ns:db"):  # the kept connections are the same links, untouched
        assert after[ns]["links"]["eth0"] == built[ns]["links"]["eth0"]
    assert after["host"]["links"]["br-" + bridge_id(cli, "back")[:12]][:4] == \
        built["host"]["links"]["br-" + bridge_id(cli, "back")[:12]][:4]

    cli.ok("destroy", "-f", str(lab_file))
    assert addresses(cli) == {} and cli.names("network") == [] and cli.names("sandbox") == []
    assert left_behind(before, kernel_snapshot(kern)) == []


@pytest.mark.parametrize("fault", ["route-add", "veth-create:after", "link-up"])
def test_a_fault_in_the_middle_of_an_apply_leaves_everything_as_it_was(cli, kern, lab_file, fault):
    """Two bridges, two namespaces and their files are made before the fault hits the first
    connect: all of it is undone, and what was there before (another network, a sandbox on
    it) is untouched."""
    for args in (("network", "create", "other", "--subnet", "10.60.0.0/24"),
                 ("sandbox", "create", "x"), ("network", "connect", "other", "x")):
        cli.ok(*args)
    before, state = kernel_snapshot(kern), cli.state.read_bytes()
    code, _, err = cli("apply", "-f", str(lab_file), env={"NETCTL_FAULT": fault})
    assert code == 1 and "sandboxes.web.connect[0]" in err and "injected fault" in err, err
    assert left_behind(before, kernel_snapshot(kern)) == []
    assert cli.state.read_bytes() == state


def test_a_batch_stops_at_its_failing_line(cli, kern, tmp_path):
    cmds = tmp_path / "lab.batch"
    cmds.write_text("# build\nnetwork create n1 --subnet 10.70.0.0/24\nsandbox create a\n"
                    "network connect n1 a\n\nnetwork connect n1 nowhere\nsandbox create b\n")
    code, _, err = cli("batch", "-f", str(cmds))
    assert code == 3
    assert err == f"netctl: {cmds}:6: network connect: sandbox 'nowhere' not found\n"
    assert cli.names("sandbox") == ["a"] and kern.netns_list() == ["a"]
    assert inside(kern, "a") == {"eth0": ("10.70.0.2/24",)}
    code, _, err = cli("batch", "-f", str(cmds), "--continue")
    assert code == 4 and f"{cmds}:2:" in err and f"{cmds}:6:" in err
    assert sorted(cli.names("sandbox")) == ["a", "b"]


@pytest.mark.parametrize("fault", [None, "bridge-release:after", "bridge-create:after", "veth-create"])
def test_a_replace_is_part_of_the_one_transaction(cli, kern, lab_file, fault):
    """front's MTU changes (a replace: its endpoints disconnected, the network made again,
    web reconnected) and db's hostname (an update in place).  A fault anywhere in it leaves
    kernel, state and /etc/netns exactly as before; without one, check finds no drift."""
    cli.ok("apply", "-f", str(lab_file))
    lab_file.write_text(lab_file.read_text().replace(
        'subnet = "10.10.0.0/24"', 'subnet = "10.10.0.0/24"\noptions = { mtu = 1400 }').replace(
        'hostname = "database"', 'hostname = "db2"'))
    before, state = kernel_snapshot(kern), cli.state.read_bytes()
    code, out, err = cli("apply", "-f", str(lab_file), env={"NETCTL_FAULT": fault} if fault else {})
    if fault:
        assert code == 1 and "injected fault" in err, err
        assert left_behind(before, kernel_snapshot(kern)) == []
        assert cli.state.read_bytes() == state
        return
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["disconnect", "update", "replace",
                                                                  "reconnect"]
    assert kern.link_get("eth2", netns="web").mtu == 1400
    assert "db2" in (Path("/etc/netns/web/hosts").read_text())
    cli.ok("check")
    cli.ok("destroy", "-f", str(lab_file))


@pytest.mark.parametrize("fault", [None, "addr-release:after", "veth-create:after"])
def test_a_changed_address_reconnects_on_the_same_subnet(cli, kern, lab_file, fault):
    """db's ip changes: disconnect and connect on the same network in one transaction (the
    old interface, deleted only after the save, gives up its address and route at once)."""
    cli.ok("apply", "-f", str(lab_file))
    lab_file.write_text(lab_file.read_text().replace("10.20.0.5", "10.20.0.6"))
    before, state = kernel_snapshot(kern), cli.state.read_bytes()
    code, out, err = cli("apply", "-f", str(lab_file), env={"NETCTL_FAULT": fault} if fault else {})
    if fault:
        assert code == 1 and "sandboxes.db.connect[0]" in err, err
        assert left_behind(before, kernel_snapshot(kern)) == [] and cli.state.read_bytes() == state
        return
    assert code == 0, err
    assert inside(kern, "db") == {"eth1": ("10.20.0.6/24",)}
    assert addresses(cli)["db@back"] == "10.20.0.6/24"
    cli.ok("check")
