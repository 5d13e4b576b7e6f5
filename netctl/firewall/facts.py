"""The firewall's line in ``netctl status``: on or off, the nft version, whether the
tables match the state, and which forwarding sysctls netctl turned on.  Never fails:
reading the tables needs root, and without it the match is reported as unknown."""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import NetctlError
from . import nft as backend  # backend.open_nft at call time: the seam tests replace
from . import rules


def gather(state, config_path: str) -> dict[str, Any]:
    from ..config import load

    out: dict[str, Any] = {"enabled": True, "nft_version": None, "tables_match": None,
                           "error": None, "sysctls_set": list(state.sysctls) if state else []}
    with contextlib.suppress(NetctlError):  # a bad config: the config line reports it
        out["enabled"] = load(config_path).firewall
    nft = backend.open_nft()
    out["nft_version"] = nft.version()
    if not out["enabled"] or state is None or nft.binary is None:
        return out
    if state.state_id is None:  # no identity yet: no chains of its own (firewall/sync.py)
        return out
    try:
        me = state.state_id
        want = rules.render(state, me)
        out["tables_match"] = all(rules.ours(text, me) == want[f] for f, text in nft.tables().items())
    except (NetctlError, OSError) as exc:
        out["error"] = str(exc)
    return out


def line(f: dict[str, Any]) -> str:
    if not f["enabled"]:
        return "firewall off (firewall = false in the config): no nftables rules, no sysctls"
    version = f"nft {f['nft_version']}" if f["nft_version"] else "nft not installed"
    match = {True: "table inet netctl matches the state",
             False: "table inet netctl differs from the state (netctl check --repair)",
             None: f"table not read ({f['error']})" if f["error"] else "table not read"}
    turned = ", ".join(f"{k}=1" for k in f["sysctls_set"]) or "none"
    return f"firewall on, {version}, {match[f['tables_match']]}; sysctls netctl turned on: {turned}"
