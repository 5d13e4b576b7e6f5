"""Is ``/run/netns/NAME`` still the namespace netctl made for the sandbox?

Anything can sit at that path: the namespace netctl made, someone else's that replaced it
(``ip netns add`` after a reboot, a bind mount, a symlink to another namespace), even the
host's own or the caller's.  netctl changes nothing inside a namespace until it has proved
it is the sandbox's: its ``lo`` carries the sandbox's mark (set when netctl created it), the
path is not a symlink (netctl mounts a namespace onto a plain file) and it is not the
namespace netctl itself runs in or the init process's.  An adopted namespace (someone
else's, service/adopt.py) carries no mark: it is the sandbox's while the namespace at the path
has the inode and cookie recorded when it was adopted.  Every path that enters
a sandbox to change it (connect, disconnect, join, leave, rm, repair, restore, the
/etc/netns files) asks here first, so the rule lives in one place.
"""

from __future__ import annotations

from ..errors import Conflict
from ..kernel.base import Kernel, Link
from ..model import Sandbox


def marked_for(kernel: Kernel, sb: Sandbox) -> bool:
    """The one comparison of a namespace's mark with a sandbox: the owner ``Link.owner``
    reads from ``lo``'s alias (the one parser of marks) must be the sandbox."""
    lo = Link("lo", 1, "", "", 0, True, alias=kernel.netns_mark(sb.name))
    return lo.owner == sb.id


def ours(kernel: Kernel, sb: Sandbox, host_mode: bool = False) -> bool:
    """Whether the namespace at the sandbox's path exists and is the one netctl made; for a
    sandbox the state has on a host network (``host_mode``), the bind mount of netctl's own
    namespace that service/hostnet.py made on purpose."""
    if host_mode:
        return kernel.netns_is_host(sb.name)
    if sb.adopted is not None:
        return is_adopted(kernel, sb)
    if not kernel.netns_exists(sb.name) or kernel.netns_borrowed(sb.name):
        return False
    return marked_for(kernel, sb)


def is_adopted(kernel: Kernel, sb: Sandbox) -> bool:
    """The namespace at the path is the one adopted for ``sb``: the same inode and cookie
    (a symlink at the path reads as no namespace), and never the host's or init's."""
    ident = (sb.adopted["ino"], sb.adopted["cookie"])
    return kernel.netns_identity(sb.name) == ident and not kernel.netns_borrowed(sb.name)


def foreign(kernel: Kernel, sb: Sandbox, host_mode: bool = False) -> bool:
    """A namespace is at the sandbox's path and it is not netctl's (a missing one is not)."""
    return kernel.netns_exists(sb.name) and not ours(kernel, sb, host_mode)


def require(kernel: Kernel, sb: Sandbox) -> None:
    """Refuse (exit 4, before anything changed) to work inside a namespace that is not the
    sandbox's; a missing namespace is the caller's business."""
    if foreign(kernel, sb):
        raise Conflict(refusal(sb))


def refusal(sb: Sandbox) -> str:
    how = "made" if sb.adopted is None else "adopted"
    return (f"namespace /run/netns/{sb.name} is not the one netctl {how} for sandbox {sb.name!r}: "
            f"netctl changes nothing in it ('netctl sandbox rm -f {sb.name}' forgets the sandbox "
            "and leaves the namespace and /etc/netns/" + sb.name + " alone)")
