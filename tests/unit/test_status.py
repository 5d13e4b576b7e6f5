"""``netctl status``: what it reports about the state file, the lock, the config, the kernel
and the caller, in text and JSON, and that it answers (exit 0) when things are broken."""

from __future__ import annotations

import json
import os

import pytest

from netctl.service import status as facts
from netctl.store import Store


def status_json(cli, *args: str) -> dict:
    return json.loads(cli.ok(*args, "status", "--format", "json"))


def test_counts_objects_and_sizes_the_state_file(cli):
    cli.ok("network", "create", "alpha")
    cli.ok("network", "create", "beta")
    cli.ok("sandbox", "create", "web")
    cli.ok("network", "connect", "alpha", "web")
    cli.ok("endpoint", "create", "beta", "spare")
    state = status_json(cli)["state"]
    assert state == {"path": str(cli.state), "exists": True, "size": cli.state.stat().st_size,
                     "error": None, "networks": 2, "endpoints": 2, "joined_endpoints": 1,
                     "sandboxes": 1}
    text = cli.ok("status")
    assert f"state   {cli.state}: {state['size']} bytes; 2 network(s), 2 endpoint(s) (1 joined), " \
           "1 sandbox(es)" in text


def test_a_missing_state_file_is_not_an_error(cli):
    state = status_json(cli)["state"]
    assert state["exists"] is False and state["error"] is None and state["networks"] == 0
    assert "not created yet" in cli.ok("status")


def test_a_corrupt_state_file_is_reported_with_exit_0(cli):
    cli.state.write_bytes(b"schema = 7\n")
    res = cli("status")
    assert res.code == 0 and res.err == ""
    assert "ERROR:" in res.out and "schema 7 is from a newer netctl" in res.out
    assert "newer netctl" in status_json(cli)["state"]["error"]
    assert cli.state.read_bytes() == b"schema = 7\n"


def test_shows_who_holds_the_lock(cli):
    assert status_json(cli)["lock"] == {"path": f"{cli.state}.lock", "held": False,
                                        "holder_pid": None, "holder": None}
    with Store(cli.state).locked():  # this process holds it while status runs
        lock = status_json(cli)["lock"]
        text = cli.ok("status")
    assert lock["held"] is True and lock["holder_pid"] == os.getpid()
    assert "python" in lock["holder"] or "pytest" in lock["holder"]
    assert f"held by pid {os.getpid()}" in text
    assert status_json(cli)["lock"]["held"] is False


def test_reports_the_config_file_and_its_errors(cli):
    config = status_json(cli)["config"]
    assert config["path"] == str(cli.config) and config["exists"] is False and config["error"] is None
    cli.config.write_text('default_pools = [{base = "10.89.0.0/16", size = 24}]\n'
                          'exclude = ["10.89.3.0/24"]\ndefault_mtu = 1400\n')
    config = status_json(cli)["config"]
    assert config["default_pools"] == [{"base": "10.89.0.0/16", "size": 24}]
    assert config["exclude"] == ["10.89.3.0/24"] and config["default_mtu"] == 1400
    assert "1 pool(s), 1 excluded range(s), mtu 1400, driver bridge" in cli.ok("status")
    cli.config.write_text("default_mtu = 1\n")
    res = cli("status")
    assert res.code == 0 and f"ERROR: {cli.config}: default_mtu: invalid MTU 1" in res.out


def test_kernel_and_caller_facts(cli):
    data = status_json(cli)
    kernel, caller = data["kernel"], data["caller"]
    assert kernel["release"] == os.uname().release
    assert kernel["namespaces"] is os.path.exists("/proc/self/ns/net")
    for module in ("bridge", "veth", "nf_tables"):
        assert kernel[module] in ("loaded", "built-in", "module", "missing", "unknown")
    assert kernel["bridge"] == "loaded" or not os.path.exists("/sys/module/bridge")
    assert caller["euid"] == os.geteuid()
    if os.geteuid() == 0 and caller["cap_net_admin"] and caller["cap_sys_admin"]:
        assert caller["can_change"] is True and caller["why_not"] is None


def test_module_state_reads_modules_builtin_and_dep(tmp_path, monkeypatch):
    (tmp_path / "modules.builtin").write_text("kernel/drivers/net/veth.ko\n")
    (tmp_path / "modules.dep").write_text("kernel/net/bridge/bridge.ko.zst: kernel/net/802/stp.ko.zst\n")
    monkeypatch.setattr(facts, "_modules_dir", lambda: tmp_path)
    assert facts.module_state("veth") in ("built-in", "loaded")
    assert facts.module_state("bridge") in ("module", "loaded")
    assert facts.module_state("no_such_module_xyz") == "missing"
    monkeypatch.setattr(facts, "_modules_dir", lambda: tmp_path / "absent")
    assert facts.module_state("no_such_module_xyz") == "unknown"


def test_link_types_come_from_the_modules_or_the_kernel_config(cli, monkeypatch):
    """What macvlan/ipvlan networks need; a built-in driver without a /sys/module entry is
    read from /proc/config.gz, where a symbol that is not set means missing."""
    monkeypatch.setattr(facts, "module_state", lambda name: "module" if name == "dummy" else "unknown")
    config = {"CONFIG_MACVLAN": "y", "CONFIG_IPVLAN": "m", "": "read"}
    monkeypatch.setattr(facts, "_kernel_config", lambda: config)
    assert facts.link_types() == {"macvlan": "built-in", "ipvlan": "module", "vlan": "missing",
                                  "dummy": "module"}
    monkeypatch.setattr(facts, "_kernel_config", dict)  # no /proc/config.gz either
    assert facts.link_types()["vlan"] == "unknown"
    monkeypatch.undo()
    res = cli("status")
    assert res.code == 0 and "link types: macvlan " in res.out
    assert set(status_json(cli)["kernel"]["link_types"]) == {"macvlan", "ipvlan", "vlan", "dummy"}


def test_an_ordinary_user_is_told_why_they_cannot_change_things(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(facts, "_cap_eff", lambda: 0)
    caller = facts.caller_facts(tmp_path / "state.toml")
    assert caller["can_change"] is False
    assert caller["why_not"].startswith("not root (run it with sudo); no CAP_NET_ADMIN; no CAP_SYS_ADMIN")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_status_needs_no_lock_and_writes_nothing(cli, fmt):
    cli.ok("status", "--format", fmt)
    assert not cli.state.exists() and not (cli.state.parent / "state.toml.lock").exists()
