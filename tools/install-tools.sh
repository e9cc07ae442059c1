#!/usr/bin/env bash
# Makes sure the programs bareserve's scripts run are installed, and installs the Debian packages
# of the missing ones. run-qemu.sh, tools/test.sh and tools/sdcard/build.sh call it with what each
# needs; it does nothing (and needs no root) when everything is there already.
#
#   tools/install-tools.sh PROGRAM...      e.g. tools/install-tools.sh qemu-system-aarch64 curl
#
# Programs it knows, with their Debian packages:
#   qemu-system-aarch64  qemu-system-arm (from bookworm-backports on Debian 12: QEMU 10, which has
#                        the raspi4b machine; bookworm's own QEMU 7.2 has not)
#   curl wget shellcheck chromium python3 slowhttptest wrk   packages of the same name
#   ping                 iputils-ping
#   ip                   iproute2
#   sfdisk               fdisk
#   mcopy mformat mdir   mtools
#
# Without root it installs nothing: it names the missing packages and the one command to run as
# root, and exits 1. Exit status 2: a program it does not know.
set -euo pipefail

say() { printf 'install-tools.sh: %s\n' "$*" >&2; }

package_of() {
    case "$1" in
        qemu-system-aarch64) echo qemu-system-arm ;;
        curl | wget | shellcheck | chromium | python3 | slowhttptest | wrk) echo "$1" ;;
        ping) echo iputils-ping ;;
        ip) echo iproute2 ;;
        sfdisk) echo fdisk ;;
        mcopy | mformat | mdir) echo mtools ;;
        *) return 1 ;;
    esac
}

missing_packages=()
for program in "$@"; do
    if ! package=$(package_of "$program"); then
        say "unknown program '$program' (known: see the top of $0)"
        exit 2
    fi
    if ! command -v "$program" >/dev/null 2>&1 \
        && [[ " ${missing_packages[*]} " != *" $package "* ]]; then
        missing_packages+=("$package")
    fi
done
[ ${#missing_packages[@]} -gt 0 ] || exit 0

if [ "$(id -u)" != 0 ]; then
    say "missing: ${missing_packages[*]}. Install them as root with:"
    say "  sudo $0 $*"
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "missing: ${missing_packages[*]}, and this is not a Debian-like system (no apt-get):"
    say "install those packages with this system's package manager."
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# QEMU >= 9 comes from bookworm-backports on Debian 12. The suite is added by copying this
# machine's own first Debian source entry with its suite changed, so no mirror name is written
# anywhere. Once that suite is configured, `-t bookworm-backports` takes every package that has a
# backport from there (so qemu-system-arm matches qemu-utils when those came from backports too,
# which bookworm's 7.2 would conflict with) and the rest from bookworm.
release_arguments=()
# shellcheck source=/dev/null
codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
if [ "$codename" = bookworm ]; then
    sources=/etc/apt/sources.list.d/debian.sources
    backports=/etc/apt/sources.list.d/bareserve-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ \
        && [ -f "$sources" ]; then
        say "adding bookworm-backports (from the first entry of $sources) for QEMU >= 9"
        awk 'BEGIN { RS = ""; ORS = "\n\n" } NR == 1' "$sources" \
            | sed -E 's/^Suites:.*/Suites: bookworm-backports/' >"$backports"
    fi
    if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        release_arguments=(-t bookworm-backports)
    fi
fi

say "installing ${missing_packages[*]} (apt-get ${release_arguments[*]})"
# A package run stopped half-way (a killed job) leaves dpkg refusing every apt call until it is
# finished; with nothing pending this does nothing.
DEBIAN_FRONTEND=noninteractive dpkg --configure -a
apt-get update -qq
apt-get install -y -qq "${release_arguments[@]}" "${missing_packages[@]}" \
    >/dev/null
for program in "$@"; do
    if ! command -v "$program" >/dev/null 2>&1; then
        say "installed ${missing_packages[*]}, but '$program' is still not on PATH"
        exit 1
    fi
done
