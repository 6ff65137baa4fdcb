#!/usr/bin/env bash
# kroute demo: on a fresh machine, build kroute, build a one-node "cluster" out
# of network namespaces (node, client, one namespace per backend pod), run
# `kroute run` in the node namespace on the example manifests, and show
# requests from the client (and the node itself) reaching the backends through
# every ClusterIP, NodePort, external IP and LB IP, and a service without
# endpoints being refused. Everything it creates is removed on exit. Needs root.
#
#   sudo bash scripts/demo.sh [MANIFEST_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

# ---- assumptions about the example cluster (override through the environment)
MANIFESTS=${1:-${MANIFESTS:-examples/cluster}}
CONFIG=${CONFIG:-examples/kroute.yaml}  # written by the script when absent
NODE_IP=${NODE_IP:-192.168.50.1}        # the Node's InternalIP = its primary IP
CLIENT_IP=${CLIENT_IP:-192.168.50.2}    # a machine outside the cluster, same L2
POD_GATEWAY=${POD_GATEWAY:-10.244.1.1}  # the node's address towards its pods
CLUSTER_CIDR=${CLUSTER_CIDR:-10.244.0.0/16}
SERVICE_CIDR=${SERVICE_CIDR:-10.96.0.0/12}
REQUESTS=${REQUESTS:-10}                # per frontend
# KROUTE_BIN=/path/to/kroute              # use this binary instead of building
WAIT_SECONDS=${WAIT_SECONDS:-30}        # for kroute to program the rules

if [[ $EUID -ne 0 ]]; then
    echo "demo.sh: needs root (network namespaces, nftables); try: sudo bash $0" >&2
    exit 1
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "packages"
bash scripts/install-packages.sh python3=python3

if [[ -n ${KROUTE_BIN:-} ]]; then
    KROUTE=$KROUTE_BIN # an already built binary: skip the build
else
    say "building kroute (release)"
    cargo build --release --bin kroute
    KROUTE=$PWD/target/release/kroute
fi

WORK=$(mktemp -d /tmp/kroute-demo.XXXXXX)
PREFIX="krdemo$$"
NODE_NS="$PREFIX-node"
CLIENT_NS="$PREFIX-client"
NAMESPACES=()
PIDS=()

cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$WORK"
    echo "demo: removed namespaces ${NAMESPACES[*]:-none} and $WORK"
}
trap cleanup EXIT

if [[ ! -d $MANIFESTS ]]; then
    echo "demo: no manifests directory $MANIFESTS" >&2
    exit 1
fi
MANIFESTS=$(cd "$MANIFESTS" && pwd)

python3 scripts/demo_manifests.py "$MANIFESTS" >"$WORK/inventory"
NODE_NAME=$(awk '$1 == "node" {print $2; exit}' "$WORK/inventory")
node_ip_found=$(awk '$1 == "node" {print $3; exit}' "$WORK/inventory")
NODE_NAME=${NODE_NAME:-node-a}
if [[ -n $node_ip_found && $node_ip_found != "-" && $node_ip_found != "$NODE_IP" ]]; then
    echo "demo: the Node manifest says InternalIP $node_ip_found; using it instead of $NODE_IP"
    NODE_IP=$node_ip_found
fi

ns_add() {
    ip netns add "$1"
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

say "namespaces: node $NODE_IP, client $CLIENT_IP, one per backend pod"
ns_add "$NODE_NS"
for key in ip_forward conf/all/send_redirects conf/default/send_redirects conf/all/rp_filter conf/default/rp_filter; do
    value=0
    [[ $key == ip_forward ]] && value=1
    # No ICMP redirects: they eat the ICMP rate limit a reject needs.
    in_ns "$NODE_NS" sh -c "echo $value > /proc/sys/net/ipv4/$key"
done
ns_add "$CLIENT_NS"
ip link add vclient netns "$NODE_NS" type veth peer name eth0 netns "$CLIENT_NS"
ip -n "$NODE_NS" addr add "$NODE_IP/24" dev vclient
ip -n "$NODE_NS" link set vclient up
ip -n "$CLIENT_NS" addr add "$CLIENT_IP/24" dev eth0
ip -n "$CLIENT_NS" link set eth0 up
# The node's own traffic to a ClusterIP needs a route to reach nat output.
ip -n "$NODE_NS" route add default via "$CLIENT_IP"
ip -n "$CLIENT_NS" route add "$SERVICE_CIDR" via "$NODE_IP"
ip -n "$CLIENT_NS" route add "$CLUSTER_CIDR" via "$NODE_IP"
# External and LB IPs: in a real network a router or ARP brings them to a node.
while read -r ip; do
    ip -n "$CLIENT_NS" route add "$ip/32" via "$NODE_IP"
done < <(awk '$1 == "frontend" && ($3 == "externalip" || $3 == "lbip") {print $4}' "$WORK/inventory" | sort -u)

n=0
while read -r pod ip; do
    n=$((n + 1))
    pod_ns="$PREFIX-pod$n"
    ns_add "$pod_ns"
    ip link add "vpod$n" netns "$NODE_NS" type veth peer name eth0 netns "$pod_ns"
    ip -n "$NODE_NS" addr add "$POD_GATEWAY/32" dev "vpod$n"
    ip -n "$NODE_NS" link set "vpod$n" up
    ip -n "$NODE_NS" route add "$ip/32" dev "vpod$n"
    ip -n "$pod_ns" addr add "$ip/24" dev eth0
    ip -n "$pod_ns" link set eth0 up
    ip -n "$pod_ns" route add default via "$POD_GATEWAY"
    mapfile -t listens < <(awk -v ip="$ip" '$1 == "backend" && $3 == ip {print $5 ":" $4}' "$WORK/inventory" | sort -u)
    # `ip netns exec` directly (not a shell function): it execs in place, so $!
    # is the backend itself and the trap can kill it by pid.
    ip netns exec "$pod_ns" python3 scripts/demo_backend.py "$pod" "${listens[@]}" &
    PIDS+=($!)
    printf '  %-24s %-15s listening on %s\n' "$pod" "$ip" "${listens[*]}"
done < <(awk '$1 == "backend" {print $2, $3}' "$WORK/inventory" | sort -u)

if [[ ! -f $CONFIG ]]; then
    CONFIG=$WORK/kroute.yaml
    cat >"$CONFIG" <<YAML
nodeName: $NODE_NAME
source:
  manifests: $MANIFESTS
proxy:
  clusterCIDRs: [$CLUSTER_CIDR]
  serviceCIDRs: [$SERVICE_CIDR]
  syncPeriod: 30s
  minSyncPeriod: 100ms
health: {address: "127.0.0.1:10256"}
metrics: {address: "127.0.0.1:10249"}
YAML
fi
# The manifests as an absolute path, and an admin socket of the demo's own
# (the file system is shared with the host, unlike the network).
RUN_ARGS=(run --config "$CONFIG" --source-manifests "$MANIFESTS" --admin-socket "$WORK/kroute.sock")

say "kroute ${RUN_ARGS[*]} (in $NODE_NS)"
ip netns exec "$NODE_NS" "$KROUTE" "${RUN_ARGS[@]}" >"$WORK/kroute.log" 2>&1 &
KROUTE_PID=$!
PIDS+=("$KROUTE_PID")

first=$(awk '$1 == "frontend" && $3 == "clusterip" && $7 == "answer" {print $6, $4, $5; exit}' "$WORK/inventory")
for ((i = 0; i < WAIT_SECONDS * 5; i++)); do
    if ! kill -0 "$KROUTE_PID" 2>/dev/null; then
        echo "demo: kroute exited early; its output:" >&2
        cat "$WORK/kroute.log" >&2
        exit 1
    fi
    if in_ns "$NODE_NS" nft list table ip kroute >/dev/null 2>&1 &&
        { [[ -z $first ]] || in_ns "$CLIENT_NS" python3 scripts/demo_client.py $first 1 | grep -qv -e timeout -e refused -e error; }; then
        break
    fi
    sleep 0.2
done
if ! in_ns "$NODE_NS" nft list table ip kroute >/dev/null 2>&1; then
    echo "demo: kroute did not program table ip kroute within ${WAIT_SECONDS}s; its output:" >&2
    cat "$WORK/kroute.log" >&2
    exit 1
fi

UNEXPECTED=0
ask() { # ask NS SVC KIND IP PORT PROTO EXPECT
    local answers note=""
    answers=$(in_ns "$1" python3 scripts/demo_client.py "$6" "$4" "$5" "$REQUESTS")
    if [[ $7 == refused ]]; then
        note="  (no endpoints: refused, as it should be)"
        [[ $answers == "refused x$REQUESTS" ]] || { note="  <-- expected refused"; UNEXPECTED=$((UNEXPECTED + 1)); }
    elif grep -qE 'refused|timeout|error' <<<"$answers"; then
        note="  <-- expected only backends"
        UNEXPECTED=$((UNEXPECTED + 1))
    fi
    printf '  %-20s %-10s %-22s -> %s%s\n' "$2" "$3" "$4:$5/$6" "$answers" "$note"
}

say "requests from the client ($REQUESTS each)"
while read -r _ svc kind ip port proto expect; do
    [[ $kind == nodeport ]] && ip=$NODE_IP
    ask "$CLIENT_NS" "$svc" "$kind" "$ip" "$port" "$proto" "$expect"
done < <(grep '^frontend' "$WORK/inventory")

say "requests from the node itself to the ClusterIPs"
while read -r _ svc kind ip port proto expect; do
    ask "$NODE_NS" "$svc" "$kind" "$ip" "$port" "$proto" "$expect"
done < <(awk '$1 == "frontend" && $3 == "clusterip"' "$WORK/inventory")

say "table ip kroute in $NODE_NS"
in_ns "$NODE_NS" nft list table ip kroute >"$WORK/table"
printf '  %s chains, %s maps/sets, %s rules\n' \
    "$(grep -c '^\s*chain ' "$WORK/table")" \
    "$(grep -cE '^\s*(map|set) ' "$WORK/table")" \
    "$(grep -cvE '^\s*(table|chain|map|set|type|flags|elements|policy|\}|$)' "$WORK/table")"
for map in service-ips service-nodeports no-endpoint-services; do
    if in_ns "$NODE_NS" nft list map ip kroute "$map" >"$WORK/map" 2>/dev/null; then
        echo "  map $map:"
        awk '/elements/ {p = 1} p {sub(/^[ \t]*/, "      "); print} p && /}/ {exit}' "$WORK/map"
    fi
done

say "stopping kroute"
kill "$KROUTE_PID" && wait "$KROUTE_PID" 2>/dev/null || true
echo "demo: done (kroute log: $(wc -l <"$WORK/kroute.log") lines)"
if ((UNEXPECTED > 0)); then
    echo "demo: $UNEXPECTED frontend(s) did not behave as expected (see <-- above)"
    exit 1
fi
