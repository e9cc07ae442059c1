#!/usr/bin/env bash
# Makes sure the Rust toolchain pinned in rust-toolchain.toml is installed with every component
# and target that file lists. rustup installs those by itself only when it installs the toolchain;
# a toolchain that is already present (installed earlier, or by another project) is used as it
# is, without the aarch64-unknown-none target, and the kernel build then fails with "can't find
# crate for core". run-qemu.sh and tools/test.sh call this first; it is quick when all is there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'install-rust.sh: %s\n' "$*" >&2; }

if ! command -v rustup >/dev/null 2>&1; then
    say "rustup is missing: install Rust with rustup (https://rustup.rs), then run this again."
    exit 1
fi

# The names in a `key = ["a", "b"]` line of rust-toolchain.toml.
toml_list() {
    local line
    line=$(grep -E "^$1 *=" rust-toolchain.toml) || return 0
    line=${line#*[}
    line=${line%]*}
    tr -d '" ' <<<"$line" | tr ',' '\n' | sed '/^$/d'
}

channel=$(sed -nE 's/^channel *= *"([^"]+)".*/\1/p' rust-toolchain.toml)
installed_toolchains=$(rustup toolchain list)
if [[ "$installed_toolchains" != *"$channel"* ]]; then
    say "installing the Rust $channel toolchain (rust-toolchain.toml)"
    rustup toolchain install "$channel" --profile minimal
fi

installed_targets=$(rustup target list --installed --toolchain "$channel")
missing_targets=()
while IFS= read -r target; do
    grep -qxF "$target" <<<"$installed_targets" || missing_targets+=("$target")
done < <(toml_list targets)
if [ ${#missing_targets[@]} -gt 0 ]; then
    say "adding target ${missing_targets[*]} to Rust $channel"
    rustup target add --toolchain "$channel" "${missing_targets[@]}"
fi

# `rustup component list --installed` names components with the host triple (clippy-x86_64-...),
# and llvm-tools is installed as llvm-tools(-preview); match on the leading name.
installed_components=$(rustup component list --installed --toolchain "$channel")
missing_components=()
while IFS= read -r component; do
    grep -qE "^${component}(-preview)?-" <<<"$installed_components" || missing_components+=("$component")
done < <(toml_list components)
if [ ${#missing_components[@]} -gt 0 ]; then
    say "adding component ${missing_components[*]} to Rust $channel"
    rustup component add --toolchain "$channel" "${missing_components[@]}"
fi
