"""O(1) per operation (issue 10): one change re-renders the files of the sandboxes it reaches,
not of every sandbox in the state.  These tests count work (files rendered and written), never
time, so they hold on a loaded machine and fail on code that walks the whole state."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from netctl import etcfiles, hostsfile
from netctl.model import Endpoint, Index, Network, Sandbox, State, Subnet, new_id
from netctl.store import Store

FILLER = 1000


def _filler(state: State, n: int) -> None:
    """``n`` sandboxes, each joined to a network of its own kind ("filler"), unrelated to
    whatever a test connects; no kernel objects behind them (nothing may touch them)."""
    net = Network("filler", new_id(), "bridge", "t", subnets=[Subnet("10.200.0.0/16", "10.200.0.1")],
                  bridge="br-filler")
    state.networks.append(net)
    for i in range(n):
        sb = Sandbox(f"f{i}", new_id(), "t")
        state.sandboxes.append(sb)
        ip = f"10.200.{i // 250}.{i % 250 + 2}/16"
        state.endpoints.append(Endpoint(f"f{i}", new_id(), net.id, "t", ipv4=ip, sandbox=sb.id,
                                        ifname="eth0", host_ifname=f"vf{i}"))


def _add_filler(cli, n: int = FILLER) -> None:
    store = Store(cli.state)
    with store.locked() as state:
        _filler(state, n)
        store.save(state)


@pytest.fixture
def counted(monkeypatch):
    """Which sandboxes were rendered (``write_sandbox_files`` calls) and which files written."""
    seen: dict[str, list[str]] = {"rendered": [], "written": []}
    render, write = etcfiles.write_sandbox_files, etcfiles._write_at

    def rendering(name, *args, **kwargs):
        seen["rendered"].append(name)
        return render(name, *args, **kwargs)

    def writing(parent, dir_fd, name, fname, text):
        seen["written"].append(f"{name}/{fname}")
        return write(parent, dir_fd, name, fname, text)

    monkeypatch.setattr(etcfiles, "write_sandbox_files", rendering)
    monkeypatch.setattr(etcfiles, "_write_at", writing)
    return seen


def _lab(cli, peers: int = 3) -> None:
    cli.ok("network", "create", "front", "--subnet", "10.1.0.0/24")
    for i in range(peers):
        cli.ok("sandbox", "create", f"p{i}")
        cli.ok("network", "connect", "front", f"p{i}")
    cli.ok("sandbox", "create", "new")


def test_connect_with_1000_unrelated_sandboxes_renders_only_its_peers(cli, counted):
    _lab(cli)
    _add_filler(cli)
    counted["rendered"].clear(), counted["written"].clear()
    cli.ok("network", "connect", "front", "new")
    assert sorted(counted["rendered"]) == ["new", "p0", "p1", "p2"]
    # its hosts file (its resolv.conf was written at create), and each peer's (which now lists it)
    assert sorted(counted["written"]) == ["new/hosts", "p0/hosts", "p1/hosts", "p2/hosts"]
    assert "f0" not in {p.name for p in (cli.etc).iterdir()}  # never rendered, never created


def test_disconnect_renders_the_sandbox_and_its_former_peers(cli, counted):
    _lab(cli)
    cli.ok("network", "connect", "front", "new")
    _add_filler(cli)
    counted["rendered"].clear(), counted["written"].clear()
    cli.ok("network", "disconnect", "front", "p1")
    assert sorted(counted["rendered"]) == ["new", "p0", "p1", "p2"]
    assert sorted(counted["written"]) == ["new/hosts", "p0/hosts", "p1/hosts", "p2/hosts"]
    assert "p1" not in (cli.etc / "p0" / "hosts").read_text()


def test_sandbox_create_and_rm_render_no_other_sandbox(cli, counted):
    _lab(cli)
    _add_filler(cli)
    counted["rendered"].clear()
    cli.ok("sandbox", "create", "solo")
    assert counted["rendered"] == ["solo"]
    counted["rendered"].clear()
    cli.ok("sandbox", "rm", "p2")
    assert sorted(counted["rendered"]) == ["p0", "p1"]  # its peers lose its line


def test_an_unchanged_file_is_not_written_again(cli, counted):
    _lab(cli)
    counted["written"].clear()
    cli.ok("network", "connect", "front", "p0")  # already connected: nothing changes
    assert counted["written"] == []


def test_check_repair_still_renders_every_sandbox(cli, counted):
    _lab(cli)
    (cli.etc / "p1" / "hosts").write_text("stale\n")
    counted["rendered"].clear()
    cli.ok("check", "--repair")
    assert sorted(counted["rendered"]) == ["new", "p0", "p1", "p2"]
    assert (cli.etc / "p1" / "hosts").read_text() != "stale\n"


# --- hostsfile.affected: a change reaches every sandbox whose rendered files it changes -------

def _world() -> State:
    front = Network("front", "f" * 64, "bridge", "t")
    back = Network("back", "b" * 64, "bridge", "t", ipv6=True)
    a, b, c, d = (Sandbox(n, n[0] * 64, "t") for n in ("aa", "bb", "cc", "dd"))
    eps = [Endpoint("a1", "1" * 64, front.id, "t", ipv4="10.0.0.2/24", sandbox=a.id),
           Endpoint("b1", "2" * 64, front.id, "t", ipv4="10.0.0.3/24", sandbox=b.id),
           Endpoint("b2", "3" * 64, back.id, "t", ipv4="10.1.0.3/24", sandbox=b.id),
           Endpoint("c2", "4" * 64, back.id, "t", ipv4="10.1.0.4/24", ipv6="fd00::4/64", sandbox=c.id),
           Endpoint("idle", "5" * 64, back.id, "t", ipv4="10.1.0.9/24")]
    return State(networks=[front, back], endpoints=eps, sandboxes=[a, b, c, d])


def _values(value):
    """Two different values of a field's type, to change it with."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1]
    if isinstance(value, list):
        return [value + ["x.example:10.9.9.9"], []] if value else [["x.example:10.9.9.9"]]
    if isinstance(value, dict):
        return [{**value, "k": "v"}]
    if value is None:
        return ["zz"]
    return [value + "z", "c" * 64]


def _changes():
    """Every field of every object of the world, changed in turn."""
    world = _world()
    for kind in ("networks", "sandboxes", "endpoints"):
        for i, obj in enumerate(getattr(world, kind)):
            for f in dataclasses.fields(obj):
                for value in _values(getattr(obj, f.name)):
                    yield kind, i, f.name, value


def _files(state: State) -> dict[str, dict[str, str]]:
    index = Index(state)
    from netctl import drift

    return {sb.id: drift.rendered(state, sb, "nameserver 2001:db8::53\nnameserver 1.1.1.1\n", "", index)
            for sb in state.sandboxes}


@pytest.mark.parametrize(("kind", "i", "name", "value"), list(_changes()))
def test_every_field_that_changes_a_file_is_seen(kind, i, name, value):
    """Adding a field that the hosts/resolv.conf rendering reads without teaching
    ``hostsfile.inputs`` about it fails here: its change would go unseen."""
    before = _world()
    after = copy.deepcopy(before)
    setattr(getattr(after, kind)[i], name, value)
    try:
        rendered_before, rendered_after = _files(before), _files(after)
    except (KeyError, ValueError, IndexError):
        pytest.skip("this change makes an inconsistent state (a dangling reference)")
    changed = {sid for sid in rendered_after if rendered_after[sid] != rendered_before.get(sid)}
    reached = {sb.id for sb in hostsfile.affected(hostsfile.inputs(before), after)}
    assert changed <= reached


def test_affected_is_only_the_reach_of_the_change():
    before = _world()
    after = copy.deepcopy(before)
    after.endpoints.append(Endpoint("d1", "6" * 64, after.networks[0].id, "t", ipv4="10.0.0.6/24",
                                    sandbox=after.sandboxes[3].id))
    names = {sb.name for sb in hostsfile.affected(hostsfile.inputs(before), after)}
    assert names == {"aa", "bb", "dd"}  # cc is only on back


@pytest.mark.parametrize("noun", ["network", "sandbox", "endpoint"])
def test_listing_does_not_scan_the_state_per_row(cli, monkeypatch, noun):
    """``ls`` with 1,000 rows: lookups through one Index, not a scan of every list per row
    (the state's *_by_id/endpoints_* helpers, which are linear)."""
    _lab(cli)
    _add_filler(cli)
    scans = []
    for method in ("network_by_id", "sandbox_by_id", "endpoints_in", "endpoints_of"):
        real = getattr(State, method)
        counted = lambda self, x, _m=method, _r=real: scans.append(_m) or _r(self, x)  # noqa: E731
        monkeypatch.setattr(State, method, counted)
    out = cli.ok(noun, "ls", "--format", "json")
    assert len(out) > 1000 and scans == []


def test_a_run_killed_before_its_files_makes_the_next_change_render_every_sandbox(cli, counted):
    """``<state>.files`` is there from just before the save until the files are written; a
    run killed in between leaves it, and the next change renders every sandbox's files."""
    _lab(cli)
    assert not (cli.state.parent / "state.toml.files").exists()  # gone after every run
    (cli.etc / "p1" / "hosts").write_text("stale\n")  # as a kill during the files left it
    (cli.state.parent / "state.toml.files").touch()
    counted["rendered"].clear()
    cli.ok("network", "connect", "front", "p0")  # a no-op: reaches no sandbox by itself
    assert sorted(counted["rendered"]) == ["new", "p0", "p1", "p2"]
    assert (cli.etc / "p1" / "hosts").read_text() != "stale\n"
    assert not (cli.state.parent / "state.toml.files").exists()
