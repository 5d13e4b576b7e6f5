"""Published ports (-p): docker's syntax, conflicts, free ports, the host's listening
sockets, and when the rules change (join/leave/disconnect only for endpoints with ports)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from netctl.errors import Conflict, InvalidInput
from netctl.firewall import ports
from netctl.firewall.ports import Port


@pytest.mark.parametrize("spec, want", [
    ("80", [Port("0.0.0.0", 0, 80, "tcp")]),
    ("8080:80", [Port("0.0.0.0", 8080, 80, "tcp")]),
    ("127.0.0.1:8080:80/udp", [Port("127.0.0.1", 8080, 80, "udp")]),
    ("10.0.0.1::53/UDP", [Port("10.0.0.1", 0, 53, "udp")]),
    ("9000-9001:90-91/sctp", [Port("0.0.0.0", 9000, 90, "sctp"), Port("0.0.0.0", 9001, 91, "sctp")]),
    ("90-91", [Port("0.0.0.0", 0, 90, "tcp"), Port("0.0.0.0", 0, 91, "tcp")]),
])
def test_docker_syntax(spec, want):
    assert ports.parse(spec) == want
    for p in want:
        assert ports.load(str(p)) == p


@pytest.mark.parametrize("spec", ["", "0", "70000", "80/icmp", "a:b:c:d", "x:80:80", "::1:80:80",
                                  "9000-9002:90-91", "91-90", "80:", "-1", "1.2.3.4:80:80:80"])
def test_bad_syntax_is_invalid_input(spec):
    with pytest.raises(InvalidInput):
        ports.parse(spec)


def test_conflicts_name_the_holder_and_any_address_overlaps_a_specific_one():
    held = {Port("0.0.0.0", 8080, 80, "tcp"): "endpoint 'web' (network 'a')"}
    with pytest.raises(Conflict, match="0.0.0.0:8080/tcp is already published by endpoint 'web'"):
        ports.check_free([Port("0.0.0.0", 8080, 81, "tcp")], held)
    with pytest.raises(Conflict, match="127.0.0.1:8080/tcp is already published by endpoint 'web'"):
        ports.check_free([Port("127.0.0.1", 8080, 80, "tcp")], held)
    ports.check_free([Port("0.0.0.0", 8080, 80, "udp"), Port("0.0.0.0", 8081, 80, "tcp")], held)
    with pytest.raises(Conflict, match="by this command"):
        ports.check_free([Port("10.0.0.1", 1, 1, "tcp"), Port("10.0.0.1", 1, 2, "tcp")], {})
    ports.check_free([Port("10.0.0.1", 1, 1, "tcp"), Port("10.0.0.2", 1, 2, "tcp")], {})


def test_a_big_range_is_not_checked_pair_by_pair(monkeypatch):
    """-p 1000-60000:1000-60000 took 94 s in check_free (59,001 squared comparisons): only
    mappings on the same protocol and host port are compared."""
    calls = []
    real = Port.overlaps
    monkeypatch.setattr(Port, "overlaps", lambda a, b: calls.append(1) or real(a, b))
    wanted = ports.parse("1000-5999:1000-5999")
    held = {p: "endpoint 'x'" for p in ports.parse("6000-8999:1000-3999") + ports.parse("1000/udp")}
    ports.check_free(wanted, held)
    assert len(calls) <= len(wanted)
    with pytest.raises(Conflict, match="0.0.0.0:6000/tcp is already published by endpoint 'x'"):
        ports.check_free(ports.parse("6000:80"), held)


def test_a_picked_port_is_not_one_the_same_command_gives_explicitly(cli):
    """`-p 80 -p LOW-HIGH:LOW-HIGH` over the kernel's whole ephemeral range: the port the
    kernel hands out for 80 was published twice."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    cli.ok("network", "create", "a")
    cli.ok("sandbox", "create", "s")
    cli.ok("network", "connect", "a", "s", "-p", "80", "-p", f"{low}-{high}:{low}-{high}")
    host_ports = [int(shown.rsplit(":", 1)[1]) for shown in _endpoint(cli, "a/s")["ports"]]
    assert len(set(host_ports)) == len(host_ports) == high - low + 2


def _tables(cli) -> str:
    path = cli.kernel_file.with_name(cli.kernel_file.name + ".nft.json")
    return json.loads(path.read_text()).get("tables", {}).get("inet", "")


def _endpoint(cli, ref: str) -> dict:
    return json.loads(cli.ok("endpoint", "inspect", ref))[0]


def test_connect_publishes_picks_a_free_port_and_disconnect_unpublishes(cli):
    cli.ok("network", "create", "a")
    cli.ok("sandbox", "create", "s")
    out = cli.ok("network", "connect", "a", "s", "-p", "8080:80", "-p", "53/udp")
    first, second = out.splitlines()
    assert first == "80/tcp -> 0.0.0.0:8080"
    picked = int(second.rsplit(":", 1)[1])
    assert second.startswith("53/udp -> 0.0.0.0:") and 1 <= picked <= 65535
    addr = _endpoint(cli, "a/s")["ipv4"].split("/")[0]
    assert f"tcp dport 8080 dnat ip to {addr}:80" in _tables(cli)
    assert f"udp dport {picked} dnat ip to {addr}:53" in _tables(cli)
    assert cli.ok("sandbox", "port", "s") == out
    assert _endpoint(cli, "a/s")["ports"] == out.splitlines()
    assert "80/tcp -> 0.0.0.0:8080" in cli.ok("endpoint", "ls")
    cli.ok("network", "disconnect", "a", "s")
    assert "dnat ip to" not in _tables(cli)


def test_ports_move_with_join_and_leave_and_are_reserved_meanwhile(cli):
    cli.ok("network", "create", "a")
    cli.ok("sandbox", "create", "s")
    cli.ok("sandbox", "create", "t")
    cli.ok("endpoint", "create", "a", "web", "-p", "127.0.0.1:8081:80")
    assert "dnat ip to" not in _tables(cli)  # not joined: not active, but held
    res = cli("network", "connect", "a", "t", "-p", "8081:80")
    assert res.code == 4
    assert "0.0.0.0:8081/tcp is already published by endpoint 'web' (network 'a')" in res.err
    cli.ok("endpoint", "join", "web", "s")
    assert "ip daddr 127.0.0.1 tcp dport 8081 dnat ip to" in _tables(cli)
    cli.ok("endpoint", "leave", "web", "s")
    assert "dnat ip to" not in _tables(cli)
    cli.ok("endpoint", "rm", "web")
    cli.ok("network", "connect", "a", "t", "-p", "8081:80")


def test_a_port_a_host_program_listens_on_is_refused(cli):
    cli.ok("network", "create", "a")
    cli.ok("sandbox", "create", "s")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        before = cli.state_bytes()
        res = cli("network", "connect", "a", "s", "-p", f"127.0.0.1:{busy}:80")
        assert res.code == 4
        assert res.err == f"netctl: port 127.0.0.1:{busy}/tcp is in use on the host (a listening socket)\n"
        assert cli.state_bytes() == before


def test_a_host_ip_that_is_not_an_address_of_the_host_is_exit_2(cli):
    """The DNAT rules only see traffic to local addresses: 192.0.2.77 would never match."""
    cli.ok("network", "create", "a")
    cli.ok("sandbox", "create", "s")
    before = cli.state_bytes()
    for spec in ("192.0.2.77:8080:80", "192.0.2.77::80/udp"):
        res = cli("network", "connect", "a", "s", "-p", spec)
        assert res.code == 2
        assert res.err == ("netctl: --publish: 192.0.2.77 is not an address of this host; its "
                           "traffic would never reach the port\n")
        assert cli.state_bytes() == before
    cli.ok("network", "connect", "a", "s", "-p", "127.0.0.1:8080:80")


@pytest.mark.parametrize("create", [["--internal"], ["-d", "null"], ["-d", "host"]])
def test_publish_on_internal_null_or_host_is_exit_2(cli, create):
    cli.ok("network", "create", "n", *create)
    cli.ok("sandbox", "create", "s")
    before = cli.state_bytes()
    res = cli("network", "connect", "n", "s", "-p", "8080:80")
    assert res.code == 2 and "--publish: network 'n' is a" in res.err
    assert cli.state_bytes() == before


def test_a_plain_connect_next_to_published_ports_runs_no_nft(cli, monkeypatch):
    cli.ok("network", "create", "a")
    cli.ok("sandbox", "create", "s")
    cli.ok("sandbox", "create", "t")
    cli.ok("network", "connect", "a", "s", "-p", "8080:80")
    from support.fakenft import FakeNft

    def boom(*_a, **_k):
        raise AssertionError("ran nft")

    with monkeypatch.context() as m:
        m.setattr(FakeNft, "apply", boom)
        m.setattr(FakeNft, "table", boom)
        cli.ok("network", "connect", "a", "t")
        cli.ok("network", "disconnect", "a", "t")
