"""Many more concurrent ``netctl`` processes than the real-kernel test, over the fake kernel.

Each round forks 64 children running the CLI entry point against one state file and one
file-backed FakeKernel: 32 ``network connect``, 16 ``network disconnect`` of sandboxes
connected beforehand, 16 ``endpoint create``; every eighth with a short ``--lock-timeout``.
The test holds the state lock while it forks them and lets go once each is queued on it (has
the lock file open) or has given up.  Afterwards: exit codes 0, or 7 only with a short
timeout; the state holds exactly the successful operations; no address, MAC or name twice in
a network; the fake kernel matches the state link by link.  ``-m stress`` runs
``NETCTL_CONCURRENCY_ROUNDS`` rounds (default 10).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest
from support import forkrun

from netctl.store import parse

SHORT_WAITS = ("0", "0.05", "0.5", "2")
LONG_WAIT = "300"
STRESS_ROUNDS = int(os.environ.get("NETCTL_CONCURRENCY_ROUNDS", "10"))
FINISH_TIMEOUT = 600.0


@pytest.fixture
def tmp_path(tmpfs_path):
    """Many small fsynced writes: on tmpfs when there is one (tests/unit/conftest.py)."""
    return tmpfs_path


class Runner:
    def __init__(self, root: Path):
        forkrun.preload("support.fakekernel")
        self.state, self.kernel = root / "state.toml", root / "kernel.json"
        self.env = forkrun.clean_env(NETCTL_STATE=str(self.state))

    def start(self, argv: list[str]) -> forkrun.Child:
        return forkrun.start(argv, self.env, forkrun.fake_kernel(self.kernel))

    def ok(self, *argv: str) -> str:
        code, out, err = self.start(list(argv)).finish(FINISH_TIMEOUT)
        assert code == 0, f"{argv} -> {code}: {err}"
        return out


def _queued(pid: int, path: str) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == path for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def _jobs() -> list[dict]:
    jobs = []
    for i in range(32):
        jobs.append({"kind": "connect", "sb": f"s{i}", "args": ["network", "connect", "a", f"s{i}"]})
        if i < 16:
            jobs.append({"kind": "disconnect", "sb": f"s{i}",
                         "args": ["network", "disconnect", "b", f"s{i}"]})
            jobs.append({"kind": "create", "ep": f"e{i}", "args": ["endpoint", "create", "c", f"e{i}"]})
    for n, job in enumerate(jobs):
        job["timeout"] = SHORT_WAITS[(n // 8) % len(SHORT_WAITS)] if n % 8 == 7 else LONG_WAIT
    return jobs


def storm(root: Path) -> dict[str, int]:
    run = Runner(root)
    run.ok("network", "create", "a", "--subnet", "10.1.0.0/24")
    run.ok("network", "create", "b", "--subnet", "10.2.0.0/24")
    run.ok("network", "create", "c", "--subnet", "10.3.0.0/24")
    for i in range(32):
        run.ok("sandbox", "create", f"s{i}")
    for i in range(16):
        run.ok("network", "connect", "b", f"s{i}")
    before = parse(run.state.read_bytes(), run.state)

    jobs = _jobs()
    lock_path = str(run.state) + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for job in jobs:
            job["child"] = run.start(["--lock-timeout", job["timeout"], *job["args"]])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            j["child"].poll() is not None or _queued(j["child"].pid, lock_path) for j in jobs
        ):
            time.sleep(0.01)
        fcntl.flock(fd, fcntl.LOCK_UN)
        for job in jobs:
            job["code"], job["out"], job["err"] = job["child"].finish(FINISH_TIMEOUT)
    finally:
        os.close(fd)
        for job in jobs:
            child = job.get("child")
            if child and child.poll() is None:
                child.kill()
                os.waitpid(child.pid, 0)

    for job in jobs:
        allowed = (0,) if job["timeout"] == LONG_WAIT else (0, 7)
        assert job["code"] in allowed, f"{job['args']} ({job['timeout']}s) -> {job['code']}: {job['err']}"
        if job["timeout"] == "0":
            assert job["code"] == 7, "a zero lock timeout while the lock was held must give up"
    after = parse(run.state.read_bytes(), run.state)
    assert not list(root.glob(".state.toml.*.tmp"))
    nets = {n.name: n for n in after.networks}
    sbs = {s.name: s for s in after.sandboxes}
    on = {name: {e.name: e for e in after.endpoints_of(net)} for name, net in nets.items()}
    b_before = {e.name: e for e in before.endpoints_of(next(n for n in before.networks if n.name == "b"))}
    for job in jobs:
        ok = job["code"] == 0
        if job["kind"] == "connect":
            assert (job["sb"] in on["a"]) == ok, f"{job['args']} -> {job['code']}"
            if ok:
                assert on["a"][job["sb"]].sandbox == sbs[job["sb"]].id
        elif job["kind"] == "disconnect":
            assert (job["sb"] in on["b"]) != ok, f"{job['args']} -> {job['code']}"
        else:
            assert (job["ep"] in on["c"]) == ok and (not ok or job["out"] == job["ep"] + "\n")
    for name, ep in on["b"].items():
        assert ep == b_before[name], "an endpoint nobody touched changed"
    _unique(after)
    _kernel_matches(run, after)
    return {"processes": len(jobs), "ok": sum(j["code"] == 0 for j in jobs),
            "busy": sum(j["code"] == 7 for j in jobs)}


def _unique(state) -> None:
    for net in state.networks:
        eps = state.endpoints_of(net)
        for what in ("name", "ipv4", "mac", "host_ifname"):
            values = [getattr(e, what) for e in eps]
            assert len(values) == len(set(values)), f"duplicate {what} in {net.name}: {values}"
        assert net.subnet_for(4).gateway not in {e.ipv4.split("/")[0] for e in eps}
    for sb in state.sandboxes:
        ifnames = [e.ifname for e in state.endpoints_in(sb)]
        assert len(ifnames) == len(set(ifnames))


def _kernel_matches(run: Runner, state) -> None:
    from support.fakekernel import FakeKernel

    k = FakeKernel(str(run.kernel))
    host = {link.name: link for link in k.links()}
    for ep in state.endpoints:
        net = state.network_by_id(ep.network)
        assert host[ep.host_ifname].master == net.bridge and host[ep.host_ifname].owner == ep.id
        if ep.sandbox:
            sb = state.sandbox_by_id(ep.sandbox)
            inside = k.link_get(ep.ifname, netns=sb.name)
            assert inside is not None and ep.ipv4 in inside.addresses and inside.mac == ep.mac
        else:
            assert ep.sandbox_ifname in host
    known = {n.bridge for n in state.networks} | {e.host_ifname for e in state.endpoints}
    known |= {e.sandbox_ifname for e in state.endpoints if not e.sandbox}
    assert {n for n in host if n != "lo"} == known, "links in the kernel that no state object owns"
    for sb in state.sandboxes:
        assert {x.name for x in k.links(sb.name)} == {"lo"} | {e.ifname for e in state.endpoints_in(sb)}


def test_64_processes_lose_nothing(tmp_path):
    figures = storm(tmp_path)
    print(f"fake-kernel storm: {figures}")


@pytest.mark.stress
def test_64_processes_lose_nothing_stress(tmp_path):
    total = {"processes": 0, "ok": 0, "busy": 0}
    for n in range(STRESS_ROUNDS):
        (tmp_path / f"round-{n}").mkdir()
        figures = storm(tmp_path / f"round-{n}")
        total = {k: total[k] + figures[k] for k in total}
    print(f"fake-kernel storm x{STRESS_ROUNDS}: {total}")
