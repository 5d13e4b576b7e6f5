"""``netctl apply``/``destroy`` over the fake kernel: the file's checks (exit 2 naming the key
path, nothing changed), the plan (the diff of file and state), one transaction, one save."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ISSUE_FILE = """
[networks.front]
subnet = "10.10.0.0/24"
[networks.back]
subnet = "10.20.0.0/24"
internal = true
[sandboxes.web]
connect = ["front", "back"]
[sandboxes.db]
hostname = "database"
connect = [{ network = "back", ip = "10.20.0.5", aliases = ["pg"] }]
"""
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, text: str, name: str = "lab.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def plan(cli, path: str, *extra: str) -> list[tuple[str, str, str]]:
    rows = json.loads(cli.ok("apply", "-f", path, "--dry-run", "--format", "json", *extra))
    return [(r["action"], r["name"], r["key"]) for r in rows]


def endpoints(cli) -> dict[str, tuple[str, list[str]]]:
    rows = json.loads(cli.ok("endpoint", "ls", "--format", "json"))
    return {f"{r['sandbox']}@{r['network']}": r["ipv4"] for r in rows}


def snapshot(cli) -> tuple[bytes, bytes]:
    kernel = cli.kernel_file.read_bytes() if cli.kernel_file.exists() else b""
    return cli.state_bytes(), kernel


def test_the_issue_file_works_as_written(cli, tmp_path):
    path = write(tmp_path, ISSUE_FILE)
    cli.ok("apply", "-f", path)
    assert endpoints(cli) == {"web@front": "10.10.0.2/24", "web@back": "10.20.0.2/24",
                              "db@back": "10.20.0.5/24"}
    db = json.loads(cli.ok("sandbox", "inspect", "db"))[0]
    assert db["hostname"] == "database" and db["labels"] == {"netctl.project": "lab"}
    ep = json.loads(cli.ok("endpoint", "inspect", "back/db"))[0]
    assert ep["aliases"] == ["pg"]
    nets = {n["name"]: n for n in json.loads(cli.ok("network", "ls", "--format", "json"))}
    assert nets["back"]["internal"] is True
    assert nets["front"]["labels"] == {"netctl.project": "lab"}


def test_applying_twice_is_nothing_to_do_and_changes_nothing(cli, tmp_path, monkeypatch):
    path = write(tmp_path, ISSUE_FILE)
    cli.ok("apply", "-f", path)
    before = snapshot(cli)
    trace = tmp_path / "trace"
    monkeypatch.setenv("NETCTL_TRACE", str(trace))
    res = cli("apply", "-f", path)
    assert (res.code, res.out) == (0, "")
    assert "nothing to do" in res.err
    assert snapshot(cli) == before
    assert not trace.exists()  # not one kernel step, not even the save


def test_one_apply_is_one_save_and_one_files_pass(cli, tmp_path, monkeypatch):
    trace = tmp_path / "trace"
    monkeypatch.setenv("NETCTL_TRACE", str(trace))
    cli.ok("apply", "-f", write(tmp_path, ISSUE_FILE))
    steps = trace.read_text().split()
    assert steps.count("save") == 1 and steps.count("files") == 1
    assert steps.count("netns-create") == 2 and steps.count("veth-create") == 3


@pytest.mark.parametrize("text, where", [
    ("[sandboxes.web]\nconect = ['front']\n", "sandboxes.web.conect: unknown key"),
    ("[networks.front]\nsubnet = 10\n", "networks.front.subnet: expected array of strings"),
    ("[networks.front]\n[sandboxes.web]\nconnect = ['front', 'nowhere']\n",
     "sandboxes.web.connect[1]: network 'nowhere' is neither in the file nor in the state"),
    ("[networks.n]\n[sandboxes.web]\nconnect = ['n', { network = 'n', ip = '10.0.0.300' }]\n",
     "sandboxes.web.connect[1].ip: invalid ip"),
    ("[networks.n]\n[sandboxes.web]\nconnect = [{ ip = '10.1.0.3' }]\n",
     "sandboxes.web.connect[0].network: missing"),
    ("[networks.n]\n[sandboxes.web]\nconnect = [{ network = 'n', priority = 'high' }]\n",
     "sandboxes.web.connect[0].priority: expected integer"),
    ("[sandboxes.web]\nextra_hosts = ['nocolon']\n", "sandboxes.web: invalid --add-host"),
    ("[networks.n]\noptions = { colour = 'blue' }\n", "networks.n.options: unknown option"),
    ("[networks.n]\nsubnet = '10.1.0.1/24'\n", "networks.n.subnet: invalid subnet 10.1.0.1/24: host bits"),
    ("[networks.n]\nlabels = { 'netctl.project' = 'other' }\n",
     "networks.n.labels.netctl.project: reserved"),
    ("[nets.n]\n", "nets: unknown key"),
    ("project = 3\n", "project: expected string"),
    ("[networks.n\n", "not valid TOML"),
])
def test_a_bad_file_is_exit_2_naming_the_key_before_anything_changes(cli, tmp_path, text, where):
    res = cli("apply", "-f", write(tmp_path, text))
    assert res.code == 2, res.err
    assert where in res.err and res.err.count("\n") == 1
    assert snapshot(cli) == (b"", b"")


def test_dry_run_prints_the_plan_and_changes_nothing(cli, tmp_path):
    path = write(tmp_path, ISSUE_FILE)
    assert plan(cli, path) == [
        ("create", "front", "networks.front"), ("create", "back", "networks.back"),
        ("create", "web", "sandboxes.web"), ("create", "db", "sandboxes.db"),
        ("connect", "web -> front", "sandboxes.web.connect[0]"),
        ("connect", "web -> back", "sandboxes.web.connect[1]"),
        ("connect", "db -> back", "sandboxes.db.connect[0]"),
    ]
    table = cli.ok("apply", "-f", path, "--dry-run")
    assert table.splitlines()[0].split() == ["ACTION", "KIND", "NAME", "KEY", "DETAIL"]
    assert snapshot(cli) == (b"", b"")


def test_a_changed_file_changes_only_what_differs(cli, tmp_path):
    path = write(tmp_path, ISSUE_FILE)
    cli.ok("apply", "-f", path)
    before = endpoints(cli)
    changed = ISSUE_FILE.replace('connect = ["front", "back"]', 'connect = ["front"]').replace(
        'aliases = ["pg"] }]', 'aliases = ["pg"] }, "front"]')
    write(tmp_path, changed)
    assert plan(cli, path) == [("disconnect", "web -> back", "sandboxes.web"),
                               ("connect", "db -> front", "sandboxes.db.connect[1]")]
    cli.ok("apply", "-f", path)
    after = endpoints(cli)
    del before["web@back"]
    assert after == {**before, "db@front": "10.10.0.3/24"}


def test_a_different_subnet_replaces_the_network_and_remakes_its_connections(cli, tmp_path):
    path = write(tmp_path, ISSUE_FILE)
    cli.ok("apply", "-f", path)
    write(tmp_path, ISSUE_FILE.replace("10.10.0.0/24", "10.11.0.0/24"))
    assert [a for a, _, _ in plan(cli, path)] == ["disconnect", "replace", "reconnect"]
    cli.ok("apply", "-f", path)
    assert endpoints(cli)["web@front"] == "10.11.0.2/24"
    assert plan(cli, path) == []


def test_what_apply_did_not_make_is_never_replaced_or_pruned(cli, tmp_path):
    cli.ok("network", "create", "front", "--subnet", "10.10.0.0/24")
    cli.ok("network", "create", "mine", "--subnet", "10.99.0.0/24")
    path = write(tmp_path, ISSUE_FILE.replace("10.10.0.0/24", "10.11.0.0/24"))
    res = cli("apply", "-f", path)
    assert res.code == 4 and "networks.front: network 'front' exists but differs" in res.err
    write(tmp_path, ISSUE_FILE)
    cli.ok("apply", "-f", path, "--prune")
    assert ("remove", "mine", "(pruned)") not in plan(cli, path, "--prune")
    write(tmp_path, 'project = "lab"\n[networks.front]\nsubnet = "10.10.0.0/24"\n')
    assert plan(cli, path, "--prune") == [("remove", "web", "(pruned)"), ("remove", "db", "(pruned)"),
                                          ("remove", "back", "(pruned)")]
    cli.ok("apply", "-f", path, "--prune")
    names = cli.ok("network", "ls", "-q").split()
    assert sorted(names) == ["front", "mine"] and cli.ok("sandbox", "ls", "-q") == ""


def test_a_failing_step_undoes_the_whole_plan_and_names_the_key(cli, tmp_path, monkeypatch):
    path = write(tmp_path, ISSUE_FILE)
    monkeypatch.setenv("NETCTL_FAULT", "route-add")  # the first connect, after 2 bridges, 2 netns
    res = cli("apply", "-f", path)
    assert res.code == 1
    assert "sandboxes.web.connect[0]: connect connection 'web -> front': injected fault" in res.err
    assert cli.state_bytes() == b""
    kernel = cli.kernel()
    assert [link.name for link in kernel.links()] == ["lo"] and kernel.netns_list() == []


def test_destroy_refuses_what_is_shared_and_removes_the_rest(cli, tmp_path):
    path = write(tmp_path, ISSUE_FILE)
    cli.ok("apply", "-f", path)
    cli.ok("sandbox", "create", "other")
    cli.ok("network", "connect", "back", "other")
    before = snapshot(cli)
    res = cli("destroy", "-f", path)
    assert res.code == 4 and "networks.back ('back'): endpoint 'other' (other)" in res.err
    assert snapshot(cli) == before
    cli.ok("sandbox", "rm", "other")
    cli.ok("destroy", "-f", path)
    assert cli.ok("network", "ls", "-q") == "" and cli.ok("sandbox", "ls", "-q") == ""
    assert cli.kernel().netns_list() == []
    res = cli("destroy", "-f", path)
    assert res.code == 0 and "nothing to do" in res.err


@pytest.mark.parametrize("name", ["small-lab", "three-tier", "scale-200"])
def test_the_examples_plan_and_apply(cli, tmp_path, name, monkeypatch):
    monkeypatch.setenv("NETCTL_TRACE", str(tmp_path / "trace"))
    path = str(EXAMPLES / f"{name}.toml")
    cli.ok("apply", "-f", path)
    assert (tmp_path / "trace").read_text().split().count("save") == 1
    assert plan(cli, path) == []
    cli.ok("destroy", "-f", path)
    assert cli.ok("sandbox", "ls", "-q") == ""


def test_stdin_is_project_stdin(cli, tmp_path):
    res = cli.runner.invoke(__import__("netctl.cli", fromlist=["main"]).main,
                            ["apply", "-f", "-"], input=ISSUE_FILE)
    assert res.exit_code == 0, res.stderr
    nets = json.loads(cli.ok("network", "inspect", "front"))
    assert nets[0]["labels"] == {"netctl.project": "stdin"}


def test_a_file_name_that_is_no_project_name_says_to_set_project(cli, tmp_path):
    res = cli("apply", "-f", write(tmp_path, ISSUE_FILE, name="my lab.toml"))
    assert res.code == 2
    assert res.err.endswith("it comes from the file's name: set project = \"...\"\n")
    assert res.err.count("\n") == 1
    cli.ok("apply", "-f", write(tmp_path, 'project = "lab"\n' + ISSUE_FILE, name="my lab.toml"))


def test_a_byte_order_mark_before_the_toml_is_skipped(cli, tmp_path):
    """Windows editors start UTF-8 files with a BOM, which TOML parsers reject."""
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + ISSUE_FILE.encode())
    cli.ok("apply", "-f", str(path))
    assert cli.ok("network", "ls", "-q").split() == ["front", "back"]
    res = cli.runner.invoke(__import__("netctl.cli", fromlist=["main"]).main,
                            ["apply", "-f", "-"], input="\ufeff" + ISSUE_FILE)
    assert res.exit_code == 0, res.stderr


def test_a_changed_hostname_updates_the_sandbox_in_place(cli, tmp_path):
    path = write(tmp_path, ISSUE_FILE)
    cli.ok("apply", "-f", path)
    before = json.loads(cli.ok("sandbox", "inspect", "db"))[0]
    write(tmp_path, ISSUE_FILE.replace('hostname = "database"', 'hostname = "db2"\ndns = ["10.0.0.53"]'))
    assert plan(cli, path) == [("update", "db", "sandboxes.db")]
    cli.ok("apply", "-f", path)
    after = json.loads(cli.ok("sandbox", "inspect", "db"))[0]
    assert (after["hostname"], after["dns"]) == ("db2", ["10.0.0.53"])
    assert (after["id"], after["endpoints"]) == (before["id"], before["endpoints"])
    assert "db2" in (cli.etc / "web" / "hosts").read_text()


PUBLISHED = """
[networks.front]
subnet = "10.10.0.0/24"
[sandboxes.web]
connect = [{ network = "front", publish = ["8080:80/tcp", { port = 53, protocol = "udp" }] }]
[sandboxes.api]
connect = [{ network = "front", publish = "127.0.0.1:9090:90" }]
"""


def _ports(cli, ref: str) -> list[str]:
    return json.loads(cli.ok("endpoint", "inspect", ref))[0]["ports"]


def _dnat(cli) -> str:
    path = cli.kernel_file.with_name(cli.kernel_file.name + ".nft.json")
    return json.loads(path.read_text()).get("tables", {}).get("inet", "")


def test_published_ports_in_a_file_are_planned_applied_and_idempotent(cli, tmp_path, monkeypatch):
    path = write(tmp_path, PUBLISHED)
    rows = json.loads(cli.ok("apply", "-f", path, "--dry-run", "--format", "json"))
    assert [r["detail"] for r in rows if r["kind"] == "connection"] == [
        "publish 8080:80/tcp, 53/udp", "publish 127.0.0.1:9090:90"]
    cli.ok("apply", "-f", path)
    web = _ports(cli, "front/web")
    assert web[0] == "80/tcp -> 0.0.0.0:8080" and web[1].startswith("53/udp -> 0.0.0.0:")
    assert _ports(cli, "front/api") == ["90/tcp -> 127.0.0.1:9090"]
    addr = json.loads(cli.ok("endpoint", "inspect", "front/web"))[0]["ipv4"].split("/")[0]
    assert f"tcp dport 8080 dnat ip to {addr}:80" in _dnat(cli)
    before = snapshot(cli)
    trace = tmp_path / "trace"
    monkeypatch.setenv("NETCTL_TRACE", str(trace))
    res = cli("apply", "-f", path)  # the picked UDP port matches "53/udp": nothing to do
    assert (res.code, "nothing to do" in res.err) == (0, True)
    assert snapshot(cli) == before and not trace.exists()


def test_changed_ports_are_changed_in_place_and_can_move_between_sandboxes(cli, tmp_path):
    path = write(tmp_path, PUBLISHED)
    cli.ok("apply", "-f", path)
    mac = json.loads(cli.ok("endpoint", "inspect", "front/web"))[0]["mac"]
    moved = PUBLISHED.replace('publish = ["8080:80/tcp", { port = 53, protocol = "udp" }]',
                              'publish = { port = 80, host_port = 8081 }').replace(
        'publish = "127.0.0.1:9090:90"', 'publish = ["8080:90"]')
    write(tmp_path, moved)
    assert plan(cli, path) == [
        ("unpublish", "web -> front", "sandboxes.web.connect[0]"),
        ("unpublish", "api -> front", "sandboxes.api.connect[0]"),
        ("publish", "web -> front", "sandboxes.web.connect[0]"),
        ("publish", "api -> front", "sandboxes.api.connect[0]")]
    cli.ok("apply", "-f", path)
    assert _ports(cli, "front/web") == ["80/tcp -> 0.0.0.0:8081"]
    assert _ports(cli, "front/api") == ["90/tcp -> 0.0.0.0:8080"]
    assert json.loads(cli.ok("endpoint", "inspect", "front/web"))[0]["mac"] == mac  # same veth
    assert "tcp dport 8081 dnat" in _dnat(cli) and "127.0.0.1" not in _dnat(cli)
    write(tmp_path, moved.replace('publish = { port = 80, host_port = 8081 }', 'ip = "10.10.0.2"'))
    assert plan(cli, path) == [("unpublish", "web -> front", "sandboxes.web.connect[0]")]
    cli.ok("apply", "-f", path)
    assert _ports(cli, "front/web") == [] and "dport 8081" not in _dnat(cli)
    assert plan(cli, path) == []


def test_a_host_port_taken_by_another_endpoint_is_exit_4_and_everything_is_undone(cli, tmp_path):
    cli.ok("network", "create", "other")
    cli.ok("sandbox", "create", "x")
    cli.ok("network", "connect", "other", "x", "-p", "9090:90")
    before = (cli.state_bytes(), sorted(link.name for link in cli.kernel().links()), _dnat(cli))
    res = cli("apply", "-f", write(tmp_path, PUBLISHED.replace("127.0.0.1:9090:90", "9090:91")))
    assert res.code == 4, res.err
    assert "sandboxes.api.connect[0]" in res.err
    assert "0.0.0.0:9090/tcp is already published by endpoint 'x' (network 'other')" in res.err
    kernel = cli.kernel()  # the fake's interface counter moved on; nothing else did
    assert (cli.state_bytes(), sorted(link.name for link in kernel.links()), _dnat(cli)) == before
    assert kernel.netns_list() == ["x"]


@pytest.mark.parametrize("text, code, where", [
    ('publish = ["80:80:80:80"]', 2, "sandboxes.web.connect[0].publish[0]: invalid --publish"),
    ('publish = "70000"', 2, "sandboxes.web.connect[0].publish: invalid port '70000'"),
    ("publish = [80]", 2, "sandboxes.web.connect[0].publish[0]: expected a -p string"),
    ("publish = [{ host_port = 80 }]", 2, "sandboxes.web.connect[0].publish[0].port: missing"),
    ("publish = [{ port = 80, proto = 'tcp' }]", 2, "sandboxes.web.connect[0].publish[0].proto: unknown key"),
    ("publish = [{ port = 80, protocol = 'icmp' }]", 2,
     "sandboxes.web.connect[0].publish[0]: invalid protocol"),
    ("publish = [{ port = true }]", 2, "sandboxes.web.connect[0].publish[0].port: expected string"),
    ('publish = ["8080:80", "8080:81"]', 4,
     "sandboxes.web.connect[0].publish: port 0.0.0.0:8080/tcp is already published by this command"),
])
def test_a_bad_publish_is_refused_naming_the_key_before_anything_changes(cli, tmp_path, text, code, where):
    res = cli("apply", "-f", write(tmp_path, f"[networks.n]\n[sandboxes.web]\n"
                                             f"connect = [{{ network = 'n', {text} }}]\n"))
    assert res.code == code, res.err
    assert where in res.err and res.err.count("\n") == 1
    assert snapshot(cli) == (b"", b"")


def test_the_same_host_port_in_two_connections_or_on_an_internal_network_is_refused(cli, tmp_path):
    twice = PUBLISHED.replace("127.0.0.1:9090:90", "8080:90")
    res = cli("apply", "-f", write(tmp_path, twice))
    assert res.code == 4 and ("sandboxes.api.connect[0].publish: port 0.0.0.0:8080/tcp is already "
                              "published by sandboxes.web.connect[0]") in res.err
    internal = PUBLISHED.replace('"10.10.0.0/24"', '"10.10.0.0/24"\ninternal = true')
    res = cli("apply", "-f", write(tmp_path, internal))
    assert res.code == 2
    assert "sandboxes.web.connect[0].publish: network 'front' is an internal network" in res.err
    assert snapshot(cli) == (b"", b"")


def test_a_connection_apply_changes_in_place_must_exist_as_disconnect_says(cli):
    """apply_steps' in-place publish steps refuse a connection that is not there as
    ``network disconnect`` does: not found (exit 3), not a conflict."""
    import os

    from netctl.errors import NotFound
    from netctl.service import apply_steps
    from netctl.service.context import Context
    from netctl.store import Store

    cli.ok("network", "create", "front")
    cli.ok("sandbox", "create", "web")
    ctx = Context(Store(os.environ["NETCTL_STATE"], 5.0), config_path=str(cli.config))
    try:
        with pytest.raises(NotFound, match="is not connected to network 'front'"):
            apply_steps.unpublish(ctx, "front", "web")
    finally:
        ctx.close()
