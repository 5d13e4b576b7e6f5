"""Shell completion: the shipped scripts are click's output, real bash/zsh/fish running them
offer live names from the state file, and the callbacks stay silent (and root-free) when the
state cannot be read."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.shell_completion import ShellComplete

from netctl.cli import main

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "completions"
FILES = {"bash": "netctl.bash", "zsh": "_netctl", "fish": "netctl.fish"}


@pytest.fixture
def shell_env(cli, tmp_path):
    """An environment where ``netctl`` on PATH is this checkout's, reading ``cli``'s state."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "netctl"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m netctl "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETCTL_", "_NETCTL"))}
    env.update(NETCTL_STATE=str(cli.state), PATH=f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}")
    return env


@pytest.fixture
def lab(cli):
    for net in ("alpha", "beta"):
        cli.ok("network", "create", net)
    for sb in ("web", "db"):
        cli.ok("sandbox", "create", sb)
    cli.ok("network", "connect", "alpha", "web")
    cli.ok("network", "connect", "beta", "web")
    cli.ok("network", "connect", "beta", "db")
    return cli


def complete(args: list[str], incomplete: str = "") -> list[str]:
    comp = ShellComplete(main, {}, "netctl", "_NETCTL_COMPLETE")
    return [c.value for c in comp.get_completions(args, incomplete)]


@pytest.mark.parametrize("shell", FILES)
def test_shipped_script_is_what_netctl_prints(shell, shell_env):
    shipped = (SHIPPED / FILES[shell]).read_bytes()
    via_env = subprocess.run([sys.executable, "-m", "netctl"], capture_output=True, check=True,
                             env={**shell_env, "_NETCTL_COMPLETE": f"{shell}_source"}).stdout
    via_command = subprocess.run([sys.executable, "-m", "netctl", "completion", shell],
                                 capture_output=True, check=True, env=shell_env).stdout
    assert via_env == shipped
    assert via_command == shipped


def bash(words: list[str], env: dict[str, str]) -> list[str]:
    script = (f"source {shlex.quote(str(SHIPPED / FILES['bash']))}\n"
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              "_netctl_completion netctl\n"
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env,
                          capture_output=True, text=True, check=True, timeout=30)
    assert proc.stderr == ""
    return [line for line in proc.stdout.splitlines() if line]


def test_bash_network_rm_tab_offers_the_networks_in_the_state_file(lab, shell_env):
    assert bash(["netctl", "network", "rm", ""], shell_env) == ["alpha", "beta"]
    assert bash(["netctl", "network", "rm", "b"], shell_env) == ["beta"]
    assert bash(["netctl", "network", "rm", "alpha", ""], shell_env) == ["beta"]  # not twice
    assert bash(["netctl", "sandbox", "exec", ""], shell_env) == ["db", "web"]
    assert bash(["netctl", "network", "create", "x", "-d", ""], shell_env) == [
        "bridge", "null", "host", "macvlan", "ipvlan"]
    assert bash(["netctl", "net"], shell_env) == ["network"]


def test_bash_honours_state_given_on_the_command_line(lab, shell_env, tmp_path):
    other = tmp_path / "elsewhere.toml"
    shutil.copy(lab.state, other)
    env = {**shell_env, "NETCTL_STATE": str(tmp_path / "missing.toml")}
    assert bash(["netctl", "network", "rm", ""], env) == []
    assert bash(["netctl", "--state", str(other), "network", "rm", ""], env) == ["alpha", "beta"]


def test_callbacks_know_endpoints_and_connections(lab):
    assert complete(["network", "disconnect", "alpha"]) == ["web"]  # only what is connected
    assert complete(["network", "disconnect", "beta"]) == ["db", "web"]
    assert complete(["network", "connect", "alpha"]) == ["db", "web"]  # sorted
    # "web" is an endpoint name on two networks, so it is offered qualified
    assert complete(["endpoint", "rm"]) == ["alpha/web", "beta/web", "db"]
    assert complete(["endpoint", "inspect"], "beta/") == ["beta/db", "beta/web"]
    assert complete(["endpoint", "ls", "--network"]) == ["alpha", "beta"]
    assert complete(["network", "ls", "--format"]) == ["json", "table"]
    assert complete(["completion"]) == ["bash", "zsh", "fish"]


def test_network_options_complete_keys_parent_interfaces_and_modes(cli, monkeypatch):
    """``-o parent=`` offers the host's interfaces (not lo); the modes offer their values."""
    from netctl.cli import complete as callbacks

    monkeypatch.setattr(callbacks.os, "listdir", lambda path: ["lo", "eth0", "eth0.10", "wlan0"])
    assert complete(["network", "create", "x", "-o"], "par") == ["parent="]
    assert complete(["network", "create", "x", "-o"], "parent=e") == ["parent=eth0", "parent=eth0.10"]
    assert complete(["network", "create", "x", "-o"], "macvlan_mode=p") == [
        "macvlan_mode=private", "macvlan_mode=passthru"]
    assert complete(["network", "create", "x", "-o"], "ipvlan_mode=") == [
        "ipvlan_mode=l2", "ipvlan_mode=l3", "ipvlan_mode=l3s"]


@pytest.mark.parametrize("content", [None, b"schema = 1\n[[networks]\n", b"schema = 99\n", "dir"])
def test_unreadable_or_corrupt_state_completes_nothing_silently(cli, shell_env, content):
    if content == "dir":
        cli.state.mkdir()
    elif content is not None:
        cli.state.write_bytes(content)
    assert bash(["netctl", "network", "rm", ""], shell_env) == []
    assert complete(["sandbox", "rm"]) == []


def run_as_nobody(func):
    """Run ``func()`` in a forked child with uid/gid 65534 and return what it returned."""
    if os.geteuid() != 0:
        return func()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            os.write(write, json.dumps(func()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def test_completion_works_for_an_ordinary_user(lab, monkeypatch):
    """The state file is 0644 in a world-readable directory: a user completes without root."""
    public = Path(tempfile.mkdtemp(prefix="netctl-completion-"))
    try:
        public.chmod(0o755)
        shutil.copy(lab.state, public / "state.toml")
        (public / "state.toml").chmod(0o644)
        monkeypatch.setenv("NETCTL_STATE", str(public / "state.toml"))
        assert run_as_nobody(lambda: complete(["network", "rm"])) == ["alpha", "beta"]
        # the test's own tmp dir is root's (0700): unreadable for the user, so nothing
        monkeypatch.setenv("NETCTL_STATE", str(lab.state))
        if os.geteuid() == 0:
            assert run_as_nobody(lambda: complete(["network", "rm"])) == []
    finally:
        shutil.rmtree(public)


def need(program: str) -> None:
    if shutil.which(program) is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{program} is not installed (.ci/run installs it)")
        pytest.skip(f"{program} is not installed")


def test_zsh_runs_the_shipped_function(lab, shell_env):
    need("zsh")
    # zsh's completion builtins only exist inside the line editor; stand in for the two the
    # script calls, printing what it hands them.
    script = ("compdef() { : }\n"
              "_describe() { print -rl -- \"${(@P)3}\" }\n"
              "compadd() { print -rl -- \"${(@P)${@[-1]}}\" }\n"
              f"source {shlex.quote(str(SHIPPED / FILES['zsh']))}\n"
              "words=(netctl network rm ''); CURRENT=4; _netctl_completion\n")
    proc = subprocess.run(["zsh", "-f", "-c", script], env=shell_env, capture_output=True,
                          text=True, check=True, timeout=30)
    names = [line.split(":", 1)[0] for line in proc.stdout.splitlines()]
    assert names == ["alpha", "beta"], proc.stdout + proc.stderr


def test_fish_completes_from_the_installed_location(lab, shell_env):
    need("fish")
    script = (f"set fish_complete_path {shlex.quote(str(SHIPPED))}\n"
              "complete -C 'netctl network rm '\n"
              "complete -C 'netctl network disconnect alpha '\n")
    proc = subprocess.run(["fish", "--no-config", "-c", script], env=shell_env, capture_output=True,
                          text=True, check=True, timeout=30)
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["alpha", "beta", "web"]
    assert lines[0].split("\t")[1].startswith("bridge ")  # the description fish shows
