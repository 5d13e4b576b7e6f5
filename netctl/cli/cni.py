"""``netctl cni NETWORK``: the conflist a container runtime needs, and the plugin's manual."""

from __future__ import annotations

import click

from .. import output


@click.command()
@click.argument("network")
@click.pass_obj
def cni(settings, network: str) -> None:
    """Print a CNI network configuration list (JSON) for NETWORK.

    netctl is also a CNI plugin (spec 1.0.0 and 1.1.0): when a container runtime (podman with
    its CNI backend, containerd/nerdctl, CRI-O) execs the netctl console script with
    CNI_COMMAND in its environment, netctl reads the network configuration on stdin and
    answers with the spec's JSON on stdout instead of acting as this command line.  Link it
    where the runtime looks for plugins, e.g. ln -s "$(command -v netctl)" /opt/cni/bin/netctl
    ('netctl status' says whether it is reachable), and save this output as a .conflist in
    the runtime's configuration directory (podman: --cni-config-dir or containers.conf
    network_config_dir; containerd: /etc/cni/net.d).

    \b
    ADD     adopts CNI_NETNS as sandbox NAME-<first 12 of CNI_CONTAINERID> (NAME: CNI_ARGS
            K8S_POD_NAME, podman's container name, else cni; label cni.container_id) and
            connects it to the network as CNI_IFNAME; the network is
            created on the first ADD from the config's keys (driver, subnet, gateway,
            ipRange, auxAddress, ipv6, internal, mtu, bridge, labels, options, ipMasq) and must match
            them when it exists; runtimeConfig ips, mac, portMappings and aliases (and
            CNI_ARGS IP, MAC) are the connect's --ip/--ip6, --mac, -p, --alias
    DEL     deletes netctl's endpoint; the last one takes the sandbox (only netctl's bind
            mount: the namespace and what netctl did not make stay); a container, network or
            namespace already gone is success
    CHECK   the endpoint's link, MAC, addresses and default route are as ADD left them
    GC      removes the network's attachments not in cni.dev/valid-attachments (1.1.0)
    STATUS  ready (exit 0, no output) or error 50 saying why (1.1.0)
    VERSION the supported versions

    Errors are the spec's document {"code", "msg", "details"}: 1 incompatible version,
    2 unsupported field, 3 unknown container, 4 bad CNI_* variable, 5 I/O (state file),
    6 undecodable config, 7 invalid config, 11 busy (state lock: try again), 50 not
    ready; other netctl failures are 100 + netctl's exit code (104 conflict, 105
    exhausted, 109 CHECK found drift).  The state file is the config's "state" key, else
    NETCTL_STATE, else /var/lib/netctl/state.toml.  More: docs/cni.md.
    """
    from .. import lookup
    from ..cni.netconf import conflist
    from ..store import DEFAULT_PATH

    net = lookup.network(settings.store.read(), network)
    if net.driver in ("null", "host"):  # the plugin's ADD refuses them (error 7)
        from ..errors import InvalidInput

        raise InvalidInput(f"network {net.name!r} has driver {net.driver}: it gives a container no interface")
    state = None if settings.state == DEFAULT_PATH else str(settings.store.path.resolve())
    click.echo(output.to_json(conflist(net, state)))
