#!/usr/bin/env bash
# kroute's test command (README shows it; .ci/run execs it): installs the
# system packages the tiers need, then runs format, lint, every test tier and
# the bench build. Every step runs even after a failure, so one run reports
# everything; the exit status is non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
step() {
    local name=$1
    shift
    echo "==> [$name] $*"
    if ! "$@"; then
        echo "==> [$name] FAILED"
        failed+=("$name")
    fi
}

if [[ $EUID -eq 0 ]]; then
    step packages bash scripts/install-packages.sh
else
    # Not root: kernel-tier tests skip themselves (and fail when CI is set).
    echo "==> [packages] skipped: not root"
fi

# The API-server tier runs the real kube-apiserver, etcd and kubectl: build
# them once (cached outside the work tree; the tests would build them too).
step k8s-binaries bash scripts/k8s-binaries.sh
step fmt cargo fmt --all -- --check
step clippy cargo clippy --all-targets -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
    step tests cargo nextest run --all-targets --no-fail-fast
else
    echo "==> cargo-nextest not found: falling back to cargo test"
    step tests cargo test --all-targets --no-fail-fast
fi
step bench-build cargo bench --no-run

if ((${#failed[@]} > 0)); then
    echo "scripts/test.sh: FAILED steps: ${failed[*]}"
    exit 1
fi
echo "scripts/test.sh: all steps passed"
