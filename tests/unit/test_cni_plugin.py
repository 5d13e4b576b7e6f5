"""The CNI front door as the spec drives it: CNI_* variables and a configuration on stdin,
one JSON document on stdout.  These cases fail before any lock or kernel: malformed
configurations and missing variables answer with the spec's error codes and change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netctl.cni import netconf, plugin, result, spec
from netctl.model import Endpoint, Network, Subnet

REPO = Path(__file__).resolve().parents[2]
CONF = {"cniVersion": "1.0.0", "name": "lab", "type": "netctl"}


def env(command: str, **extra: str) -> dict[str, str]:
    base = {"CNI_COMMAND": command, "CNI_CONTAINERID": "c0ffee", "CNI_NETNS": "/run/netns/x",
            "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni"}
    return {**base, **extra}


def run(environ: dict[str, str], conf: object, tmp_path: Path) -> tuple[int, dict | None]:
    data = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
    state = tmp_path / "state.toml"
    code, doc = plugin.run({**environ, "NETCTL_STATE": str(state)}, data)
    assert not state.exists() and not (tmp_path / "state.toml.lock").exists(), "something changed"
    return code, doc


@pytest.mark.parametrize("missing", ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])
def test_add_without_a_required_variable_is_error_4(tmp_path, missing):
    environ = env("ADD")
    del environ[missing]
    code, doc = run(environ, CONF, tmp_path)
    assert code == 1 and doc["code"] == spec.INVALID_ENV and missing in doc["msg"]
    assert doc["cniVersion"] == "1.0.0"


@pytest.mark.parametrize("variable,value", [
    ("CNI_COMMAND", "FROB"), ("CNI_CONTAINERID", "-bad"), ("CNI_CONTAINERID", "a/b"),
    ("CNI_IFNAME", "x" * 16), ("CNI_IFNAME", "a:b"), ("CNI_IFNAME", ".."), ("CNI_NETNS", "relative"),
    ("CNI_ARGS", "IP"),
    ("CNI_IFNAME", "all"), ("CNI_IFNAME", "default"), ("CNI_IFNAME", "\u00e91"),  # were 101, 101, 7
])
def test_malformed_variables_are_error_4(tmp_path, variable, value):
    code, doc = run({**env("ADD"), variable: value}, CONF, tmp_path)
    assert (code, doc["code"]) == (1, spec.INVALID_ENV), doc


@pytest.mark.parametrize("value", ["nan", "abc", "-1"])
def test_a_bad_lock_timeout_is_error_4(tmp_path, value):
    """nan was taken as a wait that never ends; abc was error 101 'unexpected error'."""
    code, doc = run({**env("ADD"), "NETCTL_LOCK_TIMEOUT": value}, CONF, tmp_path)
    assert (code, doc["code"]) == (1, spec.INVALID_ENV) and "NETCTL_LOCK_TIMEOUT" in doc["msg"], doc


def test_del_needs_no_netns_but_an_ifname(tmp_path):
    environ = env("DEL", CNI_IFNAME="")
    code, doc = run(environ, CONF, tmp_path)
    assert doc["code"] == spec.INVALID_ENV and "CNI_IFNAME" in doc["msg"]


@pytest.mark.parametrize("data,code", [
    (b"{", spec.DECODE_FAILURE), (b"\xff\xfe", spec.DECODE_FAILURE), (b"[]", spec.DECODE_FAILURE),
    ({**CONF, "cniVersion": "0.3.1"}, spec.INCOMPATIBLE_VERSION),
    ({**CONF, "cniVersion": "2.0.0"}, spec.INCOMPATIBLE_VERSION),
    ({"name": "lab", "type": "netctl"}, spec.INVALID_CONFIG),
    ({**CONF, "name": ""}, spec.INVALID_CONFIG),
    ({**CONF, "subnett": "10.0.0.0/24"}, spec.UNSUPPORTED_FIELD),
    ({**CONF, "ipam": {"type": "host-local"}}, spec.UNSUPPORTED_FIELD),
    ({**CONF, "subnet": 10}, spec.INVALID_CONFIG),
    ({**CONF, "ipv6": "yes"}, spec.INVALID_CONFIG),
    ({**CONF, "mtu": True}, spec.INVALID_CONFIG),
    ({**CONF, "runtimeConfig": []}, spec.INVALID_CONFIG),
    ({**CONF, "runtimeConfig": {"portMappings": [{"hostPort": "x"}]}}, spec.INVALID_CONFIG),
    ({**CONF, "runtimeConfig": {"ips": ["10.0.0.2/24", "10.0.0.3/24"]}}, spec.INVALID_CONFIG),
    # wrong types that used to pass: port true published port 1, 80.9 port 80, "" any address
    ({**CONF, "runtimeConfig": {"portMappings": [{"hostPort": True, "containerPort": 80}]}},
     spec.INVALID_CONFIG),
    ({**CONF, "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80.9}]}},
     spec.INVALID_CONFIG),
    ({**CONF, "runtimeConfig": {"portMappings": [{"hostPort": "8080", "containerPort": 80}]}},
     spec.INVALID_CONFIG),
    ({**CONF, "runtimeConfig": {"ips": [""]}}, spec.INVALID_CONFIG),
    # a prevResult whose lists are no lists of objects was spread into netctl's Result
    ({**CONF, "prevResult": {"cniVersion": "1.0.0", "interfaces": "eth0"}}, spec.INVALID_CONFIG),
    ({**CONF, "prevResult": {"cniVersion": "1.0.0", "ips": [1]}}, spec.INVALID_CONFIG),
    ({**CONF, "prevResult": [1]}, spec.INVALID_CONFIG),
    ({**CONF, "dns": ["10.0.0.1"]}, spec.INVALID_CONFIG),
    ({**CONF, "state": "state.toml"}, spec.INVALID_CONFIG),  # was written in the runtime's cwd
    ({**CONF, "state": ""}, spec.INVALID_CONFIG),
    # not JSON, though Python reads it: it came back in the Result, which no runtime could parse
    (b'{"cniVersion": "1.0.0", "name": "lab", "type": "netctl", "dns": {"x": NaN}}', spec.DECODE_FAILURE),
    (b'{"cniVersion": "1.0.0", "name": "lab", "type": "netctl", "mtu": -Infinity}', spec.DECODE_FAILURE),
])
def test_malformed_configurations_answer_with_the_spec_code(tmp_path, data, code):
    got, doc = run(env("ADD"), data, tmp_path)
    assert (got, doc["code"]) == (1, code), doc
    assert doc["msg"] and set(doc) <= {"cniVersion", "code", "msg", "details"}


@pytest.mark.parametrize("command", ["ADD", "VERSION"])
def test_json_nested_past_the_parsers_depth_is_error_6_not_a_traceback(tmp_path, command):
    deep = b'{"cniVersion": "1.0.0", "name": "lab", "args": ' + b"[" * 100_000
    for data in (b"[" * 100_000, deep):
        code, doc = run(env(command), data, tmp_path)
        want = (1, spec.DECODE_FAILURE) if command == "ADD" else (0, None)
        assert (code, doc.get("code")) == want, doc


def test_del_does_not_fail_on_a_prev_result_it_does_not_use():
    data = json.dumps({**CONF, "prevResult": {"interfaces": "eth0"}, "dns": []}).encode()
    assert netconf.load(data, "DEL").name == "lab"


def test_check_without_prev_result_is_invalid(tmp_path):
    code, doc = run(env("CHECK"), CONF, tmp_path)
    assert doc["code"] == spec.INVALID_CONFIG and "prevResult" in doc["msg"]


@pytest.mark.parametrize("command", ["GC", "STATUS"])
def test_gc_and_status_need_1_1(tmp_path, command):
    code, doc = run(env(command), CONF, tmp_path)
    assert doc["code"] == spec.INCOMPATIBLE_VERSION


def test_status_asks_the_one_may_change_networks_seam(tmp_path, monkeypatch):
    """service/context.py ``privileged`` (what every changing command asks, and what the
    fake kernel's hooks replace), not a geteuid of its own."""
    import netctl.service.context

    monkeypatch.setattr(netctl.service.context, "privileged", lambda: False)
    code, doc = run(env("STATUS"), {**CONF, "cniVersion": "1.1.0"}, tmp_path)
    assert (code, doc["code"]) == (1, spec.NOT_AVAILABLE) and "root" in doc["msg"], doc


def test_gc_without_valid_attachments_is_invalid(tmp_path):
    code, doc = run(env("GC"), {**CONF, "cniVersion": "1.1.0"}, tmp_path)
    assert doc["code"] == spec.INVALID_CONFIG and "valid-attachments" in doc["msg"]


def test_version_answers_whatever_the_other_variables(tmp_path):
    code, doc = run({"CNI_COMMAND": "VERSION"}, {"cniVersion": "1.0.0"}, tmp_path)
    assert (code, doc) == (0, {"cniVersion": "1.0.0", "supportedVersions": ["1.0.0", "1.1.0"]})
    code, doc = run({"CNI_COMMAND": "VERSION"}, b"", tmp_path)
    assert doc["cniVersion"] == "1.1.0"
    # how libcni (podman's CNI backend) validates a conflist: the other variables are "dummy"
    dummy = {"CNI_COMMAND": "VERSION", "CNI_NETNS": "dummy", "CNI_IFNAME": "dummy",
             "CNI_CONTAINERID": "dummy", "CNI_PATH": "dummy"}
    assert run(dummy, {"cniVersion": "1.0.0"}, tmp_path)[0] == 0


def test_network_request_maps_every_netctl_key():
    conf = netconf.load(json.dumps({**CONF, "driver": "bridge", "subnet": ["10.9.0.0/24"],
                                    "gateway": "10.9.0.254", "ipRange": "10.9.0.128/25",
                                    "auxAddress": {"r": "10.9.0.2"}, "ipv6": True, "internal": True,
                                    "mtu": 1400, "bridge": "br-lab", "labels": {"team": "a"},
                                    "options": {"icc": False}, "ipMasq": False}).encode(), "ADD")
    req = netconf.network_request(conf)
    assert (req.name, req.driver, req.subnets, req.gateways, req.ip_ranges, req.aux_addresses) == (
        "lab", "bridge", ["10.9.0.0/24"], ["10.9.0.254"], ["10.9.0.128/25"], ["r=10.9.0.2"])
    assert (req.ipv6, req.internal, req.labels) == (True, True, ["team=a"])
    assert req.options == ["icc=false", "mtu=1400", "bridge=br-lab", "masquerade=false"]


def test_attachment_options_from_runtime_config_args_and_cni_args():
    conf = netconf.load(json.dumps({**CONF, "runtimeConfig": {
        "ips": ["10.9.0.7/24", "fd00::7/64"], "mac": "02:00:00:00:00:07",
        "aliases": {"lab": ["web"], "other": ["no"]},
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "TCP"},
                         {"hostPort": 53, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"}]}}
    ).encode(), "ADD")
    got = netconf.endpoint_options(conf, {})
    assert (got.ip, got.ip6, got.mac, got.aliases) == ("10.9.0.7", "fd00::7", "02:00:00:00:00:07", ["web"])
    assert got.publish == ["8080:80/tcp", "127.0.0.1:53:53/udp"]
    plain = netconf.load(json.dumps(CONF).encode(), "ADD")
    got = netconf.endpoint_options(plain, {"IP": "10.9.0.8", "MAC": "02:00:00:00:00:08", "K8S_POD_NAME": "p"})
    assert (got.ip, got.mac) == ("10.9.0.8", "02:00:00:00:00:08")
    args = netconf.load(json.dumps({**CONF, "args": {"cni": {"ips": ["10.9.0.9"]}}}).encode(), "ADD")
    assert netconf.endpoint_options(args, {}).ip == "10.9.0.9"


def test_an_existing_network_must_match_what_the_config_gives():
    net = Network("lab", "n" * 64, "bridge", "now", [Subnet("10.9.0.0/24", "10.9.0.1")],
                  options={"mtu": "1400"}, labels={"team": "a"})
    same = netconf.load(json.dumps({**CONF, "subnet": "10.9.0.0/24", "gateway": "10.9.0.1",
                                    "mtu": 1400, "labels": {"team": "a"}}).encode(), "ADD")
    assert netconf.network_mismatch(same, netconf.network_request(same), net) == []
    other = netconf.load(json.dumps({**CONF, "subnet": "10.8.0.0/24", "internal": True,
                                     "mtu": 1500}).encode(), "ADD")
    assert netconf.network_mismatch(other, netconf.network_request(other), net) == [
        "subnet 10.8.0.0/24", "internal true", "option mtu=1500"]


def test_result_has_interfaces_ips_with_index_and_gateway_routes_and_dns():
    net = Network("lab", "n" * 64, "bridge", "now", [Subnet("10.9.0.0/24", "10.9.0.1")])
    ep = Endpoint("e", "e" * 64, net.id, "now", mac="02:42:0a:09:00:02", ipv4="10.9.0.2/24",
                  host_ifname="veth123", ifname="eth0")
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "lo"}], "ips": []}
    out = result.build("1.0.0", net, ep, "/run/netns/x", True, {"nameservers": ["10.9.0.1"]}, prev)
    assert out == {"cniVersion": "1.0.0",
                   "interfaces": [{"name": "lo"}, {"name": "veth123"},
                                  {"name": "eth0", "sandbox": "/run/netns/x", "mac": "02:42:0a:09:00:02"}],
                   "ips": [{"address": "10.9.0.2/24", "interface": 2, "gateway": "10.9.0.1"}],
                   "routes": [{"dst": "0.0.0.0/0", "gw": "10.9.0.1"}],
                   "dns": {"nameservers": ["10.9.0.1"]}}
    assert result.mismatches(out, out) == []
    assert result.mismatches({"interfaces": [], "ips": []}, out) == [
        "prevResult has no interface eth0 in /run/netns/x", "prevResult lacks address 10.9.0.2/24"]


def test_netctl_errors_map_onto_spec_codes():
    from netctl.errors import Busy, Conflict, InvalidInput, StateError

    assert [spec.from_netctl(e("x")).code for e in (InvalidInput, Busy, StateError, Conflict)] == [
        spec.INVALID_CONFIG, spec.TRY_AGAIN, spec.IO_FAILURE, 104]


def test_the_console_script_is_the_plugin_under_cni_command_without_click():
    """A plugin exec goes through netctl.entry and never imports click, rich or pyroute2."""
    code = ("import sys, os, io; from netctl import entry; sys.stdin = io.TextIOWrapper(io.BytesIO("
            "b'{\"cniVersion\": \"1.1.0\"}')); os._exit = lambda c: (print(sorted(m for m in sys.modules"
            " if m.split('.')[0] in ('click', 'rich', 'pyroute2'))), sys.stdout.flush(), sys.exit(c));"
            " entry.main()")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CNI_COMMAND": "VERSION"},
                          capture_output=True, text=True, cwd=REPO)
    lines = proc.stdout.splitlines()
    assert json.loads(lines[0])["supportedVersions"] == ["1.0.0", "1.1.0"] and lines[1] == "[]"
    cli = subprocess.run([sys.executable, "-m", "netctl", "--version"], capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "CNI_COMMAND"}, cwd=REPO)
    assert cli.returncode == 0 and "netctl, version" in cli.stdout


def test_a_signal_while_the_version_is_read_is_error_11(monkeypatch):
    from netctl import interrupts

    def interrupted(*_args, **_kwargs):
        raise interrupts.Interrupted(15)

    monkeypatch.setattr(plugin.json, "loads", interrupted)
    code, doc = plugin.run(env("VERSION"), json.dumps(CONF).encode())
    assert (code, doc["code"]) == (1, spec.TRY_AGAIN)


def test_sigterm_while_the_runtime_still_writes_stdin_is_error_11_not_a_traceback():
    import signal
    import time

    code = "import sys; from netctl import entry; entry.main()"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "CNI_COMMAND": "ADD", "NETCTL_STATE": "/nonexistent/x"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the plugin's SIGTERM handler is installed
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(next(x for x in status.splitlines() if x.startswith("SigCgt:")).split()[1], 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            break
        time.sleep(0.01)
    time.sleep(0.05)  # into the read
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and b"Traceback" not in err, err
    assert json.loads(out)["code"] == spec.TRY_AGAIN


def test_status_says_whether_netctl_is_on_the_usual_cni_path(tmp_path):
    from netctl.cni import reach

    dirs = (str(tmp_path / "opt"), str(tmp_path / "lib"), str(tmp_path / "libexec"))
    assert reach.facts(dirs)["reachable"] is False
    assert "not on the usual CNI_PATH" in reach.line(reach.facts(dirs))
    os.mkdir(dirs[0])
    old = tmp_path / "old-netctl"
    old.write_text("#!/usr/bin/python3\nfrom netctl.cli import main\nmain()\n")
    old.chmod(0o755)
    (tmp_path / "opt" / "netctl").symlink_to(old)
    got = reach.facts(dirs)
    assert not got["reachable"] and "older netctl" in reach.line(got)
    os.mkdir(dirs[1])
    new = tmp_path / "new-netctl"
    new.write_text("#!/usr/bin/python3\nfrom netctl.entry import main\nmain()\n")
    new.chmod(0o755)
    (tmp_path / "lib" / "netctl").symlink_to(new)
    got = reach.facts(dirs)
    assert got["reachable"] and reach.line(got) == f"plugin reachable as {dirs[1]}/netctl -> {new}"


def test_status_cni_line_does_not_hang_on_a_fifo_named_netctl(tmp_path):
    (tmp_path / "opt").mkdir()
    os.mkfifo(tmp_path / "opt" / "netctl", 0o755)
    os.chmod(tmp_path / "opt" / "netctl", 0o755)
    code = ("import sys; from netctl.cni import reach; "
            f"print(reach.line(reach.facts(({str(tmp_path / 'opt')!r},))))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "not netctl's console script" in proc.stdout, proc


def test_netctl_cni_prints_a_conflist_the_plugin_accepts(cli):
    cli.ok("network", "create", "lab", "--subnet", "10.31.0.0/24")
    out = json.loads(cli.ok("cni", "lab"))
    assert out["name"] == "lab" and out["cniVersion"] == "1.0.0"
    (entry,) = out["plugins"]
    assert entry["type"] == "netctl" and entry["subnet"] == "10.31.0.0/24"
    assert entry["state"] == str(cli.state.resolve())
    conf = netconf.load(json.dumps({"cniVersion": out["cniVersion"], "name": out["name"], **entry}).encode(),
                        "ADD")
    assert netconf.network_request(conf).subnets == ["10.31.0.0/24"]
    assert cli("cni", "nope").code == 3
    cli.ok("network", "create", "nul", "--driver", "null")  # ADD refuses it: no conflist either
    res = cli("cni", "nul")
    assert res.code == 2 and "driver null" in res.err


def test_sandbox_names_are_readable_and_unique():
    from netctl.cni.ops import sandbox_name
    from netctl.model import Sandbox, State

    cid = "0123456789abcdef" * 4
    state = State()
    assert sandbox_name(state, cid) == "cni-0123456789ab"
    assert sandbox_name(state, cid, "web") == "web-0123456789ab"
    assert sandbox_name(state, cid, "bad name/x") == "cni-0123456789ab"
    assert sandbox_name(state, "c1", "x" * 80) == "x" * 40 + "-c1"
    state.sandboxes.append(Sandbox("web-0123456789ab", "s" * 64, "now"))
    assert sandbox_name(state, cid, "web") == "web-0123456789abcdef0123"
