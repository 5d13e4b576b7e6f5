"""Commands that take several names (``rm A B C``) handle each in its own transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import NetctlError, NotFound
from ..model import State
from ..txn import Transaction
from .context import Context


def remove_each(
    ctx: Context,
    refs: list[str],
    force: bool,
    find: Callable[[State, str], Any],
    remove_one: Callable[[State, Any, Transaction], None],
) -> tuple[list[str], list[NetctlError]]:
    """Remove every named object, each under its own lock and rollback, so one failure does
    not stop the rest (as ``docker network rm``); ``force`` makes a missing name fine.
    Returns the names removed and the errors, for the CLI to print and pick an exit code."""
    removed: list[str] = []
    errors: list[NetctlError] = []
    for ref in refs:
        try:
            with ctx.mutation() as (state, tx):
                obj = find(state, ref)
                remove_one(state, obj, tx)
            removed.append(obj.name)
        except NotFound as exc:
            if not force:
                errors.append(exc)
        except NetctlError as exc:
            errors.append(exc)
    return removed, errors
