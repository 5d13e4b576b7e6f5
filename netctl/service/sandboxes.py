"""Sandbox operations: a sandbox is a named network namespace plus its /etc/netns files."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import etcfiles, lookup, validate
from ..errors import Conflict, NetctlError
from ..kernel.base import OWNER_PREFIX
from ..model import Sandbox, State, new_id, now
from ..txn import Transaction
from . import batch, endpoints, leftovers
from .context import Context


@dataclass
class SandboxRequest:
    name: str
    hostname: str | None = None
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    add_hosts: list[str] = field(default_factory=list)


def _extra_host(entry: str) -> str:
    host, sep, ip = entry.partition(":")
    if not sep:
        raise validate.InvalidInput(f"invalid --add-host {entry!r}: expected NAME:IP")
    return f"{validate.hostname(host)}:{validate.address(ip, '--add-host address')}"


def _build(req: SandboxRequest) -> Sandbox:
    return Sandbox(
        name=validate.name(req.name, "sandbox name"),
        id=new_id(),
        created=now(),
        hostname=validate.hostname(req.hostname) if req.hostname else None,
        dns=[validate.address(a, "--dns address") for a in req.dns],
        dns_search=_search(req.dns_search),
        dns_options=[_option(o) for o in req.dns_options],
        extra_hosts=[_extra_host(h) for h in req.add_hosts],
    )


def _search(domains: list[str]) -> list[str]:
    """``--dns-search .`` alone means "no search line", not "the host's" (spec §7.4)."""
    if domains == ["."]:
        return domains
    if "." in domains:
        raise validate.InvalidInput("--dns-search . (no search domains) cannot be combined with domains")
    return [validate.hostname(d) for d in domains]


def _option(value: str) -> str:
    if not value or any(c.isspace() for c in value) or not validate.is_utf8(value):
        raise validate.InvalidInput(f"invalid --dns-option {value!r}")
    return value


def create(ctx: Context, req: SandboxRequest) -> Sandbox:
    sb = _build(req)
    with ctx.mutation() as (state, tx):
        if any(s.name == sb.name for s in state.sandboxes):
            raise Conflict(f"sandbox {sb.name!r} already exists")
        if ctx.kernel.netns_exists(sb.name) and not leftovers.clear_namespace(ctx, state, sb.name):
            raise Conflict(f"network namespace {sb.name!r} exists and is not netctl's")
        tx.step("netns-create", lambda: ctx.kernel.netns_create(sb.name, alias=OWNER_PREFIX + sb.id),
                lambda: ctx.kernel.netns_delete(sb.name))
        files = etcfiles.sandbox_dir(sb.name)
        made = not files.exists()  # undo removes only what this create made
        tx.step("netns-files", lambda: files.mkdir(parents=True, exist_ok=True),
                lambda: made and etcfiles.remove_sandbox_files(sb.name))
        state.sandboxes.append(sb)
    return sb


def destroy(ctx: Context, state: State, sb: Sandbox, tx: Transaction) -> None:
    """Leave and delete every endpoint of ``sb``, then its namespace and files."""
    for ep in state.endpoints_in(sb):
        endpoints.delete(ctx, state, ep, tx, force=True)
    k = ctx.kernel  # deleting cannot be undone: only once the state says it is gone
    tx.on_commit("netns-delete", lambda: leftovers.owns_namespace(ctx, sb) and k.netns_delete(sb.name))
    tx.on_commit("netns-files-delete", lambda: etcfiles.remove_sandbox_files(sb.name))
    state.sandboxes.remove(sb)


def remove(ctx: Context, refs: list[str], force: bool = False) -> tuple[list[str], list[NetctlError]]:
    """Remove each sandbox with its endpoints; ``force``: missing is fine."""
    return batch.remove_each(ctx, refs, force, lookup.sandbox,
                             lambda state, sb, tx: destroy(ctx, state, sb, tx))


def exec_in(ctx: Context, ref: str, argv: list[str]):
    sb = lookup.sandbox(ctx.read(), ref)
    from ..kernel.nsexec import exec_in_netns

    exec_in_netns(sb.name, argv)
