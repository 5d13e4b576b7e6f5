"""``apply``/``destroy`` of a topology file: the diff of file and state as plan steps.

The diff is pure over the state; each step's ``run`` calls the same service function the
single command calls, inside the plan's one mutation (plan.py).  Phases, in order:
disconnect, remove/replace sandboxes, remove/replace networks, create networks, create
sandboxes, connect.  So addresses a removed connection frees are free for the new ones.

Replace: a network whose fixed properties differ from the file (subnet, driver, options...)
is removed and created again, its declared connections made again afterwards, all inside the
one transaction (``replace_network``).  A sandbox whose hostname or DNS settings differ is
updated in place: those live only in the state and the /etc/netns files.  Only what an apply
of the same project made (label ``netctl.project``) is replaced, updated or pruned; anything
else that differs is a conflict (exit 4) before anything changes.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_network

from .. import validate
from ..config import Config
from ..errors import Conflict, InvalidInput, NetctlError
from ..firewall import ports
from ..model import Endpoint, Network, Sandbox, State
from ..topology import PROJECT_LABEL, ConnSpec, NetSpec, SandboxSpec, Topology
from . import connect, networks, plan, sandboxes
from .apply_steps import (
    SANDBOX_FIELDS,
    disconnect,
    raise_first,
    replace_network,
    republish,
    unpublish,
    update_sandbox,
)
from .context import Context
from .endpoints import EndpointRequest
from .plan import Step


def net_differences(spec: NetSpec, net: Network) -> list[str]:
    """What the file says that the network does not have (immutable: needs a replace)."""
    out = []
    if (spec.driver or "bridge") != net.driver:
        out.append(f"driver {net.driver} -> {spec.driver or 'bridge'}")
    subs = {str(ip_network(s.subnet)) for s in net.subnets}
    out += [f"subnet {','.join(sorted(subs)) or 'none'} -> {s}" for s in spec.subnets
            if str(ip_network(s, strict=False)) not in subs]
    out += [f"gateway -> {g}" for g in spec.gateways if g not in {s.gateway for s in net.subnets}]
    out += [f"ip_range -> {r}" for r in spec.ip_ranges if r not in {s.ip_range for s in net.subnets}]
    aux = {f"{k}={v}" for s in net.subnets for k, v in s.aux_addresses.items()}
    out += [f"aux_addresses -> {a}" for a in spec.aux_addresses if a not in aux]
    if (spec.ipv6 or any(":" in s for s in spec.subnets)) != net.ipv6:
        out.append(f"ipv6 {str(net.ipv6).lower()} -> {str(not net.ipv6).lower()}")
    if spec.internal != net.internal:
        out.append(f"internal {str(net.internal).lower()} -> {str(spec.internal).lower()}")
    for what, wanted, have in (("option", validate.options(spec.options), net.options),
                               ("label", validate.labels(spec.labels), net.labels)):
        out += [f"{what} {k}={have.get(k, '(unset)')} -> {v}" for k, v in wanted.items()
                if have.get(k) != v]
    return out


def sandbox_request(spec: SandboxSpec, project: str) -> sandboxes.SandboxRequest:
    """The file's sandbox, labelled with the project that made it (apply --prune's mark)."""
    return replace(spec, labels=[f"{PROJECT_LABEL}={project}"])


def sandbox_differences(spec: SandboxSpec, sb: Sandbox) -> list[str]:
    want = sandboxes.build(sandbox_request(spec, ""))
    return [f"{f} {getattr(sb, f)!r} -> {getattr(want, f)!r}"
            for f in SANDBOX_FIELDS if getattr(sb, f) != getattr(want, f)]


def conn_matches(conn: ConnSpec, ep: Endpoint) -> bool:
    addr = lambda cidr: (cidr or "").split("/")[0]  # noqa: E731
    return ((not conn.ip or addr(ep.ipv4) == conn.ip) and (not conn.ip6 or addr(ep.ipv6) == conn.ip6)
            and (not conn.mac or ep.mac == conn.mac) and sorted(conn.aliases) == sorted(ep.aliases)
            and conn.priority == ep.priority)


def ports_match(specs: list[str], stored: list[str]) -> bool:
    """The file's ``publish`` values are what the endpoint publishes: each mapping once, a
    mapping without a host port matching the one picked for it (so a re-apply is a no-op)."""
    left = [ports.load(text) for text in stored]
    wanted = sorted((p for spec in specs for p in ports.parse(spec)), key=lambda p: p.host_port == 0)
    for want in wanted:
        same = next((h for h in left if h == want or (want.host_port == 0 and
                     (h.host_ip, h.port, h.proto) == (want.host_ip, want.port, want.proto))), None)
        if same is None:
            return False
        left.remove(same)
    return not left


def publish_detail(conn: ConnSpec) -> str:
    return f"publish {', '.join(conn.publish)}" if conn.publish else ""


def check_requests(top: Topology) -> None:
    """What only the service's own rules catch (extra hosts, DNS options), checked for every
    sandbox before anything changes, the error naming the key."""
    for spec in top.sandboxes.values():
        try:
            sandboxes.build(sandbox_request(spec, top.project))
        except NetctlError as exc:
            raise plan.named(exc, spec.key) from None


def _owned(obj, project: str) -> bool:
    return obj.labels.get(PROJECT_LABEL) == project


def _blockers(state: State, net: Network, leaving: set[str], shown: int = 5) -> list[str]:
    """Endpoints on ``net`` that the plan does not take away (``leaving``: endpoint IDs),
    the first ``shown`` named, so that one error line stays readable."""
    out = []
    for ep in state.endpoints_of(net):
        if ep.id not in leaving:
            who = state.sandbox_by_id(ep.sandbox).name if ep.sandbox else "no sandbox"
            out.append(f"endpoint {ep.name!r} ({who})")
    return out if len(out) <= shown else [*out[:shown], f"and {len(out) - shown} more"]


class Planner:
    """The steps that turn ``state`` into what ``top`` declares (see the module docstring)."""

    def __init__(self, ctx: Context, top: Topology, state: State, config: Config | None = None):
        self.ctx, self.top, self.state, self.cfg = ctx, top, state, config
        self.p = top.project
        self.nets = {n.name: n for n in state.networks}
        self.sbs = {s.name: s for s in state.sandboxes}
        self.replaced_nets: dict[str, str] = {}
        self.updated_sbs: dict[str, str] = {}
        self.leaving: set[str] = set()  # endpoint IDs the plan removes
        self.phases: dict[str, list[Step]] = {k: [] for k in ("disc", "sb", "net", "newnet",
                                                               "newsb", "conn")}

    def _refuse(self, key: str, kind: str, name: str, why: list[str]) -> Conflict:
        return Conflict(f"{key}: {kind} {name!r} exists but differs ({'; '.join(why)}) and was "
                        f"not made by an apply of project {self.p!r}: remove it or change the file")

    def classify(self) -> None:
        for spec in self.top.networks.values():
            net = self.nets.get(spec.name)
            why = net_differences(spec, net) if net else []
            if why and not _owned(net, self.p):
                raise self._refuse(spec.key, "network", spec.name, why)
            if why:
                self.replaced_nets[spec.name] = "; ".join(why)
        for spec in self.top.sandboxes.values():
            sb = self.sbs.get(spec.name)
            why = sandbox_differences(spec, sb) if sb else []
            if why and not _owned(sb, self.p):
                raise self._refuse(spec.key, "sandbox", spec.name, why)
            if why:
                self.updated_sbs[spec.name] = "; ".join(why)

    def _step(self, phase: str, action: str, kind: str, name: str, key: str, detail: str, run) -> None:
        self.phases[phase].append(Step(action, kind, name, key, detail, run))

    def sandboxes_phase(self, prune: bool) -> None:
        ctx = self.ctx
        for name, why in self.updated_sbs.items():
            spec = self.top.sandboxes[name]
            req = sandbox_request(spec, self.p)
            self._step("sb", "update", "sandbox", name, spec.key, why,
                       lambda n=name, r=req: update_sandbox(ctx, n, r))
        for sb in self.state.sandboxes if prune else []:
            if _owned(sb, self.p) and sb.name not in self.top.sandboxes:
                self.leaving |= {e.id for e in self.state.endpoints_in(sb)}
                self._step("sb", "remove", "sandbox", sb.name, "(pruned)", "no longer in the file",
                           lambda n=sb.name: raise_first(sandboxes.remove(ctx, [n])))
        for spec in self.top.sandboxes.values():
            if spec.name not in self.sbs:
                req = sandbox_request(spec, self.p)
                self._step("newsb", "create", "sandbox", spec.name, spec.key, "",
                           lambda r=req: sandboxes.create(ctx, r))

    def connections_phase(self) -> None:
        for spec in self.top.sandboxes.values():
            sb = self.sbs.get(spec.name)
            have = {self.state.network_by_id(e.network).name: e
                    for e in (self.state.endpoints_in(sb) if sb is not None else [])}
            wanted = {c.network for c in spec.connect}
            for net_name, ep in have.items():
                if net_name not in wanted and _owned(sb, self.p):  # a foreign sandbox keeps its own
                    self._disconnect(spec, net_name, ep, "not in the file")
            for conn in spec.connect:
                self._connection(spec, conn, have.get(conn.network))

    def _connection(self, spec: SandboxSpec, conn: ConnSpec, ep: Endpoint | None) -> None:
        name = f"{spec.name} -> {conn.network}"
        if ep is not None and conn.network in self.replaced_nets:
            self._disconnect(spec, conn.network, ep, "network replaced", conn.key)
            ep, why = None, "network replaced"
        elif ep is not None and not conn_matches(conn, ep):
            self._disconnect(spec, conn.network, ep, "changed", conn.key)
            ep, why = None, f"was {ep.ipv4 or ep.ipv6 or ''} {ep.aliases} priority {ep.priority}"
        elif ep is not None and not ports_match(conn.publish, ep.ports):
            self._republish(spec, conn, ep)
            return
        else:
            why = ""
        if ep is None:
            req = EndpointRequest(name="", ip=conn.ip, ip6=conn.ip6, mac=conn.mac, aliases=conn.aliases,
                                  publish=conn.publish)
            detail = "; ".join(d for d in (why, publish_detail(conn)) if d)
            self._step("conn", "reconnect" if why else "connect", "connection", name, conn.key, detail,
                       lambda c=conn, r=req: connect.connect(self.ctx, c.network, spec.name, r, c.priority))

    def _republish(self, spec: SandboxSpec, conn: ConnSpec, ep: Endpoint) -> None:
        """Only the published ports differ: changed in place (apply_steps.unpublish), the old
        ones given up with the disconnects, the new ones taken with the connects."""
        name, net = f"{spec.name} -> {conn.network}", conn.network
        shown = ", ".join(ports.load(p).shown for p in ep.ports) or "none"
        self._step("disc", "unpublish", "connection", name, conn.key, f"was {shown}",
                   lambda: unpublish(self.ctx, net, spec.name))
        if conn.publish:
            self._step("conn", "publish", "connection", name, conn.key, publish_detail(conn),
                       lambda: republish(self.ctx, net, spec.name, conn.publish))

    def check_ports(self) -> None:
        """Before anything changes: ports only on bridge networks that are not internal
        (exit 2 naming the key), and no host port the file publishes twice (exit 4)."""
        held: dict[ports.Port, str] = {}
        for spec in self.top.sandboxes.values():
            for conn in (c for c in spec.connect if c.publish):
                declared, net = self.top.networks.get(conn.network), self.nets.get(conn.network)
                driver = (declared.driver or "bridge") if declared else net.driver if net else "bridge"
                internal = declared.internal if declared else bool(net and net.internal)
                if driver != "bridge" or internal:
                    kind = "an internal" if internal else f"a {driver}"
                    raise InvalidInput(f"{conn.key}.publish: network {conn.network!r} is {kind} network; "
                                       "ports are published on bridge networks that are not internal")
                wanted = [p for text in conn.publish for p in ports.parse(text)]
                try:
                    ports.check_free(wanted, held)
                except Conflict as exc:
                    raise Conflict(f"{conn.key}.publish: {exc}") from None
                held.update({p: conn.key for p in wanted if p.host_port})

    def _disconnect(self, spec: SandboxSpec, net_name: str, ep: Endpoint, why: str,
                    key: str | None = None) -> None:
        self.leaving.add(ep.id)
        self._step("disc", "disconnect", "connection", f"{spec.name} -> {net_name}", key or spec.key, why,
                   lambda: disconnect(self.ctx, net_name, spec.name))

    def networks_phase(self, prune: bool) -> None:
        ctx, cfg = self.ctx, self.cfg
        referenced = {c.network for s in self.top.sandboxes.values() for c in s.connect}
        for spec in self.top.networks.values():
            req = net_request(spec, self.p)
            if spec.name in self.replaced_nets:
                self._check_free(spec.key, self.nets[spec.name])
                self._step("net", "replace", "network", spec.name, spec.key, self.replaced_nets[spec.name],
                           lambda n=spec.name, r=req: replace_network(ctx, n, r, cfg))
            elif spec.name not in self.nets:
                self._step("newnet", "create", "network", spec.name, spec.key, "",
                           lambda r=req: networks.create(ctx, r, config=cfg))
        for net in self.state.networks if prune else []:
            if _owned(net, self.p) and net.name not in self.top.networks and net.name not in referenced:
                self._check_free("(pruned)", net)
                self._step("net", "remove", "network", net.name, "(pruned)", "no longer in the file",
                           lambda n=net.name: raise_first(networks.remove(ctx, [n])))

    def _check_free(self, key: str, net: Network) -> None:
        blockers = _blockers(self.state, net, self.leaving)
        if blockers:
            raise Conflict(f"{key}: network {net.name!r} must be removed but has endpoints the file "
                           f"does not declare: {', '.join(blockers)}")

    def steps(self, prune: bool) -> list[Step]:
        self.check_ports()
        self.classify()
        self.connections_phase()
        self.sandboxes_phase(prune)
        self.networks_phase(prune)
        return [s for phase in self.phases.values() for s in phase]


def net_request(spec: NetSpec, project: str) -> networks.NetworkRequest:
    """The file's network, labelled with the project that made it (apply --prune's mark)."""
    return replace(spec, labels=[*spec.labels, f"{PROJECT_LABEL}={project}"])


def plan_apply(ctx: Context, top: Topology, state: State, prune: bool = False,
               config: Config | None = None) -> list[Step]:
    """The steps of ``apply``; a conflict found while planning is raised before any change."""
    return Planner(ctx, top, state, config).steps(prune)


def plan_destroy(ctx: Context, top: Topology, state: State) -> list[Step]:
    """Remove what the file declares and the state has: its sandboxes (with their
    endpoints), then its networks.  A network that keeps an endpoint the file does not
    declare (another sandbox's, or a bare endpoint) is refused, exit 4, naming them."""
    steps, leaving = [], set()
    for spec in top.sandboxes.values():
        sb = next((s for s in state.sandboxes if s.name == spec.name), None)
        if sb is not None:
            leaving |= {e.id for e in state.endpoints_in(sb)}
            steps.append(Step("remove", "sandbox", sb.name, spec.key, "",
                              lambda n=sb.name: raise_first(sandboxes.remove(ctx, [n]))))
    shared = []
    for spec in top.networks.values():
        net = next((n for n in state.networks if n.name == spec.name), None)
        if net is None:
            continue
        blockers = _blockers(state, net, leaving)
        if blockers:
            shared.append(f"{spec.key} ({net.name!r}): {', '.join(blockers)}")
        steps.append(Step("remove", "network", net.name, spec.key, "",
                          lambda n=net.name: raise_first(networks.remove(ctx, [n]))))
    if shared:
        raise Conflict(f"shared with objects the file does not declare: {'; '.join(shared)}")
    return steps
