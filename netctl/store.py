"""The state file: lock, load, schema check, atomic save.

Readers take no lock: a save replaces the file atomically, so a reader sees the old or the new
version, never half of one.  Writers hold ``flock`` on ``<state>.lock`` for the whole operation,
kernel work included, so two invocations never interleave.  A file that cannot be understood is
refused and left byte-for-byte as it was: netctl never "repairs" state by overwriting it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import consistency, statecache
from .errors import Busy, NetctlError, PermissionDenied, StateError
from .model import READABLE_SCHEMAS, SCHEMA, State
from .txn import checkpoint

DEFAULT_PATH = "/var/lib/netctl/state.toml"


def _check_path(path: Path) -> os.stat_result | None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise PermissionDenied(f"{path}: permission denied") from None
    if stat.S_ISLNK(info.st_mode):
        raise StateError(f"{path}: is a symlink; refusing to follow it")
    if not stat.S_ISREG(info.st_mode):
        raise StateError(f"{path}: not a regular file")
    return info


def parse(text: bytes, path: Path, data: dict | None = None, checked: bool = False) -> State:
    """The state in ``text``; ``data``: the document already parsed from exactly these bytes
    (statecache), held to every check a freshly parsed one is unless ``checked``: the
    cache says this netctl checked that very document already (statecache's module doc)."""
    if data is None:
        data = _toml(text, path)
    schema = data.get("schema")
    if type(schema) is not int or schema not in READABLE_SCHEMAS:  # not true or 1.0, equal to 1
        if isinstance(schema, int) and schema > SCHEMA:
            raise StateError(f"{path}: schema {schema} is from a newer netctl (this one reads {SCHEMA})")
        raise StateError(f"{path}: unknown schema {schema!r}; left unchanged")
    try:
        state = State.from_dict(data)
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise StateError(f"{path}: malformed state file ({exc}); left unchanged") from None
    problem = None if checked else consistency.first_problem(state)
    if problem:
        raise StateError(f"{path}: inconsistent state file ({problem}); left unchanged")
    return state


def _toml(text: bytes, path: Path) -> dict:
    try:
        return tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StateError(f"{path}: cannot parse state file ({exc}); left unchanged") from None
    except RecursionError:
        raise StateError(f"{path}: cannot parse state file (nested too deeply); left unchanged") from None


def dump(state: State) -> bytes:
    return _dump(state)[0]


def _dump(state: State) -> tuple[bytes, dict]:
    """The file's bytes and the document they hold (every field but the ``None`` ones: the
    file shows every setting, and tools that read it find every key), in tomli_w's layout."""
    from . import statetoml

    document = state.to_dict()
    return statetoml.dumps(document).encode(), document


class Store:
    def __init__(self, path: str | os.PathLike[str], lock_timeout: float = 30.0):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout
        self._loaded: bytes | None = None
        self._cached = True  # the last read came from the cache (or needs none)

    def read(self) -> State:
        """The current state, without the lock (missing file = empty state)."""
        info = _check_path(self.path)
        self._loaded, self._cached = None, True
        if info is None:
            return State()
        try:
            text = self.path.read_bytes()
        except PermissionError:
            raise PermissionDenied(f"{self.path}: permission denied") from None
        except IsADirectoryError:
            raise StateError(f"{self.path}: is a directory") from None
        self._loaded = text
        cached = statecache.load(self.path, text, info.st_uid)
        self._cached = cached is not None
        return parse(text, self.path, *(cached or ()))

    @contextmanager
    def locked(self) -> Iterator[State]:
        """Hold the lock and yield the freshly read state; ``save`` inside to commit."""
        fd = self._open_lock()
        try:
            self._acquire(fd)
            self._remove_stray_temps()
            state = self.read()
            if not self._cached:  # parsed: the next reader need not parse it again
                statecache.save(self.path, self._loaded, _dump(state)[1])
            yield state
        finally:
            os.close(fd)

    def _remove_stray_temps(self) -> None:
        """Only the lock holder writes temp files, so any found now are what a save killed
        before its rename left behind."""
        for stray in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stray.unlink()

    def _open_lock(self) -> int:
        try:
            self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                         | os.O_CLOEXEC, 0o644)
        except PermissionError:
            raise PermissionDenied(
                f"{self.lock_path}: permission denied (changing state needs root; try sudo)"
            ) from None
        except OSError as exc:
            raise StateError(f"{self.lock_path}: cannot open lock file: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device: flock would say EINVAL
            os.close(fd)
            raise StateError(f"{self.lock_path}: lock file is not a regular file")
        return fd

    def _acquire(self, fd: int) -> None:
        """Bounded wait (``inf``: for ever).  The PID written into the file is a courtesy for
        people reading it; ``lock_holder`` asks the kernel, so a failed write (disk full) is
        not an error."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return
            except BlockingIOError:
                pass
            except OSError as exc:
                raise StateError(f"{self.lock_path}: cannot lock: {exc.strerror}") from None
            if time.monotonic() >= deadline:
                raise Busy(
                    f"{self.path}: another netctl holds the state lock "
                    f"(waited {self.lock_timeout:g}s; retry or raise --lock-timeout)"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def lock_holder(self) -> int | None:
        """PID of the process holding the lock (-1: held, holder unknown), or None (for
        ``status``).  The kernel says who holds it (/proc/locks): the PID in the file is only
        the last netctl that took it, and anyone may hold the lock (``flock(1)``)."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return None
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            return flock_holder(info) or -1
        except OSError:
            return None
        finally:
            os.close(fd)

    def save(self, state: State) -> None:
        """Write atomically: temp file, fsync, rename over, fsync the directory.  Every error
        names the file; one after the rename (the directory fsync) is only a warning, since
        the new state is then in place and the caller must not roll back under it."""
        data, document = _dump(state)
        if data == self._loaded:
            return
        directory = self.path.parent
        checkpoint("save.write", traced=False)
        import tempfile  # writers only: 2 ms that ls and inspect need not pay

        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        except PermissionError:
            raise PermissionDenied(f"{directory}: permission denied (try sudo)") from None
        except OSError as exc:
            raise NetctlError(f"{directory}: cannot save the state: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fchmod(handle.fileno(), 0o644)
                os.fsync(handle.fileno())
            checkpoint("save.rename", traced=False)
            os.replace(tmp, self.path)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise NetctlError(f"{self.path}: cannot save the state: {exc.strerror}") from None
            raise
        self._loaded = data
        checkpoint("save.dirsync", traced=False)
        _fsync_directory(directory)
        statecache.save(self.path, data, document)


def _fsync_directory(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:  # some filesystems refuse fsync on a directory (EINVAL, EBADF)
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            print(f"netctl: warning: {directory}: fsync after saving the state: {exc.strerror}",
                  file=sys.stderr)


def flock_holder(info: os.stat_result) -> int | None:
    """The PID /proc/locks gives for the FLOCK on the file INFO describes (None: not found).
    Lines read ``1: FLOCK ADVISORY WRITE 1234 08:01:5678 0 EOF``; ``->`` lines are waiters."""
    want = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == want and parts[4].isdigit():
            return int(parts[4]) or None
    return None
