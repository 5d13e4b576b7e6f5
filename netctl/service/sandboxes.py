"""Sandbox operations: a sandbox is a named network namespace plus its /etc/netns files."""

from __future__ import annotations

from .. import etcfiles, lookup, validate
from ..errors import Conflict, NetctlError
from ..hostsfile import host_mode
from ..model import Sandbox, State, new_id, now
from ..requests import SandboxRequest
from ..txn import Transaction
from . import batch, endpoints, leftovers, nsguard
from .context import Context


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
        labels=validate.labels(req.labels),
    )


build = _build  # for apply: a file's sandbox, normalised as `sandbox create` would store it


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
        lookup.check_new_name(state.sandboxes, sb.name, "sandbox")
        sb.id = lookup.fresh_id(state.sandboxes)
        refusal = etcfiles.unsafe(sb.name)  # a symlinked /etc/netns/NAME is never written through
        if refusal is not None:
            raise refusal
        if ctx.kernel.netns_exists(sb.name) and not leftovers.clear_namespace(ctx, state, sb.name):
            lo = ctx.kernel.link_get("lo", netns=sb.name)
            whose = "another netctl state file's" if lo and lo.state_id else "not netctl's"
            raise Conflict(f"network namespace {sb.name!r} exists and is {whose}")
        mark = ctx.mark(sb.id)
        tx.step("netns-create", lambda: ctx.kernel.netns_create(sb.name, alias=mark),
                lambda: ctx.kernel.netns_delete(sb.name))
        made = not etcfiles.sandbox_dir(sb.name).exists()  # undo removes only what this create made
        tx.step("netns-files", lambda: etcfiles.make_sandbox_dir(sb.name),
                lambda: made and etcfiles.remove_sandbox_files(sb.name))
        state.sandboxes.append(sb)
    return sb


def destroy(ctx: Context, state: State, sb: Sandbox, tx: Transaction, force: bool = False) -> None:
    """Leave and delete every endpoint of ``sb``, then its namespace and files.

    When the namespace at the sandbox's path is not the one netctl made (replaced, or a
    link to another namespace), nothing in it is netctl's to change: refused, or with
    ``force`` the sandbox and its endpoints are only forgotten (their host-side veth ends,
    which are netctl's, still go) and the namespace and /etc/netns/NAME are left alone.
    An adopted namespace (service/adopt.py) is never deleted: netctl's endpoints leave it
    (their veth pairs are deleted from the host side) and its bind mount is undone."""
    k = ctx.kernel
    inside = not nsguard.foreign(k, sb, host_mode(state, sb))
    if not inside and not force:
        raise Conflict(nsguard.refusal(sb))
    reaped = inside and not host_mode(state, sb) and sb.adopted is None
    if reaped and not force:
        _refuse_theirs(k, sb)
    for ep in state.endpoints_in(sb):  # their veths die with the namespace (endpoints.delete)
        endpoints.delete(ctx, state, ep, tx, force=True, inside=inside, reaped=reaped)
    if inside:  # deleting cannot be undone: only once the state says it is gone, and after
        # the endpoints' own commit steps (a macvlan link is deleted before its namespace)
        tx.on_commit("netns-delete", lambda: _release(k, sb))
        tx.on_commit("netns-files-delete", lambda: etcfiles.remove_sandbox_files(sb.name))
    state.sandboxes.remove(sb)


def _refuse_theirs(k, sb: Sandbox) -> None:
    """Deleting a namespace destroys every virtual interface in it: one somebody moved into
    a netctl sandbox (a macvlan parent, a veth of their own) is not netctl's to destroy,
    so ``rm`` refuses naming it, and only ``rm -f`` takes the namespace down with it."""
    if not k.netns_exists(sb.name):
        return  # vanished already (gc, repair): nothing left in it to destroy
    theirs = [link.name for link in k.links(netns=sb.name) if link.owner is None and link.name != "lo"]
    if theirs:
        raise Conflict(f"sandbox {sb.name!r} holds interfaces netctl did not create "
                       f"({', '.join(sorted(theirs))}): move them out first, or 'sandbox rm -f' "
                       "deletes the namespace with them")


def _release(k, sb: Sandbox) -> None:
    """Delete the namespace netctl made; of an adopted one only netctl's own bind mount
    goes (unmounting never destroys a namespace that something else still holds)."""
    if sb.adopted is not None and not sb.adopted["bound"]:
        return  # adopted where it was (ip netns add NAME): that name is not netctl's
    if nsguard.ours(k, sb):
        k.netns_delete(sb.name)


def remove(ctx: Context, refs: list[str], force: bool = False) -> tuple[list[str], list[NetctlError]]:
    """Remove each sandbox with its endpoints; ``force``: missing is fine, and a sandbox
    whose namespace is not netctl's any more is forgotten (see ``destroy``)."""
    return batch.remove_each(ctx, refs, force, lookup.sandbox,
                             lambda state, sb, tx: destroy(ctx, state, sb, tx, force))


def exec_in(ctx: Context, ref: str, argv: list[str]):
    sb = lookup.sandbox(ctx.read(), ref)
    from ..kernel.nsexec import exec_in_netns

    exec_in_netns(sb.name, argv)
