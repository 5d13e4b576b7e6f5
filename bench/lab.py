"""Whole labs, side by side with the CNI bridge plugin and podman (issue 10 §5): medians in ms.

Run as root: ``python3 bench/lab.py [-n 15] [--attach 50] [--tree PATH] [--real-filler]``.
Like the other benches it first moves into its own network and mount namespaces (tmpfs over
/run/netns, /etc/netns, /etc/cni/net.d and podman's directories; states and CNI's IPAM data
in a temporary directory), so nothing it makes is visible to, or left on, the machine.

Each row is one function (``row_*``) and compares two things measured in the same run with
their samples interleaved (a, b, a, b, ...), so the ratio holds on a busy machine even when
the absolute figures move.  The CLI is ``python -m netctl`` from ``--tree`` (default: this
checkout, byte-compiled first as an install would be), which lets one run compare an older
checkout.  "Filler" endpoints are state entries (a sandbox and its endpoint each) on other
networks, without kernel objects unless ``--real-filler``: a connect never looks at them, so
they measure what the state's size costs.  The apply rows build whole labs from generated
topology files, one run per size (``--rows apply``).  Numbers vary with the machine and its
load; tests never assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from connect import private_etc  # noqa: E402  (tmpfs over /etc/netns and /etc/netctl)
from kernel_steps import isolate, release  # noqa: E402  (new net+mount namespaces, tmpfs /run/netns)

from netctl.kernel import netns as ns  # noqa: E402  (ctypes only)

SCRUB = ("NETCTL_", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
CNI = Path("/usr/lib/cni")
PODMAN_DIRS = ("/etc/cni/net.d", "/var/lib/containers", "/run/containers", "/run/libpod",
               "/etc/containers/networks")
Row = tuple  # what, netctl ms, peer, peer ms[, the runs behind the medians]


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def wall(argv: list[str], env: dict[str, str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    res = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    took = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"lab.py: {' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()[-400:]}")
    return took


def settle(timeout: float = 120.0) -> None:
    """Wait until the kernel has freed the namespaces an earlier row deleted: it does that
    in the background (cleanup_net), holding locks netns and link creation need, and the
    host ends of their veths stay until it is done.  Without this the first apply after a
    1,000-sandbox destroy paid for that clean-up (2.9 s instead of 0.9 s for 100 sandboxes).
    Done: no veth left, or their number unchanged for a second (namespaces still held)."""
    deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"],
                             capture_output=True, text=True).stdout
        count = len(out.splitlines())
        if count != last:
            last, since = count, time.monotonic()
        if count == 0 or time.monotonic() - since > 1.0:
            return
        time.sleep(0.05)


def interleaved(n: int, a: Callable[[int], float], b: Callable[[int], float]) -> tuple[float, float]:
    sa, sb = [], []
    for i in range(n):
        sa.append(a(i))
        sb.append(b(i))
    return median_ms(sa), median_ms(sb)


class Lab:
    """Where the states live and how netctl is run (``tree``: which checkout)."""

    def __init__(self, tree: Path, tmp: Path):
        self.tree, self.tmp = tree, tmp
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUB)}
        self.env.update(PYTHONPATH=str(tree), NETCTL_CONFIG=os.devnull)

    def state(self, name: str) -> str:
        return str(self.tmp / f"{name}.toml")

    def netctl(self, state: str, *args: str, env: dict[str, str] | None = None) -> float:
        env = {**self.env, "NETCTL_STATE": state, **(env or {})}
        return wall([sys.executable, "-m", "netctl", *args], env, cwd=str(self.tree))

    def context(self, state: str):
        from netctl.service.context import Context
        from netctl.store import Store

        return Context(Store(state, 30.0))


def add_filler(lab: Lab, state: str, total: int, real: bool) -> None:
    """Grow the state to ``total`` endpoints, each in a sandbox of its own, spread over ten
    "filler" networks that no measured command touches."""
    from netctl.model import Endpoint, Network, Sandbox, Subnet, new_id, now
    from netctl.store import Store

    store = Store(state)
    have = len(store.read().endpoints)
    if real:
        _real_filler(lab, state, total - have)
        return
    with store.locked() as st:
        nets = [n for n in st.networks if n.name.startswith("filler")]
        for j in range(len(nets), 10):
            net = Network(f"filler{j}", new_id(), "bridge", now(), bridge=f"br-fill{j}",
                          subnets=[Subnet(f"10.{200 + j}.0.0/16", f"10.{200 + j}.0.1")])
            st.networks.append(net)
            nets.append(net)
        for i in range(have, total):
            sb = Sandbox(f"fill{i}", new_id(), now(), ifindexes={"eth": 1})
            net, k = nets[i % 10], i // 10 + 2
            st.sandboxes.append(sb)
            st.endpoints.append(Endpoint(f"fill{i}", new_id(), net.id, now(), sandbox=sb.id, ifname="eth0",
                                         ipv4=f"10.{200 + i % 10}.{k // 256}.{k % 256}/16",
                                         mac=f"02:42:0a:{200 + i % 10:02x}:{k // 256:02x}:{k % 256:02x}",
                                         host_ifname=f"vfill{i}"))
        store.save(st)


def _real_filler(lab: Lab, state: str, count: int) -> None:
    from netctl.service.connect import connect
    from netctl.service.endpoints import EndpointRequest
    from netctl.service.networks import NetworkRequest
    from netctl.service.networks import create as create_network
    from netctl.service.sandboxes import SandboxRequest
    from netctl.service.sandboxes import create as create_sandbox

    ctx = lab.context(state)
    for j in range(10):
        create_network(ctx, NetworkRequest(name=f"filler{j}", subnets=[f"10.{200 + j}.0.0/16"]), ignore=True)
    start = len(ctx.read().sandboxes)
    for i in range(start, start + count):
        create_sandbox(ctx, SandboxRequest(name=f"fill{i}"))
        connect(ctx, f"filler{i % 10}", f"fill{i}", EndpointRequest(name=""))
    ctx.close()


def prepare(lab: Lab, state: str, prefix: str, subnet: str, sandboxes: int) -> None:
    lab.netctl(state, "network", "create", f"{prefix}net", "--subnet", subnet)
    for i in range(sandboxes):
        lab.netctl(state, "sandbox", "create", f"{prefix}{i}")


def row_connect_vs_state_size(lab: Lab, n: int, real: bool) -> list[Row]:
    """One-shot ``network connect`` with 10 and with 1,000 endpoints in the state."""
    small, big = lab.state("small"), lab.state("big")
    prepare(lab, small, "a", "10.123.0.0/24", n)
    prepare(lab, big, "b", "10.124.0.0/24", n)
    add_filler(lab, small, 10, real)
    add_filler(lab, big, 1000, real)
    conn, ls = interleaved(n, lambda i: lab.netctl(small, "network", "connect", "anet", f"a{i}"),
                           lambda i: lab.netctl(big, "network", "connect", "bnet", f"b{i}"))
    ls10, ls1000 = interleaved(n, lambda i: lab.netctl(small, "network", "ls"),
                               lambda i: lab.netctl(big, "network", "ls"))
    return [("network connect, 1,000 endpoints in the state", ls, "the same, 10 endpoints", conn),
            ("network ls, 1,000 endpoints in the state", ls1000, "the same, 10 endpoints", ls10)]


def row_connect_vs_imports(lab: Lab, n: int) -> list[Row]:
    """One-shot ``network connect`` against importing its two dependencies, same interpreter;
    and the same connect with the interpreter's ordinary teardown (``NETCTL_SLOW_EXIT``)."""
    state = lab.state("imports")
    prepare(lab, state, "c", "10.125.0.0/24", 2 * n)
    env = {k: v for k, v in lab.env.items() if k != "PYTHONPATH"}
    conn, imp = interleaved(n, lambda i: lab.netctl(state, "network", "connect", "cnet", f"c{i}"),
                            lambda i: wall([sys.executable, "-c", "import click, pyroute2"], env))
    for i in range(n):  # untimed: the other half, to disconnect the ordinary way
        lab.netctl(state, "network", "connect", "cnet", f"c{n + i}")
    quick, slow = interleaved(n, lambda i: lab.netctl(state, "network", "disconnect", "cnet", f"c{i}"),
                              lambda i: lab.netctl(state, "network", "disconnect", "cnet", f"c{n + i}",
                                                   env={"NETCTL_SLOW_EXIT": "1"}))
    return [("network connect (one-shot CLI)", conn, 'python3 -c "import click, pyroute2"', imp),
            ("network disconnect (one-shot CLI)", quick, "the same, NETCTL_SLOW_EXIT=1", slow)]


def row_ls_vs_podman(lab: Lab, n: int) -> list[Row]:
    """``network ls`` with 100 networks, netctl against ``podman network ls`` (CNI backend)."""
    podman = shutil.which("podman")
    state = lab.state("nets")
    from netctl.service.networks import NetworkRequest
    from netctl.service.networks import create as create_network

    ctx = lab.context(state)
    for i in range(100):
        create_network(ctx, NetworkRequest(name=f"n{i}", subnets=[f"10.{i // 64 + 130}.{(i % 64) * 4}.0/22"]))
    ctx.close()
    if podman is None:
        ours = median_ms([lab.netctl(state, "network", "ls") for _ in range(n)])
        return [("network ls, 100 networks", ours, "podman: not installed", float("nan"))]
    env = {k: v for k, v in lab.env.items() if k != "PYTHONPATH"}
    for i in range(99):  # and podman's own default network: 100
        wall([podman, "network", "create", f"pn{i}"], env)
    ours, theirs = interleaved(n, lambda i: lab.netctl(state, "network", "ls"),
                               lambda i: wall([podman, "network", "ls"], env))
    return [("network ls, 100 networks", ours, "podman network ls, 100 networks", theirs)]


def _cni_conf(lab: Lab, name: str = "benchcni", bridge: str = "cni-bench0",
              subnet: str = "10.126.0.0/16") -> bytes:
    return json.dumps({
        "cniVersion": "1.0.0", "name": name, "type": "bridge", "bridge": bridge,
        "isGateway": True, "ipMasq": False,
        "ipam": {"type": "host-local", "subnet": subnet, "routes": [{"dst": "0.0.0.0/0"}],
                 "dataDir": str(lab.tmp / "cni-ipam")},
    }).encode()


def _cni_run(lab: Lab, command: str, i: int, conf: bytes) -> None:
    env = {**lab.env, "CNI_COMMAND": command, "CNI_CONTAINERID": f"bench{i}",
           "CNI_NETNS": f"/run/netns/cni{i}", "CNI_IFNAME": "eth0", "CNI_PATH": str(CNI)}
    res = subprocess.run([str(CNI / "bridge")], input=conf, env=env, capture_output=True)
    if res.returncode != 0:
        sys.exit(f"lab.py: CNI {command} failed: {res.stdout.decode()[-300:]} {res.stderr.decode()[-300:]}")


def _cni_add(lab: Lab, i: int, conf: bytes) -> float:
    start = time.perf_counter()
    subprocess.run(["ip", "netns", "add", f"cni{i}"], check=True)
    _cni_run(lab, "ADD", i, conf)
    return time.perf_counter() - start


def _cni_del(lab: Lab, i: int, conf: bytes) -> float:
    """CNI DEL (the veth goes, the address is released), then ``ip netns del``."""
    start = time.perf_counter()
    _cni_run(lab, "DEL", i, conf)
    subprocess.run(["ip", "netns", "del", f"cni{i}"], check=True)
    return time.perf_counter() - start


def row_attach(lab: Lab, count: int) -> list[Row]:
    """Attach ``count`` endpoints, each into a new namespace: netctl (``sandbox create`` +
    ``network connect``, one-shot CLI; and the same service calls in one process) against
    ``ip netns add`` + CNI bridge ADD (host-local IPAM)."""
    conf = _cni_conf(lab)
    state = lab.state("attach")
    lab.netctl(state, "network", "create", "dnet", "--subnet", "10.127.0.0/16")

    def ours(i: int) -> float:
        made = lab.netctl(state, "sandbox", "create", f"d{i}")
        return made + lab.netctl(state, "network", "connect", "dnet", f"d{i}")

    cli, cni = interleaved(count, ours, lambda i: _cni_add(lab, i, conf))
    return [(f"attach {count} endpoints, one-shot CLI, per endpoint", cli,
             "ip netns add + CNI bridge ADD, per endpoint", cni),
            *row_attach_in_process(lab, count, conf)]


def row_attach_in_process(lab: Lab, count: int, conf: bytes) -> list[Row]:
    from netctl.service.connect import connect
    from netctl.service.endpoints import EndpointRequest
    from netctl.service.networks import NetworkRequest
    from netctl.service.networks import create as create_network
    from netctl.service.sandboxes import SandboxRequest
    from netctl.service.sandboxes import create as create_sandbox

    state = lab.state("attach-in-process")
    ctx = lab.context(state)
    create_network(ctx, NetworkRequest(name="enet", subnets=["10.128.0.0/16"]))

    def ours(i: int) -> float:
        start = time.perf_counter()
        create_sandbox(ctx, SandboxRequest(name=f"e{i}"))
        connect(ctx, "enet", f"e{i}", EndpointRequest(name=""))
        return time.perf_counter() - start

    try:
        inproc, cni = interleaved(count, ours, lambda i: _cni_add(lab, count + i, conf))
    finally:
        ctx.close()
    return [(f"attach {count} endpoints, service calls in one process, per endpoint", inproc,
             "ip netns add + CNI bridge ADD, per endpoint", cni)]


def topology(count: int, nets: int = 10) -> str:
    """A topology file: ``nets`` networks and ``count`` sandboxes, sandbox i on network i % nets."""
    lines = ['project = "benchlab"']
    lines += [f'[networks.lab{j}]\nsubnet = "10.{150 + j}.0.0/22"' for j in range(nets)]
    lines += [f'[sandboxes.s{i}]\nconnect = ["lab{i % nets}"]' for i in range(count)]
    return "\n".join(lines) + "\n"


def _lab_file(lab: Lab, count: int) -> str:
    path = lab.tmp / f"lab-{count}.toml"
    path.write_text(topology(count), encoding="utf-8")
    return str(path)


def _cni_many(lab: Lab, first: int, count: int, run) -> float:
    """``run`` (an ADD or DEL with its netns step) for ``count`` sandboxes over 10 CNI
    networks, sandbox i on network i % 10, as the apply rows spread them: total seconds."""
    confs = [_cni_conf(lab, f"lab{j}", f"cni-lab{j}", f"10.{170 + j}.0.0/22") for j in range(10)]
    return sum(run(lab, first + i, confs[i % 10]) for i in range(count))


def row_apply(lab: Lab, n: int, runs: int, sizes: tuple[int, ...] = (100, 1000)) -> list[Row]:
    """``netctl apply`` of N sandboxes on 10 networks (one-shot CLI) against N × (``ip netns
    add`` + CNI bridge ADD); per-endpoint cost at N = 1,000 against N = 10; a no-op
    re-apply; ``netctl destroy`` against N × (CNI DEL + ``ip netns del``).  Each figure is
    the median of ``runs`` runs (netctl's and CNI's alternating), the runs listed after it."""
    rows: list[Row] = [*row_apply_marginal(lab, max(5, n), runs, max(sizes))]
    for size in sizes:
        built, added, noops, gone, deleted = [], [], [], [], []
        for _ in range(runs):
            state, path = lab.state(f"lab{size}"), _lab_file(lab, size)
            settle()
            built.append(lab.netctl(state, "apply", "-f", path))
            settle()
            added.append(_cni_many(lab, 20000, size, _cni_add))
            if size == max(sizes):
                noops += [lab.netctl(state, "apply", "-f", path) for _ in range(3)]
            gone.append(lab.netctl(state, "destroy", "-f", path))
            settle()
            deleted.append(_cni_many(lab, 20000, size, _cni_del))
            settle()
        rows.append((f"apply of {size} sandboxes on 10 networks", median_ms(built),
                     f"{size} x (ip netns add + CNI ADD)", median_ms(added), _runs(built, added)))
        if noops:
            rows.append((f"no-op re-apply of {size} sandboxes", median_ms(noops), "the target (1 s)",
                         1000.0, _runs(noops)))
        rows.append((f"destroy of {size} sandboxes", median_ms(gone),
                     f"{size} x (CNI DEL + ip netns del)", median_ms(deleted), _runs(gone, deleted)))
    return rows


def _runs(ours: list[float], theirs: list[float] | None = None) -> str:
    """Each run's figure (ms), and the ratio per run when there is a peer: the spread."""
    text = "runs " + "/".join(f"{x * 1000:.0f}" for x in ours)
    if theirs:
        text += "; ratio per run " + "/".join(f"{a / b:.2f}" for a, b in zip(ours, theirs, strict=True))
    return text


def row_apply_marginal(lab: Lab, reps: int, runs: int, big_size: int = 1000) -> list[Row]:
    """What one sandbox (netns + veth + address + route) adds to an apply: (apply of the
    file with N sandboxes - apply of its 10 networks alone) / N, at N = 10 and N = 1,000,
    through the one-shot CLI; the small sizes are medians of ``reps`` runs (``-n``, at least
    5), N = 1,000 of ``runs`` (each destroyed again).  At N = 10 the difference is ~70 ms
    between two ~300 ms processes, so this row is noisy; the in-process row next to it less so."""
    def once(count: int) -> float:
        state, path = lab.state(f"marginal{count}"), _lab_file(lab, count)
        settle()
        took = lab.netctl(state, "apply", "-f", path)
        lab.netctl(state, "destroy", "-f", path)
        return took

    base, ten = interleaved(reps, lambda i: once(0), lambda i: once(10))
    bigs = [once(big_size) for _ in range(runs)]
    big = median_ms(bigs)
    return [(f"per endpoint inside apply of {big_size} (CLI)", (big - base) / big_size,
             "the same, apply of 10", (ten - base) / 10, _runs(bigs)),
            *row_apply_in_process(lab, runs, big_size)]


def row_apply_in_process(lab: Lab, runs: int, big_size: int = 1000) -> list[Row]:
    """The same target measured inside one process (bench/apply_profile.py): an apply's
    sandbox-create step plus its connect step, medians over every step of ``runs`` applies
    of 10 against the last tenth of the steps of ``runs`` applies of ``big_size`` (the
    state at its fullest), sizes alternating; this checkout's code, whatever ``--tree``."""
    from apply_profile import measure, per_sandbox, step_medians

    results = measure(lab.tmp, [10, big_size], max(runs, 3))
    sums = {s: "/".join(f"{per_sandbox(t, s) * 1000:.1f}" for t in results[s]) for s in (10, big_size)}
    return [(f"per sandbox inside apply of {big_size} (in process)",
             step_medians(results[big_size], max(big_size // 10, 1)) * 1000, "the same, apply of 10",
             step_medians(results[10]) * 1000, f"per-run sums {sums[big_size]} vs {sums[10]}")]


def report(rows: list[Row], n: int) -> None:
    print(f"kernel {os.uname().release}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"{n} samples per row (interleaved), medians in ms:")
    width = max(len(r[0]) for r in rows)
    peer = max(len(r[2]) for r in rows)
    for what, ours, other, theirs, *runs in rows:
        ratio = ours / theirs if theirs == theirs and theirs else float("nan")
        note = f"   ({runs[0]})" if runs else ""
        print(f"  {what:<{width}}  {ours:8.1f}   {other:<{peer}}  {theirs:8.1f}   {ratio:5.2f}x{note}")


def setup(tree: Path) -> tuple[list[str], list[str], Path]:
    made = isolate()
    made_etc, mounts = private_etc()
    for path in PODMAN_DIRS:
        os.makedirs(path, exist_ok=True)
        ns.mount("bench", path, "tmpfs")
        mounts.append(path)
    ns.set_up("lo")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "netctl")], check=True,
                   capture_output=True)
    return made + made_etc, mounts, Path(tempfile.mkdtemp(prefix="netctl-lab-"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=15, help="samples per row")
    parser.add_argument("--attach", type=int, default=50, help="endpoints attached in the attach rows")
    parser.add_argument("--tree", type=Path, default=HERE.parent, help="the netctl checkout whose CLI runs")
    parser.add_argument("--real-filler", action="store_true", help="filler endpoints with kernel objects")
    parser.add_argument("--rows", default="state,imports,podman,attach,apply", help="rows to run")
    parser.add_argument("--runs", type=int, default=3, help="runs behind each apply/destroy row")
    parser.add_argument("--apply-sizes", default="100,1000", help="lab sizes of the apply rows")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("lab.py: needs root (it works in its own namespaces)")
    made, mounts, tmp = setup(args.tree.resolve())
    lab = Lab(args.tree.resolve(), tmp)
    os.environ.update(NETCTL_CONFIG=os.devnull)
    wanted = args.rows.split(",")
    rows: list[Row] = []
    try:
        if "state" in wanted:
            rows += row_connect_vs_state_size(lab, args.n, args.real_filler)
        if "imports" in wanted:
            rows += row_connect_vs_imports(lab, args.n)
        if "podman" in wanted:
            rows += row_ls_vs_podman(lab, args.n)
        if "attach" in wanted:
            rows += row_attach(lab, args.attach)
        if "apply" in wanted:
            rows += row_apply(lab, args.n, args.runs, tuple(int(x) for x in args.apply_sizes.split(",")))
    finally:
        report(rows, args.n) if rows else None
        shutil.rmtree(tmp, ignore_errors=True)
        release(made, mounts)


if __name__ == "__main__":
    main()
