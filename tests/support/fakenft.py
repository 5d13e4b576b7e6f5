"""FakeNft: the nftables tables and forwarding sysctls as a JSON file beside the fake kernel's.

A test double (not shipped): ``fakehooks.install`` puts it behind ``netctl.firewall.nft.open_nft``
so the CLI's firewall steps run without root and without touching a real ruleset.
"""

from __future__ import annotations

import json
from pathlib import Path

from netctl.errors import KernelError
from netctl.firewall.nft import MISSING, Nft
from netctl.firewall.rules import TABLE


class FakeNft(Nft):
    """The tables and sysctls as a JSON file; ``{"missing": true}`` plays a host without nft."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.binary = None if self._load().get("missing") else "nft"

    def _load(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, data: dict) -> None:
        self.path.write_text(json.dumps(data, indent=1, sort_keys=True))

    def version(self) -> str | None:
        return None if self.binary is None else "fake"

    def table(self, family: str) -> str:
        if self.binary is None:
            raise KernelError(MISSING)
        return self._load().get("tables", {}).get(family, "")

    def apply(self, script: str) -> None:
        if self.binary is None:
            raise KernelError(MISSING)
        data = self._load()
        data["tables"] = apply_script(data.get("tables", {}), script)
        self._save(data)

    def chains(self) -> list[dict]:
        return list(self._load().get("foreign_chains", []))

    def sysctl(self, key: str) -> str | None:
        return self._load().get("sysctl", {}).get(key, "0")

    def set_sysctl(self, key: str, value: str) -> None:
        data = self._load()
        data.setdefault("sysctl", {})[key] = value
        self._save(data)


def apply_script(tables: dict[str, str], script: str) -> dict[str, str]:
    """What ``nft -f`` does with the batches ``rules.script`` writes, on listing texts."""
    from netctl.firewall.rules import blocks

    chains = {f: dict(blocks(text)) for f, text in tables.items()}
    lines, i = script.splitlines(), 0
    while i < len(lines):
        words = lines[i].split()
        if words[:2] == ["add", "table"]:
            chains.setdefault(words[2], {})
        elif words[:2] == ["add", "chain"]:
            hook = lines[i].partition("{")[2].rstrip("} ").strip()
            body = [f"\tchain {words[4]} {{"] + ([f"\t\t{hook}"] if hook else []) + ["\t}"]
            chains[words[2]].setdefault(words[4], "\n".join(body))
        elif words[:2] == ["delete", "chain"]:
            del chains[words[2]][words[4]]
        elif words[:2] == ["delete", "table"]:
            del chains[words[2]]
        elif words[-1:] == ["{"]:
            end = lines.index("}", i)
            chains.setdefault(words[1], {}).update(blocks("\n".join(lines[i:end + 1])))
            i = end
        i += 1
    return {f: "\n".join([f"table {f} {TABLE} {{", "\n\n".join(c.values()), "}"]).replace("{\n\n}", "{\n}")
            + "\n" for f, c in chains.items()}
