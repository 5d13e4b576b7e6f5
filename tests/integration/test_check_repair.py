"""check finds drift on the real kernel, check --repair and gc fix it, connectivity returns."""

from __future__ import annotations

from netctl_runner import wait_until


def test_a_fresh_setup_checks_clean(lab):
    lab.two_sandboxes()
    res = lab.cli.subprocess("check")  # the console entry, in a new interpreter
    assert (res.code, res.out, res.err) == (0, "", "")


def test_deleted_veth_exit_9_then_repair_then_tcp_by_name_again(lab):
    lab.two_sandboxes()
    web = lab.endpoint("web")
    assert lab.tcp("db", "web") == f"pong ping from {lab.endpoint('db')['ipv4'].split('/')[0]}"
    lab.nk.link_delete(web["host_ifname"])  # behind netctl's back: eth0 in web dies with it
    res = lab.cli.subprocess("check")
    assert res.code == 9
    assert f"drift: endpoint web (demo): host veth {web['host_ifname']} missing" in res.out.splitlines()
    assert "drift: sandbox web: default route via 10.77.0.1 dev eth0 missing" in res.out.splitlines()
    res = lab.cli("check", "--repair")
    assert res.code == 0, res.err
    assert f"repaired: endpoint web (demo): host veth {web['host_ifname']} missing" in res.out
    assert lab.cli("check").code == 0
    inside = lab.nk.link_get("eth0", netns="web")
    assert inside.mac == web["mac"] and web["ipv4"] in inside.addresses and inside.up
    host = lab.nk.link_get(web["host_ifname"])
    assert host.up and host.master == lab.bridge("demo") and host.owner == web["id"]
    assert lab.tcp("db", "web").startswith("pong ping from 10.77.0.3")
    assert lab.tcp("web", "db").startswith("pong ping from 10.77.0.2")


def test_bridge_lost_its_address_and_went_down(lab):
    lab.two_sandboxes()
    bridge = lab.bridge("demo")
    lab.nk.addr_del(bridge, "10.77.0.1/24")
    lab.nk.link_set_up(bridge, False)
    res = lab.cli("check")
    assert res.code == 9
    assert f"drift: network demo: bridge {bridge} down" in res.out
    assert f"drift: network demo: bridge {bridge} lacks gateway address 10.77.0.1/24" in res.out
    assert lab.cli("check", "--repair").code == 0
    link = lab.nk.link_get(bridge)
    assert link.up and "10.77.0.1/24" in link.addresses
    assert lab.cli("check").code == 0
    assert lab.tcp("web", "db").startswith("pong")


def test_vanished_namespace_is_collected_by_gc(lab):
    lab.two_sandboxes()
    db = lab.endpoint("db")
    lab.nk.netns_delete("db")
    res = lab.cli("check")
    assert (res.code, res.out) == (9, "drift: sandbox db: namespace /run/netns/db missing\n")
    assert lab.cli.ok("gc", "--dry-run") == "db\n"
    assert lab.cli.ok("gc") == "db\n"
    assert lab.cli.ok("sandbox", "ls", "--format", "{name}").split() == ["web"]
    assert lab.cli("endpoint", "inspect", "db").code == 3
    assert wait_until(lambda: lab.nk.link_get(db["host_ifname"]) is None)
    assert lab.cli("check").code == 0
    lab.cli.ok("sandbox", "create", "db")
    lab.cli.ok("network", "connect", "demo", "db")
    assert lab.endpoint("db")["ipv4"] == db["ipv4"]  # its address was released
    assert lab.tcp("web", "db").startswith("pong")


def _kill_at(lab, step: str, *args: str):
    res = lab.cli(*args, env={"NETCTL_FAULT": f"{step}:kill"})
    assert res.code == -9, res  # SIGKILLed where asked
    return res


def test_leftovers_of_killed_runs_are_tolerated_then_removed_by_repair(lab):
    """SIGKILL after the kernel work, before the state save, leaves marked objects no state
    object owns: a bridge, a namespace, a veth pair with one end inside a sandbox."""
    lab.two_sandboxes()
    lab.cli.ok("network", "create", "back", "--subnet", "10.79.0.0/24")
    _kill_at(lab, "save", "network", "create", "killed", "--subnet", "10.78.0.0/24")
    _kill_at(lab, "save", "sandbox", "create", "half")
    _kill_at(lab, "save", "network", "connect", "back", "web")
    assert lab.nk.link_get("eth1", netns="web").owner is not None
    assert "half" in lab.nk.netns_list()
    # the next commands work past them
    assert lab.cli.ok("network", "ls", "--format", "{name}").split() == ["demo", "back"]
    lab.cli.ok("endpoint", "create", "back", "spare")
    res = lab.cli("check")
    assert res.code == 9
    orphans = [line for line in res.out.splitlines() if "left over" in line]
    assert any(line.startswith("drift: namespace half:") for line in orphans)
    assert any("link eth1 in sandbox web" in line for line in orphans)
    assert sum("left over bridge" in line for line in orphans) == 1
    assert lab.cli("check", "--repair").code == 0
    assert lab.cli("check").code == 0
    assert "half" not in lab.nk.netns_list()
    assert lab.nk.link_get("eth1", netns="web") is None
    assert sorted(x.name for x in lab.nk.links() if x.kind == "bridge") == sorted(
        lab.bridge(n) for n in ("demo", "back"))
    # and the killed commands can simply be run again
    lab.cli.ok("network", "create", "killed", "--subnet", "10.78.0.0/24")
    lab.cli.ok("sandbox", "create", "half")
    lab.cli.ok("network", "connect", "back", "web")
    lab.cli.ok("network", "connect", "back", "half")
    assert lab.tcp("half", "web", "web.back").startswith("pong ping from 10.79.0.")
    assert lab.cli("check").code == 0


def test_next_connect_replaces_a_killed_connects_leftover_in_the_sandbox(lab):
    lab.two_sandboxes()
    lab.cli.ok("network", "create", "back", "--subnet", "10.79.0.0/24")
    lab.cli.ok("sandbox", "create", "other")
    lab.cli.ok("network", "connect", "back", "other")
    _kill_at(lab, "save", "network", "connect", "back", "web")
    lab.cli.ok("network", "connect", "back", "web")  # same eth1, same address: no collision
    assert lab.endpoint("back/web")["ifname"] == "eth1"
    assert lab.cli("check").code == 0
    assert lab.tcp("other", "web").startswith("pong")


def test_killed_commands_can_be_run_again_at_once(lab):
    """The retry of a command killed after its kernel work, before the save, succeeds
    without a repair in between, and leaves nothing for check to find."""
    lab.two_sandboxes()
    args = {
        "net": ("network", "create", "back", "--subnet", "10.79.0.0/24"),
        "sb": ("sandbox", "create", "other"),
        "conn": ("network", "connect", "back", "other"),
        "join": ("endpoint", "join", "spare", "web"),
    }
    for key in ("net", "sb", "conn"):
        _kill_at(lab, "save", *args[key])
        lab.cli.ok(*args[key])
    lab.cli.ok("endpoint", "create", "back", "spare")
    _kill_at(lab, "save", *args["join"])
    assert lab.nk.link_get("eth1", netns="web").owner == lab.endpoint("spare")["id"]
    lab.cli.ok(*args["join"])
    assert lab.endpoint("spare")["ifname"] == "eth1"
    res = lab.cli("check")
    assert (res.code, res.out) == (0, "")
    assert lab.tcp("other", "web", "spare.back").startswith("pong ping from 10.79.0.")
