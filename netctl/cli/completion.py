"""``netctl completion bash|zsh|fish``: print the shell completion script.

The scripts are click's own templates, so they are shims that call ``netctl`` back for the
words.  ``_NETCTL_COMPLETE=<shell>_source netctl`` prints the same bytes as this command, and
``completions/`` ships them: netctl answers that variable itself (``print_source``) because
click changed the trailing newline of its answer in 8.5, and the shipped files must not depend
on which click a machine has.

click 8.4.0's fish script is broken (pallets/click#3502: an unquoted ``\\n`` in ``string split``
becomes a newline that ends the command, and command substitution splits the response on
newlines anyway), so netctl registers a fish class with a working script and wire format
before click ever looks one up.  It is self-consistent, so a fixed click changes nothing.
"""

from __future__ import annotations

import sys

import click
from click.shell_completion import CompletionItem, FishComplete, add_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_NETCTL_COMPLETE"

# One line per candidate, "type,value" plus "<TAB>help" when there is help; fish's own
# completion protocol takes "value<TAB>description", so plain items are echoed as they come.
_FISH_SOURCE = """\
function %(complete_func)s
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \
COMP_CWORD=(commandline -t) %(prog_name)s)

    for completion in $response
        set -l metadata (string split -m 1 "," -- $completion)

        if test "$metadata[1]" = dir
            __fish_complete_directories $metadata[2]
        else if test "$metadata[1]" = file
            __fish_complete_path $metadata[2]
        else if test "$metadata[1]" = plain
            echo $metadata[2]
        end
    end
end

complete --erase --command %(prog_name)s  # drop rules loaded before for another "netctl"
complete --no-files --command %(prog_name)s --arguments "(%(complete_func)s)"
"""


class NetctlFishComplete(FishComplete):
    source_template = _FISH_SOURCE

    def format_completion(self, item: CompletionItem) -> str:
        value = " ".join(item.value.split("\n"))
        if item.help and item.type == "plain":
            return f"{item.type},{value}\t{' '.join(item.help.split())}"
        return f"{item.type},{value}"


add_completion_class(NetctlFishComplete, "fish")


def source(shell: str, cli: click.Command, prog_name: str = "netctl") -> str:
    """The script for SHELL, ending in exactly one newline whatever click's template does."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:
        raise click.BadParameter(f"unsupported shell {shell!r}")
    return cls(cli, {}, prog_name, COMPLETE_VAR).source().rstrip("\n") + "\n"


def print_source(instruction: str, cli: click.Command) -> bool:
    """Answer ``_NETCTL_COMPLETE=<shell>_source``; False for the other instructions, which
    click handles (the per-word ``<shell>_complete`` calls)."""
    shell, _, what = instruction.partition("_")
    if what != "source" or shell not in SHELLS:
        return False
    sys.stdout.write(source(shell, cli))
    return True


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash:  netctl completion bash > /usr/share/bash-completion/completions/netctl
    zsh:   netctl completion zsh > /usr/share/zsh/vendor-completions/_netctl
    fish:  netctl completion fish > /usr/share/fish/vendor_completions.d/netctl.fish
    Or for this shell only: eval "$(netctl completion bash)"
    """
    root = click.get_current_context().find_root().command
    click.echo(source(shell, root), nl=False)
