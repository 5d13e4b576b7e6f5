"""ADD, DEL, CHECK, GC and STATUS as netctl operations.

Every changing command runs inside ONE plan session (service/plan.py, as ``apply`` and
``batch``): one lock, one load, one transaction, one save; the ordinary service functions
(network create, sandbox adoption, connect, endpoint delete, sandbox destroy) are its
operations, so a failure anywhere undoes every kernel step and saves nothing.

A CNI container is a sandbox labelled ``cni.container_id=<ID>`` that adopts CNI_NETNS
(netctl binds the runtime's namespace, never creates or destroys it); an attachment is the
sandbox's endpoint on the configuration's network whose interface is CNI_IFNAME.
"""

from __future__ import annotations

from ..errors import NetctlError
from ..model import Endpoint, Network, Sandbox, State
from . import netconf, result
from .netconf import NetConf
from .spec import INVALID_CONFIG, NOT_AVAILABLE, PLUGIN_BASE, UNKNOWN_CONTAINER, CniError, Env

LABEL = "cni.container_id"


def sandbox_of(state: State, container_id: str) -> Sandbox | None:
    return next((s for s in state.sandboxes if s.labels.get(LABEL) == container_id), None)


def sandbox_name(state: State, container_id: str, pod_name: str = "") -> str:
    """The runtime's name for the container (CNI_ARGS ``K8S_POD_NAME``: podman's container
    name, Kubernetes' pod) or ``cni``, then ``-`` and the ID's first 12 characters (podman's
    short ID), more of the ID when another sandbox has that name: readable, unique."""
    taken = {s.name for s in state.sandboxes}
    for name in _candidates(container_id, pod_name):
        if name not in taken:
            return name
    raise CniError(PLUGIN_BASE + 4, f"no free sandbox name for container {container_id}")


def _candidates(container_id: str, pod_name: str) -> list[str]:
    """The sandbox names ``sandbox_name`` tries for a container, in its order."""
    from .. import validate

    prefix = pod_name[:40].rstrip("-.") if pod_name else ""
    try:
        prefix = validate.name(prefix, "pod name") if prefix else "cni"
    except validate.InvalidInput:
        prefix = "cni"
    return [f"{prefix}-{container_id[:size]}" for size in (12, 20, 63 - len(prefix))]


def reclaim_killed_add(ctx, state: State, env: Env) -> None:
    """Undo what an ADD killed before its save (a runtime SIGKILLs a plugin past its
    timeout) left of this container: its bind mount of CNI_NETNS under a name netctl gives
    this container, that name's still empty /etc/netns directory, and links in there marked
    by this state for objects it does not have.  No state records them, so without this DEL
    answered success and left the namespace pinned, and every later ADD was refused (104).
    Recognised only when the mount is exactly CNI_NETNS's namespace, no sandbox has the name
    and every netctl mark in there is an orphan of this state (as ``adopt`` judges them)."""
    import os
    from contextlib import suppress

    from .. import etcfiles
    from ..drift import is_orphan, object_ids

    k = ctx.kernel
    try:
        probe = k.netns_probe(env.netns) if env.netns else None
    except (NetctlError, OSError):
        return  # the namespace is gone or no namespace: nothing to compare with
    taken = {s.name for s in state.sandboxes}
    ids = object_ids(state)
    for name in _candidates(env.container_id, env.args.get("K8S_POD_NAME", "")):
        if probe is None or name in taken or k.netns_identity(name) != (probe.ino, probe.cookie):
            continue
        links = k.links(netns=name)
        if any(x.owner is not None and not is_orphan(x, ids, state.state_id) for x in links):
            continue  # a live object's (another state file's sandbox): no leftover of ours
        for link in links:
            if link.owner is not None:
                k.link_delete(link.name, netns=name)
        if os.path.realpath(env.netns) != os.path.realpath(f"/run/netns/{name}"):
            k.netns_delete(name)  # else the runtime's own mount, adopted in place: it stays
        with suppress(OSError):
            os.rmdir(etcfiles.sandbox_dir(name))


def _network(state: State, name: str) -> Network | None:
    return next((n for n in state.networks if n.name == name), None)


def attachment(state: State, sb: Sandbox, net: Network, ifname: str) -> Endpoint | None:
    return next((e for e in state.endpoints_in(sb) if e.network == net.id and e.ifname == ifname), None)


def add(ctx, env: Env, conf: NetConf, cfg) -> dict:
    from ..service import connect, networks, plan
    from ..service.endpoints import EndpointRequest

    req = netconf.network_request(conf)
    opts = netconf.endpoint_options(conf, env.args)
    with plan.session(ctx) as session:
        state = session.state
        net = _network(state, conf.name)
        if net is None:
            net = networks.create(ctx, req, config=cfg)
        else:
            wrong = netconf.network_mismatch(conf, req, net)
            if wrong:
                raise CniError(INVALID_CONFIG, f"network {conf.name!r} exists with other settings: "
                               + ", ".join(wrong), "the configuration asks what the network does not have")
        if net.driver in ("null", "host"):  # no interface, no address: no Result to give
            raise CniError(INVALID_CONFIG, f"network {conf.name!r} has driver {net.driver}: "
                           "it gives a container no interface", "use a bridge, macvlan or ipvlan network")
        sb = sandbox_of(state, env.container_id)
        if sb is None:
            reclaim_killed_add(ctx, state, env)
            sb = _adopt(ctx, state, env)
        else:
            _same_namespace(ctx, sb, env.netns)
        _ifname_free(ctx, state, sb, net, env.ifname)
        outside = netconf.ips_outside(net, opts.cidrs)
        if outside:
            raise CniError(INVALID_CONFIG, f"ips {', '.join(outside)} not in a subnet of "
                           f"network {net.name!r}")
        ep_req = EndpointRequest(name=sb.name, ip=opts.ip, ip6=opts.ip6, mac=opts.mac,
                                 aliases=opts.aliases, publish=opts.publish)
        ep = connect.connect(ctx, net.name, sb.name, ep_req, ifname=env.ifname)
        return _result(state, conf, net, sb, ep, env.netns)


def _adopt(ctx, state: State, env: Env) -> Sandbox:
    """The container's namespace as a new adopted sandbox (service/adopt.py): netctl binds
    it at /run/netns/NAME, and never deletes it or changes what it did not put there."""
    from ..service import adopt
    from ..service.sandboxes import SandboxRequest

    name = sandbox_name(state, env.container_id, env.args.get("K8S_POD_NAME", ""))
    req = SandboxRequest(name=name, labels=[f"{LABEL}={env.container_id}"])
    return adopt.adopt(ctx, name, netns=env.netns, req=req)


def _same_namespace(ctx, sb: Sandbox, netns: str) -> None:
    """CNI_NETNS must be the namespace the container's sandbox adopted (a second network
    for a known container, a repeated ADD, a CHECK)."""
    probe = ctx.kernel.netns_probe(netns)
    if sb.adopted is None or (probe.ino, probe.cookie) != (sb.adopted["ino"], sb.adopted["cookie"]):
        raise CniError(PLUGIN_BASE + 4,
                       f"container's sandbox {sb.name!r} holds another namespace than {netns}")


def _ifname_free(ctx, state: State, sb: Sandbox, net: Network, ifname: str) -> None:
    """CNI_IFNAME taken in the container (the runtime's own interface, ``lo``) is a conflict
    named as such; it was error 101 naming netctl's host-side veth ("File exists")."""
    if attachment(state, sb, net, ifname) is None and ctx.kernel.link_get(ifname, netns=sb.name):
        raise CniError(PLUGIN_BASE + 4, f"CNI_IFNAME {ifname} already exists in the container's "
                       "namespace", "netctl never takes over an interface it did not create")


def _result(state: State, conf: NetConf, net: Network, sb: Sandbox, ep: Endpoint, netns: str) -> dict:
    from ..service.gateway import elect

    carries = elect(state, sb) is ep
    prev = conf.prev_result if isinstance(conf.prev_result, dict) else None
    return result.build(conf.version, net, ep, netns, carries, conf.raw.get("dns"), prev)


def delete(ctx, env: Env, conf: NetConf) -> None:
    """Idempotent: a container, network or attachment netctl does not know is already gone."""
    from ..service import plan

    with plan.session(ctx) as session:
        state = session.state
        sb, net = sandbox_of(state, env.container_id), _network(state, conf.name)
        if sb is None:
            reclaim_killed_add(ctx, state, env)
        if sb is None or net is None:
            return
        _detach(ctx, state, session.tx, sb, [e for e in state.endpoints_in(sb)
                                              if e.network == net.id and e.ifname == env.ifname])


def _detach(ctx, state: State, tx, sb: Sandbox, eps: list[Endpoint]) -> None:
    """Delete netctl's endpoints; the last one takes the sandbox (its binding of the
    runtime's namespace) with it.  The namespace itself and everything else in it stay."""
    from ..service import endpoints, sandboxes

    for ep in eps:
        endpoints.delete(ctx, state, ep, tx, force=True)
    if not state.endpoints_in(sb):
        sandboxes.destroy(ctx, state, sb, tx, force=True)


def gc(ctx, conf: NetConf) -> None:
    """Remove the network's CNI attachments whose (container ID, ifname) is not listed."""
    from ..service import plan

    keep = netconf.valid_attachments(conf)
    with plan.session(ctx) as session:
        state = session.state
        net = _network(state, conf.name)
        if net is None:
            return
        for sb in [s for s in state.sandboxes if LABEL in s.labels]:
            stale = [e for e in state.endpoints_in(sb)
                     if e.network == net.id and (sb.labels[LABEL], e.ifname or "") not in keep]
            if stale:
                _detach(ctx, state, session.tx, sb, stale)


def check(ctx, env: Env, conf: NetConf) -> None:
    """The attachment is as ADD left it: state, prevResult and the kernel agree."""
    from . import verify

    state = ctx.read()
    sb, net = sandbox_of(state, env.container_id), _network(state, conf.name)
    ep = attachment(state, sb, net, env.ifname) if sb and net else None
    if ep is None:
        raise CniError(UNKNOWN_CONTAINER, f"no attachment of container {env.container_id} "
                       f"on network {conf.name!r} as {env.ifname}")
    _same_namespace(ctx, sb, env.netns)
    expected = _result(state, conf, net, sb, ep, env.netns)
    problems = result.mismatches(conf.prev_result, expected) + verify.kernel(ctx.kernel, state, sb, ep)
    if problems:
        raise CniError(PLUGIN_BASE + 9, "attachment differs: " + "; ".join(problems))


def status(ctx, conf: NetConf) -> None:
    """Ready when netctl can change networks: root, a readable state file, and the
    configuration's network usable (present, or creatable from the config)."""
    from ..service.context import privileged

    if not privileged():
        raise CniError(NOT_AVAILABLE, "netctl needs root (CAP_NET_ADMIN) to attach containers")
    try:
        state = ctx.store.read()
    except NetctlError as exc:
        raise CniError(NOT_AVAILABLE, f"state file unusable: {exc}") from None
    net = _network(state, conf.name)
    if net is not None:
        wrong = netconf.network_mismatch(conf, netconf.network_request(conf), net)
        if wrong:
            raise CniError(NOT_AVAILABLE, f"network {conf.name!r} exists with other settings: "
                           + ", ".join(wrong))
