"""What the CNI spec fixes: versions, the environment, and the error document.

Pure: a plugin exec hands in ``os.environ`` and stdin's bytes; nothing here reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: the spec versions netctl speaks; the Result of 1.0.0 and 1.1.0 has the same shape
SUPPORTED = ("1.0.0", "1.1.0")
LATEST = "1.1.0"
COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")

# Well-known error codes (spec "Error"): 0-99 are the spec's, 100+ are the plugin's.
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENV = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN = 11
NOT_AVAILABLE = 50  # STATUS: the plugin cannot serve ADDs now
#: a netctl error with no spec code becomes 100 + its exit code (docs/cni.md)
PLUGIN_BASE = 100

# the spec's rules for CNI_CONTAINERID and CNI_IFNAME
_CONTAINER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_IFNAME_BAD = re.compile(r"[/:\s]")


class CniError(Exception):
    """A failure as the spec's error document: ``code``, ``msg``, ``details``."""

    def __init__(self, code: int, msg: str, details: str = ""):
        super().__init__(msg)
        self.code, self.msg, self.details = code, msg, details

    def document(self, version: str) -> dict:
        out = {"cniVersion": version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out


def from_netctl(exc: Exception) -> CniError:
    """A netctl error (errors.py, by exit code) as the nearest spec error."""
    exit_code = getattr(exc, "exit_code", 1)
    code = {2: INVALID_CONFIG, 7: TRY_AGAIN, 8: IO_FAILURE}.get(exit_code, PLUGIN_BASE + exit_code)
    return CniError(code, _first_line(str(exc)), f"netctl exit code {exit_code}")


def _first_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"


@dataclass
class Env:
    """The CNI_* variables of one exec, checked as the command requires."""

    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)


# which variables each command needs (spec "Parameters"); CNI_NETNS may be empty on DEL
_NEEDS = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "VERSION": (), "GC": (), "STATUS": (),
}


def parse_env(environ: dict[str, str]) -> Env:
    """The environment of a plugin exec; a missing or malformed variable is error 4."""
    command = environ.get("CNI_COMMAND", "")
    if command not in COMMANDS:
        raise CniError(INVALID_ENV, f"unknown CNI_COMMAND {command!r}",
                       "expected one of " + ", ".join(COMMANDS))
    for name in _NEEDS[command]:
        if not environ.get(name):
            raise CniError(INVALID_ENV, f"{name} is required for {command}")
    if command in ("VERSION", "GC", "STATUS"):  # libcni probes VERSION with CNI_NETNS=dummy
        return Env(command)
    env = Env(command, environ.get("CNI_CONTAINERID", ""), environ.get("CNI_NETNS", ""),
              environ.get("CNI_IFNAME", ""), parse_args(environ.get("CNI_ARGS", "")),
              [p for p in environ.get("CNI_PATH", "").split(":") if p])
    if env.container_id and not _CONTAINER_ID.fullmatch(env.container_id):
        raise CniError(INVALID_ENV, f"invalid CNI_CONTAINERID {env.container_id!r}",
                       "letters, digits, '_', '.', '-', starting with a letter or digit")
    if env.ifname:
        check_ifname(env.ifname)
    if env.netns and not env.netns.startswith("/"):
        raise CniError(INVALID_ENV, f"CNI_NETNS {env.netns!r} is not an absolute path")
    return env


def check_ifname(name: str) -> None:
    """The spec's interface name rule (and the kernel's 15 bytes), netctl's (validate.ifname:
    it was error 7 for a variable), and the two names the kernel refuses as they are its
    sysctl directories (they were error 101, "create veth ...: Invalid argument")."""
    from .. import validate

    if len(name.encode()) > 15 or name in (".", "..") or _IFNAME_BAD.search(name):
        raise CniError(INVALID_ENV, f"invalid CNI_IFNAME {name!r}",
                       "at most 15 bytes, not '.' or '..', no '/', ':' or whitespace")
    try:
        validate.ifname(name, "CNI_IFNAME")
    except validate.InvalidInput as exc:
        raise CniError(INVALID_ENV, str(exc)) from None
    if name in ("all", "default"):
        raise CniError(INVALID_ENV, f"invalid CNI_IFNAME {name!r}: the kernel refuses it "
                       "(/proc/sys/net/*/conf/{all,default})")


def parse_args(text: str) -> dict[str, str]:
    """``CNI_ARGS``: ``K=V;K=V`` (a malformed pair is error 4)."""
    out: dict[str, str] = {}
    for pair in filter(None, text.split(";")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CniError(INVALID_ENV, f"invalid CNI_ARGS pair {pair!r}", "expected KEY=VALUE")
        out[key] = value
    return out


def check_version(version: object) -> str:
    """The config's ``cniVersion``: one netctl speaks, else error 1."""
    if not isinstance(version, str) or not version:
        raise CniError(INVALID_CONFIG, "cniVersion is required")
    if version not in SUPPORTED:
        raise CniError(INCOMPATIBLE_VERSION, f"incompatible CNI version {version}",
                       "netctl supports " + ", ".join(SUPPORTED))
    return version


def version_document(requested: str | None) -> dict:
    """VERSION's answer, in the version asked (or the newest)."""
    version = requested if requested in SUPPORTED else LATEST
    return {"cniVersion": version, "supportedVersions": list(SUPPORTED)}
