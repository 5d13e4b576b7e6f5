"""The firewall step of a command's transaction: make the kernel's netctl tables what the
state says, in one nftables batch, with an undo that puts back the exact previous text.

Only commands that change what the rules derive from call ``sync`` (network create/rm,
prune, check --repair, restore); a plain connect never runs ``nft``.  With ``firewall =
false`` in netctl.toml nothing here touches the host at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import KernelError
from ..model import State
from . import nft as backend  # backend.open_nft at call time: the seam tests replace
from . import rules
from .nft import MISSING, Nft


@dataclass
class Firewall:
    on: bool
    nft: Nft


def of(ctx) -> Firewall:
    """The context's firewall: the config's switch and the nft backend, made once."""
    if ctx._firewall is None:
        from ..config import load

        ctx._firewall = Firewall(load(ctx.config_path).firewall, backend.open_nft())
    return ctx._firewall


def needed(state: State) -> bool:
    return any(rules.firewalled(n) for n in state.networks)


def require(ctx, net) -> None:
    """Refuse early (exit 1, nothing done) when ``net`` needs rules and nft is missing."""
    fw = of(ctx)
    if fw.on and rules.firewalled(net) and fw.nft.binary is None:
        raise KernelError(MISSING)


def sid(ctx, state: State) -> str:
    """The state's identity names its chains; a state without one gets it now."""
    if state.state_id is None:
        ctx.mark("")
    return state.state_id


def sync(ctx, state: State, tx) -> None:
    """Apply the chains and forwarding sysctls ``state`` wants, as undoable steps."""
    fw = of(ctx)
    if not fw.on or fw.nft.binary is None:
        return  # no nft: nothing of ours can exist (``require`` refused what needs rules)
    if state.state_id is None and not needed(state):
        return  # never had rules: no identity, no chains
    me = sid(ctx, state)
    new, old = rules.render(state, me), fw.nft.tables()
    forward = "".join(rules.script(f, me, old[f], new[f]) for f in rules.FAMILIES)
    if forward:
        back = "".join(rules.restore_script(f, me, old[f]) for f in rules.FAMILIES
                       if rules.script(f, me, old[f], new[f]))
        tx.step("firewall", lambda: fw.nft.apply(forward), lambda: fw.nft.apply(back))
    for key in rules.forwarding(state):
        if _sysctl_on(fw.nft, key, "forwarding", tx) and key not in state.sysctls:
            state.sysctls.append(key)
    for key in rules.localnet(state):
        _sysctl_on(fw.nft, key, "route-localnet", tx)


def _sysctl_on(nft: Nft, key: str, step: str, tx) -> bool:
    """Turn one sysctl on if it is off (undone on failure); whether it was off."""
    before = nft.sysctl(key)
    if before is None or before.strip() == "1":
        return False
    tx.step(step, lambda: nft.set_sysctl(key, "1"), lambda: nft.set_sysctl(key, before))
    return True


def drift(ctx, state: State) -> list[str]:
    """How the kernel's netctl chains of this state differ from the state (empty: match)."""
    fw = of(ctx)
    if not fw.on or state.state_id is None:
        return []  # no identity yet (a schema-1 file): no chains; the next change makes them
    me = state.state_id
    new = rules.render(state, me)
    if fw.nft.binary is None:
        return [f"table {f} netctl: nft is not installed" for f in rules.FAMILIES if new[f]]
    out = []
    for family, listing in fw.nft.tables().items():
        have, want = rules.ours(listing, me), new[family]
        if have == want:
            continue
        if not have:
            out.append(f"table {family} netctl: chains missing")
        elif not want:
            out.append(f"table {family} netctl: chains the state does not want")
        else:
            out.append(f"table {family} netctl: chains differ from the state")
    for key in rules.forwarding(state) + rules.localnet(state):
        if fw.nft.sysctl(key) not in (None, "1"):
            out.append(f"{key} is off (the state's networks need it)")
    return out


def repair(ctx, state: State, tx) -> None:
    sync(ctx, state, tx)


def foreign_drops(ctx) -> list[str]:
    """Base chains of other tables on the forward hook with policy drop: they drop what
    netctl's table accepts (docker sets FORWARD to DROP).  Read-only.  Only netctl's own
    families are skipped: a user's ``table ip netctl`` is someone else's table."""
    fw = of(ctx)
    if not fw.on or fw.nft.binary is None:
        return []
    out = []
    for c in fw.nft.chains():
        mine = c.get("table") == rules.TABLE and c.get("family") in rules.FAMILIES
        if c.get("hook") == "forward" and c.get("policy") == "drop" and not mine:
            out.append(f"table {c.get('family')} {c.get('table')} chain {c.get('name')}")
    return out
