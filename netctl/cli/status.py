"""``netctl status``: state file, lock, config, kernel support and the caller's rights at a glance.

Read-only and lock-free (it must answer while another netctl hangs on the lock), and it exits
0 whatever it finds: problems are reported in the output, not as an exit code.
"""

from __future__ import annotations

from typing import Any

import click

from .. import output


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _state_line(s: dict[str, Any]) -> str:
    if s["error"]:
        return f"{s['path']}: ERROR: {s['error']}"
    if not s["exists"]:
        return f"{s['path']}: not created yet (no objects)"
    return (f"{s['path']}: {s['size']} bytes; {s['networks']} network(s), {s['endpoints']} "
            f"endpoint(s) ({s['joined_endpoints']} joined), {s['sandboxes']} sandbox(es)")


def _lock_line(lock: dict[str, Any]) -> str:
    if not lock["held"]:
        return f"{lock['path']}: free"
    who = f"pid {lock['holder_pid']}" if lock["holder_pid"] else "unknown pid"
    cmd = lock["holder"] or ""
    cmd = cmd if len(cmd) <= 60 else cmd[:57] + "..."
    return f"{lock['path']}: held by {who}" + (f" ({cmd})" if cmd else "")


def _config_line(c: dict[str, Any]) -> str:
    if not c["path"]:
        return "none (--config ''); built-in defaults"
    if c["error"]:
        return f"ERROR: {c['error']}"
    if not c["exists"]:
        return f"{c['path']}: not present; built-in defaults"
    pools = f"{len(c['default_pools'])} pool(s)" if c["default_pools"] else "built-in pools"
    mtu = f"mtu {c['default_mtu']}" if c["default_mtu"] else "kernel mtu"
    return (f"{c['path']}: {pools}, {len(c['exclude'])} excluded range(s), {mtu}, "
            f"driver {c['default_driver']}")


def _kernel_line(k: dict[str, Any]) -> str:
    kinds = ", ".join(f"{kind} {how}" for kind, how in k.get("link_types", {}).items())
    return (f"{k['release']}: namespaces {_yes(k['namespaces'])}, bridge {k['bridge']}, "
            f"veth {k['veth']}, nf_tables {k['nf_tables']}, nft {k['nft'] or 'not on PATH'}; "
            f"link types: {kinds}")


def _caller_line(c: dict[str, Any]) -> str:
    verdict = "can change state" if c["can_change"] else f"read-only: {c['why_not']}"
    return (f"uid {c['uid']} (euid {c['euid']}), CAP_NET_ADMIN {_yes(c['cap_net_admin'])}, "
            f"CAP_SYS_ADMIN {_yes(c['cap_sys_admin'])}: {verdict}")


def _firewall_line(f: dict[str, Any]) -> str:
    from ..firewall.facts import line

    return line(f)


def _cni_line(f: dict[str, Any]) -> str:
    from ..cni.reach import line

    return line(f)


def text(facts: dict[str, Any]) -> str:
    rows = [("state", _state_line(facts["state"])), ("lock", _lock_line(facts["lock"])),
            ("config", _config_line(facts["config"])), ("kernel", _kernel_line(facts["kernel"])),
            ("caller", _caller_line(facts["caller"])), ("nft", _firewall_line(facts["firewall"])),
            ("cni", _cni_line(facts["cni"]))]
    return "\n".join([f"netctl {facts['version']}"] + [f"{k:<8}{v}" for k, v in rows])


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json (one object) for scripts.")
def status(fmt: str) -> None:
    """Show state, lock, config, kernel support and whether you can change things.

    What to look at first when something is wrong: the state file (path, size, object
    counts, or why it cannot be read), who holds the state lock, which config file is in
    use and whether it is valid, what the kernel offers (network namespaces, bridge, veth,
    nf_tables, nft, and the link types macvlan, ipvlan, vlan (802.1q) and dummy: loaded,
    built-in, module, missing or unknown), the caller's rights (root, CAP_NET_ADMIN, CAP_SYS_ADMIN), and the
    firewall: on or off (firewall = false in netctl.toml), the nft version, whether netctl's
    nftables tables match the state (needs root to read), and which forwarding sysctls
    (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding) netctl turned on; it never turns
    them off.  And whether a container runtime finds netctl as a CNI plugin (docs/cni.md)
    in the usual CNI_PATH directories: /opt/cni/bin, /usr/lib/cni, /usr/libexec/cni.

    Reads only (no lock; root only for the table match) and always exits 0: what is
    wrong is in the output.
    """
    from ..service.status import gather
    from ..store import Store

    settings = click.get_current_context().find_root().obj
    facts = gather(Store(settings.state, settings.lock_timeout), settings.config_path)
    click.echo(output.to_json(facts) if fmt == "json" else text(facts))
