"""Crash safety on the real kernel: ``netctl`` SIGKILLed part-way through a change.

Each killed run is a real process (a fork of this one, so the ~0.4 s of interpreter start is
not paid per kill) running the CLI entry point.  It is killed two ways:

* deterministically at every step of the command, learned through ``NETCTL_TRACE`` (the
  kernel steps, the ``save`` checkpoint and the ``files`` step after it), with
  ``NETCTL_FAULT=<step>:kill``;
* after a seeded random delay measured from the moment the command took the lock (its first
  traced step), over the window an unkilled run of the same command needed.

After every kill the state file parses and is byte-for-byte the old version, or a complete
file (``dump(parse(bytes)) == bytes``) that differs from the old one by exactly the command's
effect; kills before the ``save`` step must leave the old version, a kill at ``files`` the new
one.  Then the next commands work: ``network ls``, the same kind of change on another object,
and removing the half-done object.  Kernel leftovers of a killed run are tolerated (they are
``netctl check --repair``'s business) and wiped at the end of each test.

``-m stress`` runs the random kills again, ``NETCTL_CRASH_KILLS`` per command (default 25).
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from netctl_runner import Forked, forwarding_off, rm_recorded, wipe_kernel
from support.forkrun import Child

from netctl.store import dump, parse

DEFAULT_RANDOM_KILLS = 2
STRESS_RANDOM_KILLS = int(os.environ.get("NETCTL_CRASH_KILLS", "25"))
KILLED = -signal.SIGKILL


@pytest.fixture
def run(tmp_path):
    netctl = Forked(tmp_path / "state.toml", timeout=60.0)
    try:
        yield netctl
    finally:
        _wipe(netctl)


def _wipe(netctl: Forked) -> None:
    """Remove what the state knows through netctl (unchecked: a killed run may have left it
    half-done), then every leftover of the killed runs."""
    from netctl.kernel.netlink import NetlinkKernel

    for args in rm_recorded(netctl.state):
        netctl(*args)
    with NetlinkKernel() as k:
        wipe_kernel(k)


# --- the commands under test: argv, the effect a completed run has, and what comes next ---

def _strip(data: dict, key: str, match) -> dict:
    return {**data, key: [x for x in data[key] if not match(x)]}


class NetworkCreate:
    noun = "network create"

    def prepare(self, run: Forked, i: int) -> list[str]:
        return ["network", "create", f"cn-{i}", "--subnet", f"10.80.{i}.0/24"]

    def expected(self, old: dict, new: dict, i: int) -> bool:
        return {**_strip(new, "networks", lambda n: n["name"] == f"cn-{i}"),
                "pool_index": old["pool_index"]} == old

    def follow_up(self, run: Forked, i: int, completed: bool) -> None:
        run.ok("network", "create", f"cn-other-{i}", "--subnet", f"10.81.{i}.0/24")
        if not completed:  # the leftover bridge has another name: the name is free again
            run.ok("network", "create", f"cn-{i}", "--subnet", f"10.82.{i}.0/24")
        run.ok("network", "rm", f"cn-{i}", f"cn-other-{i}")


class SandboxCreate:
    noun = "sandbox create"

    def prepare(self, run: Forked, i: int) -> list[str]:
        return ["sandbox", "create", f"cs-{i}"]

    def expected(self, old: dict, new: dict, i: int) -> bool:
        return _strip(new, "sandboxes", lambda s: s["name"] == f"cs-{i}") == old

    def follow_up(self, run: Forked, i: int, completed: bool) -> None:
        run.ok("sandbox", "create", f"cs-other-{i}")
        run.ok("sandbox", "rm", "-f", f"cs-{i}", f"cs-other-{i}")
        # a namespace the killed run made but never recorded is marked: replaced, never refused
        run.ok("sandbox", "create", f"cs-{i}")
        run.ok("sandbox", "rm", "-f", f"cs-{i}")


def _ensure_network(run: Forked, name: str, subnet: str) -> None:
    if name not in run.ok("network", "ls", "-q").split():
        run.ok("network", "create", name, "--subnet", subnet)


def _sandbox(data: dict, name: str) -> dict:
    return next(s for s in data["sandboxes"] if s["name"] == name)


class NetworkConnect:
    noun = "network connect"

    def prepare(self, run: Forked, i: int) -> list[str]:
        _ensure_network(run, "cc-net", "10.90.0.0/16")
        run.ok("sandbox", "create", f"cc-{i}")
        run.ok("sandbox", "create", f"cc-other-{i}")
        return ["network", "connect", "cc-net", f"cc-{i}"]

    def expected(self, old: dict, new: dict, i: int) -> bool:
        sid, before = _sandbox(new, f"cc-{i}")["id"], _sandbox(old, f"cc-{i}")
        out = _strip(new, "endpoints", lambda e: e.get("sandbox") == sid)
        out["sandboxes"] = [before if s["id"] == sid else s for s in out["sandboxes"]]
        return out == old and len(new["endpoints"]) == len(old["endpoints"]) + 1

    def follow_up(self, run: Forked, i: int, completed: bool) -> None:
        run.ok("network", "connect", "cc-net", f"cc-other-{i}")
        _assert_joined(run, f"cc-other-{i}")
        if not completed:  # what the killed run left inside (an eth0) does not block it
            run.ok("network", "connect", "cc-net", f"cc-{i}")
            _assert_joined(run, f"cc-{i}")
        run.ok("sandbox", "rm", f"cc-{i}", f"cc-other-{i}")


def _assert_joined(run: Forked, sandbox: str) -> None:
    from netctl.kernel.netlink import NetlinkKernel

    state = parse(run.state.read_bytes(), run.state)
    sb = next(s for s in state.sandboxes if s.name == sandbox)
    (ep,) = state.endpoints_in(sb)
    with NetlinkKernel() as k:
        inside = k.link_get(ep.ifname, netns=sb.name)
    assert inside is not None and ep.ipv4 in inside.addresses and inside.up


class NetworkDisconnect:
    noun = "network disconnect"

    def prepare(self, run: Forked, i: int) -> list[str]:
        _ensure_network(run, "cd-net", "10.91.0.0/16")
        for name in (f"cd-{i}", f"cd-other-{i}"):
            run.ok("sandbox", "create", name)
            run.ok("network", "connect", "cd-net", name)
        return ["network", "disconnect", "cd-net", f"cd-{i}"]

    def expected(self, old: dict, new: dict, i: int) -> bool:
        sid = _sandbox(old, f"cd-{i}")["id"]
        return _strip(old, "endpoints", lambda e: e.get("sandbox") == sid) == new

    def follow_up(self, run: Forked, i: int, completed: bool) -> None:
        run.ok("network", "disconnect", "cd-net", f"cd-other-{i}")
        run.ok("network", "connect", "cd-net", f"cd-other-{i}")
        _assert_joined(run, f"cd-other-{i}")
        run.ok("sandbox", "rm", f"cd-{i}", f"cd-other-{i}")


class SandboxRemove:
    noun = "sandbox rm"

    def prepare(self, run: Forked, i: int) -> list[str]:
        _ensure_network(run, "cr-net", "10.92.0.0/16")
        run.ok("sandbox", "create", f"cr-{i}")
        run.ok("network", "connect", "cr-net", f"cr-{i}")
        return ["sandbox", "rm", f"cr-{i}"]

    def expected(self, old: dict, new: dict, i: int) -> bool:
        sid = _sandbox(old, f"cr-{i}")["id"]
        gone = _strip(_strip(old, "sandboxes", lambda s: s["id"] == sid), "endpoints",
                      lambda e: e.get("sandbox") == sid)
        return gone == new

    def follow_up(self, run: Forked, i: int, completed: bool) -> None:
        run.ok("sandbox", "rm", "-f", f"cr-{i}")  # finishes a half-done remove
        run.ok("sandbox", "create", f"cr-{i}")  # and the name is free again
        run.ok("network", "connect", "cr-net", f"cr-{i}")
        _assert_joined(run, f"cr-{i}")
        run.ok("sandbox", "rm", f"cr-{i}")


class EndpointCreate:
    noun = "endpoint create"

    def prepare(self, run: Forked, i: int) -> list[str]:
        _ensure_network(run, "ce-net", "10.93.0.0/16")
        return ["endpoint", "create", "ce-net", f"ce-{i}"]

    def expected(self, old: dict, new: dict, i: int) -> bool:
        return _strip(new, "endpoints", lambda e: e["name"] == f"ce-{i}") == old

    def follow_up(self, run: Forked, i: int, completed: bool) -> None:
        run.ok("endpoint", "create", "ce-net", f"ce-other-{i}")
        if not completed:
            run.ok("endpoint", "create", "ce-net", f"ce-{i}")
        run.ok("endpoint", "rm", f"ce-{i}", f"ce-other-{i}")


LAB = """project = "crash-{n}"
[networks.ca-f-{n}]
subnet = "10.86.{o}.0/24"
[networks.ca-b-{n}]
subnet = "10.87.{o}.0/24"
[sandboxes.ca-w-{n}]
connect = ["ca-f-{n}", "ca-b-{n}"]
[sandboxes.ca-d-{n}]
connect = [{{ network = "ca-b-{n}", ip = "10.87.{o}.5", aliases = ["pg"] }}]
"""


class Apply:
    """``netctl apply`` of a whole lab: one transaction, so a kill leaves none of it or all."""

    noun = "apply"

    def _file(self, run: Forked, i: int, other: bool = False) -> str:
        name = f"{i}x" if other else str(i)
        path = run.state.with_name(f"lab-{name}.toml")
        path.write_text(LAB.format(n=name, o=i + 100 if other else i))
        return str(path)

    def prepare(self, run: Forked, i: int) -> list[str]:
        return ["apply", "-f", self._file(run, i)]

    def expected(self, old: dict, new: dict, i: int) -> bool:
        nets = {n["id"] for n in new["networks"] if n["name"].endswith(f"-{i}")}
        out = _strip(_strip(new, "networks", lambda n: n["id"] in nets), "endpoints",
                     lambda e: e["network"] in nets)
        out = _strip(out, "sandboxes", lambda s: s["name"] in (f"ca-w-{i}", f"ca-d-{i}"))
        return out == old and len(new["endpoints"]) == len(old["endpoints"]) + 3

    def follow_up(self, run: Forked, i: int, completed: bool) -> None:
        other = self._file(run, i, other=True)  # another lab (ca-*-{i}x) goes up next to it
        run.ok("apply", "-f", other)
        if not completed:  # what the killed run left does not block the same file
            run.ok("apply", "-f", self._file(run, i))
        _assert_joined(run, f"ca-d-{i}")
        run.ok("destroy", "-f", other)
        run.ok("destroy", "-f", self._file(run, i))


COMMANDS = [NetworkCreate, SandboxCreate, NetworkConnect, NetworkDisconnect, SandboxRemove, EndpointCreate,
            Apply]


def learn_steps(run: Forked, command, i: int) -> tuple[list[str], float]:
    """Run the command once, unkilled, with NETCTL_TRACE; its steps and its locked window."""
    argv = command.prepare(run, i)
    trace = run.state.with_name(f"trace-{i}")
    trace.write_text("")
    child = run.start(argv, {"NETCTL_TRACE": str(trace)})
    first = wait_for_first_step(child, trace)
    code, _, err = child.finish()
    window = time.monotonic() - first
    assert code == 0, err
    steps = list(dict.fromkeys(trace.read_text().split()))
    command.follow_up(run, i, completed=True)
    assert "save" in steps and "files" in steps[steps.index("save"):], steps
    return steps, window


def wait_for_first_step(child: Child, trace: Path) -> float:
    """Until the child holds the lock and traces its first step (or ends)."""
    while not trace.stat().st_size and child.poll() is None:
        time.sleep(0.0002)
    return time.monotonic()


def check_after_kill(run: Forked, command, i: int, old_bytes: bytes) -> bool:
    """The state is the old version or a whole new one with exactly the command's effect."""
    data = run.state.read_bytes()
    new = parse(data, run.state)  # parses
    if data == old_bytes:
        return False
    assert dump(new) == data, "the state file is not a complete write"
    old = parse(old_bytes, run.state).to_dict()
    assert command.expected(old, new.to_dict(), i), "the new version is not the command's effect"
    return True


def survive(run: Forked, command, i: int, old_bytes: bytes) -> bool:
    completed = check_after_kill(run, command, i, old_bytes)
    code, out, err = run("network", "ls")
    assert code == 0 and "NAME" in out, err
    command.follow_up(run, i, completed)
    run("check", "--repair")  # whatever the kill left, repair removes and check sees no more
    code, out, err = run("check")
    assert code == 0, out + err
    assert unmarked_links() == [], "a killed run left links nothing can recognise"
    return completed


def unmarked_links() -> list[str]:
    """Links without a netctl mark (the session holds only what these tests made), and
    namespaces whose ``lo`` is unmarked."""
    from netctl.kernel.netlink import NetlinkKernel

    with NetlinkKernel() as k:
        found = [x.name for x in k.links() if x.name != "lo" and x.owner is None]
        for ns in k.netns_list():
            found += [f"{ns}/{x.name}" for x in k.links(netns=ns) if x.owner is None]
    return found


@pytest.mark.parametrize("command_cls", COMMANDS, ids=lambda c: c.__name__)
def test_sigkill_at_every_step_leaves_old_or_new(run, command_cls):
    command = command_cls()
    forwarding_off()  # every run starts where the first did: the same steps, "forwarding" included
    steps, _ = learn_steps(run, command, 0)
    for n, step in enumerate(steps, start=1):
        argv = command.prepare(run, n)
        old = run.state.read_bytes()
        forwarding_off()
        code, _, err = run(*argv, env={"NETCTL_FAULT": f"{step}:kill"})
        assert code == KILLED, f"{step}: expected SIGKILL, got {code}: {err}"
        completed = survive(run, command, n, old)
        saved = n - 1 > steps.index("save")  # a kill before the save leaves the old version
        assert completed == saved, f"killed at {step!r}: completed={completed}"
    print(f"{command.noun}: killed at each of {len(steps)} steps {steps}")


def random_kills_survived(run: Forked, command_cls, kills: int) -> None:
    command = command_cls()
    rng = random.Random(f"netctl-crash-{command_cls.__name__}")
    _, window = learn_steps(run, command, 0)
    outcomes = {"old": 0, "new": 0, "finished": 0}
    for n in range(1, kills + 1):
        argv = command.prepare(run, n)
        old = run.state.read_bytes()
        trace = run.state.with_name(f"trace-r{n}")
        trace.write_text("")
        child = run.start(argv, {"NETCTL_TRACE": str(trace)})
        wait_for_first_step(child, trace)
        time.sleep(rng.uniform(0, window * 1.2))
        child.kill()
        code, _, text = child.finish()
        assert code in (0, KILLED), text
        completed = survive(run, command, n, old)
        outcomes["finished" if code == 0 else ("new" if completed else "old")] += 1
        assert completed or code == KILLED
    print(f"{command.noun}: {kills} random kills -> {outcomes}")


@pytest.mark.parametrize("command_cls", COMMANDS, ids=lambda c: c.__name__)
def test_sigkill_at_random_delays_leaves_old_or_new(run, command_cls):
    random_kills_survived(run, command_cls, DEFAULT_RANDOM_KILLS)


@pytest.mark.stress
@pytest.mark.parametrize("command_cls", COMMANDS, ids=lambda c: c.__name__)
def test_sigkill_at_random_delays_leaves_old_or_new_stress(run, command_cls):
    random_kills_survived(run, command_cls, STRESS_RANDOM_KILLS)


# --- a kill between creating an object and marking it ---

WINDOWS = {  # the command, the checkpoint between its create and its mark, what is left over
    "network create": (["network", "create", "km-net", "--subnet", "10.85.0.0/24"], "bridge-mark",
                       "left over bridge"),
    "sandbox create": (["sandbox", "create", "km-new"], "netns-mounted", "namespace km-new: left over"),
    "network connect": (["network", "connect", "km", "km-sb"], "veth-mark", "in sandbox km-sb: left over"),
    "endpoint create": (["endpoint", "create", "km", "km-ep"], "veth-mark", "left over veth"),
}


@pytest.mark.parametrize("noun", WINDOWS)
def test_a_kill_between_create_and_mark_is_reported_repaired_and_blocks_nothing(run, noun):
    """The kernel ignores an ifalias given at creation, so marking is a second request; a kill
    in between left an object nothing recognised (a sandbox that could never be connected
    again, a name refused forever, a leaked bridge).  Now it is recognised from the start."""
    argv, point, leftover = WINDOWS[noun]
    run.ok("network", "create", "km", "--subnet", "10.86.0.0/24")
    run.ok("sandbox", "create", "km-sb")
    old = run.state.read_bytes()
    code, _, err = run(*argv, env={"NETCTL_FAULT": f"{point}:kill"})
    assert code == KILLED, err
    assert run.state.read_bytes() == old
    code, out, err = run("check")
    assert code == 9 and leftover in out, out + err
    run.ok(*argv)  # the same command again: nothing in its way
    code, out, err = run("check", "--repair")
    assert code == 0, out + err
    assert run("check")[0] == 0 and unmarked_links() == []
