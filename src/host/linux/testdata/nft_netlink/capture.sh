#!/bin/sh
# Captures what nft sends for each case script: `nft --debug=mnl -f CASE.nft`
# in a fresh network namespace, after loading the scripts CASE.setup lists
# (one file name a line), into CASE.mnl. Run as root from anywhere:
#   sh src/host/linux/testdata/nft_netlink/capture.sh
# The scripts themselves come from the tests: KROUTE_WRITE_NFT_FIXTURES=1
# cargo test --lib nft_netlink rewrites them from the ops.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
ns="kr-capture-$$"
for script in "$dir"/*.nft; do
    case=${script%.nft}
    ip netns add "$ns"
    if [ -f "$case.setup" ]; then
        while read -r setup; do
            ip netns exec "$ns" nft -f "$dir/$setup"
        done < "$case.setup"
    fi
    ip netns exec "$ns" nft --debug=mnl -f "$script" > "$case.mnl"
    ip netns del "$ns"
done
