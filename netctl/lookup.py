"""Find objects the way users name them: a full ID, a name, or a unique ID prefix.

That order is the rule (docker's): an exact full ID wins, then an exact name, then a unique
ID prefix of at least 4 hex digits.  So that the order never has to decide between two
objects, names that would shadow an ID are refused when they are created (``check_new_name``:
an all-hex name that is a prefix of an existing ID of the same kind, e.g. a network named
like another network's 12-hex short ID), and a new object never gets an ID that starts
with an existing all-hex name (``fresh_id``).

Endpoint names are unique per network only, so an endpoint may also be written
``NETWORK/NAME`` (what ``endpoint ls -q`` prints); a bare name that matches in two networks
is refused with that hint.
"""

from __future__ import annotations

from operator import attrgetter
from typing import TypeVar

from .errors import Conflict, InvalidInput, NotFound
from .model import Endpoint, Network, Sandbox, State, new_id

T = TypeVar("T", Network, Sandbox, Endpoint)

MIN_PREFIX = 4  # shorter hex strings are names only, never ID prefixes
HEX = frozenset("0123456789abcdef")


def _hexlike(ref: str) -> bool:
    return len(ref) >= MIN_PREFIX and set(ref) <= HEX


def _by_prefix(items: list[T], ref: str, what: str) -> T:
    if _hexlike(ref):
        hits = [i for i in items if i.id.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise InvalidInput(f"{what} ID prefix {ref!r} is ambiguous ({len(hits)} matches)")
    raise NotFound(f"{what} {ref!r} not found")


def _find(items: list[T], ref: str, what: str) -> T:
    """One plain loop for both rules (a full ID wins, then a name): every connect looks up
    its sandbox by name, and two generator passes over 1,000 sandboxes took twice as long."""
    named = None
    for item in items:
        if item.id == ref:
            return item
        if named is None and item.name == ref:
            named = item
    return named if named is not None else _by_prefix(items, ref, what)


def check_new_name(items: list[T], name: str, what: str) -> None:
    """Refuse (exit 4) a name that an existing object's ID or ID prefix already answers to."""
    if not _hexlike(name):
        return
    owner = next((i for i in items if i.id.startswith(name)), None)
    if owner is not None:
        raise Conflict(f"{what} name {name!r} is a prefix of the ID of {what} {owner.name!r}; "
                       "it would shadow that ID (choose a name that is not all hex)")


_NAME = attrgetter("name")


def fresh_id(items: list[T]) -> str:
    """A new ID that no existing all-hex name is a prefix of (a name must keep finding its
    object, and the new ID's short form must find the new one)."""
    names = [n for n in filter(HEX.issuperset, map(_NAME, items)) if len(n) >= MIN_PREFIX]
    while True:
        value = new_id()
        if not any(value.startswith(n) for n in names):
            return value


def network(state: State, ref: str) -> Network:
    return _find(state.networks, ref, "network")


def sandbox(state: State, ref: str) -> Sandbox:
    return _find(state.sandboxes, ref, "sandbox")


def endpoint(state: State, ref: str) -> Endpoint:
    """A full ID, ``NETWORK/NAME``, ``NAME`` (unique across networks) or a unique ID prefix."""
    if "/" in ref:
        net_ref, _, name = ref.partition("/")
        return _find(state.endpoints_of(network(state, net_ref)), name, "endpoint")
    by_id = next((e for e in state.endpoints if e.id == ref), None)
    if by_id is not None:
        return by_id
    named = [e for e in state.endpoints if e.name == ref]
    if len(named) > 1:
        nets = ", ".join(f"{state.network_by_id(e.network).name}/{ref}" for e in named)
        raise InvalidInput(f"endpoint name {ref!r} is ambiguous; write one of: {nets}")
    return named[0] if named else _by_prefix(state.endpoints, ref, "endpoint")


def endpoint_in(state: State, net: Network, name: str) -> Endpoint | None:
    return next((e for e in state.endpoints_of(net) if e.name == name), None)
