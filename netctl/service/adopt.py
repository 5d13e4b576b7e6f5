"""Sandboxes on a namespace someone else made: ``sandbox create NAME --netns PATH | --pid PID``.

A podman or docker container, or an ``ip netns add`` namespace, already has a network
namespace with interfaces and routes of its own.  Adopting it binds that namespace at
``/run/netns/NAME`` (only a mount: nothing inside is touched, ``lo`` gets no mark) and
records how to recognise it (``Sandbox.adopted``: inode and cookie, see kernel/adoptns.py,
and for a process its PID and start time).  From then on connect and disconnect work there
as in netctl's own sandboxes, and nsguard.py accepts exactly that namespace.  ``sandbox rm``
deletes netctl's endpoints and unmounts its own bind mount, never the namespace or anything
else in it.  When PATH is ``/run/netns/NAME`` itself (``ip netns add NAME`` first), the
namespace is adopted where it is: netctl makes no mount, and rm leaves that name as it was.

Refused with nothing changed: init's or netctl's own namespace (4), a namespace that is
already a sandbox, of this state or (seen by netctl's marks on its links) another one (4),
a name taken under /run/netns or /etc/netns (4), a path that is missing (3), a symlink
(``/proc/PID/ns/net`` excepted) or not a network namespace (2), a PID that does not exist (3),
both or neither of PATH and PID (2).
"""

from __future__ import annotations

import os
from dataclasses import replace

from .. import etcfiles, lookup, validate
from ..drift import is_orphan, object_ids
from ..errors import Conflict, InvalidInput, NetctlError, NotFound
from ..kernel.base import Adoptee
from ..model import Sandbox, State
from . import sandboxes
from .context import Context
from .sandboxes import SandboxRequest


def adopt(ctx: Context, name: str, netns: str | None = None, pid: int | None = None,
          req: SandboxRequest | None = None, hosts_file: str | None = None) -> Sandbox:
    """Create sandbox NAME on the namespace at ``netns`` (a path) or of process ``pid``
    (exactly one of them); ``req`` carries the hostname/DNS options of ``sandbox create``.
    Usable inside a plan session (service/plan.py) like the other service functions."""
    path, pid = source(netns, pid)
    sb = sandboxes.build(replace(req or SandboxRequest(name), name=name))
    if hosts_file is not None:
        from .. import hostscopy

        sb.hosts_file = validate.hosts_file(hosts_file)
        hostscopy.check(sb.hosts_file)
    start = _started(pid) if pid is not None else None
    with ctx.mutation() as (state, tx):
        k = ctx.kernel
        _free_name(ctx, state, sb.name)
        probe = k.netns_probe(path)
        if pid is not None and _started(pid) != start:  # the PID was reused meanwhile
            raise NotFound(f"process {pid} exited")
        _refuse(state, probe, path)
        sb.id = lookup.fresh_id(state.sandboxes)
        in_place = _names_itself(path, sb.name) and k.netns_identity(sb.name) == (probe.ino, probe.cookie)
        if not in_place and (k.netns_exists(sb.name) or k.netns_borrowed(sb.name)):
            raise Conflict(f"/run/netns/{sb.name} exists: choose another sandbox name")
        sb.adopted = {"ino": probe.ino, "cookie": probe.cookie, "bound": int(not in_place)}
        if pid is not None:
            sb.adopted.update(pid=pid, start=start)
        if not in_place:
            tx.step("netns-adopt", lambda: k.netns_adopt(sb.name, path, probe.ino, probe.cookie),
                    lambda: k.netns_delete(sb.name))
        tx.step("netns-files", lambda: etcfiles.make_sandbox_dir(sb.name),
                lambda: etcfiles.remove_sandbox_files(sb.name))
        state.sandboxes.append(sb)
    return sb


def source(netns: str | None, pid: int | None) -> tuple[str, int | None]:
    """The namespace file to open and the process behind it (``/proc/PID/ns/net`` names one)."""
    if (netns is None) == (pid is None):
        raise InvalidInput("give exactly one of --netns PATH and --pid PID")
    if pid is not None:
        if pid <= 0:
            raise InvalidInput(f"invalid --pid {pid}: a process ID is a positive number")
        return _not_init(f"/proc/{pid}/ns/net", pid)
    if not netns or "\0" in netns:
        raise InvalidInput(f"invalid --netns {netns!r}")
    from ..kernel.adoptns import proc_pid

    return _not_init(netns, proc_pid(netns))


def _not_init(path: str, pid: int | None) -> tuple[str, int | None]:
    """PID 1's namespace is the machine's own (init's), which may not even be readable."""
    if pid == 1:
        raise Conflict(f"{path} is init's network namespace (the host's): netctl adopts only "
                       "a container's or an 'ip netns add' namespace")
    return path, pid


def _names_itself(path: str, name: str) -> bool:
    """PATH is /run/netns/NAME itself (or /var/run/netns/NAME): only then is the namespace
    adopted where it is.  The same namespace mounted at NAME while PATH names another file
    may be netctl's own mount (an adopt killed before its save leaves one): a taken name,
    never recorded as someone else's, which rm would leave pinning the namespace forever."""
    from ..kernel.base import NETNS_RUN_DIR

    head, tail = os.path.split(path)
    return tail == name and os.path.realpath(head or ".") == os.path.realpath(NETNS_RUN_DIR)


def _started(pid: int) -> int:
    from ..kernel.adoptns import start_time

    start = start_time(pid)
    if start is None:
        raise NotFound(f"no process {pid}")
    return start


def process_exited(sb: Sandbox) -> bool:
    """An adopted process's namespace whose process is gone (or its PID taken by another):
    what ``check`` reports and ``gc`` cleans; the bind mount alone keeps it alive."""
    if sb.adopted is None or "pid" not in sb.adopted:
        return False
    from ..kernel.adoptns import start_time

    return start_time(sb.adopted["pid"]) != sb.adopted["start"]


def rebindable(ctx: Context, sb: Sandbox) -> str | None:
    """``/proc/PID/ns/net`` when the adopted process still runs in the very namespace
    adopted, though its bind at /run/netns/NAME is gone (someone unmounted it): the
    namespace lives, so repair binds it again and gc keeps it.  None otherwise."""
    if sb.adopted is None or "pid" not in sb.adopted or process_exited(sb):
        return None
    path = f"/proc/{sb.adopted['pid']}/ns/net"
    try:
        probe = ctx.kernel.netns_probe(path)
    except NetctlError:
        return None
    return path if (probe.ino, probe.cookie) == (sb.adopted["ino"], sb.adopted["cookie"]) else None


def _free_name(ctx: Context, state: State, name: str) -> None:
    if any(s.name == name for s in state.sandboxes):
        raise Conflict(f"sandbox {name!r} already exists")
    lookup.check_new_name(state.sandboxes, name, "sandbox")
    refusal = etcfiles.unsafe(name)
    if refusal is not None:
        raise refusal
    if etcfiles.sandbox_dir(name).exists():  # someone's files: netctl would write over them
        raise Conflict(f"{etcfiles.sandbox_dir(name)} exists and is not netctl's: move it away first")


def _refuse(state: State, probe: Adoptee, path: str) -> None:
    """Init's and netctl's own namespace, and one that already is a sandbox, are never
    adopted: netctl would connect networks into the host, or share a namespace between two
    sandboxes (each rm would take the other's routes)."""
    if probe.home:
        raise Conflict(f"{path} is the host's network namespace (netctl's own or init's): "
                       "netctl adopts only a container's or an 'ip netns add' namespace")
    for other in state.sandboxes:
        if other.adopted is not None and other.adopted["cookie"] == probe.cookie:
            raise Conflict(f"{path} is already adopted as sandbox {other.name!r}")
    ids, sid = object_ids(state), state.state_id
    for link in probe.links:
        if link.owner is None or is_orphan(link, ids, sid):  # a killed run's leftover is no owner
            continue
        mine = sid is not None and link.state_id == sid
        if link.name == "lo":
            whose = (f"sandbox {_name_of(state, link.owner)!r}" if mine
                     else "a sandbox of another netctl state file")
            raise Conflict(f"{path} is the namespace of {whose}")
        raise Conflict(f"{path} holds {link.name}, an interface of a netctl "
                       f"{'endpoint' if mine else 'endpoint of another state file'}: it is a sandbox already")


def _name_of(state: State, sandbox_id: str) -> str:
    return next((s.name for s in state.sandboxes if s.id == sandbox_id), sandbox_id[:12])
