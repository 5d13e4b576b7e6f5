"""``shell_complete=`` callbacks: live network, endpoint and sandbox names for <TAB>.

The shell scripts call ``netctl`` back as the *user* on every <TAB>, so these read the state
file without the lock (writes are atomic, so a reader never sees half a file), never need
root, and return nothing at all when the file is missing, unreadable or corrupt: a completion
that prints an error into the user's command line is worse than none.  They import only the
store (no pyroute2, no rich), so a <TAB> costs about as much as ``netctl --help``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from ..store import DEFAULT_PATH

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem


def _item(name: str, help_: str | None = None) -> CompletionItem:
    """Imported on a <TAB> only: a command run does not pay for click's completion module."""
    from click.shell_completion import CompletionItem

    return CompletionItem(name, help=help_)


def _state(ctx: click.Context):
    """The state named by --state / NETCTL_STATE (the root's parsed params), or None."""
    from ..store import Store

    path = ctx.find_root().params.get("state") or DEFAULT_PATH
    try:
        return Store(path).read()
    except Exception:  # noqa: BLE001 - completion must stay silent whatever went wrong
        return None


def _already(ctx: click.Context, param: click.Parameter) -> set[str]:
    """Values given earlier for a nargs=-1 argument (``rm a b <TAB>`` does not offer a again)."""
    value = ctx.params.get(param.name or "")
    return set(value) if isinstance(value, tuple | list) else set()


def _items(pairs, incomplete: str, skip: set[str]) -> list[CompletionItem]:
    return [_item(name, help_ or None) for name, help_ in sorted(pairs)
            if name.startswith(incomplete) and name not in skip]


def networks(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    state = _state(ctx)
    if state is None:
        return []
    pairs = [(n.name, " ".join([n.driver, *(s.subnet for s in n.subnets)])) for n in state.networks]
    return _items(pairs, incomplete, _already(ctx, param))


def sandboxes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Every sandbox; for ``network disconnect NETWORK <TAB>`` only the ones joined to it."""
    state = _state(ctx)
    if state is None:
        return []
    candidates = state.sandboxes
    net_ref = ctx.params.get("network_ref") if ctx.command.name == "disconnect" else None
    net = next((n for n in state.networks if net_ref in (n.name, n.id)), None) if net_ref else None
    if net is not None:
        joined = {e.sandbox for e in state.endpoints_of(net)}
        candidates = [s for s in candidates if s.id in joined]
    pairs = [(s.name, f"{len(state.endpoints_in(s))} endpoint(s)") for s in candidates]
    return _items(pairs, incomplete, _already(ctx, param))


def endpoints(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Bare names where unique; ``NETWORK/NAME`` where a name repeats or the user typed a '/'."""
    state = _state(ctx)
    if state is None:
        return []
    counts: dict[str, int] = {}
    for ep in state.endpoints:
        counts[ep.name] = counts.get(ep.name, 0) + 1
    pairs = []
    for ep in state.endpoints:
        net = state.network_by_id(ep.network).name
        sb = state.sandbox_by_id(ep.sandbox) if ep.sandbox else None
        where = f"on {net}" + (f", in {sb.name}" if sb else "")
        qualified = "/" in incomplete or counts[ep.name] > 1
        pairs.append((f"{net}/{ep.name}" if qualified else ep.name, where))
    return _items(pairs, incomplete, _already(ctx, param))


def drivers(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    from ..validate import BUILTIN_DRIVERS

    return [_item(d) for d in BUILTIN_DRIVERS if d.startswith(incomplete)]


NETWORK_OPTIONS = ("mtu=", "bridge=", "icc=", "masquerade=", "host_ip=", "iface_prefix=", "hairpin=",
                   "ipv6_from_mac=", "parent=", "macvlan_mode=", "ipvlan_mode=", "ipvlan_flag=")


def network_options(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """``-o KEY=``: the option keys; ``-o parent=`` the host's interfaces (read from
    /sys/class/net, no root), ``-o *_mode=`` / ``ipvlan_flag=`` their values."""
    from ..validate import IPVLAN_FLAGS, IPVLAN_MODES, MACVLAN_MODES

    key, sep, value = incomplete.partition("=")
    if not sep:
        return [_item(k) for k in NETWORK_OPTIONS if k.startswith(incomplete)]
    if key == "parent":
        try:
            values = sorted(os.listdir("/sys/class/net"))
        except OSError:
            values = []
        values = [v for v in values if v != "lo"]
    else:
        values = {"macvlan_mode": MACVLAN_MODES, "ipvlan_mode": IPVLAN_MODES,
                  "ipvlan_flag": IPVLAN_FLAGS}.get(key, ())
    return [_item(f"{key}={v}") for v in values if v.startswith(value)]


def formats(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return [_item(f) for f in ("json", "table") if f.startswith(incomplete)]
