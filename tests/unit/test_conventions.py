"""CLI conventions every command keeps: output options on every ls/inspect, --no-trunc, colour
rules (--color, NETCTL_COLOR, NO_COLOR, terminal or not), stdout for data only, and NETCTL_*
variables shown in --help."""

from __future__ import annotations

import io
import json

import click
import pytest

from netctl import output
from netctl.cli import main

ESC = "\x1b["


def leaf_commands(cmd: click.Command = main, path: tuple[str, ...] = ()):
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(None):  # the root imports its subcommands lazily
            yield from leaf_commands(cmd.get_command(None, name), (*path, name))
    else:
        yield path, cmd


def option_names(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}


def test_every_ls_and_inspect_has_format_and_quiet():
    listing = [(path, cmd) for path, cmd in leaf_commands() if path[-1] in ("ls", "inspect")]
    assert len(listing) >= 6
    for path, cmd in listing:
        assert {"--format", "-q", "--quiet"} <= option_names(cmd), path


def test_ls_with_ids_has_no_trunc(cli):
    cli.ok("network", "create", "alpha")
    cli.ok("sandbox", "create", "web")
    for noun in ("network", "sandbox"):
        full = json.loads(cli.ok(noun, "ls", "--format", "json"))[0]["id"]
        short = cli.ok(noun, "ls").splitlines()[1].split()[1]
        assert short == full[:12]
        assert cli.ok(noun, "ls", "--no-trunc").splitlines()[1].split()[1] == full
    assert "--no-trunc" in option_names(main.get_command(None, "network").commands["ls"])


def test_every_environment_variable_is_netctl_prefixed_and_shown():
    for path, cmd in [((), main), *leaf_commands()]:
        for param in cmd.params:
            if isinstance(param, click.Option) and param.envvar:
                assert param.envvar.startswith("NETCTL_") and param.show_envvar, (path, param.name)


def test_root_help_lists_the_global_variables(cli):
    text = cli.ok("--help")
    for var in ("NETCTL_STATE", "NETCTL_LOCK_TIMEOUT", "NETCTL_CONFIG", "NETCTL_COLOR"):
        assert var in text


def test_piped_tables_are_plain_and_aligned(cli):
    cli.ok("network", "create", "a-long-name")
    cli.ok("network", "create", "b")
    lines = cli.ok("network", "ls").splitlines()
    assert ESC not in "".join(lines)
    column = lines[0].index("ID")  # every row's ID starts under the header, after two spaces
    assert all(line[column - 2:column] == "  " and line[column] != " " for line in lines)


def test_color_always_styles_even_a_pipe_and_never_does_not(cli, monkeypatch):
    cli.ok("network", "create", "demo")
    assert ESC in cli.ok("--color", "always", "network", "ls")
    monkeypatch.setenv("NETCTL_COLOR", "always")
    assert ESC in cli.ok("network", "ls")
    assert ESC not in cli.ok("--color", "never", "network", "ls")  # the flag beats the variable
    assert cli("--color", "sometimes", "network", "ls").code == 2


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


ROWS = [{"name": "demo", "id": "ab" * 32}]
COLUMNS = [("NAME", lambda r: r["name"]), ("ID", lambda r: r["id"][:12])]


@pytest.mark.parametrize("choice,no_color,styled", [
    ("auto", None, True), ("auto", "1", False), ("auto", "", True),
    ("never", None, False), ("always", "1", True),
])
def test_terminal_colour_rules(monkeypatch, choice, no_color, styled):
    monkeypatch.setattr(output, "_color", choice)
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    stream = Terminal()
    output.table(ROWS, COLUMNS, stream)
    assert (ESC in stream.getvalue()) is styled
    assert "demo" in stream.getvalue() and "abababababab" in stream.getvalue()


def test_data_goes_to_stdout_and_errors_to_stderr_only(cli):
    res = cli("network", "create", "demo")
    assert (res.code, res.out, res.err) == (0, "demo\n", "")
    res = cli("network", "create", "demo")
    assert res.code == 4 and res.out == "" and res.err.startswith("netctl: ")
    res = cli("network", "inspect", "demo", "nosuch")
    assert res.code == 3 and json.loads(res.out)[0]["name"] == "demo"
    assert res.err == "netctl: network 'nosuch' not found\n"
    res = cli("network", "rm", "demo", "nosuch")
    assert (res.code, res.out) == (3, "demo\n") and "nosuch" in res.err


def test_exists_is_silent_for_every_noun(cli):
    cli.ok("network", "create", "net")
    cli.ok("sandbox", "create", "sb")
    cli.ok("network", "connect", "net", "sb")
    for args in (["network", "exists", "net"], ["sandbox", "exists", "sb"],
                 ["endpoint", "exists", "net/sb"], ["endpoint", "exists", "sb"]):
        res = cli(*args)
        assert (res.code, res.out, res.err) == (0, "", ""), args
    for args in (["network", "exists", "x"], ["sandbox", "exists", "x"], ["endpoint", "exists", "net/x"]):
        res = cli(*args)
        assert (res.code, res.out, res.err) == (3, "", ""), args
    cli.state.write_bytes(b"not toml at all")
    assert cli("sandbox", "exists", "sb").code == 8  # broken state is not "missing"
