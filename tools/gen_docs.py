#!/usr/bin/env python3
"""Regenerate completions/ and man/ from the click command tree: run it after any CLI change.

    python3 tools/gen_docs.py            # writes completions/ and man/ in the repo
    python3 tools/gen_docs.py --out DIR  # writes DIR/completions and DIR/man (the tests do this)

Completion scripts are exactly what ``_NETCTL_COMPLETE=<shell>_source netctl`` prints.  Man
pages are section 8 (netctl needs root, like ip-netns(8)): netctl(8), the overview, from
tools/man/netctl.8.in with the global options, command list and environment filled in from
the tree; netctl.toml(5) from tools/man/netctl.toml.5.in; one page per command and subcommand,
e.g. netctl-network-create(8).  Output is deterministic (no dates), so the tests can regenerate
into a temp dir and compare bytes, and stale pages of removed commands are deleted.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout's netctl, whatever is installed
TEMPLATES = Path(__file__).resolve().parent / "man"
COMPLETIONS = {"bash": "netctl.bash", "zsh": "_netctl", "fish": "netctl.fish"}
SECTION = "8"
USES_CONFIG = ("netctl-network-create", "netctl-status", "netctl-check", "netctl-restore")
# Environment variables that are not options (options' variables come from the tree).
EXTRA_ENV = [
    ("NETCTL_DEBUG", "Set to 1 to print a traceback with the one-line error."),
    ("NETCTL_NFT", "Set to binary to run the nft program instead of libnftables in-process."),
    ("NO_COLOR", "Set and non-empty: no colour with --color auto (see no-color.org)."),
    ("_NETCTL_COMPLETE", "Used by the completion scripts to call netctl back; not for users."),
]


def esc(text: str, hyphens: bool = False) -> str:
    """Roff-safe text: backslashes escaped, non-ASCII as \\[uXXXX] (groff -ww warns otherwise),
    and real minus signs in option-like words (or every hyphen, for names) so they copy-paste."""
    text = text.replace("\\", "\\e")
    text = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)
    if hyphens:
        return text.replace("-", "\\-")
    return re.sub(r"(?<![\w-])--?[A-Za-z][\w-]*", lambda m: m.group(0).replace("-", "\\-"), text)


def text_line(text: str) -> str:
    line = esc(text)
    return "\\&" + line if line.startswith((".", "'")) else line


def paragraphs(help_text: str | None) -> list[str]:
    """Click help (``\\b`` marks a verbatim block) as roff paragraphs."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", inspect.cleandoc(help_text or "")):
        lines = para.splitlines()
        if lines and lines[0].strip() == "\b":
            out.append(".PP\n.nf\n" + "\n".join(text_line(x) for x in lines[1:]) + "\n.fi")
        elif para.strip():
            out.append(".PP\n" + text_line(" ".join(x.strip() for x in lines)))
    return out


def page_name(path: list[str]) -> str:
    return "-".join(path)


def bold(words: str) -> str:
    """Bold, with every hyphen a minus and no hyphenation (\\%): names must survive copy-paste."""
    return "\\fB" + " ".join(f"\\%{esc(w, hyphens=True)}" for w in words.split(" ")) + "\\fR"


def usage(cmd: click.Command, ctx: click.Context) -> str:
    pieces = " ".join(cmd.collect_usage_pieces(ctx))
    return re.sub(r"[A-Z][A-Z_|]*[A-Z]", lambda m: f"\\fI{m.group(0)}\\fR", esc(pieces))


def _is_help(param: click.Parameter, cmd: click.Command, ctx: click.Context) -> bool:
    """Click names the help option ``help`` up to 8.4 and ``_click_default_help`` since 8.5:
    compare its option strings instead of its name."""
    return set(param.opts) == set(cmd.get_help_option_names(ctx))


def options(cmd: click.Command, ctx: click.Context) -> list[str]:
    out = []
    for param in cmd.get_params(ctx):
        if not isinstance(param, click.Option) or param.hidden or (_is_help(param, cmd, ctx) and ctx.parent):
            continue  # --help is on every command; netctl(8) says so once
        names = ", ".join(bold(o) for o in sorted(param.opts, key=len) + param.secondary_opts)
        if not param.is_flag:
            names += f" \\fI{esc(param.make_metavar(ctx))}\\fR"
        extra = param.get_help_extra(ctx)
        notes = []
        if extra.get("default"):
            notes.append(f"default: {extra['default']}")
        if extra.get("range"):
            notes.append(f"range: {extra['range']}")
        if extra.get("envvars"):
            notes.append("environment: " + ", ".join(extra["envvars"]))
        body = (param.help or "").strip()
        if notes:
            body += f" ({'; '.join(notes)})"
        out.append(f".TP\n{names}\n{text_line(body)}")
    return out


def walk(cmd: click.Command, path: list[str], parent: click.Context | None):
    """(path, command, context) for the command and everything under it, in a stable order."""
    ctx = click.Context(cmd, info_name=path[-1], parent=parent, **cmd.context_settings)
    yield path, cmd, ctx
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from walk(sub, [*path, name], ctx)


def see_also(path: list[str], children: list[str]) -> str:
    refs = ["netctl"] + [page_name(path[:i]) for i in range(2, len(path))] + children
    refs = [(r, SECTION) for r in dict.fromkeys(r for r in refs if r != page_name(path))]
    refs += [("netctl.toml", "5")] if page_name(path) in USES_CONFIG else []
    return ",\n".join(f".BR {esc(r, hyphens=True)} ({sec})" for r, sec in refs)


def command_page(path: list[str], cmd: click.Command, ctx: click.Context, ver: str) -> str:
    name = page_name(path)
    short = cmd.get_short_help_str(limit=200).rstrip(".")
    desc = paragraphs(cmd.help) or [".PP\n" + text_line(short)]
    desc[0] = desc[0].removeprefix(".PP\n")  # a paragraph right after .SH is redundant
    parts = [
        '.\\" Generated by tools/gen_docs.py from the click command tree: do not edit.',
        f'.TH {esc(name.upper(), hyphens=True)} {SECTION} "" "netctl {ver}" "netctl manual"',
        ".SH NAME", f"{esc(name, hyphens=True)} \\- {text_line(short)}",
        ".SH SYNOPSIS", f"{bold(' '.join(path))} {usage(cmd, ctx)}",
        ".SH DESCRIPTION", *desc,
    ]
    opts = options(cmd, ctx)
    if opts:
        parts += [".SH OPTIONS", *opts]
    children = []
    if isinstance(cmd, click.Group):
        parts.append(".SH COMMANDS")
        for sub_name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, sub_name)
            if sub is None or sub.hidden:
                continue
            children.append(page_name([*path, sub_name]))
            parts.append(f".TP\n{bold(sub_name)}\n{text_line(sub.get_short_help_str(limit=200))} "
                         f"See {bold(children[-1])}({SECTION}).")
    parts += [".SH EXIT STATUS", "0 on success; otherwise the codes listed in \\fBnetctl\\fR(8).",
              ".SH SEE ALSO", see_also(path, children)]
    return "\n".join(parts) + "\n"


def overview(tree: list, ver: str) -> str:
    root_path, root, root_ctx = tree[0]
    commands = [f".TP\n{bold(' '.join(path[1:]))}\n{text_line(cmd.get_short_help_str(limit=200))} "
                f"See {bold(page_name(path))}({SECTION})."
                for path, cmd, _ in tree[1:] if not isinstance(cmd, click.Group)]
    uses: dict[str, tuple[str, list[str]]] = {}
    for path, cmd, ctx in tree:
        for param in (p for p in cmd.get_params(ctx) if isinstance(p, click.Option)):
            for var in param.get_help_extra(ctx).get("envvars") or ():
                flag, where = uses.setdefault(var, (max(param.opts, key=len), []))
                where.append("netctl " + " ".join(path[1:]) if path[1:] else "global option")
    env = [(var, f"Default for {flag} ({', '.join(where)}).") for var, (flag, where) in sorted(uses.items())]
    env += EXTRA_ENV
    text = (TEMPLATES / "netctl.8.in").read_text()
    fill = {"@VERSION@": ver, "@OPTIONS@": "\n".join(options(root, root_ctx)),
            "@COMMANDS@": "\n".join(commands),
            "@ENVIRONMENT@": "\n".join(f".TP\n{bold(k)}\n{text_line(v)}" for k, v in env)}
    for key, value in fill.items():
        text = text.replace(key, value)
    return text


def generate(out: Path) -> list[Path]:
    from netctl import __version__ as ver
    from netctl.cli import main
    from netctl.cli.completion import source

    written = []
    (out / "completions").mkdir(parents=True, exist_ok=True)
    for shell, filename in COMPLETIONS.items():
        target = out / "completions" / filename
        target.write_text(source(shell, main))
        written.append(target)
    man = out / "man"
    man.mkdir(parents=True, exist_ok=True)
    tree = list(walk(main, ["netctl"], None))
    pages = {f"netctl.{SECTION}": overview(tree, ver),
             "netctl.toml.5": (TEMPLATES / "netctl.toml.5.in").read_text().replace("@VERSION@", ver)}
    for path, cmd, ctx in tree[1:]:
        pages[f"{page_name(path)}.{SECTION}"] = command_page(path, cmd, ctx, ver)
    for name, text in pages.items():
        (man / name).write_text(text)
        written.append(man / name)
    for stale in man.iterdir():
        if stale.name not in pages and stale.suffix in (f".{SECTION}", ".5"):
            stale.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="directory to write completions/ and man/ in")
    args = parser.parse_args(argv)
    written = generate(args.out)
    print(f"wrote {len(written)} files under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
