"""Find objects the way users name them: a name, a full ID or a unique ID prefix.

Endpoint names are unique per network only, so an endpoint may also be written
``NETWORK/NAME``; a bare name that matches in two networks is refused with that hint.
"""

from __future__ import annotations

from typing import TypeVar

from .errors import InvalidInput, NotFound
from .model import Endpoint, Network, Sandbox, State

T = TypeVar("T", Network, Sandbox, Endpoint)


def _find(items: list[T], ref: str, what: str) -> T:
    for item in items:
        if item.name == ref or item.id == ref:
            return item
    if len(ref) >= 4 and all(c in "0123456789abcdef" for c in ref):
        hits = [i for i in items if i.id.startswith(ref)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise InvalidInput(f"{what} ID prefix {ref!r} is ambiguous ({len(hits)} matches)")
    raise NotFound(f"{what} {ref!r} not found")


def network(state: State, ref: str) -> Network:
    return _find(state.networks, ref, "network")


def sandbox(state: State, ref: str) -> Sandbox:
    return _find(state.sandboxes, ref, "sandbox")


def endpoint(state: State, ref: str) -> Endpoint:
    """``NAME``, ``NETWORK/NAME``, a full ID or a unique ID prefix."""
    if "/" in ref:
        net_ref, _, name = ref.partition("/")
        return _find(state.endpoints_of(network(state, net_ref)), name, "endpoint")
    named = [e for e in state.endpoints if e.name == ref]
    if len(named) > 1:
        nets = ", ".join(f"{state.network_by_id(e.network).name}/{ref}" for e in named)
        raise InvalidInput(f"endpoint name {ref!r} is ambiguous; write one of: {nets}")
    return named[0] if named else _find(state.endpoints, ref, "endpoint")


def endpoint_in(state: State, net: Network, name: str) -> Endpoint | None:
    return next((e for e in state.endpoints_of(net) if e.name == name), None)
