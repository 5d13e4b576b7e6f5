"""The plugin process: CNI_* in the environment, the configuration on stdin, one JSON
document on stdout (the Result, VERSION's answer or the spec's error) and exit 0 or 1.

Reached from the ``netctl`` console script when CNI_COMMAND is set (netctl/entry.py).
Nothing of click or rich is imported; pyroute2 only once a command touches the kernel.
"""

from __future__ import annotations

import json
import os
import sys

from . import netconf, spec
from .spec import CniError

#: the lock wait (seconds) when NETCTL_LOCK_TIMEOUT does not say: runtimes start many
#: plugins at once, so it is longer than the CLI's
LOCK_TIMEOUT = 60.0


def run(environ: dict[str, str], data: bytes) -> tuple[int, dict | None]:
    """(exit code, document to print) for one exec; no exception escapes."""
    version = spec.LATEST
    try:
        requested = _requested(data)  # errors answer in the config's version when it is ours
        version = requested if requested in spec.SUPPORTED else spec.LATEST
        env = spec.parse_env(environ)
        if env.command == "VERSION":
            return 0, spec.version_document(requested)
        conf = netconf.load(data, env.command)
        version = conf.version
        if env.command in ("GC", "STATUS") and conf.version == "1.0.0":
            raise CniError(spec.INCOMPATIBLE_VERSION, f"{env.command} needs cniVersion 1.1.0")
        return 0, _dispatch(env, conf, environ)
    except CniError as exc:
        return 1, exc.document(version)
    except Exception as exc:  # noqa: BLE001 - every failure is the spec's error document
        return 1, _unexpected(exc).document(version)
    except BaseException as exc:  # interrupts.Interrupted: rolled back, say so
        return 1, CniError(spec.TRY_AGAIN, f"interrupted: {exc}; nothing was saved").document(version)


def _requested(data: bytes) -> str | None:
    try:
        version = json.loads(data.decode() or "{}").get("cniVersion")
    except (ValueError, AttributeError, RecursionError):  # nesting deeper than the parser goes
        return None
    return version if isinstance(version, str) else None


def _unexpected(exc: Exception) -> CniError:
    from ..errors import NetctlError

    if isinstance(exc, NetctlError):
        return spec.from_netctl(exc)
    if isinstance(exc, OSError):
        return CniError(spec.IO_FAILURE, f"{exc.filename + ': ' if exc.filename else ''}"
                        f"{exc.strerror or exc}")
    return CniError(spec.PLUGIN_BASE + 1, f"unexpected error: {type(exc).__name__}: {exc}")


def _dispatch(env: spec.Env, conf: netconf.NetConf, environ: dict[str, str]) -> dict | None:
    from .. import config
    from ..service.context import Context
    from ..store import DEFAULT_PATH, Store
    from . import ops

    path = conf.raw.get("state") or environ.get("NETCTL_STATE") or DEFAULT_PATH
    timeout = _lock_timeout(environ.get("NETCTL_LOCK_TIMEOUT"))
    config_path = environ.get("NETCTL_CONFIG", config.DEFAULT_PATH)
    ctx = Context(Store(path, timeout), config_path=config_path)
    try:
        if env.command == "ADD":
            return ops.add(ctx, env, conf, config.load(config_path))
        if env.command == "DEL":
            ops.delete(ctx, env, conf)
        elif env.command == "CHECK":
            ops.check(ctx, env, conf)
        elif env.command == "GC":
            ops.gc(ctx, conf)
        else:
            ops.status(ctx, conf)
        return None
    finally:
        ctx.close()


def _stdin() -> bytes | CniError:
    """stdin's bytes, or the answer when reading fails: a runtime's SIGTERM while it still
    writes (or no stdin at all) was a traceback and no JSON."""
    try:
        return sys.stdin.buffer.read()
    except Exception as exc:  # noqa: BLE001 - OSError, or no sys.stdin at all
        return CniError(spec.IO_FAILURE, f"cannot read the network configuration: {exc}")
    except BaseException as exc:  # interrupts.Interrupted: nothing was done yet
        return CniError(spec.TRY_AGAIN, f"interrupted: {exc}; nothing was done")


def _lock_timeout(text: str | None) -> float:
    """NETCTL_LOCK_TIMEOUT as the CLI reads it (cli/root.py Seconds): NaN was taken, and a NaN
    deadline never arrives (the exec waited for the lock for ever); garbage was error 101."""
    import math

    try:
        number = float(text) if text else LOCK_TIMEOUT
    except ValueError:
        number = math.nan
    if math.isnan(number) or number < 0:
        raise CniError(spec.INVALID_ENV, f"NETCTL_LOCK_TIMEOUT {text!r} is not a number of seconds",
                       "0 or more; inf waits for ever")
    return number


def main() -> None:
    """The process: read, run, print, exit without the interpreter's slow teardown."""
    from .. import interrupts

    interrupts.install()  # a SIGTERM from the runtime rolls the transaction back
    try:
        data = _stdin()
        if isinstance(data, CniError):
            code, document = 1, data.document(spec.LATEST)
        else:
            code, document = run(dict(os.environ), data)
    finally:
        interrupts.restore()
    if document is not None:
        sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
