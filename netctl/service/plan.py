"""One plan: many service operations inside ONE mutation (DESIGN.md, "A plan").

``session()`` opens the mutation once (one lock, one load, one transaction, one save, the
files rendered once at the end) and hangs a ``Plan`` on the context.  While it is open,
every ``ctx.mutation()`` the ordinary service functions take is one *operation* of the
plan: it runs against the plan's state and transaction, so ``apply``, ``batch`` (and later
the CNI entry) run exactly the code the single commands run.

Two ways an operation can fail:

- ``isolate=False`` (apply): the error goes straight through; the plan's one transaction
  undoes every kernel step of every operation and nothing is saved.
- ``isolate=True`` (batch): the failing operation's own kernel steps are undone and the
  state is put back as it was before it; the operations before it stay and are saved when
  the session ends (each batch line keeps its own rollback).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .. import interrupts
from ..errors import NetctlError
from ..model import State
from ..txn import Transaction


class Plan:
    def __init__(self, state: State, tx: Transaction, isolate: bool):
        self.state, self.tx, self.isolate = state, tx, isolate
        #: every object of the state as loaded: what the plan removes keeps its kernel
        #: objects until the save, and leftovers.py must not take them for a killed run's
        self.known = {o.id for o in (*state.networks, *state.endpoints, *state.sandboxes)}

    @contextmanager
    def operation(self) -> Iterator[tuple[State, Transaction]]:
        """What ``ctx.mutation()`` yields inside the plan (see the module docstring)."""
        if not self.isolate:
            yield self.state, self.tx
            return
        saved = _snapshot(self.state)
        inner = Transaction()
        try:
            yield self.state, inner
        except BaseException:
            with interrupts.held():  # a Ctrl-C must not stop the rollback half-way
                inner.rollback()
            _restore(saved)
            raise
        self.tx.adopt(inner)  # undone with the plan if the save fails; deletes run after it


@contextmanager
def session(ctx, isolate: bool = False) -> Iterator[Plan]:
    """Open the plan's one mutation on ``ctx`` for the length of the block."""
    with ctx.mutation() as (state, tx):
        ctx.plan = Plan(state, tx, isolate)
        try:
            yield ctx.plan
        finally:
            ctx.plan = None


def _copy(value: Any) -> Any:
    return value.copy() if isinstance(value, (list, dict)) else value


def _snapshot(state: State) -> list[tuple[object, dict[str, Any]]]:
    """Every object's fields, containers copied one level: what operations change in place
    (lists of objects, counters, a sandbox's ifindexes).  Far cheaper than a deep copy, so a
    1,000-line batch at 1,000 endpoints does not pay a quadratic price for its rollbacks."""
    objs: list[object] = [state, *state.networks, *state.endpoints, *state.sandboxes]
    return [(obj, {k: _copy(v) for k, v in vars(obj).items()}) for obj in objs]


def _restore(saved: list[tuple[object, dict[str, Any]]]) -> None:
    for obj, values in saved:
        obj.__dict__.update(values)


@dataclass
class Step:
    """One row of a plan: what it does, to which object, from which key of the input."""

    action: str  # create, remove, replace, connect, disconnect, reconnect
    kind: str  # network, sandbox, connection
    name: str
    key: str  # the file key that asks for it (networks.front, sandboxes.web.connect[1])
    detail: str = ""
    run: Callable[[], object] = field(default=lambda: None, repr=False, compare=False)

    def row(self) -> dict[str, str]:
        return {"action": self.action, "kind": self.kind, "name": self.name,
                "key": self.key, "detail": self.detail}


def execute(steps: list[Step], progress: Callable[[Step], None] | None = None) -> None:
    """Run the steps in order inside an open session; an error names the object and key."""
    for step in steps:
        try:
            step.run()
        except NetctlError as exc:
            raise named(exc, f"{step.key}: {step.action} {step.kind} {step.name!r}") from exc
        if progress is not None:
            progress(step)


def named(exc: NetctlError, where: str) -> NetctlError:
    """The same error (class, exit code) with ``where`` in front of its message."""
    new = copy.copy(exc)
    new.args = (f"{where}: {exc}",)
    return new
