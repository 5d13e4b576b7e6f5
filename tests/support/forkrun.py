"""The ``netctl`` CLI entry point in a forked child of the test process.

A fork is a fresh process (its own environment, exit code or death by signal, stdout and
stderr, captured to files) without the ~0.4 s of interpreter start and imports that
``python -m netctl`` pays per run, which is what makes long fault-injection, kill and
concurrency matrices affordable.  ``start`` returns the running ``Child`` (to poll or SIGKILL
it); ``run`` waits for it and returns ``Result((code, out, err))``; a killed child's code is
``-signal.SIGKILL``.  ``prepare``, if given, runs in the child just before the CLI is imported
and run: seeded randomness, a kill hook inside the save, dropping privileges.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

POLL = 0.0005  # seconds between waitpid polls while a child runs
NOBODY = 65534


class Result(tuple):
    """``(code, stdout, stderr)`` with names."""

    code = property(lambda self: self[0])
    out = property(lambda self: self[1])
    err = property(lambda self: self[2])


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ``NETCTL_*`` variable, plus SETTINGS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETCTL_")}
    env.update(settings)
    return env


@functools.cache
def preload(*modules: str) -> None:
    """Import once, in the test process, what every command imports lazily (the CLI, the
    services, tomli_w through a ``dump``) and MODULES (the kernel backend the test uses), so
    that no child pays for it."""
    for name in ("netctl.cli", "netctl.service.connect", "netctl.service.endpoints",
                 "netctl.service.networks", "netctl.service.sandboxes", *modules):
        importlib.import_module(name)
    from netctl.store import dump, parse

    dump(parse(b"schema = 1\n", Path("preload")))


def fake_kernel(kernel_file: str | Path, then: Callable[[], object] | None = None) -> Callable[[], None]:
    """A ``prepare`` that runs the child over the fake kernel at KERNEL_FILE (fakehooks), then
    THEN.  Preload ``support.fakekernel`` in the test process, so that no child imports it."""
    def prepare() -> None:  # pragma: no cover - the child
        from support import fakehooks

        fakehooks.install(kernel_file)
        if then is not None:
            then()

    return prepare


def become_nobody() -> None:
    """A ``prepare`` for root: the child drops to uid/gid 65534 with no groups (whatever it
    imports lazily must be imported before the fork: this interpreter's tree may be root's)."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


class Child:
    """A forked netctl run: poll it, kill it, collect its exit code and output."""

    def __init__(self, pid: int, out, err):
        self.pid, self._out, self._err = pid, out, err
        self.code: int | None = None

    def poll(self) -> int | None:
        if self.code is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.code = os.waitstatus_to_exitcode(status)
        return self.code

    def kill(self) -> None:
        """SIGKILL the child if it still runs (``finish`` collects it)."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    def finish(self, timeout: float = 60.0) -> Result:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                os.waitpid(self.pid, 0)
                raise TimeoutError(f"forked netctl {self.pid} did not finish in {timeout}s")
            time.sleep(POLL)
        texts = []
        for handle in (self._out, self._err):
            handle.seek(0)
            texts.append(handle.read().decode())
            handle.close()
        return Result((self.code, texts[0], texts[1]))


def start(argv: list[str], env: dict[str, str], prepare: Callable[[], object] | None = None) -> Child:
    """Fork a child that runs ``netctl ARGV`` with exactly ENV as its environment."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115 - closed in finish
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        _child(list(argv), env, prepare, out.fileno(), err.fileno())
    return Child(pid, out, err)


def run(argv: list[str], env: dict[str, str], prepare: Callable[[], object] | None = None,
        timeout: float = 60.0) -> Result:
    return start(argv, env, prepare).finish(timeout)


def _child(argv: list[str], env: dict[str, str], prepare, out: int, err: int) -> NoReturn:  # pragma: no cover
    code = 70  # nothing ran: the child failed before the CLI did
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.environ.clear()
        os.environ.update(env)
        sys.stdin = open(os.devnull)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        if prepare is not None:
            prepare()
        from netctl.cli import main

        try:
            main.main(args=argv, prog_name="netctl")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
