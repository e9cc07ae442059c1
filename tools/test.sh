#!/usr/bin/env bash
# The test command (README "Testing"; .ci/run calls it): lints, host tests, then the kernel in
# QEMU. Each stage prints its own result; the script stops at the first failure.
#
#   tools/test.sh            everything
#   tools/test.sh --host     lints and host tests only (no QEMU)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stage() { printf '\n== %s\n' "$*"; }

# What the tiers run, installed when missing (QEMU and the clients as root; without root the
# script names the one command to run as root). Nothing is skipped for want of a package.
stage "tools"
tools/install-rust.sh
if [ "${1:-}" = "--host" ]; then
    tools/install-tools.sh shellcheck
else
    tools/install-tools.sh shellcheck qemu-system-aarch64 curl wget ping ip chromium sfdisk mcopy \
        slowhttptest wrk
fi
rustc --version
shellcheck --version | sed -n 2p
[ "${1:-}" = "--host" ] || qemu-system-aarch64 --version | sed -n 1p

stage "format (cargo fmt --check)"
cargo fmt --all -- --check

stage "lints: shell scripts (shellcheck)"
shell_scripts=()
while IFS= read -r path; do
    [ -f "$path" ] || continue
    first_line=$(head -n 1 "$path")
    [[ "$first_line" =~ ^\#!.*(bash|/sh)$ ]] && shell_scripts+=("$path")
done < <(git ls-files)
shellcheck --external-sources "${shell_scripts[@]}"
echo "${#shell_scripts[@]} scripts: ${shell_scripts[*]}"

stage "lints: host (library, tests, tools)"
cargo clippy --workspace --all-targets -- -D warnings
stage "lints: kernel, QEMU virt"
cargo clippy --target aarch64-unknown-none --features kernel --bin kernel -- -D warnings
stage "lints: kernel, Raspberry Pi 4"
cargo clippy --target aarch64-unknown-none --no-default-features --features kernel,board-rpi4 --bin kernel -- -D warnings

stage "host tests (cargo test --workspace)"
cargo test --workspace

if [ "${1:-}" = "--host" ]; then
    exit 0
fi

stage "QEMU end-to-end tests"
python3 tests/qemu/run.py
