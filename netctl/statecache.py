"""A parse cache beside a large state file: ``<state>.cache``, the parsed document as JSON.

Parsing TOML costs ~0.1 ms per KiB (70 ms for a state of 1,000 endpoints); JSON of the same
document loads in ~3 ms.  The TOML file stays the one source of truth: the cache holds the
BLAKE2b digest of the exact bytes it was parsed from and is used only when the file read now
has that digest, so an edited, replaced or restored state file is parsed again, whatever its
size or mtime say.  A cache that is missing, unreadable, not a regular file, owned by someone
else than the state file or not understood is ignored.  Only the lock holder writes it (after
a save, or after parsing a file the cache did not match), atomically; readers only read it.
Small states (under ``MIN_SIZE``) parse faster than a cache is checked: they never get one.

The consistency checks of a load (consistency.py: ~20 ms at 1,000 endpoints, more than the
JSON) guard against files netctl did not write: a hand edit, a restore, another program.
A cache records that the document passed them (``checked``, by this version of netctl): it
is written only after a parse that passed them, or after a save of a state netctl made from
one that did.  Bytes that changed since then miss the digest and are parsed and checked
again; a cache from another netctl version is checked again too, as its rules may differ.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

MIN_SIZE = 64 * 1024
VERSION = 2


def path_for(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".cache")


def _digest(text: bytes) -> str:
    import hashlib

    return hashlib.blake2b(text, digest_size=32).hexdigest()


def load(state_path: Path, text: bytes, owner: int) -> tuple[dict[str, Any], bool] | None:
    """(the document parsed from ``text``, whether it passed the consistency checks) if
    the cache holds it, else None."""
    if len(text) < MIN_SIZE:
        return None
    try:
        fd = os.open(path_for(state_path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != owner:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)
    return _document(raw, text)


def _document(raw: bytes, text: bytes) -> tuple[dict[str, Any], bool] | None:
    import json

    from . import __version__

    try:
        cached = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if (not isinstance(cached, dict) or cached.get("version") != VERSION
            or cached.get("blake2b") != _digest(text) or not isinstance(cached.get("state"), dict)):
        return None
    return cached["state"], cached.get("checked") == __version__


def save(state_path: Path, text: bytes, document: dict[str, Any]) -> None:
    """Best effort (the cache is only ever a shortcut): temp file, rename, no fsync.  The
    temp is named like the store's, so the next lock holder removes one a kill left.
    Callers pass only a document that passed the consistency checks (see the module doc)."""
    if len(text) < MIN_SIZE:  # a cache of a state that was large once: no use any more
        with contextlib.suppress(OSError):
            os.unlink(path_for(state_path))
        return
    import json

    from . import __version__

    data = json.dumps({"version": VERSION, "blake2b": _digest(text), "checked": __version__,
                       "state": document},
                      separators=(",", ":")).encode()
    import tempfile

    directory = state_path.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{state_path.name}.", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), 0o644)
        os.replace(tmp, path_for(state_path))
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
