"""examples/lab.sh on the real kernel (inside the suite's own namespaces): it provisions a
three-sandbox lab, proves the sandboxes reach each other over TCP by name, and leaves nothing
behind, both in one go and step by step with every step run twice (the idempotent patterns
docs/scripting.md teaches)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[2] / "examples" / "lab.sh"
NAMES = ("lab-a", "lab-b", "lab-c", "lab-front", "lab-back")


@pytest.fixture
def lab(tmp_path):
    """Run lab.sh with this checkout's netctl, a private state file and no machine config."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "netctl"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m netctl "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETCTL_")}
    env.update(NETCTL_STATE=str(tmp_path / "state.toml"), NETCTL_CONFIG="/dev/null",
               PATH=f"{bindir}:{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
               LAB_PORT="18080")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(LAB), *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    def listing(noun: str) -> list:
        out = subprocess.run([str(wrapper), noun, "ls", "--format", "json"], env=env,
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)

    yield run, listing
    run("down")  # whatever a failed assertion left


def assert_nothing_left(listing) -> None:
    assert listing("network") == [] and listing("endpoint") == [] and listing("sandbox") == []
    assert not [n for n in os.listdir("/run/netns") if n.startswith("lab-")]
    assert not [n for n in os.listdir("/etc/netns") if n.startswith("lab-")]
    links = [name for _, name in socket.if_nameindex()]
    assert not [n for n in links if n.startswith(("br-", "veth"))], links


def test_lab_runs_and_tears_down(lab):
    run, listing = lab
    proc = run()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["lab: lab-a reached lab-b", "lab: lab-c reached lab-b"]
    assert_nothing_left(listing)


def test_lab_steps_are_idempotent(lab):
    run, listing = lab
    for _ in range(2):
        proc = run("up")
        assert proc.returncode == 0, proc.stderr
    assert sorted(n["name"] for n in listing("network")) == ["lab-back", "lab-front"]
    assert sorted(s["name"] for s in listing("sandbox")) == ["lab-a", "lab-b", "lab-c"]
    joined = sorted((e["network"], e["sandbox"]) for e in listing("endpoint"))
    assert joined == [("lab-back", "lab-b"), ("lab-back", "lab-c"),
                      ("lab-front", "lab-a"), ("lab-front", "lab-b")]
    proc = run("check")
    assert proc.returncode == 0, proc.stderr
    for _ in range(2):
        proc = run("down")
        assert proc.returncode == 0, proc.stderr
    assert_nothing_left(listing)


def test_lab_rejects_an_unknown_step(lab):
    run, _ = lab
    proc = run("sideways")
    assert proc.returncode == 2 and "usage" in proc.stderr
