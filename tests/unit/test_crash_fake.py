"""Crash safety over the fake kernel, byte for byte, for every step of every changing command.

Each run is a forked child running the CLI entry point against a file-backed FakeKernel.  The
children draw their IDs, veth names and timestamps from a seeded generator, so an unkilled run
from the same starting files produces a known "new" state file.  Then, for every step the
command traces (``NETCTL_TRACE``: kernel steps, ``save``, ``files``), a run killed there with
``NETCTL_FAULT=<step>:kill`` must leave the state file byte-for-byte equal to the old snapshot
(any step before the save) or to the new one (``files``, after it), and the next commands must
work.  Kills inside ``Store.save`` itself (before and after the rename) and seeded random
delays complete the picture; ``-m stress`` runs the random kills again with
``NETCTL_CRASH_KILLS`` per command (default 60).
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import forkrun

from netctl.store import parse

KILLED = -signal.SIGKILL
DEFAULT_RANDOM_KILLS = 3
STRESS_RANDOM_KILLS = int(os.environ.get("NETCTL_CRASH_KILLS", "60"))
FILES = ("state.toml", "kernel.json")


class World:
    """A state file, a fake kernel file and an /etc/netns stand-in in one directory."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.state = root / "state.toml"
        self.kernel = root / "kernel.json"
        self.etc = root / "etc-netns"

    def env(self) -> dict[str, str]:
        return forkrun.clean_env(NETCTL_STATE=str(self.state))

    def start(self, argv: list[str], env: dict[str, str] | None = None, seed: int | None = None,
              hook: str | None = None) -> forkrun.Child:
        """A forked run; SEED makes its randomness repeatable, HOOK kills it inside the save."""
        prepare = forkrun.fake_kernel(self.kernel, functools.partial(_rig, seed, hook))
        return forkrun.start(argv, {**self.env(), **(env or {})}, prepare)

    def __call__(self, *argv: str, **kw) -> tuple[int, str, str]:
        return self.start(list(argv), **kw).finish()

    def ok(self, *argv: str, **kw) -> str:
        code, out, err = self(*argv, **kw)
        assert code == 0, f"netctl {' '.join(argv)} -> {code}: {err}"
        return out

    def snapshot(self) -> dict[str, bytes]:
        """Each file's bytes (b"" while it does not exist)."""
        return {name: (self.root / name).read_bytes() if (self.root / name).exists() else b""
                for name in FILES}

    def state_bytes(self) -> bytes:
        return self.snapshot()["state.toml"]

    def clone(self, root: Path) -> World:
        other = World(root)
        for name in FILES:
            if (self.root / name).exists():
                shutil.copy2(self.root / name, other.root / name)
        if self.etc.exists():
            shutil.copytree(self.etc, other.etc)
        return other

    def temp_files(self) -> list[str]:
        return sorted(p.name for p in self.root.glob(".state.toml.*.tmp"))


class _FixedClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2030, 1, 2, 3, 4, 5, tzinfo=tz or UTC)


def _kill_in_save(when: str) -> None:
    """SIGKILL this process inside Store.save: before or after the rename over the state."""
    real = os.replace

    def replace(src, dst, *a, **kw):
        if str(dst).endswith("state.toml"):
            if when == "before-rename":
                os.kill(os.getpid(), signal.SIGKILL)
            real(src, dst, *a, **kw)
            os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst, *a, **kw)

    os.replace = replace


def _rig(seed: int | None, hook: str | None) -> None:  # pragma: no cover - runs forked
    """In the child, before the CLI runs."""
    import netctl.model

    if seed is not None:  # IDs, veth names, ULA prefixes and timestamps become repeatable
        rng = random.Random(seed)
        random.SystemRandom.randbytes = lambda _self, n: rng.randbytes(n)  # model.token_bytes
        netctl.model.datetime = _FixedClock
    if hook:
        _kill_in_save(hook)


@pytest.fixture
def tmp_path(tmpfs_path):
    """These tests fsync and rename a few thousand small files: on tmpfs when there is one
    (tests/unit/conftest.py)."""
    return tmpfs_path


@pytest.fixture(scope="module", autouse=True)
def _warm():
    """Import what the children need once, here, instead of in every fork."""
    forkrun.preload("support.fakekernel")


# (id, commands that build the starting point, the command killed, a next command on other objects)
SCENARIOS = [
    ("network-create", [],
     ["network", "create", "n1", "--subnet", "10.1.0.0/24", "--label", "a=b"],
     ["network", "create", "n2"]),
    ("network-create-ipv6", [["network", "create", "n0"]],
     ["network", "create", "n1", "--ipv6", "-o", "mtu=1400"],
     ["network", "create", "n2", "--ipv6"]),
    ("network-rm", [["network", "create", "n1"], ["network", "create", "n2"]],
     ["network", "rm", "n1"],
     ["network", "rm", "n2"]),
    ("sandbox-create", [["sandbox", "create", "s0"]],
     ["sandbox", "create", "s1", "--dns", "1.1.1.1", "--add-host", "db:10.0.0.5"],
     ["sandbox", "create", "s2"]),
    ("sandbox-rm", [["network", "create", "n1", "--ipv6"], ["sandbox", "create", "s1"],
                    ["sandbox", "create", "s2"], ["network", "connect", "n1", "s1"],
                    ["network", "connect", "n1", "s2"]],
     ["sandbox", "rm", "s1"],
     ["sandbox", "rm", "s2"]),
    ("network-connect", [["network", "create", "n1"], ["network", "create", "n0"],
                         ["sandbox", "create", "s1"], ["sandbox", "create", "s2"],
                         ["network", "connect", "n1", "s1"]],
     ["network", "connect", "n0", "s1", "--alias", "web", "--priority", "5"],
     ["network", "connect", "n0", "s2"]),
    ("network-connect-ipv6", [["network", "create", "n6", "--ipv6"], ["sandbox", "create", "s1"],
                              ["sandbox", "create", "s2"]],
     ["network", "connect", "n6", "s1", "--link-local-ip", "169.254.7.7"],
     ["network", "connect", "n6", "s2"]),
    ("network-disconnect", [["network", "create", "n1"], ["network", "create", "n2"],
                            ["sandbox", "create", "s1"], ["sandbox", "create", "s2"],
                            ["network", "connect", "n1", "s1"], ["network", "connect", "n2", "s1"],
                            ["network", "connect", "n1", "s2"]],
     ["network", "disconnect", "n1", "s1"],
     ["network", "disconnect", "n1", "s2"]),
    ("endpoint-create", [["network", "create", "n1"]],
     ["endpoint", "create", "n1", "e1", "--ip", "172.17.0.9"],
     ["endpoint", "create", "n1", "e2"]),
    ("endpoint-join", [["network", "create", "n1"], ["sandbox", "create", "s1"], ["sandbox", "create", "s2"],
                       ["endpoint", "create", "n1", "e1"], ["endpoint", "create", "n1", "e2"]],
     ["endpoint", "join", "e1", "s1"],
     ["endpoint", "join", "e2", "s2"]),
    ("endpoint-leave", [["network", "create", "n1"], ["sandbox", "create", "s1"], ["sandbox", "create", "s2"],
                        ["endpoint", "create", "n1", "e1"], ["endpoint", "create", "n1", "e2"],
                        ["endpoint", "join", "e1", "s1"], ["endpoint", "join", "e2", "s2"]],
     ["endpoint", "leave", "e1", "s1"],
     ["endpoint", "leave", "e2", "s2"]),
    ("endpoint-rm", [["network", "create", "n1"], ["sandbox", "create", "s1"],
                     ["network", "connect", "n1", "s1"], ["endpoint", "create", "n1", "e2"]],
     ["endpoint", "rm", "-f", "s1"],
     ["endpoint", "rm", "e2"]),
]
SEED = 4242


def _base(tmp_path: Path, setup: list[list[str]]) -> World:
    world = World(tmp_path / "base")
    for n, argv in enumerate(setup):
        world.ok(*argv, seed=n)
    return world


def _learn(base: World, tmp_path: Path, argv: list[str]) -> tuple[list[str], dict[str, bytes]]:
    """The command's steps and the files an unkilled run leaves (with the seeded IDs)."""
    world = base.clone(tmp_path / "learn")
    trace = tmp_path / "trace"
    world.ok(*argv, seed=SEED, env={"NETCTL_TRACE": str(trace)})
    assert not world.temp_files()
    return list(dict.fromkeys(trace.read_text().split())), world.snapshot()


def _survives(world: World, argv: list[str], other: list[str], completed: bool) -> None:
    """What a user does next after a kill works (kernel leftovers tolerated)."""
    world.ok("sandbox", "ls")
    world.ok(*other)
    if not completed:  # run it again: it completes, or refuses a leftover in one clear line
        code, _, err = world(*argv)
        assert code in (0, 1, 4), err
        assert err.count("\n") == (code != 0) and "Traceback" not in err, err
    if world.state.exists():
        parse(world.state.read_bytes(), world.state)


@pytest.mark.parametrize(("setup", "argv", "other"), [s[1:] for s in SCENARIOS],
                         ids=[s[0] for s in SCENARIOS])
def test_kill_at_every_step_leaves_old_or_new_bytes(tmp_path, setup, argv, other):
    base = _base(tmp_path, setup)
    old = base.snapshot()
    steps, new = _learn(base, tmp_path, argv)
    assert "save" in steps and "files" in steps[steps.index("save"):], steps
    assert new["state.toml"] != old["state.toml"]
    for n, step in enumerate(steps):
        world = base.clone(tmp_path / f"kill-{n}")
        code, _, err = world(*argv, seed=SEED, env={"NETCTL_FAULT": f"{step}:kill"})
        assert code == KILLED, f"{step}: {code} {err}"
        after = world.state_bytes()
        saved = n > steps.index("save")  # a kill before the save leaves the old version
        expected = new if saved else old
        assert after == expected["state.toml"], f"killed at {step!r}: state is neither old nor new"
        assert not world.temp_files()
        _survives(world, argv, other, completed=saved)
    print(f"{argv[:2]}: killed at each of {len(steps)} steps {steps}")


@pytest.mark.parametrize("when", ["before-rename", "after-rename"])
def test_kill_inside_save(tmp_path, when):
    base = _base(tmp_path, [["network", "create", "n1"], ["sandbox", "create", "s1"]])
    argv = ["network", "connect", "n1", "s1"]
    old = base.snapshot()
    _, new = _learn(base, tmp_path, argv)
    world = base.clone(tmp_path / "kill")
    code, _, err = world(*argv, seed=SEED, hook=when)
    assert code == KILLED, err
    expected = old if when == "before-rename" else new
    assert world.state_bytes() == expected["state.toml"]
    leftover = world.temp_files()
    assert len(leftover) == (1 if when == "before-rename" else 0), leftover
    if leftover:  # the stray file is the complete new version that never got renamed
        assert (world.root / leftover[0]).read_bytes() == new["state.toml"]
    # the next writer (it holds the lock, so no save is in flight) removes the stray file
    world.ok("sandbox", "create", "s2")
    world.ok("network", "connect", "n1", "s2")
    assert world.temp_files() == []
    state = parse(world.state.read_bytes(), world.state)
    assert {s.name for s in state.sandboxes} == {"s1", "s2"}


def random_kills_survived(tmp_path: Path, setup, argv, other, kills: int) -> None:
    base = _base(tmp_path, setup)
    old = base.snapshot()
    _, new = _learn(base, tmp_path, argv)
    probe = base.clone(tmp_path / "probe")
    started = time.monotonic()
    probe.ok(*argv, seed=SEED)
    window = time.monotonic() - started  # aim the kills at a whole run (not an assertion)
    rng = random.Random(f"crash-{argv}")
    seen = {"old": 0, "new": 0, "finished": 0}
    for n in range(kills):
        world = base.clone(tmp_path / f"r{n}")
        child = world.start(argv, seed=SEED)
        time.sleep(rng.uniform(0, window))
        child.kill()
        code, _, err = child.finish()
        assert code in (0, KILLED), err
        after = world.state_bytes()
        assert after in (old["state.toml"], new["state.toml"]), "state is neither old nor new"
        completed = after == new["state.toml"]
        seen["finished" if code == 0 else ("new" if completed else "old")] += 1
        assert completed or code == KILLED
        if len(world.temp_files()) > 1 or (world.temp_files() and completed):
            pytest.fail(f"unexpected temp files {world.temp_files()}")
        _survives(world, argv, other, completed)
        shutil.rmtree(world.root)
    print(f"{argv[:2]}: {kills} random kills -> {seen}")


SCENARIO_PARAMS = pytest.mark.parametrize(("setup", "argv", "other"), [s[1:] for s in SCENARIOS],
                                          ids=[s[0] for s in SCENARIOS])


@SCENARIO_PARAMS
def test_kill_at_random_delays_leaves_old_or_new_bytes(tmp_path, setup, argv, other):
    random_kills_survived(tmp_path, setup, argv, other, DEFAULT_RANDOM_KILLS)


@pytest.mark.stress
@SCENARIO_PARAMS
def test_kill_at_random_delays_leaves_old_or_new_bytes_stress(tmp_path, setup, argv, other):
    random_kills_survived(tmp_path, setup, argv, other, STRESS_RANDOM_KILLS)


def test_normal_runs_leave_no_temp_files(tmp_path):
    world = World(tmp_path / "w")
    for argv in (["network", "create", "n1"], ["sandbox", "create", "s1"], ["network", "connect", "n1", "s1"],
                 ["endpoint", "create", "n1", "e1"], ["network", "disconnect", "n1", "s1"],
                 ["endpoint", "rm", "e1"], ["sandbox", "rm", "s1"], ["network", "rm", "n1"]):
        world.ok(*argv)
        assert not world.temp_files(), argv
    assert sorted(p.name for p in world.root.iterdir()) == [
        "etc-netns", "kernel.json", "kernel.json.nft.json", "state.toml", "state.toml.lock"]
