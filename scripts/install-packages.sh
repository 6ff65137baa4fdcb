#!/usr/bin/env bash
# Installs the system packages kroute's test tiers and demo need, only when one
# is missing (so a warm machine does no apt work at all). Extra "command=package"
# pairs may be given as arguments, e.g. python3=python3.
set -euo pipefail

# command that must exist = Debian package that provides it
wanted=(nft=nftables ip=iproute2 ping=iputils-ping conntrack=conntrack iptables=iptables ipvsadm=ipvsadm
    gobgpd=gobgpd bird=bird2 vtysh=frr "$@")

missing=()
for pair in "${wanted[@]}"; do
    cmd=${pair%%=*}
    pkg=${pair#*=}
    # sbin may be off PATH for non-login shells.
    if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "install-packages: all present (${wanted[*]})"
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    echo "install-packages: missing ${missing[*]}, but not root: cannot install" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-packages: missing ${missing[*]} and no apt-get here" >&2
    exit 1
fi

echo "install-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt run (unattended upgrades, a parallel build) may hold the lock.
apt_opts=(-o DPkg::Lock::Timeout=600 -q)
apt-get "${apt_opts[@]}" update
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
