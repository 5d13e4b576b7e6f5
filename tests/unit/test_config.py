"""The config file (netctl.toml): parsing and its errors, and what ``network create`` does with
it over the fake kernel: pools, excluded ranges, default MTU and driver."""

from __future__ import annotations

import json
import os
import subprocess
from ipaddress import ip_network

import pytest
from support import fakenetctl

from netctl import config, ipam
from netctl.cli.root import CONFIG_PATH
from netctl.errors import InvalidInput


def subnet_of(cli, name: str, family: int = 4) -> str:
    net = json.loads(cli.ok("network", "inspect", name))[0]
    return next(s["subnet"] for s in net["subnets"] if ip_network(s["subnet"]).version == family)


def test_the_cli_default_path_is_the_config_modules():
    assert CONFIG_PATH == config.DEFAULT_PATH == "/etc/netctl/netctl.toml"


def test_a_full_file_parses():
    cfg = config.parse(b"""
default_pools = [{base = "10.89.0.0/16", size = 24}, {base = "10.90.0.0/24", size = 26}]
exclude = ["10.89.3.0/24", "192.0.2.7", "fd00:dead::/32"]
default_mtu = 1450
default_driver = "null"
""", "/x.toml")
    assert cfg.found and cfg.path == "/x.toml"
    assert len(cfg.pools) == 256 + 4
    assert [str(cfg.pools[i]) for i in (0, 1, 255, 256, 259)] == [
        "10.89.0.0/24", "10.89.1.0/24", "10.89.255.0/24", "10.90.0.0/26", "10.90.0.192/26"]
    assert [str(x) for x in cfg.exclude] == ["10.89.3.0/24", "192.0.2.7/32", "fd00:dead::/32"]
    assert cfg.default_mtu == 1450 and cfg.default_driver == "null"


def test_missing_file_and_dev_null_mean_the_defaults(tmp_path):
    for cfg in (config.load(str(tmp_path / "nope.toml")), config.load("/dev/null"), config.load("")):
        assert cfg.pools is None and cfg.exclude == () and cfg.default_mtu is None
        assert cfg.default_driver == "bridge"


@pytest.mark.parametrize("text,message", [
    ("default_pools = [{base = '10.89.0.0/16', size = 24}, {base = '10.90.0.0/16', size = 8}]",
     "default_pools[1].size: 8 must be between the base's /16 and 30"),
    ("default_pools = [{base = '10.89.0.0/16', size = 31}]", "default_pools[0].size: 31 must be between"),
    ("default_pools = [{base = '10.0.0.0/8', size = 28}]", "default_pools[0].size: /28 splits 10.0.0.0/8"),
    ("default_pools = [{base = '10.89.0.0/16', size = '24'}]", "default_pools[0].size: expected an integer"),
    ("default_pools = [{base = '10.89.0.1/16', size = 24}]", "default_pools[0].base: invalid subnet"),
    ("default_pools = [{base = 'fd00::/48', size = 64}]", "default_pools[0].base: only IPv4 pools"),
    ("default_pools = [{size = 24}]", "default_pools[0].base: missing"),
    ("default_pools = [{base = '10.89.0.0/16', size = 24, step = 1}]", "default_pools[0].step: unknown key"),
    ("default_pools = ['10.89.0.0/16']", "default_pools[0]: expected a table"),
    ("default_pools = []", "default_pools: empty"),
    ("default_pools = '10.89.0.0/16'", "default_pools: expected an array"),
    ("exclude = ['10.89.3.0/24', 'nonsense']", "exclude[1]: invalid range"),
    ("exclude = ['10.89.3.1/24']", "exclude[0]: invalid range 10.89.3.1/24: host bits set"),
    ("exclude = [3]", "exclude[0]: expected a string"),
    ("default_mtu = 10", "default_mtu: invalid MTU 10"),
    ("default_mtu = true", "default_mtu: expected an integer"),
    ("default_driver = 'overlay'", "default_driver: unknown driver 'overlay'"),
    ("defualt_mtu = 1400", "defualt_mtu: unknown key"),
    ("default_mtu = ", "cannot parse"),
])
def test_invalid_files_name_the_key(text, message):
    with pytest.raises(InvalidInput) as info:
        config.parse(text.encode(), "/etc/netctl/netctl.toml")
    assert str(info.value).startswith("/etc/netctl/netctl.toml: ")
    assert message in str(info.value)


def test_an_invalid_config_stops_create_with_exit_2_and_changes_nothing(cli):
    cli.ok("network", "create", "before")
    before = cli.state_bytes()
    cli.config.write_text("default_pools = [{base = '10.89.0.0/16', size = 24}, "
                          "{base = '10.90.0.0/16', size = 8}]\n")
    res = cli("network", "create", "x")
    assert res.code == 2 and res.out == ""
    assert res.err == (f"netctl: {cli.config}: default_pools[1].size: "
                       "8 must be between the base's /16 and 30\n")
    assert cli.state_bytes() == before


def test_read_only_commands_never_read_the_config(cli):
    cli.ok("network", "create", "demo")
    cli.config.write_text("this is not toml")
    for args in (["network", "ls"], ["network", "inspect", "demo"], ["sandbox", "ls", "-q"],
                 ["endpoint", "ls", "--format", "json"], ["network", "exists", "demo"]):
        cli.ok(*args)


def test_pools_come_from_the_config_round_robin(cli):
    cli.config.write_text('default_pools = [{base = "10.89.0.0/16", size = 24}]\n')
    for name in ("a", "b", "c"):
        cli.ok("network", "create", name)
    assert [subnet_of(cli, n) for n in "abc"] == ["10.89.0.0/24", "10.89.1.0/24", "10.89.2.0/24"]


def test_excluded_ranges_are_skipped_by_the_pool_search(cli):
    cli.config.write_text('default_pools = [{base = "10.89.0.0/16", size = 24}]\n'
                          'exclude = ["10.89.1.0/24", "10.89.2.128/25"]\n')
    cli.ok("network", "create", "a")
    cli.ok("network", "create", "b")
    assert [subnet_of(cli, n) for n in "ab"] == ["10.89.0.0/24", "10.89.3.0/24"]


def test_an_explicit_subnet_overlapping_an_excluded_range_is_a_conflict(cli):
    cli.config.write_text('exclude = ["10.89.3.0/24", "fd00:dead::/32"]\n')
    res = cli("network", "create", "x", "--subnet", "10.89.0.0/16")
    assert res.code == 4
    assert res.err == f"netctl: subnet 10.89.0.0/16 overlaps excluded range 10.89.3.0/24 ({cli.config})\n"
    res = cli("network", "create", "y", "--subnet", "fd00:dead:1::/64")
    assert res.code == 4 and "excluded range fd00:dead::/32" in res.err
    assert json.loads(cli.ok("network", "ls", "--format", "json")) == []
    cli.ok("network", "create", "z", "--subnet", "10.89.4.0/24")


def test_the_whole_default_pool_list_excluded_is_exhausted(cli):
    cli.config.write_text('default_pools = [{base = "10.89.0.0/23", size = 24}]\n'
                          'exclude = ["10.89.0.0/23"]\n')
    assert cli("network", "create", "x").code == 5


def test_default_mtu_is_applied_and_recorded_unless_given(cli):
    cli.config.write_text("default_mtu = 1450\n")
    cli.ok("network", "create", "a")
    cli.ok("network", "create", "b", "-o", "mtu=9000")
    a, b = (json.loads(cli.ok("network", "inspect", n))[0] for n in "ab")
    assert a["options"]["mtu"] == "1450" and b["options"]["mtu"] == "9000"
    assert cli.kernel().link_get(a["bridge"]).mtu == 1450
    cli.config.write_text("default_mtu = 1300\n")  # later edits leave existing networks alone
    assert json.loads(cli.ok("network", "inspect", "a"))[0]["options"]["mtu"] == "1450"


def test_default_driver_applies_only_without_d(cli):
    cli.config.write_text('default_driver = "null"\n')
    cli.ok("network", "create", "none")
    cli.ok("network", "create", "br", "-d", "bridge")
    drivers = {n["name"]: n["driver"] for n in json.loads(cli.ok("network", "ls", "--format", "json"))}
    assert drivers == {"none": "null", "br": "bridge"}


def test_config_option_beats_the_environment(cli, tmp_path):
    cli.config.write_text("default_mtu = 10\n")  # invalid, but --config points elsewhere
    other = tmp_path / "other.toml"
    other.write_text('default_pools = [{base = "10.77.0.0/16", size = 24}]\n')
    cli.ok("--config", str(other), "network", "create", "a")
    assert subnet_of(cli, "a") == "10.77.0.0/24"
    cli.ok("--config", "/dev/null", "network", "create", "b")  # /dev/null: built-in pools
    assert ip_network(subnet_of(cli, "b")) in ipam.DEFAULT_POOLS


# --- hostile config files (issue 8 §4): never hang, never read without end, exit 2 naming it ---

def _netctl(cli, *args: str) -> subprocess.CompletedProcess:
    """A real process with a deadline: on a FIFO the old code hung for ever."""
    env = {**os.environ, "NETCTL_STATE": str(cli.state), fakenetctl.ENV: str(cli.kernel_file),
           "NETCTL_CONFIG": str(cli.config)}
    return subprocess.run(fakenetctl.command(*args), env=env, capture_output=True,
                          text=True, timeout=20, stdin=subprocess.DEVNULL)


def _hostile_config(kind: str, path) -> str:
    """Make PATH a hostile config of KIND; the phrase the error line must carry."""
    if kind == "fifo":
        os.mkfifo(path)
        return "not a regular file"
    if kind == "dev-zero":
        path.symlink_to("/dev/zero")
        return "not a regular file"
    if kind == "huge":
        path.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
        return "larger than 1024 KiB"
    path.write_bytes(b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n")
    return "nested too deeply"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "huge", "deep"])
def test_a_hostile_config_is_exit_2_naming_it_and_status_reports_it(cli, kind):
    cli.ok("network", "create", "before")
    before = cli.state_bytes()
    phrase = _hostile_config(kind, cli.config)
    res = _netctl(cli, "network", "create", "x")
    assert res.returncode == 2 and res.stderr.startswith(f"netctl: {cli.config}: "), res
    assert phrase in res.stderr and res.stderr.count("\n") == 1 and cli.state_bytes() == before
    res = _netctl(cli, "status")
    assert res.returncode == 0 and f"ERROR: {cli.config}: " in res.stdout and phrase in res.stdout, res
    assert res.stderr == ""
