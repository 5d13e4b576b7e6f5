"""FakeKernel keeps the real kernel's semantics (test_kernel_contract.py checks the two agree)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import fakenetctl
from support.fakekernel import FakeKernel

from netctl import errors
from netctl.kernel.base import Route


@pytest.fixture
def k() -> FakeKernel:
    return FakeKernel()


def _code(fn, *args, **kwargs) -> int | None:
    with pytest.raises(errors.KernelError) as exc:
        fn(*args, **kwargs)
    return exc.value.errno


def _names(k: FakeKernel, netns: str | None = None) -> list[str]:
    return [x.name for x in k.links(netns)]


def test_a_new_namespace_has_lo_up(k):
    k.netns_create("sb")
    (lo,) = k.links("sb")
    assert (lo.name, lo.up, lo.addresses) == ("lo", True, ("127.0.0.1/8",))  # IPv6 off (spec §7.2)
    assert k.netns_list() == ["sb"] and k.netns_exists("sb") and not k.netns_exists("other")
    assert _code(k.netns_create, "sb") == errno.EEXIST
    assert _code(k.links, "nope") == errno.ENOENT
    assert _code(k.netns_create, "a/b") == errno.EINVAL


def test_deleting_a_namespace_takes_its_links_and_their_peers(k):
    k.netns_create("sb")
    k.veth_create("veth0", "eth0", alias="netctl:e", peer_netns="sb")
    k.netns_delete("sb")
    k.netns_delete("sb")  # already gone: fine
    assert k.netns_list() == [] and k.link_get("veth0") is None


def test_bridge_and_veth_read_back(k):
    k.netns_create("sb")
    k.bridge_create("br0", mac="02:42:00:00:00:01", alias="netctl:n1", mtu=1450)
    k.veth_create(
        "veth0",
        "eth0",
        alias="netctl:e1",
        mtu=1450,
        master="br0",
        peer_netns="sb",
        peer_mac="02:42:0a:00:00:02",
    )
    br, host, peer = k.link_get("br0"), k.link_get("veth0"), k.link_get("eth0", "sb")
    assert (br.kind, br.mac, br.mtu, br.up, br.owner) == ("bridge", "02:42:00:00:00:01", 1450, False, "n1")
    assert (host.kind, host.master, host.up, host.owner) == ("veth", "br0", True, "e1")
    assert host.mac.startswith("02:") and len(host.mac) == 17
    assert (peer.mac, peer.mtu, peer.up, peer.owner) == ("02:42:0a:00:00:02", 1450, False, "e1")
    assert k.link_get("eth0") is None
    assert _code(k.bridge_create, "br0", mac="02:00:00:00:00:09", alias="x") == errno.EEXIST
    assert _code(k.bridge_create, "br-0123456789abc", mac="02:00:00:00:00:09", alias="x") == errno.ERANGE
    assert _code(k.bridge_create, "br1", mac="02:zz:00:00:00:09", alias="x") == errno.EINVAL


def test_veth_create_checks_everything_first(k):
    k.netns_create("sb")
    k.veth_create("veth0", "eth0", alias="x", peer_netns="sb")
    assert _code(k.veth_create, "veth1", "eth0", alias="x", peer_netns="gone") == errno.ENOENT
    assert _code(k.veth_create, "veth1", "eth1", alias="x", master="br9") == errno.ENODEV
    assert _code(k.veth_create, "veth1", "eth0", alias="x", peer_netns="sb") == errno.EEXIST
    assert _code(k.veth_create, "veth1", "eth1", alias="x", master="veth0") == errno.EOPNOTSUPP
    assert k.link_get("veth1") is None and _names(k, "sb") == ["lo", "eth0"]


def test_deleting_either_veth_end_deletes_both(k):
    k.veth_create("va", "vb", alias="x")
    k.link_delete("vb")
    assert _names(k) == ["lo"]
    k.link_delete("vb")
    k.link_delete("vb", netns="nowhere")


def test_deleting_a_bridge_frees_its_ports(k):
    k.bridge_create("br0", mac="02:00:00:00:00:01", alias="x")
    k.veth_create("va", "vb", alias="x", master="br0")
    k.link_delete("br0")
    assert k.link_get("va").master is None


def test_link_move_renames_and_strips(k):
    k.netns_create("sb")
    k.bridge_create("br0", mac="02:00:00:00:00:01", alias="x")
    k.veth_create("va", "vb", alias="netctl:m", master="br0")
    k.addr_add("vb", "10.0.0.2/24")
    k.link_set_up("vb")
    k.link_move("vb", src=None, dst="sb", new_name="eth0")
    moved = k.link_get("eth0", "sb")
    assert (moved.up, moved.addresses, moved.owner) == (False, (), "m")
    assert k.link_get("vb") is None
    k.link_move("eth0", src="sb", dst=None, new_name="back0")
    k.link_delete("va")
    assert k.link_get("back0") is None, "the peer reference followed both moves"
    assert _code(k.link_move, "lo", src="sb", dst=None, new_name="lo2") == errno.EINVAL
    k.veth_create("vc", "vd", alias="x")
    assert _code(k.link_move, "vc", src=None, dst="sb", new_name="lo") == errno.EEXIST
    assert _code(k.link_move, "nope", src=None, dst="sb") == errno.ENODEV
    assert _code(k.link_move, "vc", src=None, dst="gone") == errno.ENOENT


def test_connected_routes_follow_addresses_on_up_links(k):
    k.bridge_create("br0", mac="02:00:00:00:00:01", alias="x")
    k.addr_add("br0", "10.1.0.1/24")
    assert k.routes() == [], "no connected route while the link is down"
    k.link_set_up("br0")
    assert k.routes() == [Route("10.1.0.0/24", None, "br0", "link", 4)]
    k.addr_add("br0", "10.9.9.9/32")
    assert len(k.routes()) == 1, "a v4 /32 brings no prefix route"
    assert _code(k.addr_add, "br0", "10.1.0.1/24") == errno.EEXIST
    k.addr_del("br0", "10.1.0.1/24")
    k.addr_del("br0", "10.1.0.1/24")
    assert k.routes() == []


def test_routes_need_a_reachable_gateway(k):
    k.netns_create("sb")
    k.veth_create("va", "eth0", alias="x", peer_netns="sb")
    k.addr_add("eth0", "10.2.0.2/24", netns="sb")
    assert _code(k.route_add, "default", gateway="10.2.0.1", netns="sb") == errno.ENETUNREACH
    assert _code(k.route_add, "10.3.0.0/24", dev="eth0", netns="sb") == errno.ENETDOWN
    k.link_set_up("eth0", netns="sb")
    k.route_add("default", gateway="10.2.0.1", netns="sb")
    k.route_add("10.3.0.0/24", dev="eth0", netns="sb")
    assert _code(k.route_add, "default", gateway="10.2.0.1", netns="sb") == errno.EEXIST
    assert _code(k.route_add, "10.9.0.0/16", gateway="10.7.0.1", netns="sb") == errno.ENETUNREACH
    assert _code(k.route_add, "10.3.0.1/24", dev="eth0", netns="sb") == errno.EINVAL
    assert k.routes("sb") == [
        Route("default", "10.2.0.1", "eth0", "universe", 4),
        Route("10.2.0.0/24", None, "eth0", "link", 4),
        Route("10.3.0.0/24", None, "eth0", "link", 4),
    ]
    k.route_del("default", netns="sb")
    k.route_del("default", netns="sb")
    k.route_del("default", netns="gone")
    assert Route("default", "10.2.0.1", "eth0", "universe", 4) not in k.routes("sb")


def test_link_down_or_last_address_gone_flushes_routes(k):
    k.add_link("eth9", addresses=("192.168.5.10/24",))
    k.route_add("default", gateway="192.168.5.1")
    k.addr_del("eth9", "192.168.5.10/24")
    assert k.routes() == []
    k.addr_add("eth9", "192.168.5.10/24")
    k.route_add("default", gateway="192.168.5.1")
    k.link_set_up("eth9", False)
    assert k.routes() == []


def test_ipv6_is_off_in_netctl_namespaces_until_enabled(k):
    k.netns_create("sb")
    k.veth_create("va", "eth0", alias="x", peer_netns="sb")
    exc_code = _code(k.addr_add, "eth0", "fd00::2/64", netns="sb")
    assert exc_code == errno.EACCES
    k.ipv6_enable("eth0", "sb")
    k.addr_add("eth0", "fd00::2/64", netns="sb", nodad=True)
    assert _code(k.addr_add, "eth0", "fd00::2/48", netns="sb") == errno.EEXIST
    k.link_set_up("eth0", netns="sb")
    k.route_add("default", gateway="fd00::1", netns="sb")
    assert Route("default", "fd00::1", "eth0", "universe", 6) in k.routes("sb")
    assert Route("fd00::/64", None, "eth0", "universe", 6) in k.routes("sb")
    k.link_set_up("eth0", False, netns="sb")
    assert k.link_get("eth0", "sb").addresses == (), "the kernel drops IPv6 addresses on down"


def test_port_settings(k):
    k.bridge_create("br0", mac="02:00:00:00:00:01", alias="x")
    k.veth_create("va", "vb", alias="x")
    assert _code(k.link_set_hairpin, "va", True) == errno.EOPNOTSUPP
    k.link_set_master("va", "br0")
    k.link_set_hairpin("va", True)
    k.link_set_master("va", None)
    assert k.link_get("va").master is None
    assert _code(k.link_set_master, "va", "vb") == errno.EOPNOTSUPP
    k.link_set_mac("vb", "02:11:22:33:44:55")
    assert k.link_get("vb").mac == "02:11:22:33:44:55"
    assert _code(k.link_set_up, "nope") == errno.ENODEV


def test_state_persists_across_instances_and_processes(tmp_path):
    path = tmp_path / "kernel.json"
    first = FakeKernel(path)
    first.netns_create("sb")
    first.bridge_create("br0", mac="02:00:00:00:00:01", alias="netctl:n")
    assert json.loads(path.read_text())["version"] == 1
    code = (
        f"import sys; sys.path.insert(0, {str(fakenetctl.TESTS)!r}); "
        "from support.fakekernel import FakeKernel; k = FakeKernel(sys.argv[1]); "
        "k.veth_create('va', 'eth0', alias='x', master='br0', peer_netns='sb')"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    assert first.link_get("eth0", "sb") is not None, "a change by another process is picked up"
    second = FakeKernel(path)
    assert second.link_get("va").master == "br0" and second.netns_list() == ["sb"]
    second.netns_delete("sb")
    assert first.link_get("va") is None


def test_fakehooks_put_the_fakes_behind_the_factories_and_take_them_away(tmp_path):
    """The product's seams are plain factories; the test side replaces them (and a
    monkeypatch puts the real ones back after the test)."""
    from support import fakehooks
    from support.fakenft import FakeNft

    import netctl.etcfiles
    import netctl.kernel
    import netctl.service.context
    from netctl.firewall import nft

    with pytest.MonkeyPatch.context() as m:
        fakehooks.install(tmp_path / "k.json", m.setattr)
        assert isinstance(netctl.kernel.open_kernel(), FakeKernel)
        assert isinstance(nft.open_nft(), FakeNft)
        assert netctl.etcfiles.etc_dir() == tmp_path / "etc-netns"
        assert netctl.service.context.privileged() is True
    assert type(nft.open_nft()) is nft.Nft
    assert netctl.etcfiles.etc_dir() == netctl.etcfiles.ETC_DIR
    assert netctl.kernel.open_kernel.__module__ == "netctl.kernel"


def test_importing_the_kernel_package_does_not_import_pyroute2():
    code = (
        f"import sys; sys.path.insert(0, {str(fakenetctl.TESTS)!r}); "
        "import netctl.kernel, support.fakekernel, netctl.kernel.nsexec; "
        "print('pyroute2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_ipv6_switch_returns_what_it_was_and_off_drops_ipv6_addresses(k):
    k.bridge_create("br0", mac="02:00:00:00:00:01", alias="x")
    assert k.ipv6_enable("br0") is True  # host links start with IPv6 on
    k.addr_add("br0", "10.0.0.1/24")
    k.addr_add("br0", "fd00::1/64", nodad=True)
    assert k.ipv6_enable("br0", on=False) is True
    assert k.link_get("br0").addresses == ("10.0.0.1/24",)
    assert k.ipv6_enable("br0", on=False) is False
    assert _code(k.addr_add, "br0", "fd00::1/64") == errno.EACCES



def test_the_runner_puts_the_fakes_behind_a_fresh_interpreters_lazy_imports(tmp_path):
    """fakenetctl.py: the fake kernel, the /etc/netns stand-in, and the fake nft (installed
    when the firewall layer is first imported): nothing lands in the real kernel or /etc."""
    kernel = tmp_path / "kernel.json"
    env = {**os.environ, "NETCTL_STATE": str(tmp_path / "state.toml"), "NETCTL_CONFIG": os.devnull,
           fakenetctl.ENV: str(kernel)}

    def netctl(*args: str) -> str:
        proc = subprocess.run(fakenetctl.command(*args), env=env, capture_output=True, text=True)
        assert (proc.returncode, proc.stderr) == (0, ""), (args, proc.stderr)
        return proc.stdout

    netctl("network", "create", "fk-n", "--subnet", "10.9.0.0/24")
    netctl("sandbox", "create", "fk-s")
    bridge = json.loads(netctl("network", "inspect", "fk-n"))[0]["bridge"]
    assert FakeKernel(kernel).link_get(bridge) is not None and FakeKernel(kernel).netns_list() == ["fk-s"]
    assert "masquerade" in json.loads(Path(f"{kernel}.nft.json").read_text())["tables"]["inet"]
    assert (tmp_path / "etc-netns" / "fk-s" / "hosts").exists() and not os.path.lexists("/etc/netns/fk-s")
