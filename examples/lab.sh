#!/usr/bin/env bash
# A three-sandbox lab, provisioned and torn down with netctl.
#
#   lab-a --[lab-front]-- lab-b --[lab-back]-- lab-c
#
# lab-b sits on both networks; lab-a and lab-c each share one network with it.
#
#   examples/lab.sh up      create what is missing (safe to run again)
#   examples/lab.sh check   lab-a and lab-c open a TCP connection to lab-b, by name
#   examples/lab.sh down    remove everything (safe to run again)
#   examples/lab.sh         up, check, down (down also runs when up or check fails)
#
# Needs root, like every command that changes the kernel. NETCTL names the netctl to run
# (default: netctl on PATH), LAB_PORT the TCP port of the check (default 8080).
set -euo pipefail

NETCTL=${NETCTL:-netctl}
PORT=${LAB_PORT:-8080}
SANDBOXES=(lab-a lab-b lab-c)
NETWORKS=(lab-front lab-back)

netctl() { command "$NETCTL" "$@"; }

up() {
    for net in "${NETWORKS[@]}"; do
        netctl network create --ignore "$net" >/dev/null   # exists -> success, unchanged
    done
    for sb in "${SANDBOXES[@]}"; do
        netctl sandbox exists "$sb" || netctl sandbox create "$sb" >/dev/null
    done
    netctl network connect lab-front lab-a                   # connecting twice is a no-op
    netctl network connect lab-front lab-b
    netctl network connect lab-back lab-b
    netctl network connect lab-back lab-c
    netctl endpoint ls --format '{sandbox}\t{network}\t{ipv4}' >&2
}

# Serve COUNT connections on PORT, answering each with NAME.
SERVE='
import socket, sys
name, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.settimeout(15)
srv.bind(("0.0.0.0", port))
srv.listen()
for _ in range(count):
    conn, _ = srv.accept()
    conn.sendall(name.encode())
    conn.close()
'

# Connect to HOST:PORT (retrying while the server starts) and print its answer.
ASK='
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 10
while True:
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            print(conn.recv(100).decode())
            break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
'

check() {
    netctl sandbox exec lab-b -- python3 -c "$SERVE" lab-b "$PORT" 2 &
    local server=$! client reply
    for client in lab-a lab-c; do
        # "lab-b" resolves through /etc/netns/$client/hosts, which netctl keeps up to date.
        reply=$(netctl sandbox exec "$client" -- python3 -c "$ASK" lab-b "$PORT")
        if [ "$reply" != lab-b ]; then
            echo "lab: $client could not reach lab-b (got '$reply')" >&2
            kill "$server" 2>/dev/null || true
            return 1
        fi
        echo "lab: $client reached lab-b"
    done
    wait "$server"
}

down() {
    netctl sandbox rm -f "${SANDBOXES[@]}" >/dev/null     # takes their endpoints along
    netctl network rm -f "${NETWORKS[@]}" >/dev/null      # missing is fine with -f
}

case "${1:-all}" in
    up) up ;;
    check) check ;;
    down) down ;;
    all) trap down EXIT; up; check ;;
    *) echo "usage: $0 [up|check|down|all]" >&2; exit 2 ;;
esac
