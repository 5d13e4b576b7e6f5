"""The root group: global options, and the one place errors become a stderr line + exit code."""

from __future__ import annotations

import errno
import math
import os
import sys

import click

from .. import __version__
from ..errors import NetctlError
from ..store import DEFAULT_PATH

CONFIG_PATH = "/etc/netctl/netctl.toml"  # = config.DEFAULT_PATH, without importing it for --help

DEBUG_ENV = "NETCTL_DEBUG"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


#: every subcommand: name -> (module of this package, attribute).  A module is imported only
#: when its command is looked up, so ``network connect`` does not pay for building the
#: apply, batch, endpoint, sandbox... command trees; ``--help`` and completion still list all.
LAZY = {
    "apply": ("apply", "apply"), "batch": ("batch", "batch"), "check": ("maintenance", "check"),
    "cni": ("cni", "cni"),
    "completion": ("completion", "completion"), "destroy": ("apply", "destroy"),
    "endpoint": ("endpoint", "endpoint"), "gc": ("maintenance", "gc"),
    "network": ("network", "network"), "restore": ("maintenance", "restore"),
    "sandbox": ("sandbox", "sandbox"), "status": ("status", "status"),
}



class RootGroup(click.Group):
    """Runs click without its own error printing so every failure is one ``netctl:`` line,
    and imports each subcommand's module on first use (``LAZY``)."""

    def list_commands(self, ctx) -> list[str]:
        return sorted({*self.commands, *LAZY})

    def get_command(self, ctx, cmd_name: str):
        if cmd_name not in self.commands and cmd_name in LAZY:
            from importlib import import_module

            module, attr = LAZY[cmd_name]
            self.add_command(getattr(import_module(f"{__package__}.{module}"), attr), cmd_name)
        return self.commands.get(cmd_name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if os.environ.get("_NETCTL_COMPLETE", "").endswith("_source"):
            from .completion import print_source

            if print_source(os.environ["_NETCTL_COMPLETE"], self):
                sys.exit(0)
        from .. import interrupts

        interrupts.install()
        try:
            self._main(args, prog_name, complete_var, **extra)
        except SystemExit as exc:
            if args is None:  # the process's own command line, not a caller's (tests)
                _quick_exit(exc.code)
            raise
        finally:
            interrupts.restore()

    def _main(self, args, prog_name, complete_var, **extra):
        from ..interrupts import Interrupted

        try:
            rv = super().main(args, prog_name or "netctl", complete_var, standalone_mode=False, **extra)
        except Interrupted as exc:
            self._fail(f"{exc}; nothing was saved (kernel changes rolled back)", exc.exit_code)
        except NetctlError as exc:
            self._fail(str(exc), exc.exit_code)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(2)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path.removeprefix("netctl").strip() if ctx else ""
            message = exc.format_message()
            self._fail(f"{where}: {message}" if where else message, exc.exit_code)
        except click.Abort:
            self._fail("aborted", 1)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(1)
        except OSError as exc:
            code = 6 if exc.errno in (errno.EPERM, errno.EACCES) else 1
            self._fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", code)
        except Exception as exc:  # noqa: BLE001 - last resort: one line, never a traceback
            self._fail(f"unexpected error: {type(exc).__name__}: {exc}", 1)
        _deferred_signals()
        sys.exit(rv if isinstance(rv, int) else 0)

    @staticmethod
    def _fail(message: str, code: int) -> None:
        if os.environ.get(DEBUG_ENV) == "1":
            import traceback  # only with NETCTL_DEBUG: 4 ms of every start-up otherwise

            traceback.print_exc()
        _deferred_signals()
        click.echo(f"netctl: {_one_line(message)}", err=True)
        sys.exit(code)


def _quick_exit(code: object) -> None:
    """End the process without the interpreter's teardown: every module, the asyncio event
    loops pyroute2 makes and its sockets freed one by one (20-40 ms, a tenth of a connect)
    only for the kernel to do it at once.  Safe here because everything a command writes
    is closed by then (the state and its lock by ``with``, the kernel's sockets by the
    context's close) and netctl registers nothing to run at exit; stdout and stderr are
    flushed first.  A failed flush (a closed pipe) takes the ordinary way out."""
    if code is not None and not isinstance(code, int):
        return  # SystemExit("text"): Python prints it
    if os.environ.get("NETCTL_SLOW_EXIT") == "1":  # for bench/ to measure the difference
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code or 0)


def _deferred_signals() -> None:
    """Say which signals came after the commit point (or during a rollback) and were let wait."""
    from ..interrupts import warnings

    for line in warnings():
        click.echo(f"netctl: {line}", err=True)


class Seconds(click.ParamType):
    """A lock wait: 0 or more seconds, ``inf`` to wait for ever.  NaN compares false with
    everything, so a range check lets it through, and a NaN deadline never arrives: refused."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if math.isnan(number) or number < 0:
            self.fail(f"{value!r} is not a number of seconds (0 or more; inf waits for ever)", param, ctx)
        return number


class Settings:
    def __init__(self, state: str, lock_timeout: float, config: str = CONFIG_PATH):
        self.state = state
        self.lock_timeout = lock_timeout
        self.config_path = config
        self._context = None

    def config(self):
        """The parsed config file, read only by the commands that use it (not ls/inspect)."""
        from ..config import load

        return load(self.config_path)

    @property
    def store(self):
        from ..store import Store

        return Store(self.state, self.lock_timeout)

    def close(self) -> None:
        """Run when the command's click context closes, whatever the outcome (SystemExit
        from ``exists`` or ``rm`` included): every kernel socket is closed before exit."""
        if self._context is not None:
            self._context.close()

    @property
    def context(self):
        """The service context, for changing commands (reads use ``store`` and skip it)."""
        if self._context is None:
            from ..service.context import Context

            self._context = Context(self.store, config_path=self.config_path)
        return self._context


def _state_path(_ctx, _param, value: str) -> str:
    """An empty --state named no file (it crashed with exit 1 as the path '.')."""
    if not value:
        raise click.BadParameter("empty path: name the state file")
    return value


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--state", envvar="NETCTL_STATE", default=DEFAULT_PATH, show_default=True,
              show_envvar=True, metavar="PATH", help="State file.", callback=_state_path)
@click.option("--lock-timeout", envvar="NETCTL_LOCK_TIMEOUT", default=30.0, show_default=True,
              show_envvar=True, type=Seconds(), metavar="SECONDS",
              help="How long to wait for the state lock before giving up (exit 7); inf waits for ever.")
@click.option("--config", envvar="NETCTL_CONFIG", default=CONFIG_PATH, show_default=True,
              show_envvar=True, metavar="PATH",
              help="Config file: default pools, excluded ranges, MTU, driver, firewall (/dev/null: none).")
@click.option("--color", envvar="NETCTL_COLOR", default="auto", show_default=True, show_envvar=True,
              type=click.Choice(["auto", "always", "never"]),
              help="Colour tables: auto = on a terminal unless NO_COLOR is set.")
@click.version_option(version=__version__, prog_name="netctl")
@click.pass_context
def main(ctx: click.Context, state: str, lock_timeout: float, config: str, color: str) -> None:
    """Container networking without a daemon: networks, endpoints and sandboxes on the real
    kernel, in libnetwork's model.

    \b
    Exit codes: 0 ok, 1 kernel/unexpected, 2 invalid input, 3 not found, 4 conflict,
    5 exhausted, 6 permission, 7 busy (lock), 8 bad state file, 9 drift found,
    128+N interrupted by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP) before the save:
    rolled back. A signal once the save has started lets the command finish (exit 0, warning).
    """
    from ..output import set_color

    set_color(color)
    ctx.obj = Settings(state, lock_timeout, config)
    ctx.call_on_close(ctx.obj.close)
