"""Commands that take several names (``rm A B C``) handle each in its own transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import interrupts
from ..errors import NetctlError, NotFound
from ..model import State
from ..txn import Transaction
from .context import Context


class NotDone(NetctlError):
    """A name left alone because the command was interrupted (exit 128+N, as the signal)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def remove_each(
    ctx: Context,
    refs: list[str],
    force: bool,
    find: Callable[[State, str], Any],
    remove_one: Callable[[State, Any, Transaction], None],
) -> tuple[list[str], list[NetctlError]]:
    """Remove every named object, each under its own lock and rollback, so one failure does
    not stop the rest (as ``docker network rm``); ``force`` makes a missing name fine.
    Returns the names removed and the errors, for the CLI to print and pick an exit code.
    After a save, a SIGINT/SIGTERM/SIGHUP lets the current one finish and leaves the rest
    (each an error with exit 128+N)."""
    removed: list[str] = []
    errors: list[NetctlError] = []
    for n, ref in enumerate(refs):
        # Until the first save a signal interrupts as anywhere; from it on signals only wait
        # (interrupts.hold), so one that came during an earlier name stops before the next.
        stop = interrupts.take_pending()
        if stop is not None:
            errors += [NotDone(f"{rest}: not removed: {stop}", stop.exit_code) for rest in refs[n:]]
            break
        removed += _remove(ctx, ref, force, find, remove_one, errors)
    return removed, errors


def _remove(ctx, ref, force, find, remove_one, errors: list[NetctlError]) -> list[str]:
    try:
        with ctx.mutation() as (state, tx):
            obj = find(state, ref)
            remove_one(state, obj, tx)
        return [obj.name]
    except NotFound as exc:
        if not force:
            errors.append(exc)
    except NetctlError as exc:
        errors.append(exc)
    return []
