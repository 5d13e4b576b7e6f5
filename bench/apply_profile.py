"""Where one ``netctl apply`` spends its time, in process, at N = 10 against N = 1,000.

Run as root: ``python3 bench/apply_profile.py [--sizes 10,1000] [--runs 3] [--profile 1000]``.
It moves into its own network and mount namespaces first (bench/kernel_steps.py), so nothing
it makes is visible to, or left on, the machine.

Each run applies a generated file (N sandboxes over 10 networks, bench/lab.py's ``topology``)
through the same calls the CLI makes (parse, plan under the one session, execute, save, files),
timing each phase and each kind of step, then destroys it.  The figure that matters is the
cost per sandbox of the steps that scale with N (sandbox create + connect); a ratio near 1.0
between N = 1,000 and N = 10 means nothing in them grows with the size of the state.  Without
the interpreter's start (which dominates the CLI's wall time at N = 10) the figures are far
less noisy than the one-shot rows of bench/lab.py.  ``--profile N`` prints cProfile's top
functions (own time) for one apply of N.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from connect import private_etc  # noqa: E402
from kernel_steps import isolate, release  # noqa: E402
from lab import topology  # noqa: E402

from netctl.kernel import netns as ns  # noqa: E402


class Timer:
    """Seconds per phase, summed; ``wrap`` times every call of a function in place."""

    def __init__(self):
        self.took: dict[str, float] = defaultdict(float)
        self.samples: dict[str, list[float]] = defaultdict(list)

    def add(self, what: str, seconds: float) -> None:
        self.took[what] += seconds
        self.samples[what].append(seconds)

    def wrap(self, owner, name: str, what: str):
        real = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.add(what, time.perf_counter() - start)

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, real)


def apply_once(tmp: Path, count: int, timer: Timer) -> float:
    """One apply of ``count`` sandboxes into a fresh state, phases timed; its destroy untimed."""
    from netctl.service import plan
    from netctl.service.apply import plan_apply, plan_destroy
    from netctl.service.context import Context
    from netctl.store import Store
    from netctl.topology import parse

    state = tmp / f"state-{count}.toml"
    text = topology(count)
    ctx = Context(Store(str(state), 30.0))
    undo = [timer.wrap(Store, "save", "save"), timer.wrap(Context, "refresh_files", "files")]
    try:
        start = time.perf_counter()
        top = parse(text, "bench")
        timer.add("parse", time.perf_counter() - start)
        with plan.session(ctx) as session:
            mark = time.perf_counter()
            steps = plan_apply(ctx, top, session.state)
            timer.add("plan", time.perf_counter() - mark)
            for step in steps:
                mark = time.perf_counter()
                plan.execute([step])
                timer.add(f"{step.action} {step.kind}", time.perf_counter() - mark)
            mark = time.perf_counter()
        timer.add("session end (save, files, commit)", time.perf_counter() - mark)
        total = time.perf_counter() - start
    finally:
        for u in undo:
            u()
    with plan.session(ctx) as session:
        plan.execute(plan_destroy(ctx, top, session.state))
    ctx.close()
    state.unlink()
    return total


def per_sandbox(timer: Timer, count: int) -> float:
    """Seconds per sandbox of the steps that scale with N: its create and its connect."""
    return (timer.took["create sandbox"] + timer.took["connect connection"]) / count if count else 0.0


STEPS = ("create sandbox", "connect connection")


def step_medians(timers: list[Timer], last: int | None = None) -> float:
    """Median create-sandbox step plus median connect step, over every run; ``last``: only
    each run's last ``last`` steps of each kind (the state at its fullest).  A median of
    single steps shrugs off the bursts of a busy machine that sums cannot."""
    out = 0.0
    for kind in STEPS:
        pool = [x for t in timers for x in (t.samples[kind][-last:] if last else t.samples[kind])]
        out += statistics.median(pool)
    return out


def measure(tmp: Path, sizes: list[int], runs: int) -> dict[int, list[Timer]]:
    """``runs`` applies per size, the sizes interleaved (10, 1000, 10, 1000, ...)."""
    out: dict[int, list[Timer]] = {s: [] for s in sizes}
    for _ in range(runs):
        for size in sizes:
            timer = Timer()
            timer.add("total", apply_once(tmp, size, timer))
            out[size].append(timer)
    return out


def report(results: dict[int, list[Timer]]) -> None:
    print(f"kernel {os.uname().release}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          "medians over runs, ms (per sandbox: ms per created sandbox)")
    phases = sorted({p for timers in results.values() for t in timers for p in t.took})
    sizes = sorted(results)
    print(f"  {'phase':<36}" + "".join(f"{'N=' + str(s):>12}{'/sandbox':>10}" for s in sizes))
    for phase in phases:
        line = f"  {phase:<36}"
        for size in sizes:
            took = statistics.median(t.took[phase] for t in results[size]) * 1000
            line += f"{took:12.1f}{took / size if size else 0:10.2f}"
        print(line)
    cost = {s: [per_sandbox(t, s) * 1000 for t in results[s]] for s in sizes if s}
    for size in sizes[1:]:
        small, big = statistics.median(cost[sizes[0]]), statistics.median(cost[size])
        spread = ", ".join(f"{big / c:.2f}" for c in cost[sizes[0]])
        print(f"per sandbox (create + connect, sums) at N={size} vs N={sizes[0]}: {big:.2f} / {small:.2f} ms"
              f" = {big / small:.2f}x  (N={size} each run: "
              f"{', '.join(f'{c:.2f}' for c in cost[size])}; ratio against each small run: {spread})")
        tail = max(size // 10, 1)
        small_m, big_m = step_medians(results[sizes[0]]) * 1000, step_medians(results[size], tail) * 1000
        print(f"per sandbox (median create step + median connect step) at N={size} (its last {tail} "
              f"of each) vs N={sizes[0]}: {big_m:.2f} / {small_m:.2f} ms = {big_m / small_m:.2f}x")


def profile(tmp: Path, count: int, top: int = 25) -> None:
    prof = cProfile.Profile()
    prof.enable()
    apply_once(tmp, count, Timer())
    prof.disable()
    print(f"\ncProfile of one apply of {count} (own time):")
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000", help="sandbox counts, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="applies per size")
    parser.add_argument("--profile", type=int, default=0, help="cProfile one apply of this size")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("apply_profile.py: needs root (it works in its own namespaces)")
    made = isolate()
    made_etc, mounts = private_etc()
    ns.set_up("lo")
    os.environ["NETCTL_CONFIG"] = os.devnull
    tmp = Path(tempfile.mkdtemp(prefix="netctl-applyprof-"))
    try:
        apply_once(tmp, 10, Timer())  # warm: imports, first netlink sockets
        if args.runs:
            report(measure(tmp, [int(s) for s in args.sizes.split(",")], args.runs))
        if args.profile:
            profile(tmp, args.profile)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        release(made + made_etc, mounts)


if __name__ == "__main__":
    main()
