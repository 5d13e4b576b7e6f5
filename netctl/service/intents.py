"""The intent journal: what a command is about to create, so a kill cannot leave it anonymous.

The kernel ignores an ifalias given when a link is created, so a new bridge or veth carries
netctl's mark only after a second request; a kill in between used to leave an unmarked link
that nothing recognised (and a sandbox's ``eth<n>`` that blocked every later connect with
"File exists").  So before each create, under the state lock, the link names, where they
live and the mark they are to carry are written to ``<state>.intent``; the entry is dropped
as soon as the create has finished or failed.  The file also holds the state's identity
until the state file itself does (a brand-new state gets it with its first marked object,
before the first save), so objects of a killed first command are recognised too.

The next netctl to take the lock finds the journal: a changing command marks the listed
links that exist and carry no alias (they are what the killed run created), after which they
are ordinary leftovers of this state, which ``check`` reports and ``check --repair`` deletes;
``check`` itself changes nothing and reports them as they would be marked.  Only links in the
host namespace or inside one of this state's own sandboxes are claimed, and only unmarked
ones.  Namespaces need no entry: netns.py marks ``lo`` before the namespace is mounted.

No fsync: the journal guards kernel objects, which do not outlive the machine either; a kill
does not lose written data.  It is replaced atomically (write, rename), so it is always whole.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NetctlError, PermissionDenied
from ..kernel.base import Kernel
from ..model import SCHEMA, State, is_state_id
from . import nsguard


@dataclass
class Journal:
    state_id: str | None
    links: list[tuple[str | None, str, str]] = field(default_factory=list)  # (netns, name, mark)


def read(path: Path) -> Journal | None:
    """The journal, or None when there is none (or it is not one of ours: ignored)."""
    try:
        data = json.loads(path.read_bytes())
        sid = data.get("state_id")
        links = [(ns, name, mark) for ns, name, mark in data.get("links", [])]
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if sid is not None and not (isinstance(sid, str) and is_state_id(sid)):
        sid = None
    ok = all(isinstance(n, str) and isinstance(m, str) and (s is None or isinstance(s, str))
             for s, n, m in links)
    return Journal(sid, links if ok else [])


def write(path: Path, journal: Journal) -> None:
    """Replace the journal; a failure (a full disk) names it and leaves no temp behind."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps({"state_id": journal.state_id, "links": journal.links}))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        error = PermissionDenied if isinstance(exc, PermissionError) else NetctlError
        raise error(f"{path}: cannot record what is being created: {exc.strerror or exc}") from None


def remove(path: Path) -> None:
    """The journal, and the temp file of a write a kill interrupted."""
    for stale in (path, path.with_name(path.name + ".tmp")):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def _claimable(k: Kernel, state: State, netns: str | None, name: str) -> bool:
    """The link exists unmarked, in the host or inside a namespace this state made, and looks
    like what a create killed before its mark leaves: a bridge or veth with no address yet
    (but the one the kernel gives itself), so not even a tampered journal can hand over the
    machine's configured interfaces."""
    if netns is not None:
        sb = next((s for s in state.sandboxes if s.name == netns), None)
        if sb is None or not nsguard.ours(k, sb):  # netctl's own, or the one it adopted
            return False
    link = k.link_get(name, netns=netns)
    return (link is not None and link.alias is None and link.kind in ("bridge", "veth")
            and all(a.lower().startswith("fe80:") for a in link.addresses))


def settle(path: Path, k: Kernel, state: State, apply: bool) -> dict[tuple[str | None, str], str]:
    """Take over what a killed run recorded: adopt its state identity if ``state`` has none
    yet, and return the recorded links still unmarked ((netns, name) -> mark).  With
    ``apply`` (a changing command, under the lock) they are marked now and the journal is
    reduced to the identity the state file still lacks, or removed."""
    journal = read(path)
    if journal is None:
        if apply:
            remove(path)
        return {}
    on_disk = state.state_id is not None
    if not on_disk and journal.state_id:
        state.state_id, state.schema = journal.state_id, SCHEMA
    pending = {(ns, name): mark for ns, name, mark in journal.links if _claimable(k, state, ns, name)}
    if apply:
        for (ns, name), mark in pending.items():
            k.link_set_alias(name, mark, netns=ns)
        if on_disk or not journal.state_id:
            remove(path)
        elif journal.links:
            write(path, Journal(journal.state_id))
    return pending
