#!/bin/sh
# Regenerates the JSON fixtures from the .nft sources with the local nft, in a
# throwaway network namespace (needs root). Usage: sh capture.sh
set -eu
cd "$(dirname "$0")"
ns="kr-capture-$$"
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
capture() { # $1 source, $2 family, $3 output
    ip netns exec "$ns" nft -f "$1"
    ip netns exec "$ns" nft -j list table "$2" kroute > "$3"
    ip netns exec "$ns" nft delete table "$2" kroute
}
capture kroute_ip.nft ip kroute_ip.json
capture kroute_ip6.nft ip6 kroute_ip6.json
capture odd_ip.nft ip odd_ip.json
capture affinity_ip6.nft ip6 affinity_ip6.json
