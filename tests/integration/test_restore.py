"""restore after a simulated reboot: everything back as it was, then restore changes nothing."""

from __future__ import annotations

from pathlib import Path

from netctl_runner import diff, kernel_snapshot
from reconcile_lab import Lab


def _build(lab: Lab) -> None:
    """Born-inside endpoints (connect), a moved one (create + join, higher priority, IPv6),
    a parked one, and a sandbox with a hostname."""
    lab.cli.ok("network", "create", "demo", "--subnet", "10.77.0.0/24")
    lab.cli.ok("network", "create", "back", "--ipv6", "--subnet", "10.79.0.0/24")
    lab.cli.ok("sandbox", "create", "web")
    lab.cli.ok("sandbox", "create", "db", "--hostname", "database.lan")
    lab.cli.ok("network", "connect", "demo", "web")
    lab.cli.ok("network", "connect", "demo", "db")
    lab.cli.ok("endpoint", "create", "back", "webb")
    lab.cli.ok("endpoint", "join", "webb", "web", "--priority", "5")
    lab.cli.ok("network", "connect", "back", "db")
    lab.cli.ok("endpoint", "create", "demo", "spare")


def _comparable(snapshot: dict) -> dict:
    """Bridges and host veth ends get random MACs when (re-)created; every other MAC (the
    sandbox ends, the parked end) is the endpoint's and must come back the same."""
    host = snapshot["host"]["links"]
    for name, (kind, master, *rest) in list(host.items()):
        if kind == "bridge" or master:
            rest[2] = "random"
        host[name] = (kind, master, *rest)
    return snapshot


def test_restore_after_reboot_brings_back_names_macs_addresses_routes_and_tcp_by_name(lab):
    _build(lab)
    assert lab.tcp("web", "db").startswith("pong ping from 10.77.0.2")
    state = lab.cli.state.read_bytes()
    before = _comparable(kernel_snapshot(lab.nk))
    hosts_file = Path("/etc/netns/web/hosts")
    hosts = hosts_file.read_text()
    lab.reboot()
    hosts_file.write_text("stale\n")
    assert lab.cli("check").code == 9
    res = lab.cli("restore")
    assert res.code == 0, res.err
    assert "restored: sandbox web: namespace /run/netns/web missing" in res.out.splitlines()
    assert "drift:" not in res.out
    assert lab.cli("check").code == 0
    assert diff(before, _comparable(kernel_snapshot(lab.nk))) == []
    assert lab.cli.state.read_bytes() == state
    assert hosts_file.read_text() == hosts
    assert lab.tcp("web", "db").startswith("pong ping from 10.77.0.2")
    assert lab.tcp("db", "web", "webb.back").startswith("pong ping from 10.79.0.")
    assert lab.tcp("db", "web", "web.demo").startswith("pong ping from 10.77.0.")
    defaults = [(r.gateway, r.dev) for r in lab.nk.routes(netns="web") if r.dst == "default"]
    assert ("10.79.0.1", "eth1") in defaults  # the priority-5 endpoint still wins


def test_restore_on_an_intact_system_changes_nothing(lab):
    _build(lab)
    state = lab.cli.state.read_bytes()
    before = kernel_snapshot(lab.nk)
    res = lab.cli("restore")
    assert (res.code, res.out) == (0, "")
    assert diff(before, kernel_snapshot(lab.nk)) == []
    assert lab.cli.state.read_bytes() == state


def test_restore_recreates_only_what_is_missing(lab):
    _build(lab)
    spare = lab.endpoint("spare")
    lab.nk.netns_delete("db")
    lab.nk.link_delete(spare["sandbox_ifname"])
    before_web = kernel_snapshot(lab.nk)["ns:web"]
    res = lab.cli("restore")
    assert res.code == 0, res.err
    assert lab.cli("check").code == 0
    assert kernel_snapshot(lab.nk)["ns:web"] == before_web
    assert lab.nk.link_get(spare["sandbox_ifname"]).mac == spare["mac"]
    assert lab.tcp("web", "db", "database.lan").startswith("pong ping from 10.")
