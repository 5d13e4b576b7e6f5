#!/bin/sh
# Install netctl from this checkout, as root, on Debian 12 or any Linux with Python >= 3.11.
#
#   sh tools/install.sh              install (or upgrade) netctl
#   sh tools/install.sh --uninstall  remove everything this script installed
#
# Debian's python3 refuses `pip install` into the system (PEP 668, "externally-managed-
# environment"), so netctl gets a venv of its own in $NETCTL_HOME, built from whatever python3
# comes first on PATH (Debian's, pyenv's, ...), and only the `netctl` command is linked onto
# root's PATH. Man pages and shell completions go under $PREFIX/share, where man-db, bash-completion,
# zsh and fish look.
#   NETCTL_HOME  the venv            (default /opt/netctl)
#   PREFIX       bin/ and share/     (default /usr/local)
#   PYTHON       the interpreter     (default python3)
set -eu

home=${NETCTL_HOME:-/opt/netctl}
prefix=${PREFIX:-/usr/local}
python=${PYTHON:-python3}
src=$(cd "$(dirname "$0")/.." && pwd)
share=$prefix/share
files="$prefix/bin/netctl
$share/bash-completion/completions/netctl
$share/zsh/site-functions/_netctl
$share/fish/vendor_completions.d/netctl.fish"

say() { echo "install.sh: $*" >&2; }

uninstall() {
    for f in $files; do rm -f "$f"; done
    for page in "$src"/man/*.[0-9]; do
        name=$(basename "$page")
        rm -f "$share/man/man${name##*.}/$name"
    done
    [ ! -e "$home/bin/netctl" ] || rm -rf "$home"
    say "removed netctl ($home, $prefix/bin/netctl, man pages, completions)"
}

if [ "${1:-}" = "--uninstall" ]; then
    uninstall
    exit 0
elif [ $# -gt 0 ]; then
    say "usage: sh tools/install.sh [--uninstall]"
    exit 2
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "$python is missing or older than 3.11"
    exit 1
fi
# Debian's packages netctl needs: venv (Debian ships it separately) and nft, which bridge
# networks' firewall drives (netctl.toml's `firewall = false` does without it).
debs=""
"$python" -c 'import ensurepip, venv' 2>/dev/null || debs="python3-venv"
command -v nft >/dev/null || [ -x /usr/sbin/nft ] || debs="$debs nftables"
if [ -n "$debs" ]; then
    if command -v apt-get >/dev/null; then
        say "installing$(printf ' %s' $debs) from Debian"
        # shellcheck disable=SC2086 # word splitting of the package list is wanted
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debs >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debs >/dev/null; }
    elif [ -z "${debs##*python3-venv*}" ]; then
        say "$python has no venv module; install your distribution's python3-venv package"
        exit 1
    else
        say "warning: no nft: bridge networks need nftables (or firewall = false in netctl.toml)"
    fi
fi

if [ -e "$home" ] && [ ! -f "$home/pyvenv.cfg" ] && [ -n "$(ls -A "$home")" ]; then
    say "$home exists and is not a venv; refusing to replace it (set NETCTL_HOME)"
    exit 1
fi
# An upgrade installs into the venv that is there, so a pip that fails (no index, no network)
# leaves the working netctl in place; only a venv of another Python version is rebuilt.
version='import sys; print(sys.version_info[:2])'
if [ -f "$home/pyvenv.cfg" ] \
        && [ "$("$home/bin/python" -c "$version" 2>/dev/null)" = "$("$python" -c "$version")" ] \
        && "$home/bin/python" -m pip --version >/dev/null 2>&1; then
    say "upgrading the netctl in $home"
else
    "$python" -m venv --clear "$home"
fi
"$home/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$src"

install -d "$prefix/bin"
ln -sf "$home/bin/netctl" "$prefix/bin/netctl"
install -Dm644 "$src/completions/netctl.bash" "$share/bash-completion/completions/netctl"
install -Dm644 "$src/completions/_netctl" "$share/zsh/site-functions/_netctl"
install -Dm644 "$src/completions/netctl.fish" "$share/fish/vendor_completions.d/netctl.fish"
for page in "$src"/man/*.[0-9]; do
    name=$(basename "$page")
    install -Dm644 "$page" "$share/man/man${name##*.}/$name"
done
command -v mandb >/dev/null && [ "$prefix" = /usr/local ] && mandb -q 2>/dev/null || true
say "installed $("$prefix/bin/netctl" --version) in $home; command $prefix/bin/netctl"
