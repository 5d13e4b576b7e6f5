"""32 ``netctl`` processes against one state file at once, on the real kernel.

The storm mixes ``network connect`` (16 sandboxes), ``network disconnect`` (8 sandboxes that
were connected beforehand) and ``endpoint create`` (8 names).  The test holds the state lock
itself while it starts them, and lets go only when every process is queued on the lock (it
has ``<state>.lock`` open) or has given up, so they really contend.  Some processes run with a
short ``--lock-timeout`` (``0`` among them, which must give up while the test holds the lock):
those may exit 7, the others must exit 0.  Afterwards the state parses and holds exactly the
successful operations (no lost update), no address, MAC or endpoint name appears twice in a
network, and the kernel matches the state link by link.  ``-m stress`` repeats the storm
``NETCTL_CONCURRENCY_ROUNDS`` times (default 5).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from netctl_runner import rm_recorded, wipe_kernel

from netctl.store import parse

BIN = Path(sys.executable).with_name("netctl")
NETCTL = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "netctl"]
LONG_WAIT = "120"
SHORT_WAITS = ("0", "0.5", "3", "8")  # cycled over the short-timeout processes
STRESS_ROUNDS = int(os.environ.get("NETCTL_CONCURRENCY_ROUNDS", "5"))


class InProcess:
    """``netctl`` in this (isolated) process for setup and teardown: one shared, closed-at-end
    NetlinkKernel instead of ~0.4 s of interpreter start per command."""

    def __init__(self, state: Path, monkeypatch: pytest.MonkeyPatch):
        from netctl.kernel.netlink import NetlinkKernel

        self.state = state
        self.kernel = NetlinkKernel()
        monkeypatch.setattr("netctl.kernel.open_kernel", lambda: self.kernel)
        self.runner = CliRunner()
        self.env = {"NETCTL_STATE": str(state), "NETCTL_FAULT": None,
                    "NETCTL_TRACE": None}

    def __call__(self, *args: str):
        from netctl.cli import main

        return self.runner.invoke(main, list(args), env=self.env, catch_exceptions=False)

    def ok(self, *args: str) -> str:
        res = self(*args)
        assert res.exit_code == 0, f"netctl {' '.join(args)} -> {res.exit_code}: {res.stderr}"
        return res.stdout


@pytest.fixture
def inproc(tmp_path, monkeypatch):
    run = InProcess(tmp_path / "state.toml", monkeypatch)
    try:
        yield run
    finally:
        _teardown(run)


def _teardown(run: InProcess) -> None:
    """Remove what the test made through netctl, then anything a failure left behind."""
    for args in rm_recorded(run.state):
        run(*args)
    wipe_kernel(run.kernel)
    run.kernel.close()


def _opened(pid: int, path: str) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                return True
        except OSError:
            continue
    return False


def _wait_queued(procs: list[subprocess.Popen], lock_path: str, limit: float = 90.0) -> int:
    """Wait until every process has the lock file open or has exited; how many are queued."""
    deadline = time.monotonic() + limit
    while True:
        queued = [p for p in procs if p.poll() is None and _opened(p.pid, lock_path)]
        done = [p for p in procs if p.returncode is not None]
        if len(queued) + len(done) == len(procs) or time.monotonic() > deadline:
            return len(queued)
        time.sleep(0.02)


def _storm_jobs() -> list[dict]:
    """16 connects, 8 disconnects, 8 endpoint creates, interleaved; 8 with a short timeout."""
    connects = [{"kind": "connect", "sb": f"cc-s{i}", "args": ["network", "connect", "cc-a", f"cc-s{i}"]}
                for i in range(16)]
    disconnects = [{"kind": "disconnect", "sb": f"cc-s{i}",
                    "args": ["network", "disconnect", "cc-b", f"cc-s{i}"]} for i in range(8)]
    creates = [{"kind": "create", "ep": f"cc-e{i}", "args": ["endpoint", "create", "cc-c", f"cc-e{i}"]}
               for i in range(8)]
    short = [*connects[12:], *disconnects[6:], *creates[6:]]
    for n, job in enumerate(short):
        job["timeout"] = SHORT_WAITS[n % len(SHORT_WAITS)]
    jobs = []
    for i in range(16):
        jobs.append(connects[i])
        if i < 8:
            jobs.extend((disconnects[i], creates[i]))
    for job in jobs:
        job.setdefault("timeout", LONG_WAIT)
    return jobs


def test_32_processes_at_once_lose_nothing(inproc, tmp_path):
    storm(inproc, tmp_path)


@pytest.mark.stress
@pytest.mark.parametrize("round_", range(STRESS_ROUNDS))
def test_32_processes_at_once_lose_nothing_stress(inproc, tmp_path, round_):
    storm(inproc, tmp_path)


def storm(inproc: InProcess, tmp_path: Path) -> None:
    state_path = inproc.state
    inproc.ok("network", "create", "cc-a", "--subnet", "10.70.0.0/24")
    inproc.ok("network", "create", "cc-b", "--subnet", "10.71.0.0/24")
    inproc.ok("network", "create", "cc-c", "--subnet", "10.72.0.0/24")
    for i in range(16):
        inproc.ok("sandbox", "create", f"cc-s{i}")
    for i in range(8):
        inproc.ok("network", "connect", "cc-b", f"cc-s{i}")
    before = parse(state_path.read_bytes(), state_path)
    b_eps = {e.name: e for e in before.endpoints}

    jobs = _storm_jobs()
    env = {**os.environ, "NETCTL_STATE": str(state_path)}
    for key in ("NETCTL_FAULT", "NETCTL_TRACE", "NETCTL_DEBUG"):
        env.pop(key, None)
    lock_path = str(state_path) + ".lock"
    lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    procs: list[subprocess.Popen] = []
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        for job in jobs:
            procs.append(subprocess.Popen(
                [*NETCTL, "--lock-timeout", job["timeout"], *job["args"]],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            ))
        queued = _wait_queued(procs, lock_path)
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        for job, proc in zip(jobs, procs, strict=True):
            out, err = proc.communicate(timeout=300)
            job.update(code=proc.returncode, out=out.decode(), err=err.decode())
    finally:
        os.close(lock_fd)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    for job in jobs:
        allowed = {0, 7} if job["timeout"] != LONG_WAIT else {0}
        shown = f"{job['args']} (--lock-timeout {job['timeout']}) -> {job['code']}: {job['err']}"
        assert job["code"] in allowed, shown
        if job["code"] == 7:
            assert job["err"].count("\n") == 1 and "state lock" in job["err"], job["err"]
        if job["timeout"] == "0":
            assert job["code"] == 7, "--lock-timeout 0 while the lock was held must give up"
    assert any(j["code"] == 0 for j in jobs)
    print(f"storm: {len(jobs)} processes, {queued} queued on the lock at release; " + ", ".join(
        f"{kind} {sum(j['kind'] == kind and j['code'] == 0 for j in jobs)} ok/"
        f"{sum(j['kind'] == kind and j['code'] == 7 for j in jobs)} busy"
        for kind in ("connect", "disconnect", "create")))

    after = parse(state_path.read_bytes(), state_path)  # parses: it is TOML of our schema
    assert not list(tmp_path.glob(".state.toml.*.tmp")), "a temp file was left behind"
    nets = {n.name: n for n in after.networks}
    sandboxes = {s.name: s for s in after.sandboxes}
    assert set(nets) == {"cc-a", "cc-b", "cc-c"} and len(sandboxes) == 16

    def eps_on(net: str) -> dict[str, object]:
        return {e.name: e for e in after.endpoints_of(nets[net])}

    _assert_unique(after)
    on_a, on_b, on_c = eps_on("cc-a"), eps_on("cc-b"), eps_on("cc-c")
    for job in jobs:
        if job["kind"] == "connect":
            if job["code"] == 0:  # connect's default endpoint name is the sandbox's
                assert job["sb"] in on_a, f"lost update: {job['args']} succeeded but is gone"
                assert on_a[job["sb"]].sandbox == sandboxes[job["sb"]].id
            else:
                assert job["sb"] not in on_a, f"{job['args']} gave up but left an endpoint"
        elif job["kind"] == "disconnect":
            assert (job["sb"] in on_b) == (job["code"] != 0), f"{job['args']} -> {job['code']}"
        else:
            assert (job["ep"] in on_c) == (job["code"] == 0), f"{job['args']} -> {job['code']}"
            if job["code"] == 0:
                assert job["out"] == job["ep"] + "\n"
    assert len(on_a) == sum(j["kind"] == "connect" and j["code"] == 0 for j in jobs)
    assert set(on_b) <= set(b_eps)
    for name, ep in on_b.items():  # survivors are untouched
        assert (ep.id, ep.ipv4, ep.mac, ep.ifname) == (b_eps[name].id, b_eps[name].ipv4,
                                                     b_eps[name].mac, b_eps[name].ifname)
    gone_b = [b_eps[name] for name in b_eps if name not in on_b]
    _assert_kernel_matches(inproc.kernel, after, gone_b)


def _assert_unique(state) -> None:
    for net in state.networks:
        eps = state.endpoints_of(net)
        names = [e.name for e in eps]
        assert len(names) == len(set(names)), f"duplicate endpoint name in {net.name}: {names}"
        addrs = [e.ipv4.split("/")[0] for e in eps if e.ipv4]
        gateway = net.subnet_for(4).gateway
        assert len(addrs) == len(set(addrs)), f"duplicate address in {net.name}: {sorted(addrs)}"
        assert gateway not in addrs
        macs = [e.mac for e in eps if e.mac]
        assert len(macs) == len(set(macs)), f"duplicate MAC in {net.name}: {sorted(macs)}"
    for sb in state.sandboxes:
        ifnames = [e.ifname for e in state.endpoints_in(sb)]
        assert len(ifnames) == len(set(ifnames)), f"duplicate ifname in {sb.name}: {ifnames}"


def _assert_kernel_matches(kernel, state, removed) -> None:
    host = {link.name: link for link in kernel.links()}
    for net in state.networks:
        bridge = host[net.bridge]
        assert bridge.kind == "bridge" and bridge.up and bridge.owner == net.id
    for ep in state.endpoints:
        net = state.network_by_id(ep.network)
        port = host.get(ep.host_ifname)
        assert port is not None and port.master == net.bridge and port.owner == ep.id, ep.name
        if ep.sandbox:
            sb = state.sandbox_by_id(ep.sandbox)
            inside = kernel.link_get(ep.ifname, netns=sb.name)
            assert inside is not None, f"{ep.name}: {ep.ifname} missing in {sb.name}"
            assert ep.ipv4 in inside.addresses and inside.up and inside.mac == ep.mac
        else:
            assert ep.sandbox_ifname in host, f"unjoined {ep.name}: {ep.sandbox_ifname} missing"
    known = {e.host_ifname for e in state.endpoints} | {e.sandbox_ifname for e in state.endpoints
                                                        if not e.sandbox}
    known |= {n.bridge for n in state.networks}
    strays = [name for name, link in host.items() if link.owner and name not in known]
    deadline = time.monotonic() + 3.0
    while strays and time.monotonic() < deadline:  # links of deleted pairs go asynchronously
        time.sleep(0.05)
        strays = [link.name for link in kernel.links() if link.owner and link.name not in known]
    assert not strays, f"links no endpoint owns (a failed process left them): {strays}"
    for ep in removed:
        assert ep.host_ifname not in {link.name for link in kernel.links()}
    for sb in state.sandboxes:
        wanted = {"lo"} | {e.ifname for e in state.endpoints_in(sb)}
        assert {link.name for link in kernel.links(sb.name)} == wanted, sb.name
