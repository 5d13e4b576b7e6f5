"""Generated docs: completions/ and man/ are what tools/gen_docs.py makes from the command tree
now, every command has a page, and groff renders every page without a warning.

When one of these fails after a CLI change, run ``python3 tools/gen_docs.py`` and commit the
result."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from netctl.cli import main

REPO = Path(__file__).resolve().parents[2]
MAN = REPO / "man"
REGENERATE = "out of date: run python3 tools/gen_docs.py"


def commands(cmd: click.Command = main, path: tuple[str, ...] = ("netctl",)):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(None):  # the root imports its subcommands lazily
            sub = cmd.get_command(None, name)
            if not sub.hidden:
                yield from commands(sub, (*path, name))


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    subprocess.run([sys.executable, str(REPO / "tools" / "gen_docs.py"), "--out", str(out)],
                   check=True, capture_output=True)
    return out


def test_every_command_and_subcommand_has_a_page():
    pages = {p.name for p in MAN.iterdir()}
    missing = ["-".join(path) + ".8" for path, _ in commands() if "-".join(path) + ".8" not in pages]
    assert missing == [], f"no man page for {missing}; {REGENERATE}"
    assert "netctl.toml.5" in pages


@pytest.mark.parametrize("subdir", ["man", "completions"])
def test_shipped_files_are_up_to_date(regenerated, subdir):
    fresh = {p.name: p.read_bytes() for p in (regenerated / subdir).iterdir()}
    shipped = {p.name: p.read_bytes() for p in (REPO / subdir).iterdir()}
    assert sorted(shipped) == sorted(fresh), REGENERATE
    stale = [name for name in fresh if fresh[name] != shipped[name]]
    assert stale == [], f"{', '.join(stale)} {REGENERATE}"


def test_groff_renders_every_page_without_warnings():
    if shutil.which("groff") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("groff is not installed (.ci/run installs groff-base)")
        pytest.skip("groff is not installed")
    for page in sorted(MAN.iterdir()):
        proc = subprocess.run(["groff", "-man", "-ww", "-z", str(page)], capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stderr == "", f"{page.name}: {proc.stderr}"


def render(page: str) -> str:
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    proc = subprocess.run(["groff", "-man", "-Tascii", "-P-cbou", str(MAN / page)],
                          capture_output=True, text=True, check=True)
    return re.sub(r"\s+", " ", proc.stdout)


def test_overview_documents_model_exit_codes_files_environment_and_examples():
    text = render("netctl.8")
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "GLOBAL OPTIONS", "COMMANDS", "EXIT STATUS",
                    "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"):
        assert f" {section} " in text, section
    for code in range(10):
        assert re.search(rf" {code} [A-Z]", text), f"exit code {code}"
    envvars = {v for _, cmd in commands() for p in cmd.params if isinstance(p, click.Option)
               for v in ([p.envvar] if isinstance(p.envvar, str) else p.envvar or [])}
    assert envvars >= {"NETCTL_STATE", "NETCTL_CONFIG", "NETCTL_COLOR", "NETCTL_FORMAT"}
    for var in envvars | {"NETCTL_DEBUG", "NO_COLOR"}:
        assert var in text, var
    for path in ("/var/lib/netctl/state.toml", "/etc/netctl/netctl.toml", "/run/netns/"):
        assert path in text
    assert "netctl network create --ignore" in text  # options show as plain '-' once rendered


def test_command_pages_show_options_defaults_and_environment():
    text = render("netctl-network-ls.8")
    assert "netctl network ls [OPTIONS]" in text
    assert "--format json|table|TEMPLATE" in text and "environment: NETCTL_FORMAT" in text
    assert "--no-trunc" in text and "-q, --quiet" in text
    assert "netctl.toml(5)" in render("netctl-network-create.8")
    assert "default_pools" in render("netctl.toml.5")
