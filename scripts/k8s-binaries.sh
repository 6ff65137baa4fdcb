#!/usr/bin/env bash
# Builds the real Kubernetes binaries (kube-apiserver, kube-proxy, kubectl,
# etcd) that the API-server test tier and the scale benchmark run against,
# from the wrapper Go module in tests/k8s-bins/. The binaries and Go's caches
# live outside the work tree, keyed by version, so a second run builds nothing:
#   $KROUTE_K8S_CACHE (default /var/cache/kroute)/k8s-<version>/{kube-apiserver,...}
# Prints the binary directory as its last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=v1.37.2
cache=${KROUTE_K8S_CACHE:-/var/cache/kroute}
bin="$cache/k8s-$version"
bins=(kube-apiserver kube-proxy kubectl etcd)

have_all() {
    local b
    for b in "${bins[@]}"; do [[ -x "$bin/$b" ]] || return 1; done
}
if have_all; then
    echo "$bin"
    exit 0
fi
command -v go >/dev/null || { echo "k8s-binaries: go not found (Go 1.26 is needed)" >&2; exit 1; }

mkdir -p "$bin" "$cache/go"
export GOPATH="$cache/go" GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false -modcacherw"
cd "$root/tests/k8s-bins"
# go.sum is committed; tidy only fills in what is missing (first run: ~90 s of downloads).
go mod download >&2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version"
ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
for b in "${bins[@]}"; do
    if [[ ! -x "$bin/$b" ]]; then
        echo "k8s-binaries: building $b $version (kube-apiserver cold: ~4 min)" >&2
        go build -ldflags "$ldflags" -o "$bin/$b.tmp" "./$b" >&2
        mv "$bin/$b.tmp" "$bin/$b"
    fi
done
echo "$bin"
