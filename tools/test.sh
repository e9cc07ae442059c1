#!/usr/bin/env bash
# The test command (README "Testing"; .ci/run calls it): lints, host tests, then the kernel in
# QEMU. Each stage prints its own result; the script stops at the first failure.
#
#   tools/test.sh            everything
#   tools/test.sh --host     lints and host tests only (no QEMU)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stage() { printf '\n== %s\n' "$*"; }

stage "format (cargo fmt --check)"
cargo fmt --all -- --check

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
